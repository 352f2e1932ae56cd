"""Per-cycle metrics of a canonical cycling table: capacities, efficiency, retention, energy.

Everything is vectorised: per-step sums with ``np.add.reduceat`` over step boundaries (no
Python loop over rows), then a small groupby over steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cathodescope._validation import check_positive
from cathodescope.common.schemas import CANONICAL_COLUMNS, STEP_TYPES
from cathodescope.errors import (
    ActiveMassError,
    CyclerColumnError,
    NonFiniteDataError,
    ParameterError,
)

_REQUIRED = CANONICAL_COLUMNS


def check_cycling_table(df: pd.DataFrame) -> None:
    """Check a canonical cycling table before any analysis.

    Parameters
    ----------
    df : DataFrame
        Canonical cycling table (see :mod:`cathodescope.common.schemas`).

    Raises
    ------
    CyclerColumnError
        If ``df`` lacks a canonical column.
    NonFiniteDataError
        If time, current or charge hold NaN/inf anywhere, or the voltage does in a charge or
        discharge row: capacities, energies and mean voltages would silently come out as 0 or
        wrong (a NaN voltage made ``cycle_summary`` report an energy of 0.0).
    """
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise CyclerColumnError(
            f"the table lacks canonical column(s) {missing}; read files with "
            "cathodescope.io.read_cycler or build the table with "
            "cathodescope.io.build_cycling_table."
        )
    codes = step_type_codes(df)
    active = (codes == STEP_TYPES.index("charge")) | (codes == STEP_TYPES.index("discharge"))
    for column, rows in (
        ("time_s", None),
        ("current_mA", None),
        ("charge_mAh", None),
        ("voltage_V", active),
    ):
        values = df[column].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if rows is not None:
            bad &= rows
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            where = " in charge/discharge rows" if rows is not None else ""
            raise NonFiniteDataError(
                f"{column} has {int(bad.sum())} NaN/inf value(s){where} (first at row {first}, "
                f"t = {df['time_s'].iloc[first]:g} s); capacities, energies and mean voltages "
                f"would be wrong. Drop or repair those rows first (e.g. "
                f"df = df[np.isfinite(df['{column}'])]) and rebuild the table with "
                "cathodescope.io.build_cycling_table."
            )


def step_type_codes(df: pd.DataFrame) -> np.ndarray:
    """Integer codes of ``step_type`` (index into ``STEP_TYPES``), without object arrays."""
    col = df["step_type"]
    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == list(STEP_TYPES):
        return col.cat.codes.to_numpy()
    codes = col.astype(str).map({n: i for i, n in enumerate(STEP_TYPES)})
    return codes.fillna(STEP_TYPES.index("other")).to_numpy(np.int8)


def resolve_active_mass(
    df: pd.DataFrame, active_mass_g: float | None, *, required: bool
) -> float | None:
    """Active mass in g from the argument or ``df.attrs``; raise ActiveMassError if required."""
    mass = active_mass_g if active_mass_g is not None else df.attrs.get("active_mass_g")
    if mass is None:
        if required:
            raise ActiveMassError(
                "per-gram values (mAh/g) were asked for but no active mass is known; pass "
                "active_mass_g=<grams of active material> (e.g. 0.0123; --active-mass-g 0.0123 on "
                "the command line) or read the file with read_cycler(..., active_mass_g=...)."
            )
        return None
    m = float(mass)
    if not np.isfinite(m) or m <= 0:
        raise ActiveMassError(
            f"active mass must be a finite number of grams > 0, got {mass!r}; check the "
            "electrode loading (mg/cm2 x area) and give it in g."
        )
    return m


def step_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per step: charge passed, energy, duration, first/last rows and voltages.

    Columns: ``step_index``, ``step_type``, ``cycle``, ``start_row``, ``stop_row`` (exclusive),
    ``charge_mAh`` (net charge passed in the step, each point counting the charge since the
    previous point), ``energy_mWh`` (integral of V dq, trapezoid in V), ``duration_s``,
    ``start_voltage_V``, ``end_voltage_V``, ``min_voltage_V``, ``max_voltage_V``.

    Parameters
    ----------
    df : pandas.DataFrame
        A canonical cycling table (:func:`cathodescope.io.read_cycler`).

    Returns
    -------
    pandas.DataFrame
        One row per step with the columns above.
    """
    check_cycling_table(df)
    n = len(df)
    step = df["step_index"].to_numpy()
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]]) if n else np.array([], int)
    stops = np.r_[starts[1:], n]
    q = df["charge_mAh"].to_numpy(float)
    v = df["voltage_V"].to_numpy(float)
    t = df["time_s"].to_numpy(float)
    dq = np.diff(q, prepend=q[:1])
    vmid = 0.5 * (v + np.r_[v[:1], v[:-1]])
    dt = np.diff(t, prepend=t[:1])
    types = np.asarray(STEP_TYPES, dtype=object)[step_type_codes(df)[starts]]
    return pd.DataFrame(
        {
            "step_index": step[starts],
            "step_type": types,
            "cycle": df["cycle"].to_numpy()[starts],
            "start_row": starts,
            "stop_row": stops,
            "charge_mAh": np.add.reduceat(dq, starts) if n else [],
            "energy_mWh": np.add.reduceat(dq * vmid, starts) if n else [],
            "duration_s": np.add.reduceat(dt, starts) if n else [],
            "start_voltage_V": v[starts],
            "end_voltage_V": v[stops - 1],
            "min_voltage_V": np.minimum.reduceat(v, starts) if n else [],
            "max_voltage_V": np.maximum.reduceat(v, starts) if n else [],
        }
    )


