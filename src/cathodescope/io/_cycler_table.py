"""The canonical cycling table every cycler reader returns, and its step and cycle assignment.

The columns, units and conventions are documented in :mod:`cathodescope.common.schemas`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common.schemas import STEP_TYPES
from cathodescope.errors import (
    CathodescopeWarning,
    CyclerColumnError,
    EmptyDataError,
    NonFiniteDataError,
    NonMonotonicTimeError,
)

_CLASS_CODE = {name: i for i, name in enumerate(STEP_TYPES)}


def classify_rows(current_mA: np.ndarray, *, rest_tolerance_mA: float | None = None) -> np.ndarray:
    """Per-row step class codes from the current sign (0 charge, 1 discharge, 2 rest).

    ``rest_tolerance_mA`` defaults to 1e-4 of the largest absolute current (and at least
    1e-9 mA): smaller currents count as rest.
    """
    current = np.asarray(current_mA, dtype=float)
    if rest_tolerance_mA is None:
        peak = float(np.max(np.abs(current))) if current.size else 0.0
        rest_tolerance_mA = max(1e-9, 1e-4 * peak)
    codes = np.full(current.shape, _CLASS_CODE["rest"], dtype=np.int8)
    codes[current > rest_tolerance_mA] = _CLASS_CODE["charge"]
    codes[current < -rest_tolerance_mA] = _CLASS_CODE["discharge"]
    return codes


def _run_starts(*keys: np.ndarray) -> np.ndarray:
    """Boolean mask, True where any of ``keys`` differs from the previous row (and at row 0)."""
    n = len(keys[0])
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
    for key in keys:
        k = np.asarray(key)
        start[1:] |= k[1:] != k[:-1]
    return start


def pulse_steps(
    step_codes: np.ndarray, step_charge: np.ndarray, *, pulse_fraction: float = 0.05
) -> np.ndarray:
    """True for charge/discharge steps that belong to a pulse train (HPPC, GITT, ICI pulses).

    Consecutive charge or discharge steps of one direction (rests, EIS and other steps between
    them do not interrupt) form a run; a run that passes less than ``pulse_fraction`` of the
    largest run's charge is a pulse: it neither starts nor ends a cycle. A GITT titration is one
    long run of small pulses and stays a half-cycle; HPPC pulses alternate direction, each run
    is small, and they are not counted as cycles.

    Examples
    --------
    >>> codes = np.array([0, 1, 0, 1, 2, 1, 0, 1])  # charge, pulse pair, pulse + discharge
    >>> q = np.array([10.0, 0.1, 0.1, 0.1, 0.0, 9.0, 10.0, 9.5])
    >>> pulse_steps(codes, q).tolist()
    [False, True, True, False, False, False, False, False]
    >>> assign_cycles_from_steps(codes, q).tolist()
    [1, 1, 1, 1, 1, 1, 2, 2]
    """
    codes = np.asarray(step_codes)
    out = np.zeros(codes.size, dtype=bool)
    idx = np.flatnonzero((codes == 0) | (codes == 1))
    if idx.size == 0:
        return out
    d = codes[idx]
    run_id = np.cumsum(np.r_[True, d[1:] != d[:-1]]) - 1
    run_q = np.bincount(run_id, weights=np.abs(np.asarray(step_charge, float)[idx]))
    small = run_q < pulse_fraction * run_q.max()
    out[idx] = small[run_id]
    return out


def assign_cycles_from_steps(
    step_codes: np.ndarray, step_charge: np.ndarray | None = None
) -> np.ndarray:
    """Cycle number of each step from its step-type code (vectorised, no Python loop).

    Parameters
    ----------
    step_codes : ndarray of int, shape (n_steps,)
        Codes of ``STEP_TYPES`` (0 charge, 1 discharge, 2 rest, 3 eis, 4 other) in time order.
    step_charge : ndarray, shape (n_steps,), optional
        Charge passed in each step (mAh); when given, pulse-train steps (:func:`pulse_steps`)
        neither start nor end a cycle.

    Returns
    -------
    ndarray of int64, shape (n_steps,)
        0 before the first charge; a new cycle at each charge step whose previous charge or
        discharge step was a discharge (or that is the first charge).

    Examples
    --------
    >>> assign_cycles_from_steps(np.array([2, 1, 2, 0, 1, 0, 0, 1]))
    array([0, 0, 0, 1, 1, 2, 2, 2])
    """
    codes = np.asarray(step_codes)
    if step_charge is not None:
        codes = np.where(pulse_steps(codes, step_charge), _CLASS_CODE["other"], codes)
    n = codes.size
    active = (codes == 0) | (codes == 1)
    # type of the previous active step, forward-filled (-1 = none yet)
    idx = np.where(active, np.arange(n), -1)
    last_active = np.maximum.accumulate(idx) if n else idx
    prev_last = np.concatenate(([-1], last_active[:-1])) if n else last_active
    prev_type = np.where(prev_last >= 0, codes[np.maximum(prev_last, 0)], -1)
    new_cycle = (codes == 0) & (prev_type != 0)
    return np.cumsum(new_cycle).astype(np.int64)


def cumulative_trapezoid_mAh(time_s: np.ndarray, current_mA: np.ndarray) -> np.ndarray:
    """Cumulative integral of current over time (trapezoid rule), mAh, starting at 0."""
    t = np.asarray(time_s, dtype=float)
    i = np.asarray(current_mA, dtype=float)
    out = np.zeros(t.shape)
    if t.size > 1:
        out[1:] = np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t)) / 3600.0
    return out


def accumulate_resetting(counter: np.ndarray, reset: np.ndarray) -> np.ndarray:
    """Make a counter that restarts at every ``reset`` row cumulative over the whole file.

    The value at the last row before each reset is carried over and added to what follows.
    """
    c = np.asarray(counter, dtype=float)
    r = np.asarray(reset, dtype=bool).copy()
    if c.size == 0:
        return c
    r[0] = False
    carry = np.zeros(c.size)
    carry[r] = c[np.flatnonzero(r) - 1]
    return c + np.cumsum(carry)


def interval_charge_mAh(
    time_s: np.ndarray, current_mA: np.ndarray, step_index: np.ndarray
) -> np.ndarray:
    """Charge passed in the interval ending at each row, mAh (0 for the first row).

    Inside a step the trapezoid rule; across a step boundary the current of the new row (the
    current changes when the step does, so the interval before a step's first point carries
    that step's current: a rest after a charge passes nothing, a pulse after a rest its own
    current).
    """
    t = np.asarray(time_s, dtype=float)
    i = np.asarray(current_mA, dtype=float)
    out = np.zeros(t.shape)
    if t.size > 1:
        dt = np.diff(t)
        same = step_index[1:] == step_index[:-1]
        mean_i = np.where(same, 0.5 * (i[1:] + i[:-1]), i[1:])
        out[1:] = mean_i * dt / 3600.0
    return out


def check_counter_charge(
    counter_mAh: np.ndarray,
    time_s: np.ndarray,
    current_mA: np.ndarray,
    step_index: np.ndarray,
    *,
    rtol: float = 0.01,
    source: str = "data",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Check an instrument's cumulative charge counter against the integral of the current.

    Per step, the counter's increase is compared with the integral of the current over time
    (:func:`interval_charge_mAh`). A step whose counter differs from the integral by more than
    ``rtol`` of the charge that flowed in it (integral of |I| dt; plus 1e-6 of the file's total
    as a floor for rests, and half the charge of the intervals that span its boundaries, whose
    booking is a convention) - a negative or reset counter, a step whose charge the counter left
    out (EIS, CV, CA) - takes the integral instead, and a
    :class:`~cathodescope.errors.CathodescopeWarning` says how many steps and by how much.

    Parameters
    ----------
    counter_mAh : ndarray, shape (n,)
        The counter made cumulative by the reader, mAh.
    time_s, current_mA : ndarray, shape (n,)
        Time (s) and current (mA, positive = charge).
    step_index : ndarray of int, shape (n,)
        Step of each row (0, 1, 2, ...; contiguous runs).
    rtol : float
        Largest accepted relative mismatch per step.
    source : str
        File name for the warning.

    Returns
    -------
    (ndarray, dict)
        Cumulative charge in mAh (the counter where it agrees with the integral, the integral
        elsewhere; never reset), and a report: ``n_steps``, ``n_replaced``, ``replaced_steps``
        (first 20), ``max_rel_mismatch``, ``counter_total_mAh``, ``integral_total_mAh``.
    """
    q = np.asarray(counter_mAh, dtype=float)
    n = q.size
    dq_i = interval_charge_mAh(time_s, current_mA, step_index)
    dq_c = np.diff(q, prepend=q[:1])
    starts = np.flatnonzero(np.r_[True, step_index[1:] != step_index[:-1]]) if n else np.array([])
    s_c = np.add.reduceat(dq_c, starts) if n else np.array([])
    s_i = np.add.reduceat(dq_i, starts) if n else np.array([])
    a_i = np.add.reduceat(np.abs(dq_i), starts) if n else np.array([])
    floor = 1e-6 * float(a_i.sum()) + 1e-12
    # where the charge of an interval that spans a step boundary is booked (trapezoid or the
    # new step's current) is a matter of convention: allow half of it at both ends of a step
    t = np.asarray(time_s, dtype=float)
    i = np.asarray(current_mA, dtype=float)
    edge = np.zeros(n)
    if n > 1:
        edge[1:] = 0.5 * np.abs(np.diff(i)) * np.diff(t) / 3600.0
    amb = edge[starts] + np.r_[edge[starts[1:]], 0.0] if n else np.array([])
    mismatch = np.abs(s_c - s_i)
    bad = mismatch > rtol * a_i + floor + amb
    report: dict[str, Any] = {
        "n_steps": int(starts.size),
        "n_replaced": int(bad.sum()),
        "replaced_steps": [int(k) for k in np.flatnonzero(bad)[:20]],
        "max_rel_mismatch": float(np.max(mismatch / np.maximum(a_i, floor))) if n else 0.0,
        "counter_total_mAh": float(np.abs(dq_c).sum()),
        "integral_total_mAh": float(np.abs(dq_i).sum()),
    }
    if not bad.any():
        return q, report
    lengths = np.diff(np.r_[starts, n])
    use_int = np.repeat(bad, lengths)
    dq = np.where(use_int, dq_i, dq_c)
    dq[0] = 0.0
    out = (q[0] if np.isfinite(q[0]) else 0.0) + np.cumsum(dq)
    worst = int(np.argmax(np.where(bad, mismatch, -1.0)))
    warnings.warn(
        f"{source}: the instrument's charge counter disagrees with the integral of the current "
        f"in {int(bad.sum())} of {starts.size} steps by more than {100 * rtol:g} % (worst: step "
        f"{worst}, counter {s_c[worst]:.6g} mAh vs integral {s_i[worst]:.6g} mAh; a negative, "
        "reset or incomplete counter); the integral is used there.",
        CathodescopeWarning,
        stacklevel=3,
    )
    return out, report


