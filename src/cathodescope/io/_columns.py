"""Reader of plain column spectra (text, CSV): energy and mu in numbered columns.

Robust to what real files hold: any line ending; comment lines (``#``, ``%``, ``;``) that
contain commas or unit words (the delimiter is detected on the data lines only); several
detector channels to sum and an I0 column to divide by.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.common.files import check_input_file
from cathodescope.errors import (
    EmptyDataError,
    FileFormatError,
    ShapeMismatchError,
    UnitsError,
)
from cathodescope.io._xas_common import (
    _UNIT_CHOICES,
    EnergyUnits,
    _check_energy_axis,
    _spectrum,
    resolve_energy_units,
)

_UNIT_WORD = re.compile(r"(?<![A-Za-z])(k?eV)(?![A-Za-z])", re.IGNORECASE)
_COMMENT = ("#", "%", ";", "!")
_NUMERIC_START = re.compile(r"^[-+]?(\d|\.\d)")


def _detect_delimiter(data_lines: list[str]) -> str | None:
    """Comma, semicolon or tab when every data line has it, else whitespace (None)."""
    sample = data_lines[:50]
    for cand in (",", ";", "\t"):
        if sample and all(cand in s for s in sample):
            return cand
    return None


def _units_from_header(names_line: str | None, comments: list[str]) -> tuple:
    """(unit declared by the column-name line, unit hinted by the comments), None if not one.

    The name line declares a unit only when it names exactly one (``energy (keV)``); a line
    with both is prose, not names, and joins the comments as a hint.
    """
    declared = None
    if names_line is not None:
        found = {m.group(1).lower() for m in _UNIT_WORD.finditer(names_line)}
        declared = found.pop() if len(found) == 1 else None
    hints = {m.group(1).lower() for h in comments for m in _UNIT_WORD.finditer(h)}
    return declared, (hints.pop() if len(hints) == 1 else None)


def _split_lines(text: str) -> tuple[list[str], list[str], str | None]:
    """Comment lines, data lines and the column-name line (the last header line before data)."""
    comments: list[str] = []
    data: list[str] = []
    names_line: str | None = None
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if not data and (s.startswith(_COMMENT) or not _NUMERIC_START.match(s)):
            comments.append(s)
            continue
        if s.startswith(_COMMENT):
            continue  # a comment inside the data block
        data.append(s)
    if comments and data:
        names_line = comments[-1]
    return comments, data, names_line


def read_xas_columns(
    path: str | os.PathLike[str],
    *,
    energy_units: EnergyUnits = "auto",
    energy_column: int = 0,
    mu_column: int | Sequence[int] = 1,
    i0_column: int | None = None,
    delimiter: str | None = None,
):
    """Read a plain two-or-more-column spectrum (text, CSV) into a ``DataArray``.

    Parameters
    ----------
    path : path-like
        Text file; ``#``, ``%``, ``;`` and ``!`` lines are comments; any line ending. Commas,
        semicolons, tabs or spaces separate columns.
    energy_units : {"auto", "eV", "keV"}
        ``"auto"``: a unit word in the column-name line (the last header line) declares it
        when it is the only one there. Otherwise the values decide when they admit only
        one reading, and a unit mentioned in the comments only settles values that could be
        both (comments often quote the edge in keV above eV data).
    energy_column : int
        Zero-based index of the energy column.
    mu_column : int or sequence of int
        Zero-based index of the signal column; several indices are summed (detector channels).
    i0_column : int, optional
        Divide the (summed) signal by this column (fluorescence ``sum(If) / I0``).
    delimiter : str, optional
        Column separator; default: detected on the data lines only (comma, semicolon or tab
        when every data line has it, else whitespace).

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy,)``, coordinate ``energy`` in eV; ``attrs["columns"]`` says which
        columns were used.

    Raises
    ------
    UnitsError
        Units undeclared and ambiguous (the message says how to declare them).
    EnergyAxisError
        Non-monotonic or duplicated energies.
    EmptyDataError
        Fewer than 2 data rows.
    ShapeMismatchError
        A requested column the file does not have.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.txt"
    >>> _ = p.write_text("# scan at 6.54 keV, 0.7 eV steps\\r\\n6500 1.0\\r\\n6501 1.5\\r\\n")
    >>> read_xas_columns(p).energy.values.tolist()
    [6500.0, 6501.0]
    """
    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    path = check_input_file(path, "spectrum")
    comments, data_lines, names_line = _split_lines(path.read_text(errors="replace"))
    if delimiter is None:
        delimiter = _detect_delimiter(data_lines)
    rows: list[list[float]] = []
    for s in data_lines:
        parts = [p for p in (s.split(delimiter) if delimiter else s.split()) if p.strip()]
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise FileFormatError(
                f"{path}: non-numeric data line {s[:60]!r} after the data started."
            ) from None
    if len(rows) < 2:
        raise EmptyDataError(f"{path}: fewer than 2 numeric rows; not a spectrum file.")
    ncol = min(len(r) for r in rows)
    signal = [int(mu_column)] if isinstance(mu_column, int | np.integer) else list(mu_column)
    wanted = [energy_column, *signal, *([] if i0_column is None else [i0_column])]
    if not signal or max(wanted) >= ncol or min(wanted) < 0:
        raise ShapeMismatchError(
            f"{path}: has {ncol} columns, cannot take energy_column={energy_column}, "
            f"mu_column={mu_column}, i0_column={i0_column}."
        )
    data = np.array([r[:ncol] for r in rows], dtype=float)
    if energy_units != "auto":
        declared: str | None = energy_units
    else:
        declared, hint = _units_from_header(names_line, comments)
        if declared is None and hint is not None:
            try:
                resolve_energy_units(data[:, energy_column], None, source=str(path))
            except UnitsError:
                declared = hint  # ambiguous values: the comments' only unit settles them
    factor = resolve_energy_units(data[:, energy_column], declared, source=str(path))
    energy = data[:, energy_column] * factor
    _check_energy_axis(energy, str(path))
    mu = data[:, signal].sum(axis=1)
    if i0_column is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = mu / data[:, i0_column]
    attrs = {
        "source": os.fspath(path),
        "header": "\n".join(comments),
        "columns": f"energy={energy_column}, signal={signal}, i0={i0_column}",
    }
    return _spectrum(energy, mu, name="mu", attrs=attrs)
