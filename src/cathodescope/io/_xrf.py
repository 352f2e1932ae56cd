"""Readers for fitted X-ray fluorescence (XRF) element maps.

Three families of files are read into one data model, an ``xarray.DataArray`` with dims
``("channel", "y", "x")``, ``y``/``x`` coordinates in um (stage positions of the pixel centres)
and ``attrs["units"]`` (what a pixel value means, e.g. ``"counts"`` or ``"counts/s per i0"``):

* PyXRF fitted HDF5 (NSLS-II ``XRF-MAP`` layout): ``xrfmap/<detector>/xrf_fit`` with
  ``xrf_fit_name``, positions ``xrfmap/positions/pos`` + ``name``, scalers
  ``xrfmap/scalers/val`` + ``name``;
* MAPS / XRF-Maps HDF5 (APS): ``/MAPS/XRF_Analyzed/{Fitted,NNLS,ROI}/Counts_Per_Sec`` with
  ``Channel_Names``, positions ``/MAPS/Scan/x_axis`` and ``y_axis`` (or ``/MAPS/x_axis``),
  scalers ``/MAPS/Scalers/Names`` + ``Values``;
* TIFF exports, one image per element (as PyXRF and MAPS write them) or one multi-page stack.

Neither PyXRF nor MAPS stores the units of its stage positions (HXN writes um, several APS
beamlines mm), so the position units come from the file when it says so (a ``units`` attribute,
or a motor name such as ``zpssx[um]``) and otherwise must be given (``position_units=``); they are
never guessed. ``spacing=`` overrides the positions altogether.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice, normalize_spacing
from cathodescope.common.hdf5 import open_h5
from cathodescope.errors import (
    EmptyMapError,
    FileFormatError,
    MissingMetadataError,
    ParameterError,
    ScanGeometryError,
    TruncatedFileError,
    UnitsError,
    XRFChannelError,
)

PositionUnits = Literal["nm", "um", "mm", "m"]
_TO_UM: dict[str, float] = {"nm": 1e-3, "um": 1.0, "mm": 1e3, "m": 1e6}
_UNIT_ALIASES: dict[str, str] = {
    "nm": "nm",
    "nanometer": "nm",
    "nanometers": "nm",
    "um": "um",
    "µm": "um",
    "μm": "um",
    "micron": "um",
    "microns": "um",
    "micrometer": "um",
    "micrometers": "um",
    "\\u00b5m": "um",
    "mm": "mm",
    "millimeter": "mm",
    "millimeters": "mm",
    "m": "m",
    "meter": "m",
    "meters": "m",
    "cm": "cm",
}

# PyXRF does not divide these by a scaler (pyxrf.model.draw_image.name_not_scalable).
NOT_SCALABLE = (
    "r2_adjust",
    "r_factor",
    "alive",
    "dead",
    "elapsed_time",
    "scaler_alive",
    "i0_time",
    "time",
    "time_diff",
    "dwell_time",
)
_EMISSION_LINE = re.compile(r"^([A-Z][a-z]?)_(K|L|M)(a|b|a1|a2|b1|b2)?$")
_ELEMENT_IN_NAME = re.compile(r"(?:^|[_\-. ])([A-Z][a-z]?_(?:K|L|M))(?:$|[_\-. ])")


# -- channel names --------------------------------------------------------------------------


def _decode(values: Any) -> list[str]:
    out = []
    for v in np.atleast_1d(values):
        s = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        out.append(s.strip().strip("\x00"))
    return out


def is_emission_line(name: str) -> bool:
    """True for element-line channel names such as ``Ni_K``, ``Pt_L``, ``Mn_Ka`` or ``Ni``."""
    return bool(_EMISSION_LINE.match(name)) or bool(re.fullmatch(r"[A-Z][a-z]?", name))


def resolve_channels(available: Sequence[str], requested: Sequence[str]) -> list[str]:
    """Map requested names (``"Ni"`` or ``"Ni_K"``) onto the channel names of a map.

    An exact name wins; otherwise an element symbol matches the channel whose name starts with
    ``"<symbol>_"`` (``Ni`` -> ``Ni_K``). Raises :class:`XRFChannelError` when a name is missing
    or matches several channels (``Ni_K`` and ``Ni_L``), listing what is available.
    """
    available = list(available)
    resolved = []
    for name in requested:
        if name in available:
            resolved.append(name)
            continue
        matches = [a for a in available if a.split("_")[0] == name]
        if len(matches) == 1:
            resolved.append(matches[0])
        elif not matches:
            raise XRFChannelError(
                f"channel {name!r} is not in the map; available channels: {available}. "
                "Check the element list of the fit or choose another channel."
            )
        else:
            raise XRFChannelError(
                f"channel {name!r} matches several channels {matches}; give the full name."
            )
    if len(set(resolved)) != len(resolved):
        raise ParameterError(f"channels {list(requested)} name the same channel twice.")
    return resolved


# -- HDF5 helpers ----------------------------------------------------------------------------


def _open_h5(path):
    return open_h5(path, "XRF")


def _dataset(h5: Any, key: str, path: Path, what: str) -> np.ndarray:
    if key not in h5:
        raise FileFormatError(
            f"{path} has no dataset {key!r} ({what}); is it a fitted map of the expected "
            "format? Run the fit (PyXRF: pyxrf_batch, MAPS: XRF-Maps) and save the results."
        )
    try:
        return np.asarray(h5[key][()])
    except OSError as exc:  # chunk beyond the end of a cut file
        raise TruncatedFileError(
            f"{path}: dataset {key!r} cannot be read ({exc}); the file is probably truncated."
        ) from exc


def _unit_from_text(text: str) -> str | None:
    key = text.strip().lower().replace("μ", "µ")
    if key in ("µm", "\u00b5m"):
        return "um"
    unit = _UNIT_ALIASES.get(key)
    if unit == "cm":
        return None
    return unit


def _position_unit_from_names(names: Sequence[str]) -> str | None:
    units = set()
    for n in names:
        m = re.search(r"\[([^\]]+)\]\s*$", n)
        if m:
            u = _unit_from_text(m.group(1))
            if u:
                units.add(u)
    if len(units) > 1:
        raise UnitsError(f"position names {list(names)} declare different units {units}.")
    return units.pop() if units else None


def _resolve_position_units(file_units: str | None, given: str | None, path: Path) -> str:
    if given is not None:
        check_choice(given, tuple(_TO_UM), "position_units")
    if file_units and given and file_units != given:
        raise UnitsError(
            f"{path} stores positions in {file_units!r} but position_units={given!r} was given; "
            "drop position_units or correct it."
        )
    units = file_units or given
    if units is None:
        raise MissingMetadataError(
            f"{path} does not say in which units its stage positions are stored; pass "
            "position_units='um' (NSLS-II HXN) or 'mm' (e.g. APS 2-ID-E), or give the pixel "
            "size with spacing=(dy_um, dx_um)."
        )
    return units


def _axis_coordinate(values: np.ndarray, axis_name: str, path: Path) -> tuple[np.ndarray, float]:
    """Check a 1-D position axis is a monotonic grid; return it and its step (um, > 0)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        raise ScanGeometryError(
            f"{path}: the {axis_name} axis has {v.size} position; the pixel size cannot be "
            f"derived from it, give spacing=(dy_um, dx_um)."
        )
    if not np.all(np.isfinite(v)):
        raise ScanGeometryError(
            f"{path}: the {axis_name} positions contain NaN/inf (aborted scan?); give "
            "spacing=(dy_um, dx_um) to ignore the positions."
        )
    steps = np.diff(v)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        raise ScanGeometryError(
            f"{path}: the {axis_name} positions are not monotonic (repeated or reversed "
            "positions: a snake scan that was not unflipped?); give spacing=(dy_um, dx_um) to "
            "ignore them."
        )
    return v, float(np.median(np.abs(steps)))


