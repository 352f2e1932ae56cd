"""Arbin CSV, Neware .ndax and generic CSV readers, and ``read_cycler`` which picks the reader.

All return the canonical cycling table documented in :mod:`cathodescope.common.schemas`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice
from cathodescope.common.files import check_input_file
from cathodescope.common.plausibility import check_current_ma_plausible
from cathodescope.errors import (
    CyclerColumnError,
    EmptyDataError,
    UnitsError,
)
from cathodescope.io._cycler_table import (
    build_cycling_table,
    file_label,
    join_cycling_tables,
)
from cathodescope.io._text_tables import drop_incomplete_last_row, read_csv_checked

CyclerFormat = Literal["auto", "mpr", "mpt", "maccor", "arbin", "neware", "csv"]
_FORMATS = ("auto", "mpr", "mpt", "maccor", "arbin", "neware", "csv")


# -- generic CSV ------------------------------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    "time": (
        "time_s",
        "time",
        "time/s",
        "test_time",
        "test time",
        "test (sec)",
        "elapsed time",
        "elapsed_time",
        "t",
        "total time",
        "testtime",
    ),
    "voltage": (
        "voltage_v",
        "voltage",
        "ewe/v",
        "ewe",
        "volts",
        "potential",
        "ecell",
        "e",
        "v",
        "cell voltage",
    ),
    "current": ("current_ma", "current", "i/ma", "i", "amps", "current_a", "current_ua"),
    "charge": ("charge_mah", "capacity", "q", "(q-qo)/ma.h", "net capacity", "charge"),
    "step": ("step", "step_index", "ns", "step index", "step_id"),
    "cycle": ("cycle", "cycle_index", "cycle number", "cycle_number"),
}
_UNIT_FACTORS: dict[str, dict[str, float]] = {
    "time": {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0},
    "voltage": {"v": 1.0, "mv": 1e-3},
    "current": {"ma": 1.0, "a": 1000.0, "ua": 1e-3, "µa": 1e-3},
    "charge": {"mah": 1.0, "ah": 1000.0, "ma.h": 1.0, "a.h": 1000.0, "c": 1.0 / 3.6, "uah": 1e-3},
}
_UNIT_RE = re.compile(r"^(.*?)\s*(?:[\(\[]\s*([^\)\]]+)\s*[\)\]]|/\s*([^/]+)|_([a-zA-Zµ.]+))$")


def _split_unit(name: str) -> tuple[str, str | None]:
    """``'Current(mA)'`` -> ``('current', 'ma')``; ``'time'`` -> ``('time', None)``."""
    s = name.strip()
    m = _UNIT_RE.match(s)
    if m:
        base = m.group(1).strip().lower()
        unit = next(g for g in m.groups()[1:] if g is not None).strip().lower()
        return base, unit
    return s.lower(), None


def read_cycler_csv(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    sep: str | None = None,
    active_mass_g: float | None = None,
) -> pd.DataFrame:
    """Read a generic CSV of cycling data, finding columns by alias, with explicit units.

    Parameters
    ----------
    path : path-like
        Text table (comma, semicolon or tab separated; detected when ``sep`` is None).
    columns : mapping, optional
        Quantity -> column name for any of ``time``, ``voltage``, ``current`` (required),
        ``charge``, ``step``, ``cycle`` (optional). Unmapped quantities are found by alias
        (``Test_Time``, ``Ewe/V``, ``Current(mA)``...; case-insensitive).
    units : mapping, optional
        Quantity -> unit: time ``s``/``min``/``h``; voltage ``V``/``mV``; current
        ``mA``/``A``/``uA``; charge ``mAh``/``Ah``/``C``. Needed for every column whose name
        does not carry its unit (``Current(mA)``, ``I/mA``, ``time_s`` do).
    sep : str, optional
        Field separator.
    active_mass_g : float, optional
        Active mass in g.

    Returns
    -------
    pandas.DataFrame
        The canonical cycling table; current sign must follow the convention (positive =
        charge).

    Raises
    ------
    CyclerColumnError
        A required quantity has no column (the message lists the columns found and aliases).
    UnitsError
        A unit is neither in the column name nor in ``units``, or is not understood.
    NonMonotonicTimeError, EmptyDataError, NonFiniteDataError
        From the table checks.
    """
    p = Path(path)
    source = file_label(p)
    frame = read_csv_checked(
        p, sep=sep, engine="python" if sep is None else "c", encoding="latin-1"
    )
    found: dict[str, str] = {}
    parsed = {c: _split_unit(str(c)) for c in frame.columns}
    for qty, aliases in _ALIASES.items():
        if columns and qty in columns:
            if columns[qty] not in frame:
                raise CyclerColumnError(
                    f"{source}: column {columns[qty]!r} given for {qty} is not in the file; "
                    f"columns are {list(frame.columns)}."
                )
            found[qty] = columns[qty]
            continue
        for col, (base, _unit) in parsed.items():
            if str(col).strip().lower() in aliases or base in aliases:
                found[qty] = col
                break
    missing = [q for q in ("time", "voltage", "current") if q not in found]
    if missing:
        raise CyclerColumnError(
            f"{source}: no column found for {missing}; columns are {list(frame.columns)}. "
            f"Name them with columns={{'time': ..., 'voltage': ..., 'current': ...}} or use "
            f"one of the aliases {[_ALIASES[m][:4] for m in missing]}."
        )
    frame = drop_incomplete_last_row(frame, p)
    if len(frame) == 0:
        raise EmptyDataError(f"{source}: no complete data row.")
    values: dict[str, np.ndarray] = {}
    for qty in ("time", "voltage", "current", "charge"):
        if qty not in found:
            continue
        col = found[qty]
        unit = (units or {}).get(qty)
        if unit is None:
            unit = parsed[col][1]
        if unit is None and str(col).strip().lower() in ("time_s",):
            unit = "s"
        if unit is None:
            raise UnitsError(
                f"{source}: the unit of {qty} column {col!r} is not in its name; pass "
                f"units={{'{qty}': ...}} with one of {sorted(_UNIT_FACTORS[qty])} (on the "
                f"command line: --units {qty}=UNIT), or rename the column, e.g. "
                f"'{col}({sorted(_UNIT_FACTORS[qty])[0]})'."
            )
        factor = _UNIT_FACTORS[qty].get(unit.strip().lower().replace("·", "."))
        if factor is None:
            raise UnitsError(
                f"{source}: unit {unit!r} of {qty} is not understood; use one of "
                f"{sorted(_UNIT_FACTORS[qty])}."
            )
        arr = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        values[qty] = arr * factor
    check_current_ma_plausible(
        values["current"],
        values["time"],
        values.get("charge"),
        name=f"{source}: column {found['current']!r}",
    )
    attrs = {
        "instrument": "unknown",
        "format": "csv",
        "active_mass_g": active_mass_g,
        "column_map": {k: str(v) for k, v in found.items()},
    }
    return build_cycling_table(
        values["time"],
        values["voltage"],
        values["current"],
        charge_mAh=values.get("charge"),
        instrument_step=frame[found["step"]].to_numpy() if "step" in found else None,
        cycle_instrument=frame[found["cycle"]].to_numpy() if "cycle" in found else None,
        attrs=attrs,
        source=source,
    )


def _sniff_format(p: Path) -> str:
    ext = p.suffix.lower()
    if ext == ".mpr":
        return "mpr"
    if ext == ".mpt":
        return "mpt"
    if ext in (".ndax", ".nda"):
        return "neware"
    with open(p, "rb") as fh:
        head_bytes = fh.read(8192)
    if head_bytes[4:19] in (b"Standard Jet DB", b"Standard ACE DB"):
        return "arbin-res"
    if head_bytes.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head_bytes.decode("utf-16", errors="replace")
    else:
        head = head_bytes.decode("latin-1", errors="replace")
    if head.startswith("EC-Lab ASCII FILE"):
        return "mpt"
    first_lines = head.splitlines()[:40]
    if any(ln.split("\t", 1)[0].strip() in ("Rec#", "Rec") and "\t" in ln for ln in first_lines):
        return "maccor"
    if first_lines and "Test_Time" in first_lines[0] and "Data_Point" in first_lines[0]:
        return "arbin"
    if ext == ".res":
        return "arbin-res"
    if re.fullmatch(r"\.\d{3}", ext):
        return "maccor"
    return "csv"


def read_cycler(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    format: CyclerFormat = "auto",
    active_mass_g: float | None = None,
    gap_s: float = 0.0,
    **csv_options: Any,
) -> pd.DataFrame:
    """Read one cycler file, or several files of one experiment, into the canonical table.

    Parameters
    ----------
    path : path-like or sequence of path-like
        A file, or files in experimental order (joined with
        :func:`~cathodescope.io.join_cycling_tables`: time, charge and steps continue and cycles
        are assigned over the whole).
    format : {"auto", "mpr", "mpt", "maccor", "arbin", "neware", "csv"}
        Reader; ``"auto"`` decides from the extension and the first lines.
    active_mass_g : float, optional
        Active-material mass in g (``attrs['active_mass_g']``), used for mAh/g.
    gap_s : float
        Time between joined files when they carry no absolute start time.
    **csv_options
        ``columns``, ``units``, ``sep`` for the generic CSV reader.

    Returns
    -------
    pandas.DataFrame
        The canonical cycling table (columns ``time_s``, ``voltage_V``, ``current_mA``,
        ``charge_mAh``, ``step_index``, ``step_type``, ``cycle``; see
        :mod:`cathodescope.common.schemas` for units and conventions).

    Examples
    --------
    >>> df = read_cycler("cell.mpr", active_mass_g=0.0123)  # doctest: +SKIP
    >>> df.groupby("cycle").size()  # doctest: +SKIP
    """
    check_choice(format, _FORMATS, "format")
    if not isinstance(path, str | os.PathLike):
        paths = list(path)
        if not paths:
            raise EmptyDataError("read_cycler got an empty list of files.")
        tables = [
            read_cycler(q, format=format, active_mass_g=active_mass_g, **csv_options) for q in paths
        ]
        return tables[0] if len(tables) == 1 else join_cycling_tables(tables, gap_s=gap_s)
    p = Path(path)
    check_input_file(p, "cycler")
    sniffed = _sniff_format(p)
    fmt = sniffed if format == "auto" else format
    if fmt == "arbin" and sniffed == "arbin-res":
        fmt = "arbin-res"  # an Access database given as --format arbin
    from cathodescope.io._arbin import read_arbin_csv, read_arbin_res
    from cathodescope.io._biologic import read_biologic_mpr, read_biologic_mpt
    from cathodescope.io._maccor import read_maccor
    from cathodescope.io._neware import read_neware_ndax

    if fmt == "csv":
        table = read_cycler_csv(p, active_mass_g=active_mass_g, **csv_options)
    else:
        reader = {
            "mpr": read_biologic_mpr,
            "mpt": read_biologic_mpt,
            "maccor": read_maccor,
            "arbin": read_arbin_csv,
            "arbin-res": read_arbin_res,
            "neware": read_neware_ndax,
        }[fmt]
        table = reader(p, active_mass_g=active_mass_g)
    table.attrs["source_files"] = [os.fspath(p)]
    return table
