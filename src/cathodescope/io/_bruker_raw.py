"""Bruker/Siemens binary DIFFRAC ``.RAW``: versions 1 (``"RAW "``), 2 (``"RAW2"``),
3 (``"RAW1.01"``) and 4 (``"RAW4.00"``).

Sources of the layouts: v1 was checked byte by byte against a real file (LiCoO2_CuKa.RAW); v2 and
v3 follow the published DIFFRAC-AT / XCH file-structure description as implemented in xylib
(``bruker_raw.cpp``); v4 follows the structure described for GSAS-II's ``G2pwd_BrukerRAW``
reader: a 61-byte preamble, then a chain of (uint32 kind, uint32 length) segments in which a
kind of 0 or 160 marks a range. v2, v3 and v4 are tested only against files written from those
descriptions (no real file of these versions is in the test data).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import FileFormatError, TruncatedFileError
from cathodescope.io._pattern import make_pattern

__all__ = ["read_bruker_raw"]

#: magic bytes -> version, longest first so that "RAW1.01" is not taken for another one
RAW_MAGIC: tuple[tuple[bytes, int], ...] = (
    (b"RAW1.01", 3),
    (b"RAW4.00", 4),
    (b"RAW2", 2),
    (b"RAW ", 1),
)


def raw_version(head: bytes) -> int | None:
    """Bruker RAW version (1-4) from the first bytes of a file, None if not a Bruker RAW."""
    return next((v for magic, v in RAW_MAGIC if head.startswith(magic)), None)


def read_bruker_raw(path: str | os.PathLike[str], *, range_index: int = 0) -> xr.DataArray:
    """Read a Bruker/Siemens DIFFRAC binary ``.RAW`` file (versions 1, 2, 3 and 4).

    Parameters
    ----------
    path : path-like
        The ``.RAW`` file.
    range_index : int
        Which range to return when the file holds several (0 = first).

    Returns
    -------
    xarray.DataArray
        Pattern in counts, ``attrs["raw_version"]`` in {1, 2, 3, 4}, wavelengths when stored.

    Raises
    ------
    FileFormatError
        Unknown magic bytes or an impossible header.
    TruncatedFileError
        The file ends before the number of steps its header announces.

    Notes
    -----
    Version 1 layout (little-endian; verified on a real file): ``"RAW "``; uint32 steps @4;
    float32 time/step @8, step @12; uint32 scan mode @16; float32 start 2theta @24; theta, khi,
    phi @28-36; sample name 32 bytes @40; float32 Ka1 @72, Ka2 @76; uint32 "another range
    follows" @152; float32 counts @156. Further ranges repeat the 156-byte header.
    """
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 8:
        raise TruncatedFileError(f"{path.name}: only {len(buf)} bytes; not a complete RAW file.")
    version = raw_version(buf[:8])
    if version is None:
        hint = (
            " It is a Stoe RAW file (magic 'RAW_'): read it with read_stoe_raw or read_pattern."
            if buf[:4] == b"RAW_"
            else ""
        )
        raise FileFormatError(
            f"{path.name}: magic bytes {buf[:8]!r} are not a Bruker RAW v1/v2/v3/v4 file "
            f"('RAW ', 'RAW2', 'RAW1.01', 'RAW4.00').{hint}"
        )
    reader = {1: _raw_v1, 2: _raw_v2, 3: _raw_v3, 4: _raw_v4}[version]
    ranges, attrs = reader(buf, path.name)
    if not 0 <= range_index < len(ranges):
        raise FileFormatError(
            f"{path.name} holds {len(ranges)} range(s); range_index={range_index}."
        )
    start, step, counts, rmeta = ranges[range_index]
    if not np.isfinite(step) or step <= 0:
        raise FileFormatError(f"{path.name}: step size {step!r} in the header is not > 0.")
    tth = start + step * np.arange(counts.size)
    attrs = {**attrs, **rmeta, "source": str(path), "format": "bruker_raw", "start_deg": start}
    wl = attrs.pop("wavelength_A", None) or attrs.get("used_wavelength_A")
    return make_pattern(tth, counts.astype(float), wavelength=wl, attrs=attrs)


def _need(buf: bytes, end: int, name: str) -> None:
    if len(buf) < end:
        raise TruncatedFileError(
            f"{name}: file ends at byte {len(buf)} but its header announces data up to byte {end}; "
            "the file is truncated (interrupted copy?)."
        )


def _raw_v1(buf: bytes, name: str) -> tuple[list, dict]:
    ranges = []
    attrs: dict[str, Any] = {"raw_version": 1}
    pos = 0
    while True:
        if buf[pos : pos + 4] == b"RAW ":
            pos += 4
        _need(buf, pos + 152, name)
        (steps,) = struct.unpack_from("<I", buf, pos)
        step_time, step = struct.unpack_from("<ff", buf, pos + 4)
        (start,) = struct.unpack_from("<f", buf, pos + 20)
        sample = buf[pos + 36 : pos + 68].split(b"\0")[0].decode("latin-1").strip()
        ka1, ka2 = struct.unpack_from("<ff", buf, pos + 68)
        (follows,) = struct.unpack_from("<I", buf, pos + 148)
        data0 = pos + 152
        _need(buf, data0 + 4 * steps, name)
        counts = np.frombuffer(buf, "<f4", count=steps, offset=data0)
        # the header stores float32: round to the 1e-6 deg the instrument actually writes
        rmeta = {"step_time_s": round(float(step_time), 6), "sample": sample}
        ranges.append((round(float(start), 6), round(float(step), 6), counts, rmeta))
        if len(ranges) == 1:
            if 0.1 < ka1 < 10:
                attrs["wavelength_A"] = round(float(ka1), 6)
            if 0.1 < ka2 < 10:
                attrs["wavelength2_A"] = round(float(ka2), 6)
        pos = data0 + 4 * steps
        if not follows or pos >= len(buf):
            break
    return ranges, attrs


def _raw_v2(buf: bytes, name: str) -> tuple[list, dict]:
    _need(buf, 256, name)
    (nranges,) = struct.unpack_from("<H", buf, 4)
    ka1, ka2, ratio = struct.unpack_from("<fff", buf, 190)
    attrs: dict[str, Any] = {"raw_version": 2}
    if 0.1 < ka1 < 10:
        attrs["wavelength_A"] = round(float(ka1), 6)
    if 0.1 < ka2 < 10:
        attrs["wavelength2_A"] = round(float(ka2), 6)
    if 0 < ratio < 1:
        attrs["kalpha2_ratio"] = round(float(ratio), 6)
    pos = 256
    ranges = []
    for _ in range(nranges):
        _need(buf, pos + 48, name)
        header_len, steps = struct.unpack_from("<HH", buf, pos)
        if header_len < 48:
            raise FileFormatError(f"{name}: RAW2 range header length {header_len} < 48.")
        step_time, step, start = struct.unpack_from("<fff", buf, pos + 8)
        (temp_k,) = struct.unpack_from("<H", buf, pos + 46)
        data0 = pos + header_len
        _need(buf, data0 + 4 * steps, name)
        counts = np.frombuffer(buf, "<f4", count=steps, offset=data0)
        rmeta = {"step_time_s": round(float(step_time), 6)}
        if temp_k:
            rmeta["temperature_K"] = int(temp_k)
        ranges.append((round(float(start), 6), round(float(step), 6), counts, rmeta))
        pos = data0 + 4 * steps
    return ranges, attrs


def _raw_v3(buf: bytes, name: str) -> tuple[list, dict]:
    _need(buf, 712, name)
    (nranges,) = struct.unpack_from("<I", buf, 12)
    ka1, ka2, _beta, ratio = struct.unpack_from("<dddd", buf, 624)
    attrs: dict[str, Any] = {"raw_version": 3}
    if 0.1 < ka1 < 10:
        attrs["wavelength_A"] = float(ka1)
    if 0.1 < ka2 < 10:
        attrs["wavelength2_A"] = float(ka2)
    if 0 < ratio < 1:
        attrs["kalpha2_ratio"] = float(ratio)
    pos = 712
    ranges = []
    for _ in range(nranges):
        _need(buf, pos + 304, name)
        header_len, steps = struct.unpack_from("<II", buf, pos)
        if header_len != 304:
            raise FileFormatError(f"{name}: RAW1.01 range header length {header_len} != 304.")
        (start,) = struct.unpack_from("<d", buf, pos + 16)
        (step,) = struct.unpack_from("<d", buf, pos + 176)
        (step_time,) = struct.unpack_from("<f", buf, pos + 192)
        (used_lambda,) = struct.unpack_from("<d", buf, pos + 240)
        (supp,) = struct.unpack_from("<I", buf, pos + 256)
        data0 = pos + 304 + supp
        _need(buf, data0 + 4 * steps, name)
        counts = np.frombuffer(buf, "<f4", count=steps, offset=data0)
        rmeta = {"step_time_s": float(step_time)}
        if "wavelength_A" not in attrs and 0.1 < used_lambda < 10:
            attrs["wavelength_A"] = float(used_lambda)
        ranges.append((float(start), float(step), counts, rmeta))
        pos = data0 + 4 * steps
    return ranges, attrs


# -- version 4 ("RAW4.00") -------------------------------------------------------------------

_V4_PREAMBLE = 61  # magic, date and time strings, then the segment chain
_V4_RANGE_MARKERS = (0, 160)
_V4_SOURCE = 30  # tube: float64 Ka mean, Ka1, Ka2, Kb, Ka2/Ka1 ratio at +72, anode text at +116
_V4_RANGE_HEADER = 160  # fixed part of a range header, then hdr_size bytes of drive records


def _raw_v4(buf: bytes, name: str) -> tuple[list, dict]:
    """Walk the v4 segment chain to the end of the file, collecting the ranges."""
    attrs: dict[str, Any] = {"raw_version": 4}
    ranges = []
    pos = _V4_PREAMBLE
    while pos + 4 <= len(buf):
        (kind,) = struct.unpack_from("<I", buf, pos)
        if kind in _V4_RANGE_MARKERS:
            start, step, counts, rmeta, pos = _raw_v4_range(buf, pos, name)
            ranges.append((start, step, counts, rmeta))
            continue
        _need(buf, pos + 8, name)
        (length,) = struct.unpack_from("<I", buf, pos + 4)
        if length < 8:
            raise FileFormatError(f"{name}: RAW4 segment of kind {kind} at byte {pos} is empty.")
        _need(buf, pos + length, name)
        if kind == _V4_SOURCE and length >= 120:
            _mean, ka1, ka2, _kb, ratio = struct.unpack_from("<5d", buf, pos + 72)
            if 0.1 < ka1 < 10:
                attrs["wavelength_A"] = float(ka1)
            if 0.1 < ka2 < 10:
                attrs["wavelength2_A"] = float(ka2)
            if 0 < ratio < 1:
                attrs["kalpha2_ratio"] = float(ratio)
            anode = buf[pos + 116 : pos + 120].split(b"\0")[0].decode("latin-1").strip()
            if anode:
                attrs["anode"] = anode
        pos += length
    if not ranges:
        raise FileFormatError(f"{name}: a RAW4 header but no measurement range in the file.")
    return ranges, attrs


def _raw_v4_range(buf: bytes, pos: int, name: str) -> tuple[float, float, np.ndarray, dict, int]:
    """One v4 range at ``pos``: (start, step, counts, metadata, end of the range)."""
    _need(buf, pos + _V4_RANGE_HEADER, name)
    scan_type = buf[pos + 32 : pos + 56].split(b"\0")[0].decode("latin-1").strip()
    start, step = struct.unpack_from("<dd", buf, pos + 72)
    steps, step_time_ms = struct.unpack_from("<If", buf, pos + 88)
    (used_lambda,) = struct.unpack_from("<d", buf, pos + 112)
    datum, hdr_size = struct.unpack_from("<II", buf, pos + 136)
    if datum < 4 or datum % 4:
        raise FileFormatError(f"{name}: RAW4 data record of {datum} bytes (must be 4, 8, ...).")
    data0 = pos + _V4_RANGE_HEADER + hdr_size
    end = data0 + datum * steps
    _need(buf, end, name)
    # the leading float32 of each record is the intensity; the rest is stepped over
    counts = np.frombuffer(buf, "<f4", count=steps * (datum // 4), offset=data0)[:: datum // 4]
    rmeta: dict[str, Any] = {"scan_type": scan_type}
    if 0 < step_time_ms < 1e9:
        rmeta["step_time_s"] = float(step_time_ms) / 1000.0  # stored in milliseconds
    if 0.1 < used_lambda < 10:
        rmeta["used_wavelength_A"] = float(used_lambda)
    return float(start), float(step), counts.copy(), rmeta, end
