"""PyXRF fitted-map HDF5 files (NSLS-II ``XRF-MAP`` layout): reader and writer."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.errors import (
    FileFormatError,
    ScanGeometryError,
    XRFChannelError,
)
from cathodescope.io._xrf import (
    _TO_UM,
    PositionUnits,
    _axis_coordinate,
    _coords_from_spacing,
    _dataset,
    _decode,
    _fitted_maps,
    _open_h5,
    _position_unit_from_names,
    _resolve_position_units,
    _unit_from_text,
)

__all__ = ["read_pyxrf_h5", "write_pyxrf_h5"]


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

        y, x, sp = _pyxrf_positions(h5, p, ny, nx, spacing, position_units, attrs)
        scaler_values = _pyxrf_scaler(h5, p, ny, nx, scaler)

    return _fitted_maps(
        fit,
        names,
        channels,
        units="counts",
        scaler=scaler,
        scaler_values=scaler_values,
        spacing=sp,
        y=y,
        x=x,
        attrs=attrs,
        path=p,
    )


def _pyxrf_positions(
    h5: Any,
    p: Path,
    ny: int,
    nx: int,
    spacing: Any,
    position_units: str | None,
    attrs: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """``y``, ``x`` coordinates (um) and spacing from ``spacing`` or the stage positions;
    records where they came from in ``attrs``."""
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
    return y, x, sp


def _pyxrf_scaler(h5: Any, p: Path, ny: int, nx: int, scaler: str | None) -> np.ndarray | None:
    """The ``(ny, nx)`` values of the named scaler, or None."""
    scaler_values = None
    if scaler is not None:
        s_names = _decode(_dataset(h5, "xrfmap/scalers/name", p, "scaler names"))
        if scaler not in s_names:
            raise XRFChannelError(f"scaler {scaler!r} is not in {p}; available scalers: {s_names}.")
        val = _dataset(h5, "xrfmap/scalers/val", p, "scaler values")
        if val.shape != (ny, nx, len(s_names)):
            raise ScanGeometryError(
                f"{p}: scalers have shape {val.shape}, expected ({ny}, {nx}, "
                f"{len(s_names)}) for maps of {ny} x {nx}."
            )
        scaler_values = val[:, :, s_names.index(scaler)]
    return scaler_values


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
