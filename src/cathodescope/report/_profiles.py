"""Figures of the depth-profile engine (matplotlib, no pyplot: safe in headless runs).

Every function returns a :class:`matplotlib.figure.Figure` (save it with ``fig.savefig``); none
opens a window or touches global pyplot state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cathodescope._validation import normalize_spacing
from cathodescope.errors import ParameterError, ShapeMismatchError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from cathodescope.profile import DepthProfiles

__all__ = [
    "plot_channel_profiles",
    "plot_density",
    "plot_depth_slice",
    "plot_ratio_profile",
]

_COLORS = {"Ni": "tab:green", "Mn": "tab:purple", "Co": "tab:blue"}


def _new_figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    # No layout engine: constrained layout measured every text extent again at each draw
    # (~25-40 % of the time of a saved figure); the run folder saves with
    # bbox_inches="tight", which keeps labels and colour bars inside the image.
    return Figure(figsize=figsize)


def _check_particle(res: DepthProfiles, particle_id: int) -> None:
    ids = res.reliable_windows.particle_id.tolist()
    if int(particle_id) not in ids:
        raise ParameterError(f"particle {particle_id!r} is not in the result (particles: {ids}).")


def _shade_window(ax: Axes, res: DepthProfiles, particle_id: int) -> None:
    w = res.reliable_windows.set_index("particle_id").loc[int(particle_id)]
    if np.isfinite(w.depth_min_um) and np.isfinite(w.depth_max_um):
        ax.axvspan(w.depth_min_um, w.depth_max_um, color="0.85", zorder=0, label="reliable window")


def _color(name: str, i: int) -> str:
    return _COLORS.get(name, f"C{i}")


def plot_channel_profiles(
    res: DepthProfiles, particle_id: int, *, channels: Sequence[str] | None = None
) -> Figure:
    """Mean intensity vs depth with confidence bands, one line per channel.

    Parameters
    ----------
    res : DepthProfiles
        Output of :func:`cathodescope.profile.depth_profiles`.
    particle_id : int
        Label of the particle to draw.
    channels : sequence of str, optional
        Channels to draw (default all).

    Returns
    -------
    matplotlib.figure.Figure
        Depth (um, from the surface) on x, mean intensity (channel units) on y; the band is
        the ``ci_level`` interval of the mean, the grey span the reliable window.
    """
    _check_particle(res, particle_id)
    p = res.profiles[res.profiles.particle_id == int(particle_id)]
    names = list(p.channel.unique()) if channels is None else list(channels)
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    _shade_window(ax, res, particle_id)
    for i, c in enumerate(names):
        q = p[p.channel == c]
        col = _color(c, i)
        ax.plot(q.depth_um, q["mean"], color=col, label=c)
        ax.fill_between(q.depth_um, q.ci_low, q.ci_high, color=col, alpha=0.3, lw=0)
    # y range: all means, and the intervals inside the reliable window (intervals of sparse
    # void bins can be huge and would flatten the plot).
    q = p[p.channel.isin(names)]
    w = res.reliable_windows.set_index("particle_id").loc[int(particle_id)]
    inw = q[(q.depth_um >= w.depth_min_um) & (q.depth_um <= w.depth_max_um)]
    vals = np.concatenate([q["mean"].to_numpy(), inw.ci_low.to_numpy(), inw.ci_high.to_numpy()])
    vals = vals[np.isfinite(vals)]
    if vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.08 * max(hi - lo, 1e-12)
        ax.set_ylim(lo - pad, hi + pad)
    level = res.parameters.get("ci_level", 0.99)
    ax.set_xlabel("depth below surface (µm)")
    ax.set_ylabel("mean intensity (channel units)")
    ax.set_title(
        f"particle {particle_id}: intensity vs depth ({level:.0%} CI, "
        f"{res.parameters.get('ci_method', '')})"
    )
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_ratio_profile(
    res: DepthProfiles, particle_id: int, *, elements: Sequence[str] | None = None
) -> Figure:
    """Elemental ratio vs depth with confidence bands, flagged points and the windows.

    Points with a ratio outside [0, 1] are drawn as red crosses (kept for transparency, not
    physical). The grey span is the reliable window; dashed lines mark the sampling window of
    the Table-1 metrics.

    Parameters
    ----------
    res : DepthProfiles
        Output of :func:`cathodescope.profile.depth_profiles`.
    particle_id : int
        Label of the particle to draw.
    elements : sequence of str, optional
        Elements to draw (default all ratio elements).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_particle(res, particle_id)
    r = res.ratios[res.ratios.particle_id == int(particle_id)]
    names = list(r.element.unique()) if elements is None else list(elements)
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    _shade_window(ax, res, particle_id)
    for i, c in enumerate(names):
        q = r[r.element == c]
        col = _color(c, i)
        ax.plot(q.depth_um, q.ratio, color=col, label=f"{c} ratio")
        ax.fill_between(q.depth_um, q.ci_low, q.ci_high, color=col, alpha=0.3, lw=0)
        f = q[q.flagged]
        if len(f):
            ax.plot(f.depth_um, f.ratio, "x", color="red", ms=5)
    if r.flagged.any():
        ax.plot([], [], "x", color="red", label="outside [0, 1] (flagged)")
    for x in res.parameters.get("sampling_window_um", ()):
        ax.axvline(x, color="0.4", ls="--", lw=0.8)
    # y range from the reliable window: huge intervals in sparse void bins would flatten it.
    w = res.reliable_windows.set_index("particle_id").loc[int(particle_id)]
    inw = r[(r.depth_um >= w.depth_min_um) & (r.depth_um <= w.depth_max_um)]
    inw = inw[inw.element.isin(names)]
    if len(inw) and np.isfinite(inw[["ci_low", "ci_high"]].to_numpy()).any():
        lo = float(np.nanmin(inw.ci_low))
        hi = float(np.nanmax(inw.ci_high))
        pad = 0.15 * max(hi - lo, 0.05)
        ax.set_ylim(max(lo - pad, -0.5), min(hi + pad, 1.5))
    denom = "+".join(res.parameters.get("ratio_channels", []))
    ax.set_xlabel("depth below surface (µm)")
    ax.set_ylabel(f"elemental ratio Elem/({denom})" if denom else "elemental ratio")
    level = res.parameters.get("ci_level", 0.99)
    ax.set_title(f"particle {particle_id}: elemental ratios ({level:.0%} CI)")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_density(res: DepthProfiles, particle_id: int, channel: str) -> Figure:
    """Depth x intensity 2D histogram (log colour scale) with the mean profile on top.

    Parameters
    ----------
    res : DepthProfiles
        Output of :func:`cathodescope.profile.depth_profiles`.
    particle_id : int
        Label of the particle to draw.
    channel : str
        Channel whose intensities are histogrammed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import LogNorm

    _check_particle(res, particle_id)
    hist, d_edges, v_edges = res.density(particle_id, channel)
    fig = _new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    h = np.ma.masked_equal(hist.T, 0)
    vmax = max(int(hist.max()), 1)
    mesh = ax.pcolormesh(
        d_edges, v_edges, h, norm=LogNorm(vmin=1, vmax=max(vmax, 2)), cmap="viridis"
    )
    fig.colorbar(mesh, ax=ax, label="voxels")
    p = res.profiles
    q = p[(p.particle_id == int(particle_id)) & (p.channel == channel)]
    ax.plot(q.depth_um, q["mean"], color="white", lw=1.5, label="mean")
    ax.set_xlabel("depth below surface (µm)")
    ax.set_ylabel(f"{channel} intensity (channel units)")
    ax.set_title(f"particle {particle_id}: {channel} intensity distribution vs depth")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_depth_slice(
    mask: Any,
    depth: Any,
    *,
    spacing: float | Sequence[float],
    hull: Any | None = None,
    image: Any | None = None,
    index: int | None = None,
) -> Figure:
    """One slice of a particle crop: depth map overlay with mask and hull outlines.

    Parameters
    ----------
    mask : array_like of bool, shape (y, x) or (z, y, x)
        The particle.
    depth : array_like of float, same shape
        Depth map in um (e.g. from :func:`cathodescope.profile.depth_map`).
    spacing : float or sequence of float
        Pixel/voxel size in um, array axis order (sets the axes in um).
    hull : array_like of bool, optional
        Filled convex hull (e.g. :func:`cathodescope.profile.convex_hull_fill`), outlined.
    image : array_like, optional
        Intensity drawn in grey under the depth overlay.
    index : int, optional
        z index of the slice for 3D inputs (default: the middle of the crop).

    Returns
    -------
    matplotlib.figure.Figure
        x and y in um; colour = depth in um inside the mask.
    """
    m = np.asarray(mask).astype(bool)
    d = np.asarray(depth, dtype=float)
    if d.shape != m.shape or (hull is not None and np.shape(hull) != m.shape):
        raise ShapeMismatchError(
            f"mask {m.shape}, depth {d.shape} and hull must have the same shape."
        )
    if m.ndim not in (2, 3):
        raise ShapeMismatchError(f"mask must be 2D or 3D, got shape {m.shape}.")
    sp = normalize_spacing(spacing, m.ndim)
    hl = None if hull is None else np.asarray(hull).astype(bool)
    img = None if image is None else np.asarray(image, dtype=float)
    if m.ndim == 3:
        k = m.shape[0] // 2 if index is None else int(index)
        if not 0 <= k < m.shape[0]:
            raise ParameterError(f"index {index} is outside the crop's {m.shape[0]} slices.")
        m, d = m[k], d[k]
        hl = None if hl is None else hl[k]
        img = None if img is None else img[k]
    dy, dx = sp[-2], sp[-1]
    extent = (-0.5 * dx, (m.shape[1] - 0.5) * dx, (m.shape[0] - 0.5) * dy, -0.5 * dy)
    fig = _new_figure((5.5, 5.0))
    ax = fig.add_subplot()
    if img is not None:
        ax.imshow(img, cmap="gray", extent=extent, interpolation="nearest")
    ov = ax.imshow(
        np.ma.masked_where(~m, d), cmap="magma", extent=extent, alpha=0.8, interpolation="nearest"
    )
    fig.colorbar(ov, ax=ax, label="depth below surface (µm)")
    yy = (np.arange(m.shape[0])) * dy
    xx = (np.arange(m.shape[1])) * dx
    if m.any() and not m.all():
        ax.contour(xx, yy, m.astype(float), levels=[0.5], colors="cyan", linewidths=1.0)
        ax.plot([], [], color="cyan", label="mask")
    if hl is not None and hl.any() and not hl.all():
        ax.contour(
            xx, yy, hl.astype(float), levels=[0.5], colors="yellow", linewidths=1.0, linestyles="--"
        )
        ax.plot([], [], color="yellow", ls="--", label="convex hull")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_aspect("equal")
    ax.set_title("depth map with mask and hull outlines")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")
    return fig
