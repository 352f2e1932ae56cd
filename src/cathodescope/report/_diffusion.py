"""Figures of the interdiffusion model and its fits (matplotlib object API, no pyplot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cathodescope.errors import ParameterError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cathodescope.diffusion import DiffusionFit, DiffusionProfiles

__all__ = ["plot_diffusion_D", "plot_diffusion_fit", "plot_diffusion_profiles"]

_COLORS = {"Ni": "tab:green", "Mn": "tab:purple", "Co": "tab:blue"}


def _color(name: str, i: int) -> str:
    return _COLORS.get(name, f"C{i}")


def plot_diffusion_profiles(result: DiffusionProfiles, *, bin_width_um: float = 0.05) -> Figure:
    """Fractions vs depth before (dashed) and after sintering (line), one colour per metal.

    Parameters
    ----------
    result : DiffusionProfiles
        Output of :func:`cathodescope.diffusion.simulate`.
    bin_width_um : float
        Engine bin width (um) of the dots drawn on the final profile.

    Returns
    -------
    matplotlib.figure.Figure
        Depth below the surface (um) on x, metal fraction on y.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    depth = result.radius_um - result.radii_um
    binned = result.binned(bin_width_um=bin_width_um)
    for i, e in enumerate(result.elements):
        c = _color(e, i)
        ax.plot(depth, result.initial[i], "--", color=c, lw=1, label=f"{e} precursor")
        ax.plot(depth, result.final[i], "-", color=c, lw=1.8, label=f"{e} sintered")
        b = binned[binned.element == e]
        ax.plot(b.depth_um, b.fraction, ".", color=c, ms=3)
    ax.set_xlabel("depth below surface (um)")
    ax.set_ylabel("metal fraction")
    ax.set_xlim(0, result.radius_um)
    ax.set_title(f"sphere R = {result.radius_um:.3g} um, {result.parameters.get('model', '')}")
    ax.legend(fontsize=7, ncol=2)
    return fig


def plot_diffusion_fit(fit: DiffusionFit, particle_id: int, *, z: float = 1.96) -> Figure:
    """Measured ratio profiles (points, band = ``z`` standard errors) and fitted model (line).

    Parameters
    ----------
    fit : DiffusionFit
        Output of :func:`cathodescope.diffusion.fit_ratios`.
    particle_id : int
        Label of the particle to draw (a ``particle_id`` of ``fit.predictions``).
    z : float
        Half-width of the measured band in standard errors (1.96: 95 %).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    pred = fit.predictions[fit.predictions.particle_id == particle_id]
    if pred.empty:
        ids = sorted(fit.predictions.particle_id.unique().tolist())
        raise ParameterError(f"particle {particle_id!r} was not fitted (fitted: {ids}).")
    rows = fit.particles[fit.particles.particle_id == particle_id].set_index("element")
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for i, (e, p) in enumerate(pred.groupby("element", sort=False)):
        c = _color(str(e), i)
        ax.fill_between(
            p.depth_um, p.ratio - z * p.sigma, p.ratio + z * p.sigma, color=c, alpha=0.25, lw=0
        )
        ax.plot(p.depth_um, p.ratio, ".", color=c, ms=3)
        d = rows.loc[e, "D_m2_s"]
        ax.plot(p.depth_um, p.fitted, "-", color=c, lw=1.5, label=f"{e}: D = {d:.2e} m$^2$/s")
    chi = float(rows["reduced_chi2"].iloc[0])
    ax.set_xlabel("depth below surface (um)")
    ax.set_ylabel("elemental ratio")
    ax.set_title(f"particle {particle_id}: measured (band) and fitted; chi2/dof = {chi:.2f}")
    ax.legend(fontsize=7)
    return fig


def plot_diffusion_D(fit: DiffusionFit) -> Figure:
    """D per particle with its profile-likelihood interval, one panel row per metal.

    Open interval ends are drawn up to the axis edge; the joint sample fit is the horizontal
    line and band.

    Parameters
    ----------
    fit : DiffusionFit
        Output of :func:`cathodescope.diffusion.fit_ratios`.

    Returns
    -------
    matplotlib.figure.Figure
        Particle id on x, D (m^2/s, log scale) on y.
    """
    from matplotlib.figure import Figure

    tab = fit.particles
    elements = list(dict.fromkeys(tab.element))
    fig = Figure(figsize=(6.5, 1.0 + 1.8 * len(elements)))
    axes = np.atleast_1d(fig.subplots(len(elements), 1, sharex=True))
    sample = fit.sample.set_index("element") if len(fit.sample) else None
    for i, (ax, e) in enumerate(zip(axes, elements, strict=True)):
        t = tab[tab.element == e]
        c = _color(e, i)
        d = t.D_m2_s.to_numpy()
        finite = np.isfinite(d) & (d > 0)
        lo = np.where(t.ci_low > 0, t.ci_low, d * 1e-3)
        hi = np.where(np.isfinite(t.ci_high), t.ci_high, d * 1e3)
        ax.errorbar(
            t.particle_id[finite],
            d[finite],
            yerr=[d[finite] - lo[finite], hi[finite] - d[finite]],
            fmt="o",
            color=c,
            ms=3,
            lw=1,
        )
        if sample is not None and e in sample.index:
            s = sample.loc[e]
            ax.axhline(s.D_m2_s, color="k", lw=1, label="sample fit")
            if s.ci_low > 0 and np.isfinite(s.ci_high):
                ax.axhspan(s.ci_low, s.ci_high, color="0.8", zorder=0)
            ax.legend(fontsize=7, loc="upper right")
        ax.set_yscale("log")
        ax.set_ylabel(f"D {e} (m$^2$/s)")
    axes[-1].set_xlabel("particle id")
    return fig