def _direction_columns(
    out: pd.DataFrame, steps: pd.DataFrame, kind: str, sign: float
) -> pd.DataFrame:
    """Capacity, energy, duration, end and mean voltage of the ``kind`` half of each cycle."""
    s = steps[steps["step_type"] == kind]
    g = s.groupby("cycle")
    agg = pd.DataFrame(
        {
            f"{kind}_capacity_mAh": sign * g["charge_mAh"].sum(),
            f"{kind}_energy_mWh": sign * g["energy_mWh"].sum(),
            f"{kind}_duration_h": g["duration_s"].sum() / 3600.0,
            f"{kind}_end_voltage_V": g["end_voltage_V"].last(),
        }
    )
    out = out.merge(agg, left_on="cycle", right_index=True, how="left")
    cap = f"{kind}_capacity_mAh"
    out[cap] = out[cap].fillna(0.0)
    out[f"{kind}_energy_mWh"] = out[f"{kind}_energy_mWh"].fillna(0.0)
    out[f"{kind}_duration_h"] = out[f"{kind}_duration_h"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[f"mean_{kind}_voltage_V"] = np.where(
            out[cap] > 0, out[f"{kind}_energy_mWh"] / out[cap], np.nan
        )
    return out


def _half_complete(
    cap: np.ndarray, end_v: np.ndarray, *, upper: bool, tol: float, min_fraction: float
) -> np.ndarray:
    """Complete half-cycles: charge passed and cut-off reached or >= min_fraction of previous."""
    has = cap > 0
    if not has.any():
        return has
    cutoff = np.nanmax(end_v[has]) if upper else np.nanmin(end_v[has])
    reached = (end_v >= cutoff - tol) if upper else (end_v <= cutoff + tol)
    prev = pd.Series(np.where(has, cap, np.nan)).ffill().shift(1).to_numpy()
    with np.errstate(invalid="ignore"):
        enough = cap >= min_fraction * prev  # False where there is no previous one
    return has & (reached | enough)


def cycle_summary(
    df: pd.DataFrame,
    *,
    active_mass_g: float | None = None,
    specific: bool | None = None,
    reference_cycle: int | None = None,
    nominal_capacity_mAh: float | None = None,
    include_incomplete: bool = False,
    cutoff_tolerance_V: float = 0.02,
    min_fraction: float = 0.8,
) -> pd.DataFrame:
    """Per-cycle capacities, coulombic efficiency, retention, energy and voltages.

    A half-cycle is complete when it passed charge and either ended within
    ``cutoff_tolerance_V`` of its cut-off (the highest charge end voltage, the lowest discharge
    end voltage of the file) or passed at least ``min_fraction`` of the previous half-cycle of
    its direction; a cycle is complete when both its halves are. A cut last cycle, a discharge
    stopped at 3.56 V instead of 3.0 V, or a lone initial discharge (cycle 0) are incomplete:
    their coulombic efficiency and retention are NaN unless ``include_incomplete``.

    A cycle is a charge followed by a discharge (see ``cycle`` in
    :mod:`cathodescope.common.schemas`); cycle 0 holds what precedes the first charge (e.g. the
    initial discharge of a cell assembled charged, or a pristine-state lithiation).

    Parameters
    ----------
    df : DataFrame
        Canonical cycling table.
    active_mass_g : float, optional
        Active mass in g; defaults to ``df.attrs['active_mass_g']``.
    specific : bool, optional
        ``True``: add mAh/g and Wh/kg columns and raise if the mass is unknown or zero;
        ``None`` (default): add them when the mass is known; ``False``: never.
    reference_cycle : int, optional
        Cycle whose discharge capacity is 100 % retention; default the first cycle >= 1 with a
        discharge.
    nominal_capacity_mAh : float, optional
        Nominal capacity (mAh) for the C-rate columns (C-rate = mean |current| / nominal).
    include_incomplete : bool
        Also give CE and retention of incomplete cycles.
    cutoff_tolerance_V : float
        Distance from the cut-off voltage within which a half-cycle reached it, V.
    min_fraction : float
        Fraction of the previous half-cycle's capacity that also makes a half-cycle complete.

    Returns
    -------
    DataFrame
        One row per cycle: ``cycle``, ``charge_capacity_mAh``, ``discharge_capacity_mAh``
        (both >= 0), ``coulombic_efficiency`` (discharge / charge, fraction), ``retention_pct``
        (discharge capacity / reference discharge x 100), ``charge_energy_mWh``,
        ``discharge_energy_mWh`` (>= 0), ``mean_charge_voltage_V``,
        ``mean_discharge_voltage_V`` (energy / capacity), ``charge_end_voltage_V``,
        ``discharge_end_voltage_V`` (voltage at the last point of the last charge / discharge
        step), ``charge_duration_h``, ``discharge_duration_h``, ``charge_complete``,
        ``discharge_complete``, ``complete`` (both halves complete, see above),
        ``cycle_instrument`` (the cycler's own counter at the cycle's first row, when the file
        has one); and
        ``charge_capacity_mAh_g``, ``discharge_capacity_mAh_g``, ``discharge_energy_Wh_kg``
        when specific; ``charge_c_rate``, ``discharge_c_rate`` (1/h) with a nominal capacity.
        ``attrs`` carries the parameters used.

    Raises
    ------
    ActiveMassError
        ``specific=True`` with a missing, zero or negative mass.
    ParameterError
        ``reference_cycle`` has no discharge.
    """
    mass = resolve_active_mass(df, active_mass_g, required=bool(specific))
    if specific is False:
        mass = None
    if nominal_capacity_mAh is not None:
        check_positive(nominal_capacity_mAh, "nominal_capacity_mAh")
    steps = step_table(df)
    cycles = np.unique(df["cycle"].to_numpy())
    out = pd.DataFrame({"cycle": cycles})
    for kind, sign in (("charge", 1.0), ("discharge", -1.0)):
        out = _direction_columns(out, steps, kind, sign)
    ch = out["charge_capacity_mAh"].to_numpy()
    dis = out["discharge_capacity_mAh"].to_numpy()
    for kind, cap in (("charge", ch), ("discharge", dis)):
        out[f"{kind}_complete"] = _half_complete(
            cap,
            out[f"{kind}_end_voltage_V"].to_numpy(float),
            upper=kind == "charge",
            tol=cutoff_tolerance_V,
            min_fraction=min_fraction,
        )
    out["complete"] = out["charge_complete"] & out["discharge_complete"]
    counted = out["complete"].to_numpy() | bool(include_incomplete)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["coulombic_efficiency"] = np.where((ch > 0) & (dis > 0) & counted, dis / ch, np.nan)
    if "cycle_instrument" in df:
        first = df.groupby("cycle", sort=True)["cycle_instrument"].first()
        out["cycle_instrument"] = out["cycle"].map(first).to_numpy()
    if reference_cycle is None:
        ok = out[(out["cycle"] >= 1) & (out["discharge_capacity_mAh"] > 0) & counted]
        ref = int(ok["cycle"].iloc[0]) if len(ok) else None
    else:
        ref = int(reference_cycle)
        row = out[out["cycle"] == ref]
        if len(row) == 0 or not row["discharge_capacity_mAh"].iloc[0] > 0:
            raise ParameterError(
                f"reference_cycle={ref} has no discharge; choose one of "
                f"{out.loc[out['discharge_capacity_mAh'] > 0, 'cycle'].tolist()}."
            )
    if ref is None:
        out["retention_pct"] = np.nan
    else:
        ref_cap = float(out.loc[out["cycle"] == ref, "discharge_capacity_mAh"].iloc[0])
        out["retention_pct"] = np.where((dis > 0) & counted, 100.0 * dis / ref_cap, np.nan)
    if mass is not None:
        out["charge_capacity_mAh_g"] = out["charge_capacity_mAh"] / mass
        out["discharge_capacity_mAh_g"] = out["discharge_capacity_mAh"] / mass
        out["discharge_energy_Wh_kg"] = out["discharge_energy_mWh"] / mass  # mWh/g = Wh/kg
    if nominal_capacity_mAh is not None:
        for kind in ("charge", "discharge"):
            with np.errstate(divide="ignore", invalid="ignore"):
                mean_i = out[f"{kind}_capacity_mAh"] / out[f"{kind}_duration_h"]
            out[f"{kind}_c_rate"] = np.where(
                out[f"{kind}_duration_h"] > 0, mean_i / nominal_capacity_mAh, np.nan
            )
    out.attrs = {
        "active_mass_g": mass,
        "reference_cycle": ref,
        "nominal_capacity_mAh": nominal_capacity_mAh,
        "definition": "cycle = charge followed by discharge; cycle 0 = before the first charge",
        "include_incomplete": include_incomplete,
        "cutoff_tolerance_V": cutoff_tolerance_V,
        "min_fraction": min_fraction,
    }
    return out
