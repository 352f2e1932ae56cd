"""Figures of cycling results (matplotlib; imported lazily by the functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cathodescope.echem._dqdv import DQDV, PeakTracks

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_summary(summary: pd.DataFrame) -> Figure:
    """Capacity (mAh, or mAh/g when present) and coulombic efficiency vs cycle. Returns Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    spec = "discharge_capacity_mAh_g" in summary
    unit = "mAh/g" if spec else "mAh"
    suffix = "_mAh_g" if spec else "_mAh"
    s = summary[summary["cycle"] >= 1]
    ax.plot(s["cycle"], s["charge_capacity" + suffix], "o-", label="charge")
    ax.plot(s["cycle"], s["discharge_capacity" + suffix], "s-", label="discharge")
    ax.set_xlabel("cycle")
    ax.set_ylabel(f"capacity ({unit})")
    ax2 = ax.twinx()
    ax2.plot(s["cycle"], 100 * s["coulombic_efficiency"], "k.--", label="CE")
    ax2.set_ylabel("coulombic efficiency (%)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_dqdv(result: DQDV, *, tracks: PeakTracks | None = None, max_curves: int = 12) -> Figure:
    """dQ/dV curves (up to ``max_curves`` cycles, evenly chosen), with tracked peak positions."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    cycles = np.unique(result.halfcycles["cycle"].to_numpy())
    if cycles.size > max_curves:
        cycles = cycles[np.linspace(0, cycles.size - 1, max_curves).round().astype(int)]
    cmap = plt.get_cmap("viridis")
    for j, c in enumerate(cycles):
        color = cmap(j / max(cycles.size - 1, 1))
        rows = np.flatnonzero(result.halfcycles["cycle"].to_numpy() == c)
        for k, r in enumerate(rows):
            ax.plot(
                result.voltage_V,
                result.dqdv[r],
                color=color,
                lw=1,
                label=f"cycle {c}" if k == 0 else None,
            )
    if tracks is not None:
        t = tracks.tracks[tracks.tracks["detected"]]
        sign = 1.0 if tracks.parameters.get("direction") == "charge" else -1.0
        ax.plot(t["position_V"], sign * t["height"], "kx", ms=4, label="tracked peaks")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("voltage (V)")
    ax.set_ylabel(f"dQ/dV ({result.parameters.get('units', 'mAh/V')})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
