"""Figures of the surface-layer model: probe kernels, fitted depth profile, measured vs
predicted weights, thickness over a series (matplotlib object API, no pyplot)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_layer_kernels", "plot_layer_profile", "plot_layer_series", "plot_layer_weights"]


def _depth_axis(fit: Any) -> np.ndarray:
    """Log-spaced depths (nm) from well inside the layer to beyond the deepest probe."""
    depths = [float(d) for d in fit.depths_nm] + [fit.profile.thickness_nm]
    hi = 3.0 * max(depths)
    lo = max(min(d for d in depths if d > 0) / 50.0, 0.01) if any(d > 0 for d in depths) else 0.01
    return np.geomspace(lo, hi, 600)


def plot_layer_kernels(fit: Any, *, figsize: tuple[float, float] = (6.0, 4.0)):
    """Depth sensitivity of every probe (normalized, per nm, log depth) and the fitted profile.

    Parameters
    ----------
    fit : LayerFit
        Result of :func:`cathodescope.xas.fit_layer`.
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from cathodescope.xas import ExponentialKernel, SphereKernel

    z = _depth_axis(fit)
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    for p, d in zip(fit.probes, fit.depths_nm, strict=True):
        k = p.kernel
        if isinstance(k, ExponentialKernel):
            k = ExponentialKernel(float(d), kind=k.kind)
        elif isinstance(k, SphereKernel):
            k = SphereKernel(float(d))
        # sensitivity per log-depth interval, z k(z): comparable across decades
        ax.plot(z, z * k.density(z), label=f"{p.name} ({p.kernel.kind}, {d:.3g} nm)")
    ax.set_xscale("log")
    ax.set_xlabel("depth below the surface (nm)")
    ax.set_ylabel("sensitivity per log depth, z k(z)")
    ax2 = ax.twinx()
    ax2.plot(z, fit.profile(z), "k--", lw=1.2, label="fitted profile")
    ax2.set_ylabel("fraction x(z)")
    ax2.set_ylim(-0.02, 1.02)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def plot_layer_profile(fit: Any, *, figsize: tuple[float, float] = (6.0, 4.0)):
    """Fitted depth profile with the layers at the ends of the thickness interval, and each
    probe's measured (filled) and predicted (open) weight drawn at its depth.

    Parameters
    ----------
    fit : LayerFit
        Output of :func:`cathodescope.xas.fit_layer`.
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from dataclasses import replace

    from matplotlib.figure import Figure

    z = _depth_axis(fit)
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    est = fit.estimates["thickness_nm"]
    ax.plot(z, fit.profile(z), "k-", lw=1.8, label=f"fit, t = {est.value:.3g} nm")
    for t in (est.ci_low, est.ci_high):
        if t > 0 and t != est.value:
            ax.plot(z, replace(fit.profile, thickness_nm=t)(z), "k:", lw=1)
    ax.plot([], [], "k:", lw=1, label=f"t interval [{est.ci_low:.3g}, {est.ci_high:.3g}] nm")
    for i, (p, d, w) in enumerate(zip(fit.probes, fit.depths_nm, fit.predicted, strict=True)):
        c = f"C{i}"
        ax.errorbar(d, p.weight, yerr=p.stderr, fmt="o", color=c, capsize=3, label=p.name)
        ax.plot(d, w, "o", mfc="none", color=c, ms=9)
    ax.set_xscale("log")
    ax.set_xlabel("depth below the surface (nm); probes at their depth")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_layer_weights(fit: Any, *, figsize: tuple[float, float] = (5.0, 3.5)):
    """Measured weights (with standard errors) beside the weights the fitted layer predicts.

    Parameters
    ----------
    fit : LayerFit
        Output of :func:`cathodescope.xas.fit_layer`.
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    x = np.arange(len(fit.probes))
    ax.errorbar(
        x - 0.1,
        [p.weight for p in fit.probes],
        yerr=[p.stderr for p in fit.probes],
        fmt="o",
        capsize=3,
        label="measured",
    )
    ax.plot(x + 0.1, fit.predicted, "s", mfc="none", label="predicted by the layer")
    ax.set_xticks(x, [p.name for p in fit.probes])
    ax.set_ylabel("weight (fraction)")
    ax.set_title(f"chi2 = {fit.chi2:.3g}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_layer_series(
    series: Any,
    *,
    parameter: str = "thickness_nm",
    ylabel: str | None = None,
    figsize: tuple[float, float] = (5.0, 3.5),
):
    """One layer parameter (default the thickness, nm) against the series index, with its
    profile-likelihood intervals; points where it is not determined are drawn open.

    Parameters
    ----------
    series : LayerSeries
        Result of :func:`cathodescope.xas.fit_layer_series`.
    parameter : str
        ``"thickness_nm"``, ``"surface_fraction"`` or ``"bulk_fraction"``.
    ylabel : str, optional
        Axis label (default the parameter name).
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    idx = np.asarray(series.index, dtype=float)
    est = [f.estimates[parameter] for f in series.fits]
    val = np.array([e.value for e in est])
    err = np.vstack([val - [e.ci_low for e in est], [e.ci_high for e in est] - val])
    ax.errorbar(idx, val, yerr=err, fmt="-", color="C0", capsize=3)
    good = np.array([e.status in ("determined", "fixed") for e in est])
    ax.plot(idx[good], val[good], "o", color="C0", label="determined")
    if (~good).any():
        ax.plot(idx[~good], val[~good], "o", mfc="none", color="C0", label="limit / undetermined")
    ax.set_xlabel(series.index_name)
    ax.set_ylabel(ylabel or parameter)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
