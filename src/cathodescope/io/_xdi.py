"""Reader of XDI 1.0 files (the XAS Data Interchange format)."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.common.files import check_input_file
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


def read_xdi(
    path: str | os.PathLike[str],
    *,
    mu: str = "auto",
    energy_units: EnergyUnits = "auto",
    channels: str | Sequence[str] | None = None,
    i0: str = "i0",
    dead_time: bool = False,
):
    """Read an XDI 1.0 file into a spectrum ``DataArray`` (dim ``energy``, eV).

    Parameters
    ----------
    path : path-like
        The ``.xdi`` file (any line ending).
    mu : str
        Column to return as the spectrum. ``"auto"`` takes ``mutrans``, ``mufluor``, ``mu`` or
        ``norm`` if present, otherwise computes ``ln(i0/itrans)`` from ``i0`` and ``itrans``.
        Ignored when ``channels`` is given.
    energy_units : {"auto", "eV", "keV"}
        Overrides the unit of the energy column; ``"auto"`` uses the ``Column.N`` declaration
        or, when it has none, values that admit only one reading.
    channels : str or sequence of str, optional
        Fluorescence detector channels to sum: column names, or shell patterns such as
        ``"fe_ka_mca*"`` (case-insensitive). The spectrum is ``sum(channels) / i0``.
    i0 : str
        The incident-intensity column that divides the summed channels.
    dead_time : bool
        Correct each channel for dead time before summing: by its ``dtfactor_<det>`` column
        when the file has one, else by ``icr_<det> / ocr_<det>`` (``<det>`` is the channel
        name's last ``_`` field, e.g. ``mca3``).

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy,)``; coordinate ``energy`` in eV; the other columns as coordinates
        along ``energy``; header fields in ``attrs`` (``Element.symbol``, ``Element.edge``...);
        ``attrs["signal"]`` names what the values are.

    Raises
    ------
    FileFormatError
        If the file does not start with ``# XDI/`` or has no data.
    UnitsError
        If the energy column's unit is missing and ambiguous.
    EnergyAxisError
        If energies are duplicated or not increasing.
    MissingMetadataError
        If the file has no mu column and no channels were chosen (the message lists the
        channel groups), or a channel, ``i0`` or dead-time column is missing.
    """
    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    path = Path(path)
    header, columns, comments, data = _parse_xdi(path)
    names = [columns.get(i, (f"col{i + 1}", None))[0] for i in range(data.shape[1])]
    if "energy" not in names:
        raise MissingMetadataError(f"{path}: no 'Column.N: energy' line in the XDI header.")
    ie = names.index("energy")
    declared = columns.get(ie, ("", None))[1] if energy_units == "auto" else energy_units
    factor = resolve_energy_units(data[:, ie], declared, source=str(path))
    energy = data[:, ie] * factor
    _check_energy_axis(energy, str(path))
    cols = {n: data[:, i] for i, n in enumerate(names) if i != ie}
    if channels is not None:
        mu = _sum_channels(cols, channels, i0=i0.lower(), dead_time=dead_time, where=str(path))
    else:
        mu = _auto_signal(cols, mu, str(path))
    attrs = {k: v for k, v in header.items() if not k.lower().startswith("column.")}
    attrs["comments"] = "\n".join(comments)
    attrs["source"] = os.fspath(path)
    attrs["signal"] = mu
    extra = {k: v for k, v in cols.items() if k != mu}
    return _spectrum(energy, cols[mu], name=mu, attrs=attrs, extra=extra)


def _parse_xdi(path: Path) -> tuple[dict, dict, list[str], np.ndarray]:
    """Header fields, ``Column.N`` (name, unit), user comments and the data block."""
    path = check_input_file(path, "XDI")
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
    return header, columns, comments, np.array(data_rows, dtype=float)


_CHANNEL_GROUP = re.compile(r"^(.*?)(\d+)$")


def _channel_groups(names: Sequence[str]) -> list[str]:
    """Patterns of numbered column families with 2+ members, e.g. ``fe_ka_mca*``."""
    fams: dict[str, int] = {}
    for n in names:
        m = _CHANNEL_GROUP.match(n)
        if m:
            fams[m.group(1)] = fams.get(m.group(1), 0) + 1
    groups = [f"{k}*" for k, v in fams.items() if v >= 2]
    aux = re.compile(r"^(clock|dtfactor|dt|icr|ocr|outputcount|inputcount|time)", re.I)
    return sorted(groups, key=lambda g: bool(aux.match(g)))  # signal-like groups first


def _auto_signal(cols: dict[str, np.ndarray], mu: str, where: str) -> str:
    if mu == "auto":
        for cand in ("mutrans", "mufluor", "mu", "norm", "normtrans", "normfluor"):
            if cand in cols:
                return cand
        if "i0" in cols and "itrans" in cols:
            with np.errstate(divide="ignore", invalid="ignore"):
                cols["mu"] = np.log(cols["i0"] / cols["itrans"])
            return "mu"
        groups = _channel_groups(list(cols))
        hint = (
            f" It has detector channel groups {groups}: sum one with channels= (CLI "
            f"--channels '{groups[0]}') and divide by i0."
            if groups
            else ""
        )
        raise MissingMetadataError(
            f"{where}: no mu column (mutrans, mufluor, mu) and no i0/itrans pair; pass mu= one "
            f"of {sorted(cols)} (CLI: --channels NAME, with --i0 NAME to divide).{hint}"
        )
    if mu not in cols:
        raise MissingMetadataError(f"{where}: no column {mu!r}; columns are {sorted(cols)}.")
    return mu


def _dead_time_factor(cols: dict[str, np.ndarray], channel: str, where: str) -> np.ndarray:
    det = channel.rsplit("_", 1)[-1]
    if f"dtfactor_{det}" in cols:
        return cols[f"dtfactor_{det}"]
    ocr = cols.get(f"ocr_{det}", cols.get(f"outputcount_{det}"))
    if f"icr_{det}" in cols and ocr is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ocr > 0, cols[f"icr_{det}"] / ocr, 1.0)
    raise MissingMetadataError(
        f"{where}: dead-time correction of {channel!r} needs a 'dtfactor_{det}' column or "
        f"'icr_{det}' and 'ocr_{det}' columns; the file has neither. Leave the correction off "
        "(dead_time=False; on the CLI, no --dead-time) or give a file with them."
    )


def _sum_channels(
    cols: dict[str, np.ndarray],
    channels: str | Sequence[str],
    *,
    i0: str,
    dead_time: bool,
    where: str,
) -> str:
    pats = [channels] if isinstance(channels, str) else list(channels)
    chosen: list[str] = []
    for pat in pats:
        hits = [n for n in cols if fnmatch.fnmatchcase(n, pat.strip().lower())]
        if not hits:
            raise MissingMetadataError(
                f"{where}: no column matches channel {pat!r}; channel groups are "
                f"{_channel_groups(list(cols))}, columns {sorted(cols)}."
            )
        chosen += [h for h in hits if h not in chosen]
    if i0 not in cols:
        raise MissingMetadataError(f"{where}: no {i0!r} column to divide the channels by.")
    total = np.zeros_like(cols[i0])
    for c in chosen:
        total = total + cols[c] * (_dead_time_factor(cols, c, where) if dead_time else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["mufluor"] = total / cols[i0]
    return "mufluor"
