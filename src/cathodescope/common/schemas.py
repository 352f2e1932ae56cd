"""Canonical table schemas shared by the readers and the analysis packages.

The canonical cycling table (one row per recorded data point, in time order) that every cycler
reader in :mod:`cathodescope.io` returns and :mod:`cathodescope.echem` consumes.

Canonical columns
-----------------
``time_s`` : float64
    Seconds since the start of the (first) file.
``voltage_V`` : float64
    Working-electrode potential (half-cell: vs Li/Li+), V.
``current_mA`` : float64
    Current in mA. Sign convention: **positive = charge = oxidation of the working electrode**
    (delithiation of a cathode), negative = discharge (lithiation). Every reader converts its
    instrument's convention to this one.
``charge_mAh`` : float64
    Cumulative net charge passed since the start, mAh (the integral of ``current_mA`` over
    time; rises on charge, falls on discharge). Taken from the instrument's own charge counter
    where the file has one (made cumulative across step resets), else integrated from the
    current by the trapezoid rule.
``step_index`` : int64
    0, 1, 2, ...: a new value each time the instrument's step (technique sequence number) or the
    step type changes. Loops that repeat one programmed step therefore give several indices.
``step_type`` : str
    One of ``"charge"``, ``"discharge"``, ``"rest"``, ``"eis"``, ``"other"``.
``cycle`` : int64
    Cycle number. **A cycle is a charge followed by a discharge** (cathode half-cell). A new cycle
    starts at the first charge step that follows a discharge step (rests, EIS and other steps in
    between are ignored); the first charge of the file also starts one. Everything recorded
    before the first charge (open-circuit rest, an initial discharge from the pristine state) is
    cycle 0. Cycles are numbered 1, 2, ... from the first charge on. Several consecutive charge
    steps (GITT pulses, CC then CV) belong to one cycle.

Optional columns kept when the file has them: ``instrument_step`` (the cycler's own step
number), ``cycle_instrument`` (the cycler's own cycle counter, which can disagree with ``cycle``:
e.g. BioLogic counts from the first discharge, Maccor loops do not always increment it),
``frequency_Hz`` (EIS points).

``DataFrame.attrs``: ``instrument``, ``source_files`` (list of str), ``active_mass_g`` (float or
None), ``format`` and reader-specific entries.

Examples
--------
>>> CANONICAL_COLUMNS[:3]
('time_s', 'voltage_V', 'current_mA')
>>> STEP_TYPES.index("rest")
2
"""

from __future__ import annotations

__all__ = ["CANONICAL_COLUMNS", "STEP_TYPES"]

#: Columns of the canonical cycling table, in order: time (s), potential (V), current (mA,
#: positive = charge), cumulative net charge (mAh), step index, step type, cycle number.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "time_s",
    "voltage_V",
    "current_mA",
    "charge_mAh",
    "step_index",
    "step_type",
    "cycle",
)

#: Values of the ``step_type`` column; the categorical codes are the positions in this tuple.
STEP_TYPES: tuple[str, ...] = ("charge", "discharge", "rest", "eis", "other")
