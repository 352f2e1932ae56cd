"""Samples side by side: overlay like with like from several sample reports.

What is overlaid, each with its uncertainty band:
- elemental ratio profiles (mean over particles, 95 % t-interval over particles);
- capacity retention vs cycle;
- LCF weights vs cycle or state of charge, one series per sample and probe (TEY, PFY...);
- gas release (O2) curves vs temperature;
- SPM quantities (ESM amplitude...) vs state of charge (mean +- 1 std).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.report import _interactive as interactive


def particle_mean_ratios(ratios: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean ratio profile over particles with a Student-t interval over particles.

    Parameters
    ----------
    ratios : pandas.DataFrame
        A run's ``ratios.csv``: ``particle_id, element, depth_um, ratio, ci_low, ci_high``.
    level : float
        Confidence level of the interval over particles.

    Returns
    -------
    pandas.DataFrame
        ``element, depth_um, ratio, ci_low, ci_high, n_particles``. With one particle the
        interval is that particle's own.
    """
    from scipy import stats

    rows = []
    for (element, depth), grp in ratios.groupby(["element", "depth_um"], sort=True):
        v = grp["ratio"].to_numpy(float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        mean = float(v.mean())
        if v.size >= 2:
            half = float(
                stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
            )
            low, high = mean - half, mean + half
        else:
            low, high = float(grp["ci_low"].iloc[0]), float(grp["ci_high"].iloc[0])
        rows.append(
            {
                "element": element,
                "depth_um": depth,
                "ratio": mean,
                "ci_low": low,
                "ci_high": high,
                "n_particles": int(v.size),
            }
        )
    return pd.DataFrame(rows)


def _runs_with(reports: Sequence[dict[str, Any]], table: str):
    for report in reports:
        for sample in report["samples"]:
            for run in sample["runs"]:
                if table in run["tables"]:
                    path = Path(report.get("folder", ".")) / run["tables"][table]
                    yield sample["name"], run, pd.read_csv(path)


def _ratio_figures(reports) -> list[tuple[str, str]]:
    per_sample: dict[str, pd.DataFrame] = {}
    for sample, run, table in _runs_with(reports, "ratios"):
        label = sample if sample not in per_sample else f"{sample} ({run['name']})"
        per_sample[label] = particle_mean_ratios(table)
    if not per_sample:
        return []
    out = []
    elements = sorted({e for t in per_sample.values() for e in t["element"].unique()})
    for element in elements:
        curves = {s: t[t["element"] == element] for s, t in per_sample.items()}
        frag = interactive.ratio_profiles_figure(
            curves, f"cmp-ratio-{element}", title=f"{element} ratio vs depth"
        )
        if frag:
            out.append((f"{element} ratio profiles", frag))
    return out


def _retention_figure(reports) -> list[tuple[str, str]]:
    series = {}
    for sample, run, table in _runs_with(reports, "cycles"):
        t = table[table["cycle"] > 0] if "cycle" in table else table
        if "retention_pct" in t:
            series[f"{sample} ({run['name']})"] = (t["cycle"], t["retention_pct"])
    frag = interactive.xy_figure(
        series,
        "cmp-retention",
        title="Capacity retention",
        x_title="cycle",
        y_title="retention (%)",
        mode="lines+markers",
    )
    return [("Capacity retention", frag)] if frag else []


def _lcf_figures(reports) -> list[tuple[str, str]]:
    points: dict[tuple[str, str], dict[str, list]] = {}
    axis = None
    for sample, run, table in _runs_with(reports, "weights"):
        labels = run.get("labels", {})
        key = "cycle" if "cycle" in labels else "soc" if "soc" in labels else None
        if key is None:
            continue
        axis = axis or key
        probe = labels.get("probe", run["name"])
        for _, r in table.iterrows():
            entry = points.setdefault(
                (str(r["standard"]), f"{sample} {probe}"), {"x": [], "y": [], "lo": [], "hi": []}
            )
            entry["x"].append(float(labels[key]))
            entry["y"].append(float(r["weight"]))
            entry["lo"].append(float(r.get("ci_low", np.nan)))
            entry["hi"].append(float(r.get("ci_high", np.nan)))
    out = []
    for standard in sorted({s for s, _ in points}):
        series, bands = {}, {}
        for (std, name), p in points.items():
            if std != standard:
                continue
            order = np.argsort(p["x"])
            x = np.asarray(p["x"])[order]
            series[name] = (x, np.asarray(p["y"])[order])
            bands[name] = (np.asarray(p["lo"])[order], np.asarray(p["hi"])[order])
        frag = interactive.xy_figure(
            series,
            f"cmp-lcf-{standard}",
            bands=bands,
            title=f"{standard} fraction vs {axis}",
            x_title=str(axis),
            y_title=f"{standard} weight",
            mode="lines+markers",
        )
        if frag:
            out.append((f"{standard} fraction vs {axis}", frag))
    return out


def _gas_figure(reports) -> list[tuple[str, str]]:
    series = {}
    for sample, _run, table in _runs_with(reports, "gas_curves"):
        if "temperature_C" not in table:
            continue
        for col in table.columns:
            if col != "temperature_C" and table[col].dtype.kind == "f":
                series[f"{sample} {col}"] = (table["temperature_C"], table[col])
    frag = interactive.xy_figure(
        series,
        "cmp-gas",
        title="Gas release on heating",
        x_title="temperature (C)",
        y_title="signal",
    )
    return [("Gas release", frag)] if frag else []


def _soc_figures(reports) -> list[tuple[str, str]]:
    per_quantity: dict[str, tuple[dict, dict]] = {}
    for sample, run, table in _runs_with(reports, "soc_summary"):
        if "soc_percent" not in table:
            continue
        t = table.sort_values("soc_percent")
        for col in [c for c in t.columns if c.endswith("_mean")]:
            q = col.removesuffix("_mean")
            std = t.get(f"{q}_std", pd.Series(np.nan, index=t.index)).to_numpy(float)
            series, bands = per_quantity.setdefault(q, ({}, {}))
            name = f"{sample} ({run['name']})"
            y = t[col].to_numpy(float)
            series[name] = (t["soc_percent"], y)
            bands[name] = (y - std, y + std)
    out = []
    for q, (series, bands) in per_quantity.items():
        frag = interactive.xy_figure(
            series,
            f"cmp-soc-{q}",
            bands=bands,
            title=f"{q} vs SOC",
            x_title="state of charge (%)",
            y_title=q,
            mode="lines+markers",
        )
        if frag:
            out.append((f"{q} vs state of charge", frag))
    return out


def comparison_figures(reports: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """All overlays the reports allow, as (heading, HTML fragment) pairs.

    Parameters
    ----------
    reports : sequence of dict
        ``report.json`` documents of sample reports.

    Returns
    -------
    list of (str, str)
        Headings and Plotly fragments.
    """
    out: list[tuple[str, str]] = []
    for make in (_ratio_figures, _retention_figure, _lcf_figures, _gas_figure, _soc_figures):
        out.extend(make(reports))
    return out
