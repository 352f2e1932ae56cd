"""Text column patterns: ``.xy``/``.xye``/``.dat`` (plain, pyFAI or GSAS-II headers), the
"start step end" step scan, and Fit2D ``.chi``.

* plain columns (2theta, intensity[, sigma]), with or without a pyFAI ``save1D`` header
  (``# Wavelength: 1e-10 m``, ``# --> file``, the column-name line, which in several pyFAI
  versions is not commented or not aligned: every non-numeric line before the data is
  tolerated), GSAS-II/Topas comment blocks (``/* ... */``, lines starting with ``'``);
* the "start step end" step-scan ``.dat`` (first line ``16.000 0.030 136.000``, then counts, as
  written by FullProf/RIETAN converters);
* Fit2D ``.chi`` (Fit2D reference manual, "CHIPLOT" output): line 1 a title, line 2 the x-axis
  label (``2-Theta Angle (Degrees)``, ``Q (...)``, ``Radial distance``), line 3 the y-axis
  label, line 4 the number of points, then one ``x y`` pair per line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import FileFormatError, MissingWavelengthError, TruncatedFileError
from cathodescope.io._pattern import make_pattern

__all__ = ["read_chi", "read_xy"]

_NUM = re.compile(r"^[\s,;]*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
#: header keys that carry the wavelength (pyFAI ``Wavelength``, GSAS-II/others ``Lambda``, ``Lam``)
_WAVELENGTH_KEYS = ("wavelength", "lambda", "lam", "wave length")
_ANODE = re.compile(r"\banode\s*[:=]\s*['\"]?([A-Z][a-z]?)\b", re.IGNORECASE)


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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise FileFormatError(f"cannot read {path}: {exc}") from exc


def _split_header(text: str, name: str) -> tuple[dict[str, str], list[str], list[str]]:
    """Header ``key: value`` pairs, header lines and data lines of a column file."""
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
                    f"{name}: non-numeric line {line[:60]!r} inside the data block; "
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
        raise FileFormatError(f"{name}: no numeric data found; is this a pattern file?")
    return header, header_lines, data_lines


def _step_scan(rows: list[np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """2theta and counts of a "start step end" file (first row 3 values, then counts)."""
    start, step, end = (float(v) for v in rows[0])
    counts = np.concatenate(rows[1:])
    if step <= 0:
        raise FileFormatError(f"{name}: step {step} in the first line must be > 0.")
    expected = round((end - start) / step) + 1
    if counts.size != expected:
        raise TruncatedFileError(
            f"{name}: header says {start}..{end} step {step} ({expected} points) but "
            f"{counts.size} counts follow; the file is truncated or not a step scan."
        )
    return start + step * np.arange(counts.size), counts, start, step


def _to_two_theta(
    x: np.ndarray, unit: str | None, wl: float | None, name: str, attrs: dict[str, Any]
) -> np.ndarray:
    """Convert an abscissa in ``unit`` (pyFAI names) to 2theta in degrees."""
    if unit == "2th_rad":
        return np.degrees(x)
    if unit in ("q_nm^-1", "q_A^-1"):
        if wl is None:
            raise MissingWavelengthError(
                f"{name} is in {unit} and has no wavelength; pass wavelength= (Angstrom; "
                "--wavelength on the command line) to convert Q to 2theta."
            )
        q = x / 10.0 if unit == "q_nm^-1" else x
        arg = q * wl / (4 * np.pi)
        if np.any(arg > 1):
            raise FileFormatError(f"{name}: Q beyond 4pi/lambda; wrong wavelength?")
        attrs["converted_from"] = unit
        return np.degrees(2 * np.arcsin(arg))
    return x


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
        data (pyFAI's column-name line, which is sometimes not commented; GSAS-II's ``/* */``
        block; Topas' ``'`` comment) are header lines.
    wavelength : float, optional
        Wavelength in Angstrom; overrides the header (pyFAI ``# Wavelength: ... m``,
        ``Lambda: ...``). An ``Anode: Cu`` statement is kept as ``attrs["anode"]`` but does not
        set a wavelength.

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

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.xy"
    >>> _ = f.write_text("# Wavelength: 1.5406e-10 m\\n10.0 5\\n10.1 7\\n10.2 6\\n")
    >>> p = read_xy(f)
    >>> p.sizes["two_theta"], round(p.attrs["wavelength_A"], 4)
    (3, 1.5406)
    """
    path = Path(path)
    header, header_lines, data_lines = _split_header(_read_text(path), path.name)
    rows = [
        np.array(ln.replace(",", " ").replace(";", " ").split(), dtype=float) for ln in data_lines
    ]
    attrs: dict[str, Any] = {"source": str(path), "format": "xy"}
    anode = _header_anode(header_lines)
    if anode:
        attrs["anode"] = anode
    wl = wavelength if wavelength is not None else _header_wavelength(header)
    first = rows[0]
    if first.size == 3 and len(rows) > 1 and any(r.size != 3 for r in rows[1:]):
        tth, counts, start, step = _step_scan(rows, path.name)
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
    unit = _pyfai_unit(header_lines)
    x = _to_two_theta(table[:, 0], unit, wl, path.name, attrs)
    sigma = table[:, 2] if table.shape[1] >= 3 else None
    if unit is not None:
        attrs["format"] = "pyfai"
    return make_pattern(x, table[:, 1], wavelength=wl, sigma=sigma, attrs=attrs)


