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
from collections.abc import Sequence
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

__all__ = ["detect_xrf_format", "is_emission_line", "read_xrf_map", "resolve_channels"]

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

    Parameters
    ----------
    available : sequence of str
        Channel names of the map (``"Ni_K"``, ``"Mn_K"``, ...).
    requested : sequence of str
        Names to resolve: full channel names or element symbols.

    Returns
    -------
    list of str
        The matching channel names, in the order of ``requested``.

    Raises
    ------
    XRFChannelError
        A name matches no channel or several.
    ParameterError
        Two names resolve to the same channel.
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


def _fitted_maps(
    raw: Any,
    names: Any,
    channels: Any,
    *,
    units: str,
    scaler: str | None,
    scaler_values: Any,
    spacing: Any,
    y: Any,
    x: Any,
    attrs: dict[str, Any],
    path: Path,
) -> Any:
    """The common tail of the HDF5 map readers: channels, scaler normalization, the DataArray."""
    data, keep = _select(raw, names, channels, default_lines=True)
    attrs["units"] = units
    attrs["scaler"] = scaler
    if scaler_values is not None:
        data, n_bad = _normalize(data, keep, scaler_values, scaler, path)
        attrs["units"] = f"{units} per {scaler}"
        attrs["n_pixels_bad_scaler"] = n_bad
    attrs["spacing_um"] = tuple(float(v) for v in spacing)
    return _build_dataarray(data, keep, np.asarray(y, float), np.asarray(x, float), attrs)


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
    scaler: str | None,
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


# -- dispatcher --------------------------------------------------------------------------------

XRFFormat = Literal["auto", "pyxrf", "maps", "tiff"]


def detect_xrf_format(path: str | os.PathLike[str]) -> Literal["pyxrf", "maps", "tiff"]:
    """Name the family of a fitted XRF map file from its name and content.

    Parameters
    ----------
    path : path-like
        ``.tif``/``.tiff`` (TIFF export) or HDF5 (PyXRF or MAPS).

    Returns
    -------
    {"pyxrf", "maps", "tiff"}
        ``"tiff"`` for a TIFF name, ``"pyxrf"`` for HDF5 with an ``xrfmap`` group,
        ``"maps"`` for HDF5 with a ``MAPS`` group.

    Raises
    ------
    FileFormatError
        HDF5 with neither group, or not HDF5.
    TruncatedFileError
        A truncated HDF5 file.
    """
    p = Path(path)
    if p.suffix.lower() in (".tif", ".tiff"):
        return "tiff"
    with _open_h5(p) as h5:
        if "xrfmap" in h5:
            return "pyxrf"
        if "MAPS" in h5:
            return "maps"
    raise FileFormatError(
        f"{p} is HDF5 but has neither an 'xrfmap' (PyXRF) nor a 'MAPS' group; "
        "give format= explicitly if it is one of them."
    )


def read_xrf_map(path: str | os.PathLike[str], *, format: XRFFormat = "auto", **options: Any):
    """Read a fitted XRF map, choosing the reader from the file (``format="auto"``).

    Parameters
    ----------
    path : path-like
        PyXRF or MAPS HDF5 file, or a TIFF export.
    format : {"auto", "pyxrf", "maps", "tiff"}
        File family; ``"auto"`` asks :func:`detect_xrf_format`.
    **options
        Passed to the reader (:func:`read_pyxrf_h5`, :func:`read_maps_h5`,
        :func:`read_xrf_tiffs`).

    Returns
    -------
    xarray.DataArray
        ``(channel, y, x)`` maps, coordinates in um.
    """
    from cathodescope.io._maps import read_maps_h5
    from cathodescope.io._pyxrf import read_pyxrf_h5
    from cathodescope.io._xrf_tiff import read_xrf_tiffs

    check_choice(format, ("auto", "pyxrf", "maps", "tiff"), "format")
    p = Path(path)
    if format == "auto":
        format = detect_xrf_format(p)
    if format == "pyxrf":
        return read_pyxrf_h5(p, **options)
    if format == "maps":
        return read_maps_h5(p, **options)
    return read_xrf_tiffs(p, **options)
