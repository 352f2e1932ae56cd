"""Readers for powder-diffraction patterns and series of patterns.

Formats
-------
* plain columns ``.xy`` / ``.xye`` / ``.dat`` / ``.txt`` (2theta, intensity[, sigma]), with or
  without a pyFAI ``save1D`` header (``# Wavelength: 1e-10 m``, ``# --> file``, the column-name
  line, which in several pyFAI versions is not commented or not aligned: every non-numeric line
  before the data is tolerated);
* the "start step end" step-scan ``.dat`` (first line ``16.000 0.030 136.000``, then counts, as
  written by FullProf/RIETAN converters);
* Bruker/Siemens DIFFRAC-AT text ``.UXD`` (``_START``, ``_STEPSIZE``, ``_COUNTS`` or
  ``_2THETACOUNTS``, ``_WL1``, ``_WL2``, ``_WLRATIO``);
* Bruker/Siemens binary ``.RAW``: version 1 (``"RAW "``), version 2 (``"RAW2"``) and version 3
  (``"RAW1.01"``). The v1 layout was checked byte by byte against a real file (LiCoO2_CuKa.RAW);
  the v2 and v3 layouts follow the published DIFFRAC-AT / XCH file-structure description (as
  implemented in xylib) and are tested only against files written from that description;
* GSAS ``.gsa`` / ``.gss`` / ``.fxye`` (``BANK`` line with ``CONST`` binning, ``STD``, ``ESD``,
  ``FXYE`` and ``ALT`` data types; 2theta in centidegrees).

Every reader returns a 1D :class:`xarray.DataArray` with dimension ``two_theta`` (coordinate in
degrees, ``attrs["units"] == "deg"``), ``attrs["units"] == "counts"`` and, when the file says it,
``attrs["wavelength_A"]`` (and ``wavelength2_A``, ``kalpha2_ratio``). A coordinate ``sigma``
(same units as the counts) is present when the file gives uncertainties.

Note on the LiCoO2 test files: the ``.dat`` version states its start as 16.000 deg while the
instrument files (``.UXD`` and ``.RAW``) say 15.985 deg; the counts are identical. The 0.015 deg
difference (half a step) is the converter's rounding of the start angle; the instrument value is
the one to trust.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
    FileFormatError,
    FrameLengthMismatchError,
    MissingWavelengthError,
    NonFiniteDataError,
    NonMonotonicAxisError,
    TruncatedFileError,
)

__all__ = [
    "make_pattern",
    "make_series",
    "read_bruker_raw",
    "read_gsas",
    "read_pattern",
    "read_series",
    "read_uxd",
    "read_xy",
]

_NUM = re.compile(r"^[\s,;]*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def make_pattern(
    two_theta: Sequence[float] | np.ndarray,
    intensity: Sequence[float] | np.ndarray,
    *,
    wavelength: float | None = None,
    sigma: Sequence[float] | np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Build a validated diffraction pattern.

    Parameters
    ----------
    two_theta : array_like, shape (n,)
        Scattering angle 2theta in degrees, strictly increasing.
    intensity : array_like, shape (n,)
        Intensity (counts or counts per second).
    wavelength : float, optional
        Wavelength in Angstrom (Ka1 for a lab doublet). Stored as ``attrs["wavelength_A"]``.
    sigma : array_like, shape (n,), optional
        Standard uncertainty of each intensity, stored as coordinate ``sigma``.
    attrs : mapping, optional
        Extra metadata.

    Returns
    -------
    xarray.DataArray
        Dimension ``two_theta`` (degrees), ``attrs["units"] = "counts"`` unless given.

    Raises
    ------
    NonMonotonicAxisError
        If 2theta is not strictly increasing (sort or split the scan first).
    FileFormatError
        If the arrays are empty or of different lengths.
    NonFiniteDataError
        If 2theta holds NaN/inf.

    Examples
    --------
    >>> p = make_pattern([10.0, 10.1, 10.2], [5.0, 7.0, 6.0], wavelength=1.5406)
    >>> p.dims, p.attrs["wavelength_A"]
    (('two_theta',), 1.5406)
    """
    tth = np.asarray(two_theta, dtype=float).ravel()
    y = np.asarray(intensity, dtype=float).ravel()
    if tth.size == 0:
        raise FileFormatError("the pattern is empty: no 2theta/intensity pairs were found.")
    if tth.size != y.size:
        raise FileFormatError(
            f"2theta has {tth.size} values but the intensity has {y.size}; they must match."
        )
    if not np.all(np.isfinite(tth)):
        raise NonFiniteDataError("2theta contains NaN/inf; the angle axis must be finite.")
    _check_increasing(tth, "2theta")
    meta: dict[str, Any] = {"units": "counts"}
    if attrs:
        meta.update({k: v for k, v in attrs.items() if v is not None})
    if wavelength is not None:
        wl = float(wavelength)
        if not np.isfinite(wl) or wl <= 0:
            raise MissingWavelengthError(
                f"wavelength must be a positive number in Angstrom, got {wavelength!r}."
            )
        meta["wavelength_A"] = wl
    coords: dict[str, Any] = {
        "two_theta": xr.Variable("two_theta", tth, attrs={"units": "deg"}),
    }
    if sigma is not None:
        s = np.asarray(sigma, dtype=float).ravel()
        if s.size != tth.size:
            raise FileFormatError(f"sigma has {s.size} values, 2theta has {tth.size}.")
        coords["sigma"] = xr.Variable("two_theta", s, attrs={"units": meta["units"]})
    return xr.DataArray(y, dims=("two_theta",), coords=coords, attrs=meta, name="intensity")


