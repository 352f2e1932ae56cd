"""Stoe WinXPOW binary ``.raw`` (magic ``RAW_1.06`` and other ``RAW_x.yy``).

Layout read from the bytes of a real file (shared data ``xrd/stoe.raw``, RAW_1.06) and checked
against the offsets used by aimat-lab/xrdpattern's ``StoeReader``: a 2048-byte file header
(magic and date at 0, title at 32, two float32 at 322 and 326 that xrdpattern reads as the
secondary and primary wavelength), then per range a 512-byte range header and int32 counts.
In the range header (offsets from its start): int32 number of points at +34, float32 start
2theta at +44, float32 end 2theta (of the last point) at +52, float32 2theta step at +60. The
real file states start 10.000, end 91.045, step 0.015 and 5404 points, and
10.000 + 5403 x 0.015 = 91.045: the three agree, which is what the reader checks. (xrdpattern
instead spreads the points from the file-header start to the file-header end, 91.06 deg, which
is half a bin past the last point.)

Wavelength: the real file's two header floats are 1.20839 and 1.20793 A, which are no anode's
K-alpha lines; the meaning of these fields is not documented, so the reader keeps them as
``header_lambda_A`` / ``header_lambda2_A`` and sets ``wavelength_A`` only when the first one
is a known K-alpha1 line (Cu, Co, Mo, Fe, Cr, Ag within 1e-3 A); otherwise it warns.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import CathodescopeWarning, FileFormatError, TruncatedFileError
from cathodescope.io._pattern import make_pattern

__all__ = ["read_stoe_raw"]

_FILE_HEADER = 2048
_RANGE_HEADER = 512
#: K-alpha1 lines (Angstrom, Bearden 1967 / International Tables C 4.2.2.1), only to recognise
#: that a header value is a wavelength; the value used is the one the file states.
_KA1_LINES = {
    "Cu": 1.540593,
    "Co": 1.788996,
    "Mo": 0.709317,
    "Fe": 1.936041,
    "Cr": 2.289760,
    "Ag": 0.559421,
}


def _need(buf: bytes, end: int, name: str) -> None:
    if len(buf) < end:
        raise TruncatedFileError(
            f"{name}: file ends at byte {len(buf)} but its header announces data up to byte {end}; "
            "the file is truncated (interrupted copy?)."
        )


def _stoe_wavelength(lam1: float, lam2: float, name: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if 0.1 < lam1 < 10:
        attrs["header_lambda_A"] = round(float(lam1), 6)
    if 0.1 < lam2 < 10:
        attrs["header_lambda2_A"] = round(float(lam2), 6)
    anode = next((el for el, ka1 in _KA1_LINES.items() if abs(lam1 - ka1) < 1e-3), None)
    if anode is not None:
        attrs["wavelength_A"] = round(float(lam1), 6)
        attrs["anode"] = anode
        if "header_lambda2_A" in attrs:
            attrs["wavelength2_A"] = attrs["header_lambda2_A"]
    elif "header_lambda_A" in attrs:
        warnings.warn(
            f"{name}: the Stoe header value {lam1:.5f} A is no known K-alpha1 line, so it is not "
            "used as the wavelength; pass wavelength= (or --wavelength) in Angstrom.",
            CathodescopeWarning,
            stacklevel=3,
        )
    return attrs


def read_stoe_raw(path: str | os.PathLike[str], *, wavelength: float | None = None) -> xr.DataArray:
    """Read the first range of a Stoe WinXPOW binary ``.raw`` file.

    Parameters
    ----------
    path : path-like
        Stoe ``.raw`` (magic ``RAW_``).
    wavelength : float, optional
        Wavelength in Angstrom; replaces the header's.

    Returns
    -------
    xarray.DataArray
        Pattern in counts, dimension ``two_theta`` (deg), ``attrs["format"] == "stoe_raw"``,
        ``attrs["stoe_version"]`` (e.g. ``"1.06"``), and the header floats described in the
        module notes.

    Raises
    ------
    FileFormatError
        Not a Stoe RAW, or a range header whose start, step, end and point count disagree.
    TruncatedFileError
        The file ends before the counts its header announces.

    Warns
    -----
    CathodescopeWarning
        The header's wavelength field holds no known K-alpha1 line (and none was passed).
    """
    path = Path(path)
    buf = path.read_bytes()
    if buf[:4] != b"RAW_":
        raise FileFormatError(f"{path.name}: magic bytes {buf[:8]!r} are not a Stoe RAW ('RAW_').")
    _need(buf, _FILE_HEADER + _RANGE_HEADER, path.name)
    rng = _FILE_HEADER
    (n,) = struct.unpack_from("<i", buf, rng + 34)
    start, end, step = (struct.unpack_from("<f", buf, rng + off)[0] for off in (44, 52, 60))
    if n < 2 or not step > 0 or abs(start + (n - 1) * step - end) > 0.5 * step:
        raise FileFormatError(
            f"{path.name}: Stoe range header says {n} points from {start} to {end} step {step}; "
            "these do not agree, so this RAW_ layout is not one the reader knows."
        )
    data0 = rng + _RANGE_HEADER
    _need(buf, data0 + 4 * n, path.name)
    counts = np.frombuffer(buf, "<i4", count=n, offset=data0).astype(float)
    step = round(float(step), 6)
    tth = round(float(start), 6) + step * np.arange(n)
    attrs: dict[str, Any] = {
        "source": str(path),
        "format": "stoe_raw",
        "stoe_version": buf[4:8].decode("latin-1"),
        "start_deg": round(float(start), 6),
        "step_deg": step,
    }
    title = buf[32:96].split(b"\0")[0].decode("latin-1").strip()
    if title:
        attrs["title"] = title
    if wavelength is None:
        lam2, lam1 = struct.unpack_from("<ff", buf, 322)
        attrs.update(_stoe_wavelength(lam1, lam2, path.name))
    wl = attrs.pop("wavelength_A", wavelength)
    return make_pattern(tth, counts, wavelength=wl, attrs=attrs)