def _header_wavelength(header: Mapping[str, str]) -> float | None:
    value = next((header[k] for k in _WAVELENGTH_KEYS if k in header), None)
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


def _header_anode(header_lines: Sequence[str]) -> str | None:
    for line in header_lines:
        m = _ANODE.search(line)
        if m:
            return m.group(1).capitalize()
    return None


def _pyfai_unit(header_lines: Sequence[str]) -> str | None:
    for line in reversed(header_lines):
        low = line.lower()
        for key, unit in _PYFAI_UNITS.items():
            if key in low:
                return unit
    return None


def looks_like_chi(lines: Sequence[str]) -> bool:
    """True when the first lines have the Fit2D ``.chi`` shape (3 text lines, a count)."""
    if len(lines) < 5:
        return False
    count = lines[3].split()
    return (
        len(count) == 1
        and count[0].isdigit()
        and not any(_is_numeric_line(ln) for ln in lines[1:3])
        and _is_numeric_line(lines[4])
        and len(lines[4].split()) >= 2
    )


def _chi_unit(label: str) -> str | None:
    low = label.lower()
    if "2-theta" in low or "2theta" in low or "2 theta" in low:
        return "2th_rad" if "rad" in low else None
    if low.lstrip().startswith("q"):
        return "q_nm^-1" if "nm" in low else "q_A^-1"
    raise FileFormatError(
        f"the x axis of this .chi file is {label.strip()!r}; only 2-theta (degrees or radians) "
        "and Q are patterns; re-integrate in Fit2D to 2-theta."
    )


def read_chi(path: str | os.PathLike[str], *, wavelength: float | None = None) -> xr.DataArray:
    """Read a Fit2D ``.chi`` integrated pattern.

    Parameters
    ----------
    path : path-like
        ``.chi`` file: title, x label, y label, point count, then ``x y`` per line.
    wavelength : float, optional
        Wavelength in Angstrom (Fit2D does not write it); needed for a Q axis.

    Returns
    -------
    xarray.DataArray
        Pattern with dimension ``two_theta`` (deg), ``attrs["format"] == "fit2d_chi"`` and the
        title (often the image it was integrated from) in ``attrs["title"]``.

    Raises
    ------
    FileFormatError
        Not the 4-line Fit2D header, or an x axis that is neither 2-theta nor Q.
    TruncatedFileError
        Fewer points than the count on line 4.
    MissingWavelengthError
        A Q axis and no wavelength.
    """
    path = Path(path)
    lines = [ln for ln in _read_text(path).splitlines() if ln.strip()]
    if not looks_like_chi(lines):
        raise FileFormatError(
            f"{path.name}: not a Fit2D .chi file (expected a title, x label, y label, the point "
            "count on line 4, then x y pairs)."
        )
    n = int(lines[3].split()[0])
    try:
        table = np.array([ln.split()[:2] for ln in lines[4:]], dtype=float)
    except ValueError as exc:
        raise FileFormatError(f"{path.name}: a data line is not two numbers: {exc}") from exc
    if table.shape[0] < n:
        raise TruncatedFileError(
            f"{path.name}: line 4 announces {n} points but {table.shape[0]} follow; the file is "
            "truncated."
        )
    if table.shape[0] > n:
        raise FileFormatError(
            f"{path.name}: line 4 announces {n} points but {table.shape[0]} follow."
        )
    attrs: dict[str, Any] = {
        "source": str(path),
        "format": "fit2d_chi",
        "title": lines[0].strip(),
        "x_label": lines[1].strip(),
        "y_label": lines[2].strip(),
    }
    x = _to_two_theta(table[:, 0], _chi_unit(lines[1]), wavelength, path.name, attrs)
    return make_pattern(x, table[:, 1], wavelength=wavelength, attrs=attrs)
