"""What a file holds, for ``cathodescope info``: one description for every supported format.

The description is built from what the readers return (never from a guess): format, kind,
shape and dims, channels with units, spacing in um, energy in eV (None when unknown, never 0),
wavelength in A, angles, and every warning the reader gave.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.errors import (
    CathodescopeError,
    FileFormatError,
    InputNotFoundError,
    MissingMetadataError,
)

_CYCLER_SUFFIXES = {".mpr", ".mpt", ".ndax", ".nda", ".res"}
_SPM_SUFFIXES = {".ibw", ".gwy"}
_XAS_SUFFIXES = {".prj", ".xdi"}


def _base(path: Path, fmt: str, kind: str) -> dict[str, Any]:
    return {
        "file": os.fspath(path),
        "format": fmt,
        "kind": kind,
        "shape": None,
        "dims": None,
        "channels": [],
        "spacing_um": None,
        "energy_eV": None,
        "wavelength_A": None,
        "angles_deg": None,
        "warnings": [],
    }


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v != 0 else None


def _array_units(da: Any) -> str | None:
    units = getattr(da, "attrs", {}).get("units")
    return None if units is None else str(units)


def _describe_projections(path: Path) -> dict[str, Any]:
    from cathodescope.io import read_projections

    raw = read_projections(path, lazy=True)
    return _describe_projections_like(path, raw, str(raw.metadata.get("format", "hdf5")))


def _describe_xradia(path: Path) -> dict[str, Any]:
    from cathodescope.io import read_xradia

    return _describe_projections_like(path, read_xradia(path), "xradia")


def _describe_projections_like(path: Path, raw: Any, fmt: str) -> dict[str, Any]:
    kind = "projections" if raw.data.shape[0] > 1 else "image"
    out = _base(path, fmt, kind)
    out["shape"] = [int(s) for s in raw.data.shape]
    out["dims"] = [str(d) for d in raw.data.dims]
    out["channels"] = [{"name": "intensity", "units": _array_units(raw.data)}]
    out["spacing_um"] = None if raw.spacing is None else [float(s) for s in raw.spacing]
    out["energy_eV"] = _num(raw.energy_ev)
    if "angle" in raw.data.coords and raw.data.shape[0] > 1:
        angles = np.asarray(raw.data["angle"].values, dtype=float)
        out["angles_deg"] = {
            "n": int(angles.size),
            "min": float(angles.min()),
            "max": float(angles.max()),
        }
    return out


def _describe_spm(path: Path) -> dict[str, Any]:
    from cathodescope import io

    kind = io.spm_kind(path)
    if kind == "image":
        scan = io.read_spm(path)
        first = next(iter(scan.channels.values()))
        out = _base(path, path.suffix.lstrip(".").lower() or "nanoscope", "image")
        out["shape"] = [int(s) for s in first.shape]
        out["dims"] = [str(d) for d in first.dims]
        out["channels"] = [{"name": n, "units": _array_units(c)} for n, c in scan.channels.items()]
        out["spacing_um"] = [float(s) for s in scan.spacing]
        return out
    if kind in ("force curve", "curve") and path.suffix.lower() == ".ibw":
        table = io.read_ibw_curve(path)
        out = _base(path, "ibw", "curve")
        out["shape"] = [len(table), int(table.shape[1])]
        out["channels"] = [
            {"name": str(c), "units": _units_from_column(str(c))} for c in table.columns
        ]
        return out
    if kind == "spectroscopy cube":
        cube = io.read_ibw_cube(path)
        out = _base(path, "ibw", "cube")
        out["shape"] = [int(s) for s in cube.shape]
        out["dims"] = [str(d) for d in cube.dims]
        out["channels"] = [{"name": str(cube.name or "signal"), "units": _array_units(cube)}]
        out["spacing_um"] = _coord_spacing(cube, ("y", "x"))
        return out
    out = _base(path, "nanoscope", "curve")
    out["reader_notes"] = [
        f"{path.name} is a NanoScope {kind} file: recognised, its data are not read yet."
    ]
    return out


def _units_from_column(name: str) -> str | None:
    return name.rsplit("_", 1)[1] if "_" in name else None


def _coord_spacing(da: Any, dims: tuple[str, ...]) -> list[float] | None:
    out = []
    for d in dims:
        if d not in da.coords or da.coords[d].size < 2:
            return None
        out.append(float(abs(np.diff(np.asarray(da.coords[d].values, dtype=float)).mean())))
    return out


def _describe_xas(path: Path) -> dict[str, Any]:
    from cathodescope.io import read_xas_file

    try:
        spectra = read_xas_file(path)
    except MissingMetadataError as exc:
        if path.suffix.lower() != ".xdi":
            raise
        return _describe_xdi_columns(path, str(exc))
    kind = "spectra" if len(spectra) > 1 else "spectrum"
    out = _base(path, {".prj": "athena", ".xdi": "xdi"}.get(path.suffix.lower(), "columns"), kind)
    out["shape"] = [len(spectra)]
    out["channels"] = []
    energies = []
    for name, s in spectra.items():
        energy = getattr(s, "energy", None)
        if energy is None and hasattr(s, "coords") and "energy" in s.coords:
            energy = s.coords["energy"].values
        if energy is not None:
            energies.append(np.asarray(energy, dtype=float))
        out["channels"].append({"name": str(name), "units": "eV (energy axis)"})
    if energies:
        allv = np.concatenate(energies)
        out["energy_eV"] = {
            "min": float(allv.min()),
            "max": float(allv.max()),
            "n_points": int(max(e.size for e in energies)),
        }
    return out


def _describe_xdi_columns(path: Path, why: str) -> dict[str, Any]:
    """An XDI file with no single mu column: its columns, and how to choose them."""
    names = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].partition(":")
            if key.strip().lower().startswith("column."):
                names.append(value.split()[0] if value.split() else key.strip())
    out = _base(path, "xdi", "spectrum")
    out["shape"] = [len(names)]
    out["channels"] = [{"name": n, "units": None} for n in names]
    out["reader_notes"] = [why]
    return out


def _is_spectrum_text(path: Path) -> bool:
    """A text table whose header or first column says energies (not 2theta)."""
    with open(path, "rb") as fh:
        head = fh.read(8192).decode("utf-8", errors="replace").lower()
    xrd_words = ("2theta", "2-theta", "two_theta", "tth", "2θ", "wavelength", "lambda")
    if any(w in head for w in xrd_words):
        return False
    if any(w in head for w in ("energy", " ev", "(ev)", "xmu", "mu(e)", "i0", "norm")):
        return True
    for line in head.splitlines():
        parts = line.replace(",", " ").replace(";", " ").split()
        try:
            first = float(parts[0])
        except (ValueError, IndexError):
            continue
        return first > 180.0  # 2theta never exceeds 180 deg; edges in eV always do
    return False


def _describe_pattern(path: Path) -> dict[str, Any]:
    from cathodescope.io import detect_pattern_format, read_pattern

    fmt = detect_pattern_format(path)
    pattern = read_pattern(path)
    out = _base(path, str(fmt), "pattern")
    out["shape"] = [int(s) for s in pattern.shape]
    out["dims"] = [str(d) for d in pattern.dims]
    out["channels"] = [{"name": "intensity", "units": _array_units(pattern)}]
    out["wavelength_A"] = _num(pattern.attrs.get("wavelength_A", pattern.attrs.get("wavelength")))
    if fmt == "xy" and path.suffix.lower() not in (".xy", ".xye"):
        out["reader_notes"] = [
            f"{path.name} is a plain column table: read as an XRD pattern (2theta in deg). If its "
            "first column is an energy in keV, it is a spectrum: use the xas commands with "
            "--energy-units keV."
        ]
    return out


def _describe_cycler(path: Path) -> dict[str, Any]:
    from cathodescope.io import read_cycler

    table = read_cycler(path)
    out = _base(path, str(table.attrs.get("instrument", path.suffix.lstrip("."))), "cycler table")
    out["shape"] = [len(table), int(table.shape[1])]
    out["channels"] = [{"name": c, "units": _units_from_column(c)} for c in table.columns]
    return out


def _describe_xrf(path: Path) -> dict[str, Any]:
    from cathodescope.io import detect_xrf_format, read_xrf_map

    fmt = detect_xrf_format(path)
    unknown_units = None
    try:
        maps = read_xrf_map(path, format=fmt)
    except MissingMetadataError as exc:
        # the pixel size is not in the file: read the maps for their shape and channels only
        # (a placeholder grid, reported as unknown) and say what the analyses will ask for
        unknown_units = str(exc)
        maps = read_xrf_map(path, format=fmt, spacing=(1.0, 1.0))
    out = _base(path, fmt, "element maps")
    out["shape"] = [int(s) for s in maps.shape]
    out["dims"] = [str(d) for d in maps.dims]
    names = maps.coords["channel"].values if "channel" in maps.coords else []
    out["channels"] = [{"name": str(n), "units": _array_units(maps)} for n in names]
    out["spacing_um"] = None if unknown_units else _coord_spacing(maps, ("y", "x"))
    if unknown_units:
        out["reader_notes"] = [unknown_units]
    return out


def _describe_array(path: Path) -> dict[str, Any]:
    from cathodescope.io import read_channel

    data = read_channel(path)
    kind = "volume" if np.ndim(data) == 3 else "image" if np.ndim(data) == 2 else "array"
    out = _base(path, path.suffix.lstrip(".").lower(), kind)
    out["shape"] = [int(s) for s in np.shape(data)]
    dims = getattr(data, "dims", None)
    out["dims"] = None if dims is None else [str(d) for d in dims]
    out["channels"] = [{"name": path.stem, "units": _array_units(data)}]
    return out


def _candidates(path: Path) -> list[Callable[[Path], dict[str, Any]]]:
    suffix = path.suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(64)
    if suffix in (".xrm", ".txrm") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return [_describe_xradia, _describe_cycler]
    if head.startswith(b"\x89HDF"):
        return [_describe_projections, _describe_xrf, _describe_array]
    if suffix in _SPM_SUFFIXES or head.startswith(
        (b"\\*File list", b"\\*Force file list", b"\\*EC File list", b"GWYP", b"GWYO")
    ):
        return [_describe_spm]
    if suffix in (".tif", ".tiff", ".npy"):
        return [_describe_array, _describe_xrf]
    if suffix in _XAS_SUFFIXES:
        return [_describe_xas]
    if suffix in _CYCLER_SUFFIXES:
        return [_describe_cycler, _describe_pattern]
    if suffix in (".xy", ".xye", ".uxd", ".raw", ".chi", ".gsa", ".gss", ".fxye"):
        return [_describe_pattern, _describe_xas, _describe_cycler]
    if _is_spectrum_text(path):
        return [_describe_xas, _describe_cycler, _describe_pattern]
    return [_describe_cycler, _describe_pattern, _describe_xas, _describe_spm]


def describe_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe what a file holds, as read by cathodescope's own readers.

    Parameters
    ----------
    path : str or path-like
        Any supported file (or a Zarr folder): projections, images, volumes, SPM scans,
        curves and cubes, XAS projects and spectra, XRD patterns, cycler exports, XRF maps.

    Returns
    -------
    dict
        JSON-ready: ``file``, ``format``, ``kind`` (image, volume, projections, spectrum,
        spectra, curve, cube, pattern, cycler table, element maps), ``shape``, ``dims``,
        ``channels`` (each ``name``, ``units``), ``spacing_um`` (per axis, or None),
        ``energy_eV`` (None when unknown, never 0), ``wavelength_A``, ``angles_deg`` and
        ``warnings`` (what the reader warned about).

    Raises
    ------
    InputNotFoundError
        If the file does not exist.
    FileFormatError
        If no reader recognises the file (the message lists what each reader said).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ni.npy"
    >>> np.save(p, np.zeros((4, 5, 6), np.float32))
    >>> d = describe_file(p)
    >>> d["kind"], d["shape"], d["energy_eV"]
    ('volume', [4, 5, 6], None)
    """
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p} does not exist; check the path.")
    if p.is_dir():
        if p.suffix.lower() == ".zarr" or (p / ".zarray").exists() or (p / "zarr.json").exists():
            candidates: list[Callable[[Path], dict[str, Any]]] = [_describe_array]
        else:
            raise FileFormatError(f"{p} is a folder; give a file (or a .zarr store).")
    else:
        candidates = _candidates(p)
    problems = []
    for describe in candidates:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = describe(p)
            except CathodescopeError as exc:
                problems.append(f"{describe.__name__.removeprefix('_describe_')}: {exc}")
                continue
        out["warnings"] = out.pop("reader_notes", []) + [
            str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)
        ]
        return out
    raise FileFormatError(f"no cathodescope reader recognises {p}: " + "; ".join(problems))
