"""Maccor raw text exports (``.0NN`` files such as ``*.070``) into the canonical cycling table.

Our own reader rather than a third-party one: exports are latin-1 (not UTF-8; UTF-16 when they
start with a byte-order mark), start with a free-text header of variable length, and give the
direction of current through the ``State`` (or ``Md``) code (C charge, D discharge, R rest,
anything else "other") and a per-step ``Amp-hr`` (``Cap. [Ah]``) counter that restarts at every
step. Variants recognised by content, not by name:

* raw exports (``Rec#``, ``TestTime`` in s, or ``Test (Sec)``);
* day-clock test times written ``2d 02:52:21.57`` (days, then hours:minutes:seconds);
* MIMS-client exports (``Rec``, ``Cycle P``, ``Cycle C``, ``Cap. [Ah]``, ``Current [A]``,
  ``Voltage [V]``, ``Md``, a blank line after the column line), whose ``TestTime`` is in
  minutes: the unit is decided by comparing it with the ``DPT Time`` date-time column.
"""

from __future__ import annotations

import io
import os
import re
import warnings

import numpy as np
import pandas as pd

from cathodescope.common.files import check_input_file, warn_incomplete_row
from cathodescope.errors import (
    CathodescopeWarning,
    CyclerColumnError,
    EmptyDataError,
    FileFormatError,
    TruncatedFileError,
)
from cathodescope.io._cycler_table import (
    STEP_TYPES,
    _run_starts,
    accumulate_resetting,
    build_cycling_table,
    file_label,
)

_STATE_CLASS = {"C": "charge", "D": "discharge", "R": "rest"}


_TIME_COLUMNS = ("Test (Sec)", "TestTime", "Test Time (sec)", "Test Time", "Test Time (Hr)")
_CURRENT_COLUMNS = ("Amps", "Current", "Current (A)", "Current [A]", "Current(A)")
_VOLTAGE_COLUMNS = ("Volts", "Voltage", "Voltage (V)", "Voltage [V]", "Voltage(V)")
_STATE_COLUMNS = ("State", "Md", "Mode")
_CAPACITY_COLUMNS = ("Amp-hr", "Cap. [Ah]", "Capacity (AHr)", "Capacity [Ah]", "AHr")
_CYCLE_COLUMNS = ("Cyc#", "Cycle C", "Cycle", "Cycle P")
_DAYCLOCK = re.compile(r"^\s*(?:(\d+)d\s+)?(\d+):(\d+):(\d+(?:\.\d*)?)\s*$")


def _decode(raw: bytes) -> str:
    """Text of an export: UTF-16 with a byte-order mark, UTF-8 with one, else latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    return raw.decode("latin-1")


def _first(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in frame), None)


def _parse_time(values: pd.Series, source: str) -> np.ndarray:
    """Seconds from numbers, or from day-clock text ``[Nd ]HH:MM:SS.ffff``."""
    num = pd.to_numeric(values, errors="coerce").to_numpy(float)
    if np.all(np.isfinite(num)):
        return num
    parts = values.astype(str).str.extract(_DAYCLOCK)
    if parts.isna().any(axis=None):
        bad = values[parts[1].isna()].iloc[0]
        raise CyclerColumnError(
            f"{source}: test time {bad!r} is neither a number of seconds nor a day-clock time "
            "such as '2d 02:52:21.57'."
        )
    p = parts.astype({0: float}).fillna({0: 0.0}).astype(float).to_numpy()
    return p[:, 0] * 86400.0 + p[:, 1] * 3600.0 + p[:, 2] * 60.0 + p[:, 3]


def _time_unit_from_clock(frame: pd.DataFrame, t: np.ndarray, source: str) -> float:
    """Factor to seconds of a MIMS ``TestTime`` column, checked against ``DPT Time``."""
    if "DPT Time" not in frame or t.size < 2 or not t[-1] > t[0]:
        return 1.0
    # the first and last parseable clock readings are enough (parsing them all is slow)
    ends = frame["DPT Time"].iloc[[0, -1]]
    clock = pd.to_datetime(ends, errors="coerce", format="mixed")
    if clock.isna().any():
        return 1.0
    elapsed = (clock.iloc[1] - clock.iloc[0]).total_seconds()
    span = t[-1] - t[0]
    if span <= 0 or elapsed <= 0:
        return 1.0
    ratio = elapsed / span
    factor = min((1.0, 60.0, 3600.0), key=lambda f: abs(np.log(ratio / f)))
    if abs(np.log(ratio / factor)) > 0.1:
        warnings.warn(
            f"{source}: TestTime spans {span:g} but the DPT Time clock {elapsed:g} s; the unit "
            "of TestTime is unclear, seconds assumed.",
            CathodescopeWarning,
            stacklevel=3,
        )
        return 1.0
    return factor


def _find_header(lines: list[str]) -> int | None:
    for k, ln in enumerate(lines[:40]):
        first = ln.split("\t", 1)[0].strip()
        if first in ("Rec#", "Rec") and "\t" in ln:
            return k
    return None


def read_maccor(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read a Maccor text export (raw, day-clock or MIMS-client) into the canonical table.

    Parameters
    ----------
    path : path-like
        Tab-separated Maccor export with a ``Rec#`` (or ``Rec``) column line somewhere in its
        first 40 lines.
    active_mass_g : float, optional
        Active mass in g for ``attrs['active_mass_g']``.

    Returns
    -------
    pandas.DataFrame
        Canonical table; ``instrument_step`` is Maccor's ``Step``, ``cycle_instrument`` its
        ``Cyc#`` (or ``Cycle C``; procedure loops do not always increment it, so it can differ
        from ``cycle``). Current is converted from A to mA with the sign of the state (C +,
        D -); the charge counter (``Amp-hr``) is made cumulative and signed, and checked against
        the integral of the current (:func:`cathodescope.io.build_cycling_table`).
        ``attrs['variant']`` says which export layout was read.

    Raises
    ------
    EmptyDataError, TruncatedFileError, FileFormatError, CyclerColumnError
    """
    p = check_input_file(path, "Maccor")
    source = file_label(p)
    raw = p.read_bytes()
    if not raw.strip():
        raise EmptyDataError(f"{source}: the file is empty.")
    text = _decode(raw)
    lines = text[:65536].splitlines()[:41]  # the header is in the first lines
    header_row = _find_header(lines)
    if header_row is None:
        raise FileFormatError(
            f"{source}: no 'Rec#' column line in the first 40 lines; not a Maccor text export."
        )
    columns = [c.strip() for c in lines[header_row].split("\t")]
    while columns and not columns[-1]:
        columns.pop()
    n_cols = len(columns)
    last = text.rstrip("\r\n\t ").rsplit("\n", 1)[-1]
    # one C-parser pass over the whole text (splitting it into Python lines first took most of
    # the time on 10^6 rows)
    frame = pd.read_csv(
        io.StringIO(text),
        sep="\t",
        header=None,
        names=columns,
        usecols=range(n_cols),
        skiprows=header_row + 1,
        skip_blank_lines=True,
        low_memory=False,
    )
    if len(frame) == 0:
        raise EmptyDataError(f"{source}: the header is complete but there are no data rows.")
    if len(last.rstrip("\t").split("\t")) < n_cols or not text.endswith(("\n", "\r")):
        frame = frame.iloc[:-1]  # interrupted last line: never read a cut number
        if len(frame) == 0:
            raise TruncatedFileError(f"{source}: the only data row is incomplete.")
        warn_incomplete_row(source, len(frame))
    return _maccor_table(frame, columns, lines, header_row, source, active_mass_g)


