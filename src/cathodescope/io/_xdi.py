"""Reader of XDI 1.0 files (the XAS Data Interchange format)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import (
    EmptyDataError,
    FileFormatError,
    MissingMetadataError,
    TruncatedFileError,
)
from cathodescope.io._xas_common import (
    _UNIT_CHOICES,
    EnergyUnits,
    _check_energy_axis,
    _spectrum,
    resolve_energy_units,
)


def read_xdi(path: str | os.PathLike[str], *, mu: str = "auto", energy_units: EnergyUnits = "auto"):
    """Read an XDI 1.0 file into a spectrum ``DataArray`` (dim ``energy``, eV).

    Parameters
    ----------
    path : path-like
        The ``.xdi`` file.
    mu : str
        Column to return as the spectrum. ``"auto"`` takes ``mutrans``, ``mufluor``, ``mu`` or
        ``norm`` if present, otherwise computes ``ln(i0/itrans)`` from ``i0`` and ``itrans``.
    energy_units : {"auto", "eV", "keV"}
        Overrides the unit of the energy column; ``"auto"`` uses the ``Column.N`` declaration
        or, when it has none, values that admit only one reading.

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy,)``; coordinate ``energy`` in eV; the other columns as coordinates
        along ``energy``; header fields in ``attrs`` (``Element.symbol``, ``Element.edge``...).

    Raises
    ------
    FileFormatError
        If the file does not start with ``# XDI/`` or has no data.
    UnitsError
        If the energy column's unit is missing and ambiguous.
    EnergyAxisError
        If energies are duplicated or not increasing.
    """
    path = Path(path)
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].lstrip("#").strip().upper().startswith("XDI/"):
        raise FileFormatError(f"{path} is not an XDI file (first line must start with '# XDI/').")
    header: dict[str, str] = {}
    columns: dict[int, tuple[str, str | None]] = {}
    comments: list[str] = []
    data_rows: list[list[float]] = []
    in_comments = False
    for line in lines[1:]:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            body = s.lstrip("#").strip()
            if body.startswith("///"):
                in_comments = True
                continue
            if body.startswith("---"):
                in_comments = False
                continue
            if in_comments:
                comments.append(body)
                continue
            m = re.match(r"([A-Za-z0-9_]+\.[A-Za-z0-9_]+)\s*:\s*(.*)$", body)
            if m:
                key, value = m.group(1), m.group(2).strip()
                header[key] = value
                cm = re.match(r"column\.(\d+)$", key, re.IGNORECASE)
                if cm:
                    parts = value.split()
                    columns[int(cm.group(1)) - 1] = (
                        parts[0].lower() if parts else f"col{cm.group(1)}",
                        parts[1] if len(parts) > 1 else None,
                    )
            continue
        try:
            data_rows.append([float(v) for v in s.split()])
        except ValueError as exc:
            raise FileFormatError(f"{path}: cannot parse data line {s[:60]!r}.") from exc
    if not data_rows:
        raise EmptyDataError(f"{path}: the XDI file contains no data rows.")
    ncol = min(len(r) for r in data_rows)
    if any(len(r) != ncol for r in data_rows):
        raise TruncatedFileError(f"{path}: data rows have unequal lengths; the file is damaged.")
    data = np.array(data_rows, dtype=float)
    names = [columns.get(i, (f"col{i + 1}", None))[0] for i in range(ncol)]
    if "energy" not in names:
        raise MissingMetadataError(f"{path}: no 'Column.N: energy' line in the XDI header.")
    ie = names.index("energy")
    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    declared = columns.get(ie, ("", None))[1] if energy_units == "auto" else energy_units
    factor = resolve_energy_units(data[:, ie], declared, source=str(path))
    energy = data[:, ie] * factor
    _check_energy_axis(energy, str(path))
    cols = {n: data[:, i] for i, n in enumerate(names) if i != ie}
    if mu == "auto":
        for cand in ("mutrans", "mufluor", "mu", "norm", "normtrans", "normfluor"):
            if cand in cols:
                mu = cand
                break
        else:
            if "i0" in cols and "itrans" in cols:
                with np.errstate(divide="ignore", invalid="ignore"):
                    cols["mu"] = np.log(cols["i0"] / cols["itrans"])
                mu = "mu"
            else:
                raise MissingMetadataError(
                    f"{path}: no mu column (mutrans, mufluor, mu) and no i0/itrans pair; pass "
                    f"mu= one of {sorted(cols)}."
                )
    if mu not in cols:
        raise MissingMetadataError(f"{path}: no column {mu!r}; columns are {sorted(cols)}.")
    attrs = {k: v for k, v in header.items() if not k.lower().startswith("column.")}
    attrs["comments"] = "\n".join(comments)
    attrs["source"] = os.fspath(path)
    attrs["signal"] = mu
    extra = {k: v for k, v in cols.items() if k != mu}
    return _spectrum(energy, cols[mu], name=mu, attrs=attrs, extra=extra)
