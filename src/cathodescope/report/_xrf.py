"""Figures of XRF element maps, line profiles and core/shell fits (object API only).

Every figure function returns a :class:`matplotlib.figure.Figure` built with
``Figure(figsize=...)``; no backend is ever selected and pyplot is never imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "core_shell_particles_figure",
    "coreshell_figure",
    "map_extent",
    "overlay_figure",
    "ratio_figure",
    "transect_figure",
    "write_xrf_map_tiff",
]


def _figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def map_extent(da: Any) -> list[float]:
    """``imshow`` extent (left, right, bottom, top) in um of a ``(..., y, x)`` map.

    Parameters
    ----------
    da : xarray.DataArray
        Map with ``y``/``x`` coordinates in um (pixel centres).

    Returns
    -------
    list of float
        Pixel-edge extent in um.
    """
    from cathodescope.xrf import map_spacing

    dy, dx = map_spacing(da)
    x, y = da["x"].values, da["y"].values
    return [x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2]


def ratio_figure(ratio: Any) -> Figure:
    """Ratio image (low-signal pixels masked) with a colour bar.

    Parameters
    ----------
    ratio : xarray.DataArray
        From :func:`cathodescope.xrf.ratio_map`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure((5, 4))
    ax = fig.subplots()
    # matplotlib's stubs want a tuple for extent; any sequence of 4 floats works
    im = ax.imshow(ratio.values, extent=map_extent(ratio), cmap="viridis")  # type: ignore[arg-type]
    fig.colorbar(im, ax=ax, label=str(ratio.name))
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(f"{ratio.name} (low signal masked)")
    return fig


def overlay_figure(rgb: Any, channels: list[str]) -> Figure:
    """Three-element RGB overlay.

    Parameters
    ----------
    rgb : xarray.DataArray
        From :func:`cathodescope.xrf.rgb_overlay` (``(y, x, rgb)``).
    channels : list of str
        Red, green, blue element names (for the title).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure((5, 4))
    ax = fig.subplots()
    # matplotlib's stubs want a tuple for extent; any sequence of 4 floats works
    ax.imshow(rgb.values, extent=map_extent(rgb))  # type: ignore[arg-type]
    ax.set_title(" / ".join(f"{n} ({c})" for c, n in zip("RGB", channels, strict=True)))
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    return fig


def transect_figure(transect: Any) -> Figure:
    """Fractions (and the ratio, dashed) along a line.

    Parameters
    ----------
    transect : cathodescope.xrf.FractionTransect
        From :func:`cathodescope.xrf.fraction_transect`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = transect.table
    fig = _figure((6, 4))
    ax = fig.subplots()
    for e in transect.elements:
        ax.plot(table["distance_um"], table[f"fraction_{e}"], label=e)
    if transect.ratio_name:
        name = "ratio_" + transect.ratio_name.replace("/", "_")
        ax.plot(table["distance_um"], table[name], "k--", label=transect.ratio_name)
    ax.set_xlabel("distance along the line (um)")
    ax.set_ylabel(f"fraction of {'+'.join(transect.elements)}")
    ax.set_title(f"width {transect.width_um:.3g} um")
    ax.legend()
    return fig


def coreshell_figure(fit: Any, elements: list[str] | tuple[str, ...]) -> Figure:
    """Observed fractions and the fitted core/shell step, interface(s) marked.

    Parameters
    ----------
    fit : cathodescope.xrf.CoreShellFit
        Fit of the fraction profile.
    elements : sequence of str
        Elements drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure((6, 4))
    ax = fig.subplots()
    for e in elements:
        ax.plot(fit.distance_um, fit.observed[e], ".", ms=3, label=f"{e} fraction")
        ax.plot(fit.distance_um, fit.best_fit[e], "-", lw=1)
    for xi in [fit.interface_um] if fit.geometry == "edge" else list(fit.interface_um):
        ax.axvline(xi, color="k", ls=":", lw=1)
    ax.set_xlabel("distance along the line (um)")
    ax.set_ylabel("fraction")
    where = (
        f"{fit.interface_um:.3f}"
        if fit.geometry == "edge"
        else " and ".join(f"{v:.3f}" for v in fit.interface_um)
    )
    ax.set_title(f"interface at {where} um, 10-90 % width {fit.width_um:.3f} um")
    ax.legend(fontsize=7)
    return fig


def core_shell_particles_figure(core_shell: Any) -> Figure | None:
    """Per-particle core/shell contrast vs interface depth, and the gradient-width histogram.

    Parameters
    ----------
    core_shell : pandas.DataFrame
        ``XRFParticleAnalysis.core_shell`` (``status``, ``element``, ``interface_depth_um``,
        ``shell``, ``core``, ``width_10_90_um``, ``particle_id``).

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no fit has status ``ok``.
    """
    ok = core_shell[core_shell["status"] == "ok"]
    if not len(ok):
        return None
    fig = _figure((9, 3.5))
    axes = fig.subplots(1, 2)
    for e, g in ok.groupby("element", sort=False):
        axes[0].plot(g["interface_depth_um"], g["shell"] - g["core"], ".", label=e)
    axes[0].set_xlabel("interface depth below the surface (um)")
    axes[0].set_ylabel("shell - core fraction")
    axes[0].legend()
    first = ok.drop_duplicates("particle_id")
    axes[1].hist(first["width_10_90_um"], bins=20)
    axes[1].set_xlabel("10-90 % gradient width (um)")
    axes[1].set_ylabel("particles")
    return fig


def write_xrf_map_tiff(run: Any, name: str, da: Any) -> None:
    """Write a map as an ImageJ TIFF (float32, resolution in pixels per um) into a run folder.

    Parameters
    ----------
    run : cathodescope.report.RunFolder
        The open run folder.
    name : str
        File stem (``name.tif``).
    da : xarray.DataArray
        ``(y, x)`` map with ``attrs["spacing_um"]`` (default 1 um).

    Returns
    -------
    None
    """
    import tifffile

    from cathodescope.common.atomic import atomic_path

    path = run.file(f"{name}.tif")
    dy, dx = da.attrs.get("spacing_um", (1.0, 1.0))
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            np.asarray(da.values, dtype=np.float32),
            imagej=True,
            resolution=(1.0 / dx, 1.0 / dy),
            metadata={"unit": "um"},
        )