def _build_dataarray(
    data: np.ndarray,
    names: list[str],
    y: np.ndarray,
    x: np.ndarray,
    attrs: dict[str, Any],
):
    import xarray as xr

    for i, n in enumerate(names):
        if not np.any(np.isfinite(data[i])):
            raise EmptyMapError(
                f"channel {n!r} of {attrs.get('source')} is all NaN/inf; exclude it with "
                "channels=[...] or re-run the fit for this element."
            )
    return xr.DataArray(
        data,
        dims=("channel", "y", "x"),
        coords={
            "channel": np.asarray(names, dtype=object),
            "y": ("y", y, {"units": "um"}),
            "x": ("x", x, {"units": "um"}),
        },
        attrs=attrs,
        name="xrf",
    )


def _coords_from_spacing(spacing: Any, ny: int, nx: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    sp = normalize_spacing(spacing, 2)
    return np.arange(ny) * sp[0], np.arange(nx) * sp[1], sp


def _normalize(
    data: np.ndarray,
    names: list[str],
    scaler_values: np.ndarray,
    scaler: str,
    path: Path,
) -> tuple[np.ndarray, int]:
    blocked = [n for n in names if n in NOT_SCALABLE]
    if blocked:
        raise ParameterError(
            f"channels {blocked} are not counts and cannot be divided by the scaler "
            f"{scaler!r}; read them without scaler= or leave them out of channels=."
        )
    s = np.asarray(scaler_values, dtype=float)
    bad = ~np.isfinite(s) | (s <= 0)
    n_bad = int(bad.sum())
    if n_bad == s.size:
        raise EmptyMapError(
            f"{path}: scaler {scaler!r} is zero or invalid at every pixel; choose another "
            "scaler (e.g. i0) or read the map without normalization."
        )
    safe = np.where(bad, np.nan, s)
    return data / safe[None, :, :], n_bad


def _select(
    data: np.ndarray, names: list[str], channels: Sequence[str] | None, *, default_lines: bool
) -> tuple[np.ndarray, list[str]]:
    if channels is None:
        if default_lines:
            keep = [n for n in names if is_emission_line(n)]
            if not keep:
                raise XRFChannelError(
                    f"no element-line channel among {names}; pass channels=[...] explicitly."
                )
        else:
            keep = list(names)
    else:
        keep = resolve_channels(names, list(channels))
    idx = [names.index(k) for k in keep]
    return np.asarray(data[idx], dtype=float), keep


# -- PyXRF -------------------------------------------------------------------------------------


def read_pyxrf_h5(
    path: str | os.PathLike[str],
    *,
    channels: Sequence[str] | None = None,
    detector: str = "detsum",
    scaler: str | None = None,
    position_units: PositionUnits | None = None,
    spacing: float | Sequence[float] | None = None,
):
    """Read the fitted element maps of a PyXRF HDF5 file.

    Parameters
    ----------
    path : path-like
        PyXRF ``.h5`` file holding ``xrfmap/<detector>/xrf_fit`` (n_maps, ny, nx) and
        ``xrf_fit_name`` (n_maps,).
    channels : sequence of str, optional
        Channels to keep, by full name (``"Ni_K"``) or element symbol (``"Ni"``). Default: every
        emission-line channel (``Mn_K``, ``Ni_K``...; not ``compton``, ``r_factor``...).
    detector : str
        Group under ``xrfmap`` with the fit: ``"detsum"`` (sum of detector channels) or
        ``"det1"``...
    scaler : str, optional
        Scaler to normalize by, e.g. ``"i0"`` (``xrfmap/scalers/name``). Each map is divided
        pixel by pixel by the scaler; pixels where the scaler is <= 0 or not finite become NaN
        (their number is in ``attrs["n_pixels_bad_scaler"]``).
    position_units : {"nm", "um", "mm", "m"}, optional
        Units of ``xrfmap/positions/pos``. Required unless the file declares them (a ``units``
        attribute, or motor names such as ``zpssx[um]``) or ``spacing`` is given.
    spacing : float or (float, float), optional
        Pixel size in um, ``(dy, dx)``; overrides the stored positions (coordinates then start
        at 0).

    Returns
    -------
    xarray.DataArray
        float64, dims ``("channel", "y", "x")``, shape (n_channels, ny, nx); ``y``/``x`` in um
        (mean stage position of each row/column); attrs ``units`` (``"counts"`` or
        ``"counts per <scaler>"``), ``scaler``, ``spacing_um`` (dy, dx), ``source``, ``format``,
        ``scan_shape`` (ny, nx) and the file's ``scan_metadata``.

    Raises
    ------
    TruncatedFileError, FileFormatError
        Cut file, not HDF5, or no ``xrf_fit`` (the map was not fitted).
    XRFChannelError
        A requested channel or scaler is not in the file.
    ScanGeometryError
        Positions or scalers of another shape than the maps, or positions not on a grid.
    MissingMetadataError
        Position units unknown and neither ``position_units`` nor ``spacing`` given.
    EmptyMapError
        A selected channel is all NaN, or the scaler is invalid everywhere.
    """
    p = Path(path)
    with _open_h5(p) as h5:
        base = f"xrfmap/{detector}"
        if "xrfmap" not in h5:
            raise FileFormatError(
                f"{p} has no 'xrfmap' group: not a PyXRF file (for MAPS files use read_maps_h5)."
            )
        if base not in h5:
            groups = [k for k in h5["xrfmap"] if k.startswith("det")]
            raise FileFormatError(f"{p} has no detector group {base!r}; available: {groups}.")
        fit = _dataset(h5, f"{base}/xrf_fit", p, "fitted maps")
        names = _decode(_dataset(h5, f"{base}/xrf_fit_name", p, "names of the fitted maps"))
        if fit.ndim != 3 or fit.shape[0] != len(names):
            raise FileFormatError(
                f"{p}: xrf_fit has shape {fit.shape} but xrf_fit_name lists {len(names)} maps."
            )
        ny, nx = fit.shape[1:]
        attrs: dict[str, Any] = {
            "source": os.fspath(p.resolve()),
            "format": "pyxrf",
            "detector": detector,
            "scan_shape": (int(ny), int(nx)),
        }
        if "xrfmap/scan_metadata" in h5:
            for k, v in h5["xrfmap/scan_metadata"].attrs.items():
                attrs[f"scan_metadata.{k}"] = v.item() if isinstance(v, np.generic) else v

        # positions
        if spacing is not None:
            y, x, sp = _coords_from_spacing(spacing, ny, nx)
            attrs["spacing_source"] = "spacing argument"
        else:
            pos = _dataset(h5, "xrfmap/positions/pos", p, "stage positions")
            pos_names = (
                _decode(h5["xrfmap/positions/name"][()])
                if "xrfmap/positions/name" in h5
                else ["x_pos", "y_pos"]
            )
            if pos.ndim != 3 or pos.shape[1:] != (ny, nx) or pos.shape[0] < 2:
                raise ScanGeometryError(
                    f"{p}: positions have shape {pos.shape} but the maps are {ny} x {nx} "
                    f"(expected (2, {ny}, {nx})); the scan was cut or the files mixed up. "
                    "Give spacing=(dy_um, dx_um) to ignore the positions."
                )
            file_units = None
            for obj in (h5["xrfmap/positions/pos"], h5["xrfmap/positions"]):
                if "units" in obj.attrs:
                    file_units = _unit_from_text(_decode(obj.attrs["units"])[0])
            file_units = file_units or _position_unit_from_names(pos_names)
            units = _resolve_position_units(file_units, position_units, p)
            ix, iy = _xy_index(pos_names)
            scale = _TO_UM[units]
            xs, dx = _axis_coordinate(np.nanmean(pos[ix], axis=0) * scale, "x", p)
            ys, dy = _axis_coordinate(np.nanmean(pos[iy], axis=1) * scale, "y", p)
            x, y, sp = xs, ys, (dy, dx)
            attrs["spacing_source"] = "positions"
            attrs["position_units_in_file"] = units
            attrs["position_names"] = pos_names

        # scaler
        scaler_values = None
        if scaler is not None:
            s_names = _decode(_dataset(h5, "xrfmap/scalers/name", p, "scaler names"))
            if scaler not in s_names:
                raise XRFChannelError(
                    f"scaler {scaler!r} is not in {p}; available scalers: {s_names}."
                )
            val = _dataset(h5, "xrfmap/scalers/val", p, "scaler values")
            if val.shape != (ny, nx, len(s_names)):
                raise ScanGeometryError(
                    f"{p}: scalers have shape {val.shape}, expected ({ny}, {nx}, "
                    f"{len(s_names)}) for maps of {ny} x {nx}."
                )
            scaler_values = val[:, :, s_names.index(scaler)]

    data, keep = _select(fit, names, channels, default_lines=True)
    attrs["units"] = "counts"
    attrs["scaler"] = scaler
    if scaler_values is not None:
        data, n_bad = _normalize(data, keep, scaler_values, scaler, p)
        attrs["units"] = f"counts per {scaler}"
        attrs["n_pixels_bad_scaler"] = n_bad
    attrs["spacing_um"] = tuple(float(v) for v in sp)
    return _build_dataarray(data, keep, np.asarray(y, float), np.asarray(x, float), attrs)


def _xy_index(names: Sequence[str]) -> tuple[int, int]:
    """Index of the x and y rows of PyXRF ``positions/pos`` (PyXRF writes x first)."""
    lowered = [re.sub(r"\[.*\]$", "", n).strip().lower() for n in names]
    if "x_pos" in lowered and "y_pos" in lowered:
        return lowered.index("x_pos"), lowered.index("y_pos")
    xs = [i for i, n in enumerate(lowered) if n.endswith("x")]
    ys = [i for i, n in enumerate(lowered) if n.endswith("y")]
    if len(xs) == 1 and len(ys) == 1:
        return xs[0], ys[0]
    return 0, 1


# -- MAPS --------------------------------------------------------------------------------------

MapsAnalysis = Literal["Fitted", "NNLS", "ROI"]


def read_maps_h5(
    path: str | os.PathLike[str],
    *,
    analysis: MapsAnalysis = "Fitted",
    channels: Sequence[str] | None = None,
    scaler: str | None = None,
    position_units: PositionUnits | None = None,
    spacing: float | Sequence[float] | None = None,
):
    """Read the element maps of a MAPS / XRF-Maps HDF5 file (APS).

    Parameters
    ----------
    path : path-like
        File with ``/MAPS/XRF_Analyzed/<analysis>/Counts_Per_Sec`` (n, ny, nx) and
        ``Channel_Names`` (n,).
    analysis : {"Fitted", "NNLS", "ROI"}
        Which analysis to read.
    channels : sequence of str, optional
        Channels to keep (``"Ni"``); default: every channel whose name is an element.
    scaler : str, optional
        Scaler in ``/MAPS/Scalers/Names`` (e.g. ``"US_IC"``) to divide each map by.
    position_units : {"nm", "um", "mm", "m"}, optional
        Units of ``x_axis``/``y_axis`` unless the file declares them in a ``units`` attribute.
    spacing : float or (float, float), optional
        Pixel size in um ``(dy, dx)``, overriding the stored axes.

    Returns
    -------
    xarray.DataArray
        dims ``("channel", "y", "x")``, coordinates in um, ``attrs["units"]`` ``"counts/s"``
        (or ``"counts/s per <scaler>"``), ``attrs["analysis"]``, ``spacing_um``, ``source``.

    Raises
    ------
    TruncatedFileError, FileFormatError, XRFChannelError, ScanGeometryError,
    MissingMetadataError, EmptyMapError
        As :func:`read_pyxrf_h5`.
    """
    check_choice(analysis, ("Fitted", "NNLS", "ROI"), "analysis")
    p = Path(path)
    with _open_h5(p) as h5:
        base = f"MAPS/XRF_Analyzed/{analysis}"
        if "MAPS" not in h5:
            raise FileFormatError(
                f"{p} has no 'MAPS' group: not a MAPS file (for PyXRF files use read_pyxrf_h5)."
            )
        if base not in h5:
            have = list(h5["MAPS/XRF_Analyzed"]) if "MAPS/XRF_Analyzed" in h5 else []
            raise FileFormatError(
                f"{p} has no {analysis} analysis; available: {have}. Choose analysis= among them."
            )
        cps = _dataset(h5, f"{base}/Counts_Per_Sec", p, "element maps")
        names = _decode(_dataset(h5, f"{base}/Channel_Names", p, "channel names"))
        if cps.ndim != 3 or cps.shape[0] != len(names):
            raise FileFormatError(
                f"{p}: Counts_Per_Sec has shape {cps.shape} but Channel_Names lists "
                f"{len(names)} channels."
            )
        ny, nx = cps.shape[1:]
        attrs: dict[str, Any] = {
            "source": os.fspath(p.resolve()),
            "format": "maps",
            "analysis": analysis,
            "scan_shape": (int(ny), int(nx)),
        }
        if spacing is not None:
            y, x, sp = _coords_from_spacing(spacing, ny, nx)
            attrs["spacing_source"] = "spacing argument"
        else:
            xkey = next((k for k in ("MAPS/Scan/x_axis", "MAPS/x_axis") if k in h5), None)
            ykey = next((k for k in ("MAPS/Scan/y_axis", "MAPS/y_axis") if k in h5), None)
            if xkey is None or ykey is None:
                raise MissingMetadataError(
                    f"{p} has no x_axis/y_axis positions; give spacing=(dy_um, dx_um)."
                )
            xa = np.asarray(h5[xkey][()], dtype=float).ravel()
            ya = np.asarray(h5[ykey][()], dtype=float).ravel()
            if xa.size != nx or ya.size != ny:
                raise ScanGeometryError(
                    f"{p}: x_axis has {xa.size} and y_axis {ya.size} positions but the maps "
                    f"are {ny} x {nx} (ny x nx); the scan sizes disagree. Give "
                    "spacing=(dy_um, dx_um) to ignore the stored axes."
                )
            file_units = None
            for key in (xkey, ykey):
                if "units" in h5[key].attrs:
                    u = _unit_from_text(_decode(h5[key].attrs["units"])[0])
                    if file_units and u != file_units:
                        raise UnitsError(f"{p}: x_axis and y_axis have different units.")
                    file_units = u
            units = _resolve_position_units(file_units, position_units, p)
            x, dx = _axis_coordinate(xa * _TO_UM[units], "x", p)
            y, dy = _axis_coordinate(ya * _TO_UM[units], "y", p)
            sp = (dy, dx)
            attrs["spacing_source"] = "positions"
            attrs["position_units_in_file"] = units
        scaler_values = None
        if scaler is not None:
            nkey = next((k for k in ("MAPS/Scalers/Names", "MAPS/scaler_names") if k in h5), None)
            vkey = next((k for k in ("MAPS/Scalers/Values", "MAPS/scalers") if k in h5), None)
            if nkey is None or vkey is None:
                raise XRFChannelError(f"{p} has no scalers; read it without scaler=.")
            s_names = _decode(h5[nkey][()])
            if scaler not in s_names:
                raise XRFChannelError(
                    f"scaler {scaler!r} is not in {p}; available scalers: {s_names}."
                )
            val = _dataset(h5, vkey, p, "scaler values")
            if val.shape != (len(s_names), ny, nx):
                raise ScanGeometryError(
                    f"{p}: scalers have shape {val.shape}, expected ({len(s_names)}, {ny}, {nx})."
                )
            scaler_values = val[s_names.index(scaler)]

    data, keep = _select(cps, names, channels, default_lines=True)
    attrs["units"] = "counts/s"
    attrs["scaler"] = scaler
    if scaler_values is not None:
        data, n_bad = _normalize(data, keep, scaler_values, scaler, p)
        attrs["units"] = f"counts/s per {scaler}"
        attrs["n_pixels_bad_scaler"] = n_bad
    attrs["spacing_um"] = tuple(float(v) for v in sp)
    return _build_dataarray(data, keep, np.asarray(y, float), np.asarray(x, float), attrs)


# -- TIFF --------------------------------------------------------------------------------------


def _tiff_pixel_size_um(tif: Any) -> tuple[float, float] | None:
    """Pixel size (dy, dx) in um from ImageJ metadata or resolution tags, if declared."""
    page = tif.pages[0]
    tags = page.tags
    ij = tif.imagej_metadata or {}
    unit = None
    if "unit" in ij:
        unit = _unit_from_text(str(ij["unit"]))
        if unit is None and str(ij["unit"]).strip().lower() in ("cm", "centimeter"):
            unit = "cm"
    elif "ResolutionUnit" in tags:
        code = int(tags["ResolutionUnit"].value)
        unit = {3: "cm"}.get(code)  # 2 = inch is a print resolution, not a pixel size
    if unit is None or "XResolution" not in tags or "YResolution" not in tags:
        return None
    factor = 1e4 if unit == "cm" else _TO_UM[unit]

    def size(tag: str) -> float:
        num, den = tags[tag].value
        return den / num * factor if num else float("nan")

    sizes = (size("YResolution"), size("XResolution"))
    if not all(np.isfinite(s) and s > 0 for s in sizes):
        return None
    return sizes


def _channel_from_stem(stem: str) -> str:
    m = _ELEMENT_IN_NAME.search(stem)
    return m.group(1) if m else stem


def read_xrf_tiffs(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Mapping[str, Any],
    *,
    channels: Sequence[str] | None = None,
    spacing: float | Sequence[float] | None = None,
    units: str = "counts",
):
    """Read element maps exported as TIFF (one file per element, or one multi-page stack).

    Parameters
    ----------
    paths : path, sequence of paths, or mapping channel -> path
        One image per element (PyXRF writes ``<scan>_Ni_K.tiff``; the channel name is taken
        from the ``Xx_K``/``_L``/``_M`` part of the file name, else the whole stem), a mapping
        that names them, or a single multi-page TIFF of shape (n_channels, ny, nx).
    channels : sequence of str, optional
        Names of the pages of a multi-page TIFF (required unless its ImageJ ``Labels`` name them).
    spacing : float or (float, float), optional
        Pixel size in um ``(dy, dx)``. Required unless the files declare it (ImageJ ``unit`` with
        resolution tags, or a centimetre ResolutionUnit); overrides what the files declare.
    units : str
        What a pixel value is (``"counts"``, ``"counts/s"``, ``"ug/cm2"``...): TIFF cannot say.

    Returns
    -------
    xarray.DataArray
        dims ``("channel", "y", "x")``, coordinates in um starting at 0, ``attrs["units"]``.

    Raises
    ------
    ScanGeometryError
        Images of different sizes, or a page count that does not match ``channels``.
    MissingMetadataError
        No pixel size in the files and no ``spacing``.
    TruncatedFileError, FileFormatError
        Cut or unreadable TIFF.
    EmptyMapError
        An image is all NaN.
    """
    import tifffile

    if isinstance(paths, Mapping):
        items = [(str(k), Path(v)) for k, v in paths.items()]
    elif isinstance(paths, str | os.PathLike):
        items = [(None, Path(paths))]
    else:
        items = [(None, Path(v)) for v in paths]
    if not items:
        raise ParameterError("no TIFF file given.")

    arrays: list[np.ndarray] = []
    names: list[str] = []
    file_sizes = []
    for name, p in items:
        if not p.is_file():
            raise FileNotFoundError(f"TIFF file {p} does not exist.")
        try:
            with tifffile.TiffFile(p) as tif:
                arr = np.asarray(tif.asarray(), dtype=float)
                file_sizes.append(_tiff_pixel_size_um(tif))
                labels = (tif.imagej_metadata or {}).get("Labels")
        except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
            size = p.stat().st_size
            raise TruncatedFileError(
                f"{p} cannot be read as TIFF ({exc}; {size} bytes): truncated or not a TIFF. "
                "Export the map again."
            ) from exc
        if arr.ndim == 2:
            arrays.append(arr)
            names.append(name or _channel_from_stem(p.stem))
        elif arr.ndim == 3 and len(items) == 1:
            page_names = list(channels) if channels is not None else labels
            if page_names is None:
                raise MissingMetadataError(
                    f"{p} holds {arr.shape[0]} images but does not name them; pass "
                    "channels=['Ni', 'Mn', ...] in page order."
                )
            if len(page_names) != arr.shape[0]:
                raise ScanGeometryError(
                    f"{p} holds {arr.shape[0]} images but {len(page_names)} channel names "
                    f"were given ({list(page_names)})."
                )
            arrays.extend(arr)
            names.extend(str(n) for n in page_names)
        else:
            raise ScanGeometryError(
                f"{p} has shape {arr.shape}; expected one 2-D map per file, or a single "
                "(n_channels, ny, nx) stack."
            )
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        detail = ", ".join(f"{n}: {a.shape}" for n, a in zip(names, arrays, strict=True))
        raise ScanGeometryError(
            f"the TIFF maps have different sizes ({detail}); they come from different scans "
            "or were cropped differently. Use maps of one scan."
        )
    if len(set(names)) != len(names):
        raise ParameterError(
            f"channel names {names} repeat; pass a mapping {{'Ni': path, ...}} to name them."
        )
    ny, nx = arrays[0].shape
    attrs: dict[str, Any] = {
        "source": [os.fspath(p.resolve()) for _, p in items],
        "format": "tiff",
        "units": units,
        "scaler": None,
        "scan_shape": (int(ny), int(nx)),
    }
    if spacing is not None:
        y, x, sp = _coords_from_spacing(spacing, ny, nx)
        attrs["spacing_source"] = "spacing argument"
    else:
        declared = {s for s in file_sizes if s is not None}
        if not declared or len(declared) != 1 or None in file_sizes:
            raise MissingMetadataError(
                "the TIFF files do not (all) declare one pixel size; give spacing=(dy_um, dx_um)."
            )
        y, x, sp = _coords_from_spacing(declared.pop(), ny, nx)
        attrs["spacing_source"] = "TIFF resolution tags"
    if channels is not None and len(items) > 1:
        keep = resolve_channels(names, channels)
        arrays = [arrays[names.index(n)] for n in keep]
        names = keep
    attrs["spacing_um"] = tuple(float(v) for v in sp)
    return _build_dataarray(np.stack(arrays), names, y, x, attrs)


# -- dispatcher --------------------------------------------------------------------------------

XRFFormat = Literal["auto", "pyxrf", "maps", "tiff"]


def read_xrf_map(path: str | os.PathLike[str], *, format: XRFFormat = "auto", **options: Any):
    """Read a fitted XRF map, choosing the reader from the file (``format="auto"``).

    HDF5 files with an ``xrfmap`` group are PyXRF files, with a ``MAPS`` group MAPS files;
    ``.tif``/``.tiff`` files are TIFF exports. ``options`` go to the reader
    (:func:`read_pyxrf_h5`, :func:`read_maps_h5`, :func:`read_xrf_tiffs`).
    """
    check_choice(format, ("auto", "pyxrf", "maps", "tiff"), "format")
    p = Path(path)
    if format == "auto":
        if p.suffix.lower() in (".tif", ".tiff"):
            format = "tiff"
        else:
            with _open_h5(p) as h5:
                if "xrfmap" in h5:
                    format = "pyxrf"
                elif "MAPS" in h5:
                    format = "maps"
                else:
                    raise FileFormatError(
                        f"{p} is HDF5 but has neither an 'xrfmap' (PyXRF) nor a 'MAPS' group; "
                        "give format= explicitly if it is one of them."
                    )
    if format == "pyxrf":
        return read_pyxrf_h5(p, **options)
    if format == "maps":
        return read_maps_h5(p, **options)
    return read_xrf_tiffs(p, **options)


# -- writer (synthetic data, round trips) -------------------------------------------------------


def write_pyxrf_h5(
    path: str | os.PathLike[str],
    maps: Any,
    *,
    i0: np.ndarray | float = 1.0,
    overwrite: bool = False,
) -> Path:
    """Write element maps in the PyXRF fitted-map layout (atomically).

    Parameters
    ----------
    path : path-like
        Target ``.h5`` file.
    maps : xarray.DataArray
        dims ``("channel", "y", "x")`` with ``y``/``x`` in um; channel names are written as
        ``<name>_K`` when they are bare element symbols, the way PyXRF names K lines.
    i0 : float or array (ny, nx)
        ``i0`` scaler written beside the maps (the maps are written as given, not multiplied).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written. Positions are written in um with a ``units`` attribute (PyXRF itself
        writes none), so :func:`read_pyxrf_h5` needs no ``position_units`` for it.
    """
    import h5py

    from cathodescope.common.atomic import atomic_path
    from cathodescope.errors import OutputExistsError

    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p} exists; pass overwrite=True or choose another name.")
    maps = maps.transpose("channel", "y", "x")
    names = [
        f"{c}_K" if re.fullmatch(r"[A-Z][a-z]?", str(c)) else str(c) for c in maps["channel"].values
    ]
    ny, nx = maps.sizes["y"], maps.sizes["x"]
    yy, xx = np.meshgrid(maps["y"].values, maps["x"].values, indexing="ij")
    i0_map = np.broadcast_to(np.asarray(i0, dtype=float), (ny, nx))
    with atomic_path(p) as tmp, h5py.File(tmp, "w") as h5:
        g = h5.create_group("xrfmap")
        g.create_dataset("detsum/xrf_fit", data=np.asarray(maps.values, dtype=float))
        g.create_dataset("detsum/xrf_fit_name", data=np.asarray(names, dtype="S20"))
        pos = g.create_dataset("positions/pos", data=np.stack([xx, yy]))
        pos.attrs["units"] = "um"
        g.create_dataset("positions/name", data=np.asarray(["x_pos", "y_pos"], dtype="S5"))
        g.create_dataset("scalers/val", data=np.stack([i0_map], axis=-1))
        g.create_dataset("scalers/name", data=np.asarray(["i0"], dtype="S2"))
        meta = g.create_group("scan_metadata")
        meta.attrs["file_format"] = "NSLS2-XRF-MAP"
        meta.attrs["file_software"] = "cathodescope"
    return p
