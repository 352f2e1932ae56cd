"""Key numbers of a run folder, with their intervals, for the top of a sample report.

Each extractor reads one kind of table that a command writes and returns rows of
``quantity, value, ci_low, ci_high, units, note``. A run whose tables are unknown falls back to
the scalar ``results`` of its manifest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.report._runs import RunRecord

SUMMARY_COLUMNS = ["run", "command", "quantity", "value", "ci_low", "ci_high", "units", "note"]


def _row(
    quantity: str,
    value: Any,
    low: Any = np.nan,
    high: Any = np.nan,
    units: str = "",
    note: str = "",
) -> dict[str, Any]:
    return {
        "quantity": quantity,
        "value": _num(value),
        "ci_low": _num(low),
        "ci_high": _num(high),
        "units": units,
        "note": note,
    }


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval over particles (NaN interval for one value)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def _profile_metrics(run: RunRecord) -> list[dict[str, Any]]:
    if run.command.startswith("spm"):
        return []  # SPM channels are not elements: their statistics are summarised below
    if "sample_metrics" in run.tables:
        return _sample_metrics(run)
    table = run.table("metrics")
    rows = []
    for element, grp in table.groupby("element", sort=False):
        n = len(grp)
        for col, label in (
            ("edge_ratio", "edge"),
            ("core_ratio", "core"),
            ("d_core_edge", "D(core-edge)"),
        ):
            if col not in grp:
                continue
            low_col, high_col = f"{col}_ci_low", f"{col}_ci_high"
            if n == 1 and low_col in grp:
                value, low, high = grp[col].iloc[0], grp[low_col].iloc[0], grp[high_col].iloc[0]
                note = "99 % interval of the particle"
            else:
                value, low, high = _mean_interval(grp[col].to_numpy())
                note = f"mean over {n} particles, 95 % t-interval"
            rows.append(_row(f"{element} ratio {label}", value, low, high, "fraction", note))
    return rows


def _sample_metrics(run: RunRecord) -> list[dict[str, Any]]:
    """Table-1 metrics of the sample (``profile.sample_summary``), or of its one particle."""
    table = run.table("sample_metrics")
    per_particle = run.table("metrics")
    labels = {"edge_ratio": "edge", "core_ratio": "core", "d_core_edge": "D(core-edge)"}
    rows = []
    for _, r in table[table["metric"].isin(list(labels))].iterrows():
        n = int(r["n_particles"])
        low, high, note = (
            r["ci_low"],
            r["ci_high"],
            f"mean over {n} particles, interval over particles",
        )
        if n == 1:  # one particle: its own interval
            one = per_particle[per_particle["element"] == r["element"]].iloc[0]
            base = {"edge_ratio": "edge", "core_ratio": "core"}.get(r["metric"], r["metric"])
            low, high = one.get(f"{base}_ci_low", np.nan), one.get(f"{base}_ci_high", np.nan)
            note = "one particle, its own interval"
        rows.append(
            _row(
                f"{r['element']} ratio {labels[r['metric']]}",
                r["mean"],
                low,
                high,
                "fraction",
                note,
            )
        )
    return rows


def _lcf_weights(run: RunRecord) -> list[dict[str, Any]]:
    table = run.table("weights")
    rows = [
        _row(
            f"LCF weight {r.standard}",
            r.weight,
            r.get("ci_low"),
            r.get("ci_high"),
            "fraction",
            "profile-likelihood interval",
        )
        for _, r in table.iterrows()
    ]
    if "r_factor" in table:
        rows.append(_row("LCF R-factor", table["r_factor"].iloc[0]))
    results = run.manifest.get("results", {})
    if "average_valence" in results:
        v, s = results["average_valence"], results.get("average_valence_stderr", math.nan)
        rows.append(
            _row(
                "average valence",
                v,
                _num(v) - 2 * _num(s),
                _num(v) + 2 * _num(s),
                "",
                "+- 2 standard errors",
            )
        )
    return rows


def _cycling(run: RunRecord) -> list[dict[str, Any]]:
    table = run.table("cycles")
    done = table[table["complete"].astype(bool)] if "complete" in table else table
    done = done[done["cycle"] > 0] if "cycle" in done else done
    if done.empty:
        return []
    per_gram = "discharge_capacity_mAh_g" in done and done["discharge_capacity_mAh_g"].notna().any()
    cap_col, units = (
        ("discharge_capacity_mAh_g", "mAh/g") if per_gram else ("discharge_capacity_mAh", "mAh")
    )
    first, last = done.iloc[0], done.iloc[-1]
    rows = [
        _row(f"discharge capacity, cycle {int(first['cycle'])}", first[cap_col], units=units),
        _row(f"discharge capacity, cycle {int(last['cycle'])}", last[cap_col], units=units),
    ]
    if "retention_pct" in done:
        rows.append(
            _row(
                f"retention at cycle {int(last['cycle'])}",
                last["retention_pct"],
                units="%",
                note=f"{len(done)} complete cycles",
            )
        )
    if "coulombic_efficiency" in done:
        mean, low, high = _mean_interval(done["coulombic_efficiency"].to_numpy())
        rows.append(
            _row("coulombic efficiency (mean)", mean, low, high, "", "95 % t-interval over cycles")
        )
    return rows


def _lattice(run: RunRecord) -> list[dict[str, Any]]:
    table = run.table("lattice")
    rows = []
    r = table.iloc[0]
    for col, label in (("a_A", "a"), ("c_A", "c")):
        if col in table:
            err = _num(r.get(col.replace("_A", "_err_A")))
            rows.append(
                _row(
                    f"lattice {label}",
                    r[col],
                    r[col] - 2 * err,
                    r[col] + 2 * err,
                    "A",
                    "+- 2 standard errors",
                )
            )
    if "i003_i104" in table:
        err = _num(r.get("i003_i104_err"))
        rows.append(
            _row(
                "I(003)/I(104)", r["i003_i104"], r["i003_i104"] - 2 * err, r["i003_i104"] + 2 * err
            )
        )
    return rows


def _gas(run: RunRecord) -> list[dict[str, Any]]:
    table = run.table("gas_release")
    rows = []
    for _, r in table.iterrows():
        rows.append(_row(f"{r.get('channel', 'gas')} onset", r.get("onset_C"), units="C"))
        rows.append(_row(f"{r.get('channel', 'gas')} peak", r.get("peak_C"), units="C"))
    return rows


def _table_rows(run: RunRecord, name: str) -> list[dict[str, Any]]:
    """Tables already in ``parameter, value, ci_low, ci_high`` form (layer, diffusion fits)."""
    table = run.table(name)
    key = "parameter" if "parameter" in table else table.columns[0]
    value = (
        "value"
        if "value" in table
        else next((c for c in table.columns if c.endswith(("_m2_s", "_nm"))), None)
    )
    if value is None:
        return []
    return [
        _row(
            f"{r[key]}" + (f" {r['element']}" if "element" in table else ""),
            r[value],
            r.get("ci_low"),
            r.get("ci_high"),
        )
        for _, r in table.iterrows()
    ]


def _soc(run: RunRecord) -> list[dict[str, Any]]:
    table = run.table("soc_summary")
    rows = []
    means = [c for c in table.columns if c.endswith("_mean")]
    for _, r in table.iterrows():
        label = r.get("soc", r.get("soc_pct", ""))
        for col in means:
            std = _num(r.get(col.replace("_mean", "_std")))
            rows.append(
                _row(
                    f"{col.removesuffix('_mean')} at SOC {label}",
                    r[col],
                    _num(r[col]) - std,
                    _num(r[col]) + std,
                    "",
                    "mean +- 1 std",
                )
            )
    return rows


def _spm_particles(run: RunRecord) -> list[dict[str, Any]]:
    """Per-channel particle means (mean over particles, t-interval), boundary minus core."""
    table = run.table("particle_statistics")
    rows = []
    for channel, grp in table.groupby("channel", sort=False):
        units = str(grp["units"].iloc[0]) if "units" in grp and grp["units"].notna().any() else ""
        mean, low, high = _mean_interval(grp["mean"].to_numpy())
        rows.append(
            _row(
                f"{channel} particle mean",
                mean,
                low,
                high,
                units,
                f"mean over {len(grp)} particles, 95 % t-interval",
            )
        )
    if "boundary_core" in run.tables:
        bc = run.table("boundary_core")
        for channel, grp in bc.groupby("channel", sort=False):
            mean, low, high = _mean_interval(grp["difference"].to_numpy())
            n = int(np.isfinite(grp["difference"].to_numpy(float)).sum())
            if n:
                units = str(grp["units"].iloc[0]) if grp["units"].notna().any() else ""
                rows.append(
                    _row(
                        f"{channel} boundary - core",
                        mean,
                        low,
                        high,
                        units,
                        f"{n} particles with a core, 95 % t-interval",
                    )
                )
    return rows


def _cafm(run: RunRecord) -> list[dict[str, Any]]:
    table = run.table("cafm_summary")
    rows = []
    for _, r in table.iterrows():
        for col in table.columns:
            if col.startswith("mean") and isinstance(r[col], int | float | np.floating):
                rows.append(_row(f"C-AFM {col.replace('_', ' ')}", r[col]))
    return rows


_EXTRACTORS: dict[str, Callable[[RunRecord], list[dict[str, Any]]]] = {
    "metrics": _profile_metrics,
    "weights": _lcf_weights,
    "cycles": _cycling,
    "lattice": _lattice,
    "gas_release": _gas,
    "layer": lambda run: _table_rows(run, "layer"),
    "fit": lambda run: _table_rows(run, "fit") if "D_m2_s" in run.table("fit") else [],
    "soc_summary": _soc,
    "particle_statistics": _spm_particles,
    "cafm_summary": _cafm,
}


def _manifest_scalars(run: RunRecord) -> list[dict[str, Any]]:
    rows = []
    for key, value in run.manifest.get("results", {}).items():
        if isinstance(value, bool | int | float) and not isinstance(value, bool):
            rows.append(_row(key.replace("_", " "), value))
    return rows


def key_numbers(run: RunRecord) -> pd.DataFrame:
    """The key numbers of one run folder, with intervals where the run has them.

    Parameters
    ----------
    run : RunRecord
        A run folder read with :func:`load_run`.

    Returns
    -------
    pandas.DataFrame
        Columns ``run, command, quantity, value, ci_low, ci_high, units, note``.
    """
    rows: list[dict[str, Any]] = []
    for name, extract in _EXTRACTORS.items():
        if name in run.tables:
            try:
                rows.extend(extract(run))
            except (KeyError, ValueError, IndexError, AttributeError, TypeError):
                continue  # a table of the same name but another layout: shown, not summarised
    if not rows:
        rows = _manifest_scalars(run)
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS[2:])
    table.insert(0, "command", run.command)
    table.insert(0, "run", run.name)
    return table
