"""Bruker/Siemens DIFFRAC-AT text ``.UXD`` (``_START``, ``_STEPSIZE``, ``_COUNTS`` or
``_2THETACOUNTS``, ``_WL1``, ``_WL2``, ``_WLRATIO``).

Note on the LiCoO2 test files: the ``.dat`` version states its start as 16.000 deg while the
instrument files (``.UXD`` and ``.RAW``) say 15.985 deg; the counts are identical. The 0.015 deg
difference (half a step) is the converter's rounding of the start angle; the instrument value is
the one to trust.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.common.files import check_input_file, raise_if_cut
from cathodescope.errors import FileFormatError, TruncatedFileError
from cathodescope.io._pattern import make_pattern

__all__ = ["read_uxd"]

_DATA_KEYS = ("COUNTS", "CPS", "2THETACOUNTS", "2THETACPS")


def _uxd_ranges(text: str, name: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """File-level ``_KEY=value`` pairs and the ranges (``meta``, ``mode``, ``values``)."""
    file_meta: dict[str, str] = {}
    ranges: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    mode: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(";"):
            if "range" in line.lower():
                current = {"meta": {}, "values": []}
                ranges.append(current)
                mode = None
            continue
        if line.startswith("_"):
            key, _, value = line[1:].partition("=")
            key = key.strip().upper()
            value = value.strip().strip("'")
            if key in _DATA_KEYS:
                if current is None:
                    current = {"meta": {}, "values": []}
                    ranges.append(current)
                mode = key
                current["mode"] = key
                continue
            if key == "DRIVE" and current is not None and current["values"]:
                current = {"meta": {}, "values": []}
                ranges.append(current)
            target = current["meta"] if current is not None else file_meta
            target[key] = value
            mode = None
            continue
        if mode is not None and current is not None:
            try:
                current["values"].extend(float(v) for v in line.split())
            except ValueError as exc:
                raise FileFormatError(f"{name}: bad number in data line {line[:60]!r}") from exc
    return file_meta, [r for r in ranges if r["values"]]


def _range_axis(
    rng: dict[str, Any], meta: dict[str, str], name: str
) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(rng["values"], dtype=float)
    if rng["mode"].startswith("2THETA"):
        if values.size % 2:
            raise TruncatedFileError(f"{name}: odd number of values in a 2theta/counts block.")
        return values[0::2], values[1::2]
    try:
        start = float(meta["START"] if "START" in meta else meta["2THETA"])
        step = float(meta["STEPSIZE"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FileFormatError(f"{name}: _START or _STEPSIZE missing for the counts block.") from exc
    return start + step * np.arange(values.size), values


def read_uxd(path: str | os.PathLike[str], *, range_index: int = 0) -> xr.DataArray:
    """Read a Bruker/Siemens DIFFRAC-AT ``.UXD`` text file.

    Parameters
    ----------
    path : path-like
        The ``.UXD`` file.
    range_index : int
        Which measured range to return when the file holds several (0 = first).

    Returns
    -------
    xarray.DataArray
        Pattern in counts with ``wavelength_A`` (``_WL1``), ``wavelength2_A`` (``_WL2``) and
        ``kalpha2_ratio`` (``_WLRATIO``) when present.

    Raises
    ------
    FileFormatError
        No ``_COUNTS``/``_2THETACOUNTS`` block, missing ``_START``/``_STEPSIZE``, or no such range.
    TruncatedFileError
        The file ends inside a data line (an interrupted copy).
    """
    path = check_input_file(path, "UXD")
    text = path.read_text(errors="replace")
    lines = text.rstrip("\r\n").splitlines()
    # a cut inside the last data line: fewer values than the full line before it
    full = (
        len(lines[-2].split()) if len(lines) > 1 and not lines[-2].startswith(("_", ";")) else None
    )
    raise_if_cut(text, path.name, values_per_line=full)
    file_meta, ranges = _uxd_ranges(text, path.name)
    if not ranges:
        raise FileFormatError(f"{path.name}: no _COUNTS or _2THETACOUNTS data block found.")
    if not 0 <= range_index < len(ranges):
        raise FileFormatError(
            f"{path.name} holds {len(ranges)} range(s); range_index={range_index}."
        )
    rng = ranges[range_index]
    meta = {**file_meta, **rng["meta"]}
    tth, counts = _range_axis(rng, meta, path.name)
    units = "counts/s" if rng["mode"].endswith("CPS") else "counts"
    attrs = {
        "source": str(path),
        "format": "uxd",
        "units": units,
        "sample": meta.get("SAMPLE"),
        "anode": meta.get("ANODE"),
        "step_time_s": _float_or_none(meta.get("STEPTIME")),
        "start_deg": float(tth[0]),
    }
    wl = _float_or_none(meta.get("WL1"))
    wl2 = _float_or_none(meta.get("WL2"))
    ratio = _float_or_none(meta.get("WLRATIO"))
    if wl2:
        attrs["wavelength2_A"] = wl2
    if ratio:
        attrs["kalpha2_ratio"] = ratio
    return make_pattern(tth, counts, wavelength=wl or None, attrs=attrs)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
