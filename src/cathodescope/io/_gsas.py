"""GSAS powder data files: ``.gsa``/``.gss``/``.fxye`` and GSAS's own ``.raw`` name.

Layout (GSAS manual, "Powder data file" appendix; GSAS-II ``G2pwd_fxye`` reads the same): line 1
a title, optional ``Instrument parameter file:`` and ``#`` comment lines, then a ``BANK`` line
``BANK ibank nchan nrec CONST start step 0 0 [STD|ESD|FXYE|ALT]`` (constant-wavelength binning,
start and step in centidegrees of 2theta), then 80-character records: ``STD`` 10 fields of
(I2 counter count, F6 intensity), esd = sqrt(I / ncounter); ``ESD`` 5 pairs of F8 (intensity,
esd); ``FXYE``/``ALT`` free-format (2theta in centidegrees, intensity, esd).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.common.files import check_input_file
from cathodescope.errors import FileFormatError, TruncatedFileError
from cathodescope.io._pattern import make_pattern

__all__ = ["read_gsas"]


def bank_line_index(lines: list[str], limit: int | None = None) -> int | None:
    """Index of the first ``BANK`` line (within the first ``limit`` lines), else None."""
    head = lines if limit is None else lines[:limit]
    return next((i for i, ln in enumerate(head) if ln.startswith("BANK ")), None)


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
    path = check_input_file(path, "GSAS")
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    bank_i = bank_line_index(lines)
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
    attrs: dict[str, Any] = {
        "source": str(path),
        "format": f"gsas_{dtype.lower()}",
        "title": lines[0].strip() if bank_i > 0 else None,
    }
    try:
        x, y, sigma = _bank_values(body, parts, nchan, bintyp, dtype, path.name)
    except ValueError as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(
            f"{path.name}: a data record is not a number ({exc}); the file is corrupt: copy it "
            "again or re-export it from GSAS."
        ) from exc
    return make_pattern(x, y, wavelength=wavelength, sigma=sigma, attrs=attrs)


def _bank_values(
    body: list[str], parts: list[str], nchan: int, bintyp: str, dtype: str, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """2theta (deg), intensity and esd (or None) of the records of one bank."""
    sigma = None
    if dtype in ("FXYE", "ALT"):
        vals = np.array(" ".join(body).split(), dtype=float)
        ncol = 3
        if vals.size < ncol * nchan:
            raise TruncatedFileError(f"{name}: {vals.size // ncol} of {nchan} points present.")
        table = vals[: ncol * nchan].reshape(nchan, ncol)
        x: np.ndarray = table[:, 0] / 100.0
        y = table[:, 1]
        sigma = table[:, 2]
    else:
        if bintyp != "CONST":
            raise FileFormatError(
                f"{name}: binning {bintyp!r} not supported (constant-wavelength CONST only)."
            )
        start, step = float(parts[5]) / 100.0, float(parts[6]) / 100.0
        if dtype == "ESD":
            fields = [ln[i : i + 16] for ln in body for i in range(0, min(len(ln), 80), 16)]
            fields = [f for f in fields if f.strip()]
            if len(fields) < nchan:
                raise TruncatedFileError(f"{name}: {len(fields)} of {nchan} points present.")
            y = np.array([float(f[:8]) for f in fields[:nchan]])
            sigma = np.array([float(f[8:16]) for f in fields[:nchan]])
        elif dtype == "STD":
            fields = [ln[i : i + 8] for ln in body for i in range(0, min(len(ln), 80), 8)]
            fields = [f for f in fields if f.strip()]
            if len(fields) < nchan:
                raise TruncatedFileError(f"{name}: {len(fields)} of {nchan} points present.")
            ncount = np.array([int(f[:2]) if f[:2].strip() else 1 for f in fields[:nchan]])
            y = np.array([float(f[2:8]) for f in fields[:nchan]])
            sigma = np.sqrt(np.abs(y) / np.maximum(ncount, 1)) if np.any(ncount > 1) else None
        else:
            raise FileFormatError(f"{name}: GSAS data type {dtype!r} not supported.")
        x = start + step * np.arange(nchan)
    return x, y, sigma
