"""Figures of cycling results: capacity per cycle, dQ/dV with tracked peaks, voltage-capacity
curves per cycle, GITT diffusion coefficients.

Drawn with matplotlib's object API (``matplotlib.figure.Figure``, never pyplot), so no backend is
ever switched; save with ``fig.savefig(path)`` or
:meth:`cathodescope.report.RunFolder.write_figure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cathodescope.echem import DQDV, GITTResult, ICIResult, PeakTracks

__all__ = ["plot_cycle_summary", "plot_dqdv", "plot_gitt", "plot_ici", "plot_voltage_capacity"]


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    fig.set_layout_engine("tight")
    return fig


def _colors(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(j / max(n - 1, 1)) for j in range(n)]


def _pick_cycles(cycles: np.ndarray, max_curves: int) -> np.ndarray:
    """Up to ``max_curves`` cycles, evenly chosen (first and last kept)."""
    if cycles.size > max_curves:
        cycles = cycles[np.linspace(0, cycles.size - 1, max_curves).round().astype(int)]
    return cycles


def plot_cycle_summary(summary: pd.DataFrame) -> Figure:
    """Capacity (mAh, or mAh/g when present) and coulombic efficiency per cycle.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`cathodescope.echem.cycle_summary`. Cycles with ``complete=False`` are
        drawn with open markers.

    Returns
    -------
    matplotlib.figure.Figure
        Capacity on the left axis, coulombic efficiency (%) on the right.
    """
    fig = _new_figure((5, 3.5))
    ax = fig.subplots()
    spec = "discharge_capacity_mAh_g" in summary
    unit = "mAh/g" if spec else "mAh"
    suffix = "_mAh_g" if spec else "_mAh"
    s = summary[summary["cycle"] >= 1]
    ax.plot(s["cycle"], s["charge_capacity" + suffix], "o-", label="charge")
    ax.plot(s["cycle"], s["discharge_capacity" + suffix], "s-", label="discharge")
    if "complete" in s and not s["complete"].all():
        inc = s[~s["complete"].astype(bool)]
        ax.plot(
            inc["cycle"],
            inc["discharge_capacity" + suffix],
            "s",
            mfc="white",
            color="grey",
            label="incomplete",
        )
    ax.set_xlabel("cycle")
    ax.set_ylabel(f"capacity ({unit})")
    ax2 = ax.twinx()
    ax2.plot(s["cycle"], 100 * s["coulombic_efficiency"], "k.--", label="CE")
    ax2.set_ylabel("coulombic efficiency (%)")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def _curve_value(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Values of the curve ``y(x)`` (NaN outside its finite range) at the positions ``at``."""
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return np.full(np.shape(at), np.nan)
    return np.interp(at, x[ok], y[ok], left=np.nan, right=np.nan)


