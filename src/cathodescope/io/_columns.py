"""Reader of plain column spectra (text, CSV): energy and mu in numbered columns."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from cathodescope._validation import check_choice
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


def read_xas_columns(
    path: str | os.PathLike[str],
    *,
    energy_units: EnergyUnits = "auto",
    energy_column: int = 0,
    mu_column: int = 1,
    delimiter: str | None = None,
):
    """Read a plain two-or-more-column spectrum (text, CSV) into a ``DataArray``.

    Parameters
    ----------
    path : path-like
        Text file; ``#`` lines are comments. Commas, tabs or spaces separate columns.
    energy_units : {"auto", "eV", "keV"}
        ``"auto"`` uses a unit declared in the header (``eV``/``keV`` in the comment or column
        names) or, failing that, the values when they admit only one reading.
    energy_column, mu_column : int
        Zero-based column indices.
    delimiter : str, optional
        Column separator; default: comma if the file contains commas, else whitespace.

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy,)``, coordinate ``energy`` in eV.

    Raises
    ------
    UnitsError
        Units undeclared and ambiguous.
    EnergyAxisError
        Non-monotonic or duplicated energies.
    EmptyDataError
        Fewer than 2 data rows.
    """
    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    path = Path(path)
    text = path.read_text(errors="replace")
    header_lines: list[str] = []
    rows: list[list[float]] = []
    if delimiter is None:
        delimiter = "," if "," in text else None
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith(("#", "%", ";")):
            header_lines.append(s)
            continue
        parts = [p for p in (s.split(delimiter) if delimiter else s.split()) if p.strip()]
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            if rows:
                raise FileFormatError(
                    f"{path}: non-numeric data line {s[:60]!r} after the data started."
                ) from None
            header_lines.append(s)  # a column-name line
    if len(rows) < 2:
        raise EmptyDataError(f"{path}: fewer than 2 numeric rows; not a spectrum file.")
    ncol = min(len(r) for r in rows)
    if max(energy_column, mu_column) >= ncol:
        raise ShapeMismatchError(
            f"{path}: has {ncol} columns, cannot take energy_column={energy_column}, "
            f"mu_column={mu_column}."
        )
    data = np.array([r[:ncol] for r in rows], dtype=float)
    declared: str | None = None
    if energy_units != "auto":
        declared = energy_units
    else:
        found = {m.group(1).lower() for h in header_lines for m in _UNIT_WORD.finditer(h)}
        if len(found) > 1:
            raise UnitsError(f"{path}: the header mentions both eV and keV; pass energy_units=.")
        if found:
            declared = found.pop()
    factor = resolve_energy_units(data[:, energy_column], declared, source=str(path))
    energy = data[:, energy_column] * factor
    _check_energy_axis(energy, str(path))
    attrs = {"source": os.fspath(path), "header": "\n".join(header_lines)}
    return _spectrum(energy, data[:, mu_column], name="mu", attrs=attrs)
