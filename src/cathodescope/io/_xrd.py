"""Any powder-diffraction pattern file, the reader chosen by content; series of patterns.

:func:`detect_pattern_format` looks at the first bytes (binary magic: Bruker ``RAW ``/``RAW2``/
``RAW1.01``/``RAW4.00``, Stoe ``RAW_``) or the first text lines (a GSAS ``BANK`` line, UXD
``_COUNTS``/``_START`` keys, the Fit2D ``.chi`` 4-line header) and only then at the extension,
so that GSAS's ``.raw`` files, Stoe's ``.raw`` and Fit2D's ``.chi`` reach the right reader.
Readers per format family: :mod:`~cathodescope.io._xy` (columns, pyFAI, step scans, Fit2D),
:mod:`~cathodescope.io._uxd`, :mod:`~cathodescope.io._bruker_raw`, :mod:`~cathodescope.io._stoe`,
:mod:`~cathodescope.io._gsas`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from cathodescope.common.files import check_input_file
from cathodescope.errors import EmptyDataError, FileFormatError, FrameLengthMismatchError
from cathodescope.io._bruker_raw import raw_version, read_bruker_raw
from cathodescope.io._gsas import bank_line_index, read_gsas
from cathodescope.io._pattern import make_series
from cathodescope.io._stoe import read_stoe_raw
from cathodescope.io._uxd import read_uxd
from cathodescope.io._xy import looks_like_chi, read_chi, read_xy

__all__ = ["PATTERN_FORMATS", "detect_pattern_format", "read_pattern", "read_series"]

PatternFormat = Literal["bruker_raw", "stoe_raw", "gsas", "uxd", "fit2d_chi", "xy"]
#: the formats :func:`read_pattern` recognises (values of :func:`detect_pattern_format`)
PATTERN_FORMATS: tuple[str, ...] = ("bruker_raw", "stoe_raw", "gsas", "uxd", "fit2d_chi", "xy")

_SNIFF_BYTES = 16384
_UXD_KEYS = ("_COUNTS", "_2THETACOUNTS", "_CPS", "_2THETACPS", "_STEPSIZE", "_DRIVE", "_START")


def detect_pattern_format(path: str | os.PathLike[str]) -> PatternFormat:
    """Which pattern format a file holds, from its content (the extension only breaks ties).

    Parameters
    ----------
    path : path-like
        A pattern file.

    Returns
    -------
    str
        One of :data:`PATTERN_FORMATS`.

    Raises
    ------
    InputNotFoundError, InputIsFolderError
        No such file, or a folder.
    FileFormatError
        A binary file with no known magic bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "garnet.raw"
    >>> _ = f.write_text("title\\nBANK 1 3 1 CONST 2400 5 0 0\\n 1   162 1   178 1   155\\n")
    >>> detect_pattern_format(f)
    'gsas'
    """
    path = check_input_file(path, "pattern")
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if raw_version(head) is not None:
        return "bruker_raw"
    if head.startswith(b"RAW_"):
        return "stoe_raw"
    if b"\0" in head:
        raise FileFormatError(
            f"{path.name}: a binary file whose first bytes {head[:8]!r} are no known pattern "
            "format; supported are Bruker RAW v1-v4, Stoe RAW and text formats (xy/xye/dat, "
            "pyFAI, Fit2D .chi, UXD, GSAS)."
        )
    lines = [ln.strip() for ln in head.decode("latin-1").splitlines() if ln.strip()]
    if bank_line_index(lines, 12) is not None:
        return "gsas"
    if lines and (
        lines[0].upper().startswith(";RAW")
        or any(ln.upper().startswith(_UXD_KEYS) for ln in lines[:200])
    ):
        return "uxd"
    if looks_like_chi(lines):
        return "fit2d_chi"
    return "xy"


def read_pattern(path: str | os.PathLike[str], *, wavelength: float | None = None) -> xr.DataArray:
    """Read any supported pattern file, choosing the reader by its content.

    Parameters
    ----------
    path : path-like
        Bruker RAW v1-v4, Stoe RAW, GSAS (STD/ESD/FXYE, whatever the extension, e.g. GSAS's own
        ``.raw``), UXD, Fit2D ``.chi``, or columns ``.xy .xye .dat .txt .csv`` (plain, pyFAI
        or GSAS-II headers); see :func:`detect_pattern_format`.
    wavelength : float, optional
        Wavelength in Angstrom; replaces the file's value (or supplies a missing one).

    Returns
    -------
    xarray.DataArray
        Pattern with dimension ``two_theta`` (deg); ``attrs["format"]`` names the format read.

    Raises
    ------
    InputNotFoundError, InputIsFolderError
        No such file, or a folder.
    FileFormatError
        An unrecognised binary file, or an unreadable one.
    """
    kind = detect_pattern_format(path)
    path = Path(path)
    if kind == "xy":
        return read_xy(path, wavelength=wavelength)
    if kind == "fit2d_chi":
        return read_chi(path, wavelength=wavelength)
    if kind == "gsas":
        return read_gsas(path, wavelength=wavelength)
    if kind == "stoe_raw":
        return read_stoe_raw(path, wavelength=wavelength)
    pattern = read_uxd(path) if kind == "uxd" else read_bruker_raw(path)
    if wavelength is not None:
        pattern = pattern.assign_attrs(wavelength_A=float(wavelength))
    return pattern


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