def build_cycling_table(
    time_s: Any,
    voltage_V: Any,
    current_mA: Any,
    *,
    charge_mAh: Any = None,
    instrument_step: Any = None,
    row_class: Any = None,
    cycle_instrument: Any = None,
    extra: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
    source: str = "data",
) -> pd.DataFrame:
    """Validate raw columns and build the canonical cycling table (see module docstring).

    Parameters
    ----------
    time_s, voltage_V, current_mA : array_like, shape (n,)
        Time in s, potential in V, current in mA (positive = charge / oxidation).
    charge_mAh : array_like, shape (n,), optional
        The instrument's cumulative net charge counter in mAh; integrated from the current
        (trapezoid) if omitted. A given counter is checked step by step against the integral
        of the current (:func:`check_counter_charge`): where they differ by more than 1 % the
        integral is used and a warning is given; ``attrs['charge_check']`` reports it.
    instrument_step : array_like, shape (n,), optional
        The cycler's own step or technique number; a change starts a new ``step_index``.
    row_class : array_like of str or int, shape (n,), optional
        Per-row step type (names of ``STEP_TYPES`` or their codes) from the instrument's state
        column; derived from the current sign if omitted.
    cycle_instrument : array_like, shape (n,), optional
        The cycler's own cycle counter, kept as column ``cycle_instrument``.
    extra : dict of str to array_like, optional
        Further columns to keep.
    attrs : dict, optional
        Metadata stored in ``DataFrame.attrs`` (``active_mass_g`` defaults to None).
    source : str
        Name used in error messages (file name).

    Returns
    -------
    pandas.DataFrame
        The canonical table.

    Raises
    ------
    EmptyDataError
        If there are no rows.
    CyclerColumnError
        If columns have different lengths.
    NonFiniteDataError
        If time or current contain NaN/inf.
    NonMonotonicTimeError
        If time decreases anywhere.
    """
    t = np.asarray(time_s, dtype=float)
    v = np.asarray(voltage_V, dtype=float)
    i = np.asarray(current_mA, dtype=float)
    n = t.size
    if n == 0:
        raise EmptyDataError(f"{source}: no data rows; the file is empty or holds only a header.")
    for name, arr in (("voltage_V", v), ("current_mA", i)):
        if arr.shape != t.shape:
            raise CyclerColumnError(
                f"{source}: column {name} has {arr.size} rows but time has {n}; the file is "
                "malformed."
            )
    for name, arr in (("time_s", t), ("current_mA", i)):
        if not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise NonFiniteDataError(
                f"{source}: {name} has {bad} missing/non-numeric values; repair or trim the file."
            )
    dt = np.diff(t)
    if np.any(dt < 0):
        first = int(np.flatnonzero(dt < 0)[0]) + 1
        raise NonMonotonicTimeError(
            f"{source}: time goes backwards at row {first} ({t[first - 1]:g} s -> "
            f"{t[first]:g} s). If several files were concatenated, read them separately and "
            "join them with cathodescope.io.join_cycling_tables."
        )
    if row_class is None:
        codes = classify_rows(i)
    else:
        rc = np.asarray(row_class)
        if rc.dtype.kind in "iu":
            codes = rc.astype(np.int8)
        else:
            lut = pd.Series(_CLASS_CODE)
            codes = pd.Series(rc).map(lut).fillna(_CLASS_CODE["other"]).to_numpy(np.int8)
    keys = [codes] if instrument_step is None else [codes, np.asarray(instrument_step)]
    starts = _run_starts(*keys)
    step_index = np.cumsum(starts) - 1
    step_codes = codes[starts]
    check: dict[str, Any] = {"charge_source": "integral"}
    if charge_mAh is None:
        q = cumulative_trapezoid_mAh(t, i)
    else:
        q = np.asarray(charge_mAh, dtype=float)
        if not np.all(np.isfinite(q)):
            q = cumulative_trapezoid_mAh(t, i)
        else:
            q, report = check_counter_charge(q, t, i, step_index, source=source)
            check = {"charge_source": "counter", **report}
            if report["n_replaced"]:
                check["charge_source"] = "counter+integral"
    step_cycle = assign_cycles_from_steps(step_codes, _step_sums(q, starts))
    df = pd.DataFrame(
        {
            "time_s": t,
            "voltage_V": v,
            "current_mA": i,
            "charge_mAh": q,
            "step_index": step_index.astype(np.int64),
            "step_type": pd.Categorical.from_codes(codes, categories=list(STEP_TYPES)),
            "cycle": step_cycle[step_index],
        },
        copy=False,  # the arrays are ours: no copy, no consolidation (1000x faster at 1e7 rows)
    )
    if instrument_step is not None:
        df["instrument_step"] = np.asarray(instrument_step)
    if cycle_instrument is not None:
        df["cycle_instrument"] = np.asarray(cycle_instrument)
    for name, values in (extra or {}).items():
        df[name] = np.asarray(values)
    df.attrs.update({"active_mass_g": None, "source_files": [source], "charge_check": check})
    df.attrs.update(attrs or {})
    return df


