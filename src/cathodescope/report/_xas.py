"""Figures of X-ray absorption analyses (normalization, LCF, XANES maps, surface vs bulk).

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure`): no backend is switched
and no pyplot state is touched, so they are safe in notebooks and servers alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def plot_normalization(results: Mapping[str, Any]) -> Figure:
    """Flattened mu(E) of several normalized spectra, overlaid.

    Parameters
    ----------
    results : mapping of str to Normalization
        Results of :func:`cathodescope.xas.normalize`, keyed by spectrum name.

    Returns
    -------
    matplotlib.figure.Figure
        Energy (eV) against flattened mu(E); a legend when there are at most 12 spectra.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, r in results.items():
        ax.plot(r.energy, r.flat, lw=1, label=name)
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("flattened mu(E)")
    if len(results) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_lcf(result: Any, *, ylabel: str = "normalized mu(E)") -> Figure:
    """Data, LCF model and residual of one linear combination fit.

    Parameters
    ----------
    result : LCFResult
        From :func:`cathodescope.xas.lcf`.
    ylabel : str
        Label of the fitted quantity (say "mu(E)" when the data were not normalized).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(result.energy, result.data, "k.", ms=3, label="data")
    ax.plot(result.energy, result.model, "r-", label="LCF")
    ax.plot(result.energy, result.residual, "b-", lw=0.8, label="residual")
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return fig


def plot_xanes_maps(maps: Any) -> Figure:
    """Fraction map of every standard, the edge-energy map and the R-factor map.

    Parameters
    ----------
    maps : XanesMaps
        From :func:`cathodescope.xas.xanes_maps`.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per standard (fraction, 0-1), then edge energy (eV) and R-factor.
    """
    names = list(maps.fractions.channel.values)
    fig = Figure(figsize=(3.2 * (len(names) + 2), 3))
    axes = fig.subplots(1, len(names) + 2)
    for ax, name in zip(axes, names, strict=False):
        maps.fraction(name).plot(ax=ax, vmin=0, vmax=1)
        ax.set_title(f"fraction {name}")
    maps.edge_energy.plot(ax=axes[-2])
    axes[-2].set_title("edge energy (eV)")
    maps.r_factor.plot(ax=axes[-1])
    axes[-1].set_title("R-factor")
    fig.tight_layout()
    return fig


def plot_surface_bulk(table: Any, *, ylabel: str = "Ni$^{2+}$ fraction") -> Figure:
    """Fraction vs cycle number, one line per (sample, mode), with 68 % intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`cathodescope.xas.surface_bulk_table` (``sample, cycle, mode, fraction,
        ci_low, ci_high``).
    ylabel : str
        Label of the fraction axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for (sample, mode), g in table.groupby(["sample", "mode"], sort=True):
        g = g.sort_values("cycle")
        err = np.vstack([g["fraction"] - g["ci_low"], g["ci_high"] - g["fraction"]])
        ax.errorbar(
            g["cycle"],
            g["fraction"],
            yerr=err,
            marker="o" if mode == "TEY" else "s",
            linestyle="-" if mode == "TEY" else "--",
            capsize=3,
            label=f"{sample} {mode}",
        )
    ax.set_xlabel("cycle number")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
