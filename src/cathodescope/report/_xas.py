"""Figures of X-ray absorption analyses (normalization, LCF, XANES maps, surface vs bulk).

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure`): no backend is switched
and no pyplot state is touched, so they are safe in notebooks and servers alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def plot_normalization(
    results: Mapping[str, Any], *, xanes_window: tuple[float, float] = (-20.0, 60.0)
) -> Figure:
    """The four views an ATHENA user checks: mu(E) with the pre- and post-edge lines and e0,
    normalized (flattened) mu(E), its derivative, and a XANES zoom.

    Parameters
    ----------
    results : mapping of str to Normalization
        Results of :func:`cathodescope.xas.normalize`, keyed by spectrum name.
    xanes_window : (float, float)
        Zoom window relative to each spectrum's e0, eV.

    Returns
    -------
    matplotlib.figure.Figure
        2 x 2 panels, energy in eV; e0 marked on each; a legend when there are at most 12
        spectra.
    """
    fig = Figure(figsize=(10, 7))
    (ax_mu, ax_norm), (ax_der, ax_zoom) = fig.subplots(2, 2)
    for i, (name, r) in enumerate(results.items()):
        color = f"C{i % 10}"
        ax_mu.plot(r.energy, r.mu, color=color, lw=1, label=name)
        ax_mu.plot(r.energy, r.pre_edge, color=color, lw=0.8, ls="--")
        ax_mu.plot(r.energy, r.post_edge, color=color, lw=0.8, ls=":")
        ax_mu.axvline(r.e0, color=color, lw=0.6, alpha=0.6)
        ax_norm.plot(r.energy, r.flat, color=color, lw=1, label=name)
        ax_der.plot(r.energy, r.derivative, color=color, lw=1, label=name)
        ax_der.axvline(r.e0, color=color, lw=0.6, alpha=0.6)
        zoom = (r.energy >= r.e0 + xanes_window[0]) & (r.energy <= r.e0 + xanes_window[1])
        ax_zoom.plot(r.energy[zoom], r.flat[zoom], color=color, lw=1, marker=".", ms=2)
        ax_zoom.axvline(r.e0, color=color, lw=0.6, alpha=0.6)
    ax_mu.set_ylabel("mu(E); pre-edge --, post-edge :, e0 |")
    ax_norm.set_ylabel("flattened mu(E)")
    ax_der.set_ylabel("d norm(E) / dE (1/eV)")
    ax_zoom.set_ylabel(f"XANES, e0 {xanes_window[0]:+g} to {xanes_window[1]:+g} eV")
    for ax in (ax_mu, ax_norm, ax_der, ax_zoom):
        ax.set_xlabel("energy (eV)")
    if len(results) <= 12:
        ax_norm.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_lcf(result: Any, *, ylabel: str = "normalized mu(E)") -> Figure:
    """Data, LCF model, each weighted component, and the residual below.

    Parameters
    ----------
    result : LCFResult
        From :func:`cathodescope.xas.lcf`.
    ylabel : str
        Label of the fitted quantity (say "mu(E)" when the data were not normalized).

    Returns
    -------
    matplotlib.figure.Figure
        Top: data, model and ``weight x standard`` for each standard (weights and 68 %
        intervals in the legend, R-factor in the title); bottom: residual.
    """
    fig = Figure(figsize=(6.5, 5.5))
    ax, ax_res = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(result.energy, result.data, "k.", ms=3, label="data")
    ax.plot(result.energy, result.model, "r-", label="LCF")
    if result.components is not None:
        for j, name in enumerate(result.standards):
            w, lo, hi = result.weights[j], result.ci_low[j], result.ci_high[j]
            ci = f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
            ax.plot(
                result.energy, result.components[:, j], lw=0.9, ls="--", label=f"{name} {w:.3f}{ci}"
            )
    ax.set_ylabel(ylabel)
    ax.set_title(f"R-factor {result.r_factor:.4g}", fontsize=9)
    ax.legend(fontsize=7)
    ax_res.plot(result.energy, result.residual, "b-", lw=0.8)
    ax_res.axhline(0.0, color="0.5", lw=0.6)
    ax_res.set_ylabel("residual")
    ax_res.set_xlabel("energy (eV)")
    fig.tight_layout()
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


def plot_selfabs(table: Any, *, e0: float, window: tuple[float, float] = (-30.0, 120.0)) -> Figure:
    """Measured and self-absorption-corrected fluorescence (and the transmission spectrum).

    Parameters
    ----------
    table : pandas.DataFrame
        ``energy_eV, measured, corrected`` and optionally ``transmission`` (normalized).
    e0 : float
        Edge energy (eV), marked and used for the zoom.
    window : (float, float)
        Energies shown, relative to e0 (eV).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    e = table["energy_eV"].to_numpy()
    sel = (e >= e0 + window[0]) & (e <= e0 + window[1])
    ax.plot(e[sel], table["measured"].to_numpy()[sel], "C0-", lw=1, label="fluorescence")
    ax.plot(e[sel], table["corrected"].to_numpy()[sel], "C3-", lw=1.2, label="corrected")
    if "transmission" in table:
        ax.plot(e[sel], table["transmission"].to_numpy()[sel], "k--", lw=1, label="transmission")
    ax.axvline(e0, color="0.5", lw=0.6)
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("normalized mu(E)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