def plot_dqdv(result: DQDV, *, tracks: PeakTracks | None = None, max_curves: int = 12) -> Figure:
    """dQ/dV curves (up to ``max_curves`` cycles, evenly chosen) with the tracked peaks.

    Parameters
    ----------
    result : DQDV
        Output of :func:`cathodescope.echem.dqdv`.
    tracks : PeakTracks, optional
        Output of :func:`cathodescope.echem.track_peaks`; each detected peak is marked on its
        own smoothed curve (at the curve's value at the fitted position, so markers sit on the
        curve whatever the fitted background).
    max_curves : int
        Largest number of cycles drawn.

    Returns
    -------
    matplotlib.figure.Figure
        dQ/dV (mAh/V or mAh/g/V) against voltage (V).
    """
    fig = _new_figure((5.5, 4))
    ax = fig.subplots()
    hc_cycle = result.halfcycles["cycle"].to_numpy()
    hc_dir = result.halfcycles["direction"].to_numpy().astype(str)
    cycles = _pick_cycles(np.unique(hc_cycle), max_curves)
    for color, c in zip(_colors(cycles.size), cycles, strict=True):
        for k, r in enumerate(np.flatnonzero(hc_cycle == c)):
            ax.plot(
                result.voltage_V,
                result.dqdv[r],
                color=color,
                lw=1,
                label=f"cycle {c}" if k == 0 else None,
            )
    if tracks is not None:
        t = tracks.tracks[tracks.tracks["detected"].astype(bool)]
        direction = tracks.parameters.get("direction", "charge")
        xs, ys = [], []
        for c, pos in zip(t["cycle"].to_numpy(), t["position_V"].to_numpy(float), strict=True):
            rows = np.flatnonzero((hc_cycle == c) & (hc_dir == direction))
            if rows.size:
                xs.append(pos)
                ys.append(float(_curve_value(result.voltage_V, result.dqdv[rows[0]], pos)))
        ax.plot(xs, ys, "kx", ms=4, label="tracked peaks")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("voltage (V)")
    ax.set_ylabel(f"dQ/dV ({result.parameters.get('units', 'mAh/V')})")
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_voltage_capacity(df: pd.DataFrame, *, max_curves: int = 12) -> Figure:
    """Voltage against capacity passed in each half-cycle, one colour per cycle.

    Parameters
    ----------
    df : DataFrame
        Canonical cycling table (:func:`cathodescope.io.read_cycler`). Within each cycle the
        charge and the discharge curves start at 0 mAh; rest and EIS points are left out.
    max_curves : int
        Largest number of cycles drawn (evenly chosen).

    Returns
    -------
    matplotlib.figure.Figure
        Voltage (V) against capacity (mAh).
    """
    fig = _new_figure((5.5, 4))
    ax = fig.subplots()
    cyc = df["cycle"].to_numpy()
    kind = df["step_type"].astype(str).to_numpy()
    q = df["charge_mAh"].to_numpy(float)
    v = df["voltage_V"].to_numpy(float)
    cycles = _pick_cycles(np.unique(cyc[cyc >= 1]), max_curves)
    for color, c in zip(_colors(cycles.size), cycles, strict=True):
        for direction, style in (("charge", "-"), ("discharge", "--")):
            m = (cyc == c) & (kind == direction)
            if m.sum() < 2:
                continue
            qc = np.abs(q[m] - q[m][0])
            ax.plot(
                qc,
                v[m],
                style,
                color=color,
                lw=1,
                label=f"cycle {c}" if direction == "charge" else None,
            )
    ax.set_xlabel("capacity (mAh)")
    ax.set_ylabel("voltage (V)")
    if cycles.size:
        ax.legend(fontsize=7, ncol=2)
    return fig


def plot_gitt(result: GITTResult) -> Figure:
    """D against SOC on a log scale (valid pulses filled, invalid open).

    Parameters
    ----------
    result : GITTResult
        Output of :func:`cathodescope.echem.gitt_analysis`.

    Returns
    -------
    matplotlib.figure.Figure
        D (m^2/s) of the Weppner-Huggins and sqrt(t) forms against mid-pulse SOC.
    """
    fig = _new_figure((5, 3.5))
    ax = fig.subplots()
    p = result.pulses
    for col, label, marker in (
        ("D_m2_s", "Weppner-Huggins (dEt)", "o"),
        ("D_sqrt_m2_s", "sqrt(t) slope", "s"),
    ):
        ok = p["valid"].astype(bool)
        ax.semilogy(p.loc[ok, "soc_mid"], p.loc[ok, col], marker, label=label)
        ax.semilogy(p.loc[~ok, "soc_mid"], p.loc[~ok, col], marker, mfc="none", color="grey")
    ax.set_xlabel("SOC")
    ax.set_ylabel("D (m$^2$/s)")
    ax.legend(fontsize=8)
    return fig


def plot_ici(result: ICIResult) -> Figure:
    """Internal resistance and D of every interruption against time, with error bars.

    Parameters
    ----------
    result : ICIResult
        Output of :func:`cathodescope.echem.ici_analysis`.

    Returns
    -------
    matplotlib.figure.Figure
        Top: R (ohm); bottom: D (m^2/s, log scale); invalid interruptions open and grey.
    """
    fig = _new_figure((5, 5))
    ax_r, ax_d = fig.subplots(2, 1, sharex=True)
    p = result.interruptions
    ok = p["valid"].astype(bool)
    hours = p["start_time_s"] / 3600.0
    for sel, style in ((ok, {"fmt": "o"}), (~ok, {"fmt": "o", "mfc": "none", "color": "grey"})):
        ax_r.errorbar(hours[sel], p.loc[sel, "R_ohm"], yerr=p.loc[sel, "R_err_ohm"], **style)
        ax_d.errorbar(hours[sel], p.loc[sel, "D_m2_s"], yerr=p.loc[sel, "D_err_m2_s"], **style)
    ax_d.set_yscale("log")
    ax_r.set_ylabel("R (ohm)")
    ax_d.set_ylabel("D (m$^2$/s)")
    ax_d.set_xlabel("time (h)")
    return fig
