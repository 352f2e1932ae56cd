"""MAPS / XRF-Maps fitted-map HDF5 files (APS)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import (
    FileFormatError,
    MissingMetadataError,
    ScanGeometryError,
    UnitsError,
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
    _resolve_position_units,
    _unit_from_text,
)

__all__ = ["read_maps_h5"]


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
        y, x, sp = _maps_positions(h5, p, ny, nx, spacing, position_units, attrs)
        scaler_values = _maps_scaler(h5, p, ny, nx, scaler)

    return _fitted_maps(
        cps,
        names,
        channels,
        units="counts/s",
        scaler=scaler,
        scaler_values=scaler_values,
        spacing=sp,
        y=y,
        x=x,
        attrs=attrs,
        path=p,
    )


def _maps_positions(
    h5: Any,
    p: Path,
    ny: int,
    nx: int,
    spacing: Any,
    position_units: str | None,
    attrs: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """``y``, ``x`` coordinates (um) and spacing from ``spacing`` or the stored axes;
    records where they came from in ``attrs``."""
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
    return y, x, sp


def _maps_scaler(h5: Any, p: Path, ny: int, nx: int, scaler: str | None) -> np.ndarray | None:
    """The ``(ny, nx)`` values of the named MAPS scaler, or None."""
    scaler_values = None
    if scaler is not None:
        nkey = next((k for k in ("MAPS/Scalers/Names", "MAPS/scaler_names") if k in h5), None)
        vkey = next((k for k in ("MAPS/Scalers/Values", "MAPS/scalers") if k in h5), None)
        if nkey is None or vkey is None:
            raise XRFChannelError(f"{p} has no scalers; read it without scaler=.")
        s_names = _decode(h5[nkey][()])
        if scaler not in s_names:
            raise XRFChannelError(f"scaler {scaler!r} is not in {p}; available scalers: {s_names}.")
        val = _dataset(h5, vkey, p, "scaler values")
        if val.shape != (len(s_names), ny, nx):
            raise ScanGeometryError(
                f"{p}: scalers have shape {val.shape}, expected ({len(s_names)}, {ny}, {nx})."
            )
        scaler_values = val[s_names.index(scaler)]
    return scaler_values