def _check_increasing(values: np.ndarray, name: str) -> None:
    diffs = np.diff(values)
    if np.any(diffs <= 0):
        i = int(np.argmax(diffs <= 0))
        raise NonMonotonicAxisError(
            f"{name} is not strictly increasing (value {values[i + 1]!r} at index {i + 1} follows "
            f"{values[i]!r}); sort the points or split the file into separate scans."
        )


# -- plain columns and pyFAI ----------------------------------------------------------------


def _is_numeric_line(line: str) -> bool:
    parts = line.replace(",", " ").replace(";", " ").split()
    if not parts:
        return False
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return True


_PYFAI_UNITS = {
    "2th_deg": "2th_deg",
    "2th_rad": "2th_rad",
    "q_nm^-1": "q_nm^-1",
    "q_a^-1": "q_A^-1",
}


def read_xy(
    path: str | os.PathLike[str],
    *,
    wavelength: float | None = None,
) -> xr.DataArray:
    """Read a column (``.xy``/``.xye``/``.dat``) or "start step end" step-scan pattern.

    Parameters
    ----------
    path : path-like
        Text file. Lines starting with ``#``, ``!`` or ``;`` and any non-numeric line before the
        data (pyFAI's column-name line, which is sometimes not commented) are header lines.
    wavelength : float, optional
        Wavelength in Angstrom; overrides the header (pyFAI ``# Wavelength: ... m``).

    Returns
    -------
    xarray.DataArray
        Pattern with dimension ``two_theta`` in degrees.

    Raises
    ------
    FileFormatError
        No numeric data, ragged columns, or a step header whose point count does not match.
    MissingWavelengthError
        The file is in Q (pyFAI ``q_nm^-1``/``q_A^-1``) and no wavelength is known.
    NonMonotonicAxisError
        The 2theta column is not strictly increasing.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise FileFormatError(f"cannot read {path}: {exc}") from exc
    header: dict[str, str] = {}
    header_lines: list[str] = []
    data_lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[0] in "#!;" or not _is_numeric_line(line):
            if data_lines:
                # trailing comments are allowed, text in the middle of the data is not
                if line[0] in "#!;":
                    continue
                raise FileFormatError(
                    f"{path.name}: non-numeric line {line[:60]!r} inside the data block; "
                    "remove it or split the file."
                )
            header_lines.append(line)
            body = line.lstrip("#!; ").strip()
            if ":" in body:
                key, _, value = body.partition(":")
                header[key.strip().lower()] = value.strip()
            continue
        data_lines.append(line)
    if not data_lines:
        raise FileFormatError(f"{path.name}: no numeric data found; is this a pattern file?")
    rows = [
        np.array(ln.replace(",", " ").replace(";", " ").split(), dtype=float) for ln in data_lines
    ]
    attrs: dict[str, Any] = {"source": str(path), "format": "xy"}
    wl = wavelength if wavelength is not None else _pyfai_wavelength(header)
    # "start step end" header followed by counts (8 or 10 per line)
    first = rows[0]
    if first.size == 3 and len(rows) > 1 and any(r.size != 3 for r in rows[1:]):
        start, step, end = (float(v) for v in first)
        counts = np.concatenate(rows[1:])
        if step <= 0:
            raise FileFormatError(f"{path.name}: step {step} in the first line must be > 0.")
        expected = round((end - start) / step) + 1
        if counts.size != expected:
            raise TruncatedFileError(
                f"{path.name}: header says {start}..{end} step {step} ({expected} points) but "
                f"{counts.size} counts follow; the file is truncated or not a step scan."
            )
        tth = start + step * np.arange(counts.size)
        attrs.update(format="step_dat", start_deg=start, step_deg=step)
        return make_pattern(tth, counts, wavelength=wl, sigma=None, attrs=attrs)
    ncol = {r.size for r in rows}
    if len(ncol) != 1:
        raise FileFormatError(
            f"{path.name}: rows have different numbers of columns {sorted(ncol)}; expected "
            "2 (2theta, I) or 3 (2theta, I, sigma) columns throughout."
        )
    table = np.vstack(rows)
    if table.shape[1] < 2:
        raise FileFormatError(f"{path.name}: need at least two columns (2theta, intensity).")
    x = table[:, 0]
    unit = _pyfai_unit(header_lines)
    if unit == "2th_rad":
        x = np.degrees(x)
    elif unit in ("q_nm^-1", "q_A^-1"):
        if wl is None:
            raise MissingWavelengthError(
                f"{path.name} is in {unit} and has no wavelength; pass wavelength= (Angstrom) "
                "to convert Q to 2theta."
            )
        q = x / 10.0 if unit == "q_nm^-1" else x
        arg = q * wl / (4 * np.pi)
        if np.any(arg > 1):
            raise FileFormatError(f"{path.name}: Q beyond 4pi/lambda; wrong wavelength?")
        x = np.degrees(2 * np.arcsin(arg))
        attrs["converted_from"] = unit
    sigma = table[:, 2] if table.shape[1] >= 3 else None
    if unit is not None:
        attrs["format"] = "pyfai"
    return make_pattern(x, table[:, 1], wavelength=wl, sigma=sigma, attrs=attrs)


def _pyfai_wavelength(header: Mapping[str, str]) -> float | None:
    value = header.get("wavelength")
    if value is None:
        return None
    m = _NUM.match(value)
    if not m:
        return None
    number = float(m.group(0).strip(" ,;"))
    unit = value[m.end() :].strip().lower()
    if unit.startswith("m") or number < 1e-6:  # pyFAI writes metres
        return number * 1e10
    if unit.startswith("nm"):
        return number * 10.0
    return number


def _pyfai_unit(header_lines: Sequence[str]) -> str | None:
    for line in reversed(header_lines):
        low = line.lower()
        for key, unit in _PYFAI_UNITS.items():
            if key in low:
                return unit
    return None


# -- Bruker UXD ------------------------------------------------------------------------------


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
    """
    path = Path(path)
    text = path.read_text(errors="replace")
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
            if key in ("COUNTS", "CPS", "2THETACOUNTS", "2THETACPS"):
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
                raise FileFormatError(
                    f"{path.name}: bad number in data line {line[:60]!r}"
                ) from exc
    ranges = [r for r in ranges if r["values"]]
    if not ranges:
        raise FileFormatError(f"{path.name}: no _COUNTS or _2THETACOUNTS data block found.")
    if not 0 <= range_index < len(ranges):
        raise FileFormatError(
            f"{path.name} holds {len(ranges)} range(s); range_index={range_index}."
        )
    rng = ranges[range_index]
    meta = {**file_meta, **rng["meta"]}
    values = np.asarray(rng["values"], dtype=float)
    if rng["mode"].startswith("2THETA"):
        if values.size % 2:
            raise TruncatedFileError(f"{path.name}: odd number of values in a 2theta/counts block.")
        tth, counts = values[0::2], values[1::2]
    else:
        try:
            start = float(meta.get("START", meta.get("2THETA")))
            step = float(meta["STEPSIZE"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(
                f"{path.name}: _START or _STEPSIZE missing for the counts block."
            ) from exc
        counts = values
        tth = start + step * np.arange(counts.size)
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


# -- Bruker RAW ------------------------------------------------------------------------------


def read_bruker_raw(path: str | os.PathLike[str], *, range_index: int = 0) -> xr.DataArray:
    """Read a Bruker/Siemens DIFFRAC-AT binary ``.RAW`` file (versions 1, 2 and 3).

    Parameters
    ----------
    path : path-like
        The ``.RAW`` file.
    range_index : int
        Which range to return when the file holds several (0 = first).

    Returns
    -------
    xarray.DataArray
        Pattern in counts, ``attrs["raw_version"]`` in {1, 2, 3}, wavelengths when stored.

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
    magic = buf[:4]
    if magic == b"RAW ":
        ranges, attrs = _raw_v1(buf, path.name)
    elif magic == b"RAW2":
        ranges, attrs = _raw_v2(buf, path.name)
    elif buf[:7] == b"RAW1.01":
        ranges, attrs = _raw_v3(buf, path.name)
    else:
        raise FileFormatError(
            f"{path.name}: magic bytes {magic!r} are not a Bruker RAW v1/v2/v3 file "
            "('RAW ', 'RAW2', 'RAW1.01'); RAW4 files must be exported (e.g. to .xy or .UXD)."
        )
    if not 0 <= range_index < len(ranges):
        raise FileFormatError(
            f"{path.name} holds {len(ranges)} range(s); range_index={range_index}."
        )
    start, step, counts, rmeta = ranges[range_index]
    if not np.isfinite(step) or step <= 0:
        raise FileFormatError(f"{path.name}: step size {step!r} in the header is not > 0.")
    tth = start + step * np.arange(counts.size)
    attrs = {**attrs, **rmeta, "source": str(path), "format": "bruker_raw", "start_deg": start}
    wl = attrs.pop("wavelength_A", None)
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


# -- GSAS ------------------------------------------------------------------------------------


def read_gsas(path: str | os.PathLike[str], *, wavelength: float | None = None) -> xr.DataArray:
    """Read the first bank of a GSAS ``.gsa``/``.gss``/``.fxye`` constant-wavelength file.

    Parameters
    ----------
    path : path-like
        GSAS powder data file (2theta in centidegrees, as GSAS writes it).
    wavelength : float, optional
        Wavelength in Angstrom (GSAS data files do not carry it; it lives in the ``.prm``).

    Returns
    -------
    xarray.DataArray
        Pattern with ``sigma`` coordinate when the file has esd's.

    Raises
    ------
    FileFormatError
        No ``BANK`` line, unsupported binning (time-of-flight) or data type.
    TruncatedFileError
        Fewer points than the BANK line announces.
    """
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    bank_i = next((i for i, ln in enumerate(lines) if ln.startswith("BANK")), None)
    if bank_i is None:
        raise FileFormatError(f"{path.name}: no 'BANK' line; not a GSAS powder data file.")
    parts = lines[bank_i].split()
    try:
        nchan = int(parts[2])
        bintyp = parts[4].upper()
    except (IndexError, ValueError) as exc:
        raise FileFormatError(f"{path.name}: cannot parse BANK line {lines[bank_i]!r}.") from exc
    dtype = parts[-1].upper() if parts[-1].isalpha() else "STD"
    body = [ln for ln in lines[bank_i + 1 :] if ln.strip() and not ln.startswith(("BANK", "#"))]
    attrs: dict[str, Any] = {"source": str(path), "format": f"gsas_{dtype.lower()}"}
    sigma = None
    if dtype in ("FXYE", "ALT"):
        vals = np.array(" ".join(body).split(), dtype=float)
        ncol = 3
        if vals.size < ncol * nchan:
            raise TruncatedFileError(f"{path.name}: {vals.size // ncol} of {nchan} points present.")
        table = vals[: ncol * nchan].reshape(nchan, ncol)
        x = table[:, 0] / 100.0
        y = table[:, 1]
        sigma = table[:, 2]
    else:
        if bintyp != "CONST":
            raise FileFormatError(
                f"{path.name}: binning {bintyp!r} not supported (constant-wavelength CONST only)."
            )
        start, step = float(parts[5]) / 100.0, float(parts[6]) / 100.0
        if dtype == "ESD":
            fields = [ln[i : i + 16] for ln in body for i in range(0, min(len(ln), 80), 16)]
            fields = [f for f in fields if f.strip()]
            if len(fields) < nchan:
                raise TruncatedFileError(f"{path.name}: {len(fields)} of {nchan} points present.")
            y = np.array([float(f[:8]) for f in fields[:nchan]])
            sigma = np.array([float(f[8:16]) for f in fields[:nchan]])
        elif dtype == "STD":
            fields = [ln[i : i + 8] for ln in body for i in range(0, min(len(ln), 80), 8)]
            fields = [f for f in fields if f.strip()]
            if len(fields) < nchan:
                raise TruncatedFileError(f"{path.name}: {len(fields)} of {nchan} points present.")
            ncount = np.array([int(f[:2]) if f[:2].strip() else 1 for f in fields[:nchan]])
            y = np.array([float(f[2:8]) for f in fields[:nchan]])
            sigma = np.sqrt(np.abs(y) / np.maximum(ncount, 1)) if np.any(ncount > 1) else None
        else:
            raise FileFormatError(f"{path.name}: GSAS data type {dtype!r} not supported.")
        x = start + step * np.arange(nchan)
    return make_pattern(x, y, wavelength=wavelength, sigma=sigma, attrs=attrs)


# -- dispatch and series ---------------------------------------------------------------------

_BY_SUFFIX = {
    ".xy": "xy",
    ".xye": "xy",
    ".dat": "xy",
    ".txt": "xy",
    ".csv": "xy",
    ".chi": "xy",
    ".uxd": "uxd",
    ".raw": "raw",
    ".gsa": "gsas",
    ".gss": "gsas",
    ".gsas": "gsas",
    ".fxye": "gsas",
}


def read_pattern(path: str | os.PathLike[str], *, wavelength: float | None = None) -> xr.DataArray:
    """Read any supported pattern file, choosing the reader by extension.

    Parameters
    ----------
    path : path-like
        ``.xy .xye .dat .txt .csv .chi .uxd .raw .gsa .gss .fxye`` (case-insensitive).
    wavelength : float, optional
        Wavelength in Angstrom; replaces the file's value (or supplies a missing one).

    Returns
    -------
    xarray.DataArray
        Pattern with dimension ``two_theta`` (deg).

    Raises
    ------
    FileFormatError
        Unknown extension or unreadable file.
    """
    path = Path(path)
    kind = _BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        raise FileFormatError(
            f"{path.name}: unknown pattern extension {path.suffix!r}; expected one of "
            f"{sorted(set(_BY_SUFFIX))}."
        )
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file.")
    if kind == "xy":
        return read_xy(path, wavelength=wavelength)
    if kind == "gsas":
        return read_gsas(path, wavelength=wavelength)
    pattern = read_uxd(path) if kind == "uxd" else read_bruker_raw(path)
    if wavelength is not None:
        pattern = pattern.assign_attrs(wavelength_A=float(wavelength))
    return pattern


def _frame_coord(
    values: Sequence[float] | np.ndarray | None, n: int, name: str
) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != n:
        raise FrameLengthMismatchError(f"{name} has {arr.size} values for {n} frames.")
    return arr


def make_series(
    intensities: np.ndarray,
    two_theta: Sequence[float] | np.ndarray,
    *,
    wavelength: float | None = None,
    temperature: Sequence[float] | np.ndarray | None = None,
    time: Sequence[float] | np.ndarray | None = None,
    soc: Sequence[float] | np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Build a series of patterns from one 2D array of frames.

    Parameters
    ----------
    intensities : array_like, shape (n_frames, n_points)
        One pattern per row.
    two_theta : array_like, shape (n_points,)
        Common 2theta grid in degrees, strictly increasing.
    wavelength : float, optional
        Wavelength in Angstrom.
    temperature, time, soc : array_like, shape (n_frames,), optional
        Per-frame temperature (C), time (s) and state of charge (0-1 or %), stored as
        coordinates ``temperature_C``, ``time_s`` and ``soc`` along ``frame``.
    attrs : mapping, optional
        Extra metadata.

    Returns
    -------
    xarray.DataArray
        Dimensions ``("frame", "two_theta")``.

    Raises
    ------
    FrameLengthMismatchError
        If the array's second axis does not match the 2theta grid, or a per-frame coordinate
        has the wrong length.
    NonMonotonicAxisError
        If 2theta is not strictly increasing.
    """
    data = np.asarray(intensities, dtype=float)
    if data.ndim != 2:
        raise FrameLengthMismatchError(
            f"a series needs a 2D (frames, points) array, got shape {data.shape}."
        )
    tth = np.asarray(two_theta, dtype=float).ravel()
    if data.shape[1] != tth.size:
        raise FrameLengthMismatchError(
            f"frames have {data.shape[1]} points but the 2theta grid has {tth.size}."
        )
    first = make_pattern(
        tth, data[0] if data.shape[0] else np.zeros(tth.size), wavelength=wavelength, attrs=attrs
    )
    n = data.shape[0]
    coords: dict[str, Any] = {
        "two_theta": first.two_theta.variable,
        "frame": np.arange(n),
    }
    for name, values, unit in (
        ("temperature_C", temperature, "C"),
        ("time_s", time, "s"),
        ("soc", soc, "1"),
    ):
        arr = _frame_coord(values, n, name)
        if arr is not None:
            coords[name] = xr.Variable("frame", arr, attrs={"units": unit})
    return xr.DataArray(
        data, dims=("frame", "two_theta"), coords=coords, attrs=dict(first.attrs), name="intensity"
    )


def read_series(
    paths: Sequence[str | os.PathLike[str]],
    *,
    wavelength: float | None = None,
    temperature: Sequence[float] | np.ndarray | None = None,
    time: Sequence[float] | np.ndarray | None = None,
    soc: Sequence[float] | np.ndarray | None = None,
    regrid: bool = False,
) -> xr.DataArray:
    """Read many pattern files (one per frame) into one series.

    Parameters
    ----------
    paths : sequence of path-like
        Pattern files in frame order.
    wavelength : float, optional
        Wavelength in Angstrom (else taken from the first file).
    temperature, time, soc : array_like, shape (n_frames,), optional
        Per-frame temperature (C), time (s), state of charge.
    regrid : bool
        If the frames have different 2theta grids, interpolate all (linearly) onto the first
        frame's points inside the 2theta range common to all frames. Default: raise.

    Returns
    -------
    xarray.DataArray
        Dimensions ``("frame", "two_theta")``.

    Raises
    ------
    FrameLengthMismatchError
        Frames with different lengths or grids (and ``regrid`` false).
    EmptyDataError
        No paths.
    """
    from cathodescope.errors import EmptyDataError

    if len(paths) == 0:
        raise EmptyDataError("read_series needs at least one pattern file.")
    patterns = [read_pattern(p, wavelength=wavelength) for p in paths]
    ref = patterns[0].two_theta.values
    if regrid:  # common range of all frames, on the first frame's points
        lo = max(float(p.two_theta.values[0]) for p in patterns)
        hi = min(float(p.two_theta.values[-1]) for p in patterns)
        ref = ref[(ref >= lo - 1e-9) & (ref <= hi + 1e-9)]
        if ref.size < 2:
            raise FrameLengthMismatchError(
                "the frames share no common 2theta range; they cannot form one series."
            )
    rows = []
    for p, path in zip(patterns, paths, strict=True):
        x = p.two_theta.values
        same = x.size == ref.size and np.allclose(x, ref, rtol=0, atol=1e-6)
        if not same:
            if not regrid:
                raise FrameLengthMismatchError(
                    f"{Path(path).name} has {x.size} points on 2theta {x[0]:.4f}-{x[-1]:.4f} but the "
                    f"first frame has {ref.size} on {ref[0]:.4f}-{ref[-1]:.4f}; pass regrid=True to "
                    "interpolate onto the first frame's grid."
                )
            rows.append(np.interp(ref, x, p.values))
        else:
            rows.append(np.interp(ref, x, p.values) if regrid else p.values)
    wl = wavelength if wavelength is not None else patterns[0].attrs.get("wavelength_A")
    attrs = {k: v for k, v in patterns[0].attrs.items() if k not in ("source", "wavelength_A")}
    attrs["sources"] = [str(p) for p in paths]
    return make_series(
        np.vstack(rows),
        ref,
        wavelength=wl,
        temperature=temperature,
        time=time,
        soc=soc,
        attrs=attrs,
    )