def _step_sums(q: np.ndarray, start_mask: np.ndarray) -> np.ndarray:
    """Charge passed in each step (increments of ``q`` booked to the row they end at)."""
    if q.size == 0:
        return np.zeros(0)
    return np.add.reduceat(np.diff(q, prepend=q[:1]), np.flatnonzero(start_mask))


def reassign_steps_and_cycles(df: pd.DataFrame) -> pd.DataFrame:
    """Recompute ``step_index`` and ``cycle`` of a canonical table (e.g. after joining files)."""
    codes = (
        df["step_type"].cat.codes.to_numpy()
        if hasattr(df["step_type"], "cat")
        else (df["step_type"].map(_CLASS_CODE).to_numpy())
    )
    keys = [codes, df["step_index"].to_numpy()]
    starts = _run_starts(*keys)
    step_index = np.cumsum(starts) - 1
    out = df.copy()
    out["step_index"] = step_index.astype(np.int64)
    q = df["charge_mAh"].to_numpy(float)
    out["cycle"] = assign_cycles_from_steps(codes[starts], _step_sums(q, starts))[step_index]
    return out


def join_cycling_tables(
    tables: Sequence[pd.DataFrame], *, gap_s: float = 0.0, use_timestamps: bool = True
) -> pd.DataFrame:
    """Join several canonical tables of one experiment, in the given order, into one.

    Time, charge and step indices of each following table are offset so they continue the
    previous one; then steps and cycles are reassigned over the whole (a cycle whose charge is
    in one file and discharge in the next is one cycle).

    Parameters
    ----------
    tables : sequence of DataFrame
        Canonical tables (reader outputs) in experimental order.
    gap_s : float
        Time in s assumed between the end of one file and the start of the next when the files
        carry no absolute start time (``attrs['start_timestamp']``).
    use_timestamps : bool
        If every table has ``attrs['start_timestamp']`` (ISO string or datetime), place the
        files on the absolute time axis instead (raises if they overlap).

    Returns
    -------
    DataFrame
        One canonical table; ``attrs['source_files']`` lists every file.
    """
    if len(tables) == 0:
        raise EmptyDataError("join_cycling_tables needs at least one table.")
    stamps = [tb.attrs.get("start_timestamp") for tb in tables]
    absolute = use_timestamps and all(s is not None for s in stamps)
    parts = []
    t_end = 0.0
    q_end = 0.0
    step_end = 0
    files: list[str] = []
    t0_abs = pd.Timestamp(stamps[0]) if absolute else None
    for k, tb in enumerate(tables):
        part = tb.copy()
        if k > 0:
            if absolute:
                offset = (pd.Timestamp(stamps[k]) - t0_abs).total_seconds()
                if offset < t_end:
                    raise NonMonotonicTimeError(
                        f"file {k} starts at {offset:g} s, before the previous one ended "
                        f"({t_end:g} s); check the order of the files."
                    )
            else:
                offset = t_end + float(gap_s)
            part["time_s"] = part["time_s"] + offset
            part["charge_mAh"] = part["charge_mAh"] - part["charge_mAh"].iloc[0] + q_end
            part["step_index"] = part["step_index"] + step_end
        t_end = float(part["time_s"].iloc[-1])
        q_end = float(part["charge_mAh"].iloc[-1])
        step_end = int(part["step_index"].iloc[-1]) + 1
        files.extend(tb.attrs.get("source_files", []))
        parts.append(part)
    joined = pd.concat(parts, ignore_index=True)
    joined["step_type"] = pd.Categorical(joined["step_type"], categories=list(STEP_TYPES))
    joined = reassign_steps_and_cycles(joined)
    attrs = dict(tables[0].attrs)
    attrs["source_files"] = files
    masses = {tb.attrs.get("active_mass_g") for tb in tables}
    attrs["active_mass_g"] = masses.pop() if len(masses) == 1 else None
    joined.attrs = attrs
    return joined


def file_label(path: str | os.PathLike[str]) -> str:
    """Base name of a path for messages and attrs."""
    return os.path.basename(os.fspath(path))