def _maccor_table(
    frame: pd.DataFrame,
    columns: list[str],
    lines: list[str],
    header_row: int,
    source: str,
    active_mass_g: float | None,
) -> pd.DataFrame:
    """Canonical table from the parsed Maccor columns (any variant)."""
    tcol, icol = _first(frame, _TIME_COLUMNS), _first(frame, _CURRENT_COLUMNS)
    vcol = _first(frame, _VOLTAGE_COLUMNS)
    missing = [k for k, v in (("time", tcol), ("Volts", vcol), ("current", icol)) if v is None]
    if missing:
        raise CyclerColumnError(
            f"{source}: Maccor export lacks {missing} columns (found {columns[:12]}...); "
            "re-export with Test time, Volts and Amps."
        )
    mims = columns[0] == "Rec"
    t = _parse_time(frame[tcol], source)
    day_clock = not pd.api.types.is_numeric_dtype(frame[tcol])
    if mims and not day_clock:
        t = t * _time_unit_from_clock(frame, t, source)
    elif tcol == "Test Time (Hr)":
        t = t * 3600.0
    amps = pd.to_numeric(frame[icol], errors="coerce").to_numpy(float)
    volts = pd.to_numeric(frame[vcol], errors="coerce").to_numpy(float)
    scol = _first(frame, _STATE_COLUMNS)
    codes = None
    if scol is not None:
        state = frame[scol].astype("category")  # a handful of codes: map categories only
        names = [str(c).strip() for c in state.cat.categories]
        lut = np.array([_STATE_CLASS.get(n, "other") for n in names] + ["other"], dtype=object)
        code_of = np.array([STEP_TYPES.index(str(c)) for c in lut], dtype=np.int8)
        codes = code_of[state.cat.codes.to_numpy()]  # code -1 (missing) -> the last entry
        sign = np.where(codes == 1, -1.0, np.where(codes == 0, 1.0, 0.0))
        # Some exports give |I|, others signed I: impose the state's sign either way.
        current = np.abs(amps) * 1000.0 * sign
    else:
        current = amps * 1000.0
        sign = np.sign(current)
    step = frame["Step"].to_numpy() if "Step" in frame else None
    q = None
    ccol = _first(frame, _CAPACITY_COLUMNS)
    if ccol is not None and step is not None:
        ah = pd.to_numeric(frame[ccol], errors="coerce").to_numpy(float)
        keys = [step] if codes is None else [step, codes]
        resets = _run_starts(*keys)
        q = accumulate_resetting(np.abs(ah) * 1000.0 * sign, resets)
    cyc_col = _first(frame, _CYCLE_COLUMNS)
    attrs = {
        "instrument": "Maccor",
        "format": "maccor-text",
        "variant": "mims" if mims else ("day-clock" if day_clock else "raw"),
        "active_mass_g": active_mass_g,
        "header": "\n".join(ln.strip() for ln in lines[:header_row]).strip(),
    }
    return build_cycling_table(
        t,
        volts,
        current,
        charge_mAh=q,
        instrument_step=step,
        row_class=codes,
        cycle_instrument=frame[cyc_col].to_numpy() if cyc_col else None,
        attrs=attrs,
        source=source,
    )
