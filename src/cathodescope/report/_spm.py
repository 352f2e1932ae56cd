"""Figures of scanning-probe maps and analyses, and the SPM scene report (object API only).

Every figure function returns a :class:`matplotlib.figure.Figure` built with
``Figure(figsize=...)``; no backend is ever selected and pyplot is never imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from cathodescope.spm import display_scale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MAX_INFO_PANELS",
    "cube_figure",
    "curve_figure",
    "maps_figure",
    "soc_series_figure",
    "spm_histogram_figure",
    "spm_profile_figure",
    "write_spm_map_tiff",
    "write_spm_scene_report",
]

#: at most this many channels are drawn by ``spm info`` (a cube of 256 bias layers is not
#: 256 images)
MAX_INFO_PANELS = 12


def _figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def maps_figure(
    maps: Mapping[str, Any],
    *,
    title: str = "",
    ncols: int = 3,
    robust: bool = True,
    overlay: np.ndarray | None = None,
    max_panels: int | None = None,
) -> Figure:
    """Grid of ``(y, x)`` maps with colour bars in display units.

    Parameters
    ----------
    maps : mapping of str to xarray.DataArray or ndarray
        Maps to show; DataArrays give um axes and units.
    title : str
        Figure title.
    ncols : int
        Columns of the grid.
    robust : bool
        Colour limits at the 1st/99th percentiles (outliers do not wash out the map).
    overlay : (ny, nx) int array, optional
        Particle labels drawn as contours on every map.
    max_panels : int, optional
        Draw at most this many maps (the first ones); the title says how many were left out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(maps)
    left_out = 0
    if max_panels is not None and len(names) > max_panels:
        left_out = len(names) - max_panels
        names = names[:max_panels]
    ncols = max(1, min(ncols, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    fig = _figure((4.0 * ncols, 3.6 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[len(names) :]:
        ax.set_axis_off()
    for ax, name in zip(axes.ravel(), names, strict=False):
        _draw_map(fig, ax, maps[name], name, robust=robust, overlay=overlay)
    if left_out:
        title = f"{title} (first {len(names)} of {len(names) + left_out} channels)".strip()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _draw_map(fig: Any, ax: Any, da: Any, name: str, *, robust: bool, overlay: Any) -> None:
    values = np.asarray(getattr(da, "values", da), dtype=float)
    units = getattr(da, "attrs", {}).get("units", "")
    factor, shown = display_scale(units)
    v = values * factor
    finite = v[np.isfinite(v)]
    vmin = vmax = None
    if robust and finite.size:
        vmin, vmax = np.percentile(finite, [1, 99])
    extent = None
    if hasattr(da, "coords") and "x" in da.coords and "y" in da.coords:
        x, y = da["x"].values, da["y"].values
        extent = (x[0], x[-1], y[-1], y[0])
    im = ax.imshow(
        v,
        cmap="viridis" if units != "m" else "afmhot",
        vmin=vmin,
        vmax=vmax,
        extent=extent,
        interpolation="nearest",
    )
    if overlay is not None:
        mask = (np.asarray(overlay) > 0).astype(float)
        if extent is not None:
            ax.contour(x, y, mask, levels=[0.5], colors="w", linewidths=0.6)
        else:
            ax.contour(mask, levels=[0.5], colors="w", linewidths=0.6)
    ax.set_title(name, fontsize=9)
    if extent is not None:
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
    fig.colorbar(im, ax=ax, label=shown, shrink=0.85)


def cube_figure(cube: Any, *, title: str = "", max_panels: int = MAX_INFO_PANELS) -> Figure:
    """Slices of a spectroscopy cube at evenly spaced bias values (at most ``max_panels``).

    Parameters
    ----------
    cube : xarray.DataArray
        ``(bias, y, x)`` from :func:`cathodescope.io.read_ibw_cube`.
    title : str
        Figure title.
    max_panels : int
        Number of slices drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    axis = cube.dims[0]
    n = cube.sizes[axis]
    picks = np.unique(np.linspace(0, n - 1, min(max_panels, n)).round().astype(int))
    unit = cube[axis].attrs.get("units", "")
    maps = {
        f"{axis} {float(cube[axis][i]):.4g} {unit}".strip(): cube.isel({axis: i}) for i in picks
    }
    name = cube.attrs.get("channel", "")
    full = f"{title} {name}: {len(picks)} of {n} {axis} slices".strip()
    return maps_figure(maps, title=full)


def curve_figure(table: Any, *, title: str = "", max_panels: int = MAX_INFO_PANELS) -> Figure:
    """Each column of a curve table against its first column (at most ``max_panels``).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`cathodescope.io.read_ibw_curve` (first column the x axis).
    title : str
        Figure title.
    max_panels : int
        Number of columns drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = table.columns[0]
    columns = [c for c in table.columns[1:] if table[c].dtype.kind in "fiu" and c != "segment"]
    columns = columns[:max_panels]
    fig = _figure((4.0 * max(len(columns), 1), 3.2))
    axes = fig.subplots(1, max(len(columns), 1), squeeze=False)
    segments = table["segment"] if "segment" in table else None
    for ax, column in zip(axes[0], columns, strict=False):
        if segments is None:
            ax.plot(table[x], table[column], lw=0.8)
        else:
            for seg, g in table.groupby(segments):
                label = g["direction"].iloc[0] if "direction" in g else f"segment {seg}"
                ax.plot(g[x], g[column], lw=0.8, label=label or f"segment {seg}")
            ax.legend(fontsize=6)
        ax.set_xlabel(x)
        ax.set_ylabel(column)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def spm_profile_figure(analysis: Any, max_particles: int = 4) -> Figure:
    """Mean (+/- CI) of every map vs distance from the particle surface, largest particles.

    Parameters
    ----------
    analysis : cathodescope.spm.SPMSceneAnalysis
        From :func:`cathodescope.spm.analyze_spm_scene`.
    max_particles : int
        Number of particles drawn (the largest).

    Returns
    -------
    matplotlib.figure.Figure
    """
    prof = analysis.scene.depth.profiles
    units = analysis.parameters.get("engine_units", {})
    names = [n for n in analysis.maps if n != "q"]
    sizes = prof.groupby("particle_id")["n_voxels"].sum().sort_values(ascending=False)
    pids = list(sizes.index[:max_particles])
    fig = _figure((3.8 * len(names), 3.2))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for pid in pids:
            g = prof[(prof.particle_id == pid) & (prof.channel == name)].sort_values("depth_um")
            line = ax.plot(g["depth_um"], g["mean"], lw=1.0, label=f"#{pid}")[0]
            ax.fill_between(
                g["depth_um"], g["ci_low"], g["ci_high"], alpha=0.2, color=line.get_color()
            )
        ax.axvline(analysis.parameters["boundary_um"], color="k", ls=":", lw=0.8)
        ax.set_xlabel("distance from particle surface (um)")
        ax.set_ylabel(f"{name} ({units.get(name, '')})")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def spm_histogram_figure(analysis: Any, max_particles: int = 8) -> Figure:
    """Per-particle histograms of every map of an SPM scene analysis (display units).

    Parameters
    ----------
    analysis : cathodescope.spm.SPMSceneAnalysis
        From :func:`cathodescope.spm.analyze_spm_scene`.
    max_particles : int
        Particles drawn per map (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
    """
    hist = analysis.statistics.histograms
    names = list(analysis.maps)
    fig = _figure((3.8 * len(names), 3.2))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        units = analysis.maps[name].attrs.get("units", "")
        factor, shown = display_scale(units)
        h = hist[(hist.channel == name) & (hist.particle_id > 0)]
        for pid, g in list(h.groupby("particle_id"))[:max_particles]:
            centers = 0.5 * (g["bin_left"] + g["bin_right"]) * factor
            ax.step(centers, g["count"], where="mid", label=f"#{pid}", lw=0.9)
        ax.set_xlabel(f"{name} ({shown})")
        ax.set_ylabel("pixels")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def soc_series_figure(series: Any) -> Figure:
    """Each available quantity of a SOC series vs SOC, mean +/- pixel std, by direction.

    Parameters
    ----------
    series : cathodescope.spm.SocSeries
        From :func:`cathodescope.spm.soc_series`.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per quantity present (ESM amplitude, C-AFM current, contact resonance).
    """
    from cathodescope.spm import SOC_QUANTITIES

    summary = series.summary
    present = [k for k in SOC_QUANTITIES if summary[f"{k}_mean"].notna().any()]
    n = max(len(present), 1)
    fig = _figure((4.2 * n, 3.4))
    axes = fig.subplots(1, n, squeeze=False)
    markers = {"charge": "o-", "discharge": "s--", "pristine": "D"}
    for ax, key in zip(axes[0], present, strict=False):
        units = next((u for u in summary[f"{key}_units"] if u), "")
        for direction, grp in summary.groupby("direction"):
            g = grp.sort_values("soc_percent")
            ax.errorbar(
                g["soc_percent"],
                g[f"{key}_mean"],
                yerr=g[f"{key}_std"],
                fmt=markers.get(direction, "o"),
                capsize=3,
                label=direction,
            )
        label = SOC_QUANTITIES[key]
        ax.set_xlabel("state of charge (%)")
        ax.set_ylabel(f"{label} ({units})" if units else label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_spm_scene_report(analysis: Any, run: Any) -> None:
    """Write the engine's scene tables plus the SPM tables and figures into a run folder.

    Parameters
    ----------
    analysis : cathodescope.spm.SPMSceneAnalysis
        From :func:`cathodescope.spm.analyze_spm_scene`.
    run : cathodescope.report.RunFolder
        The open run folder.

    Returns
    -------
    None
        Tables: the engine's (particles, profiles, ...), ``particle_statistics``,
        ``particle_histograms``, ``boundary_core``, ``crosstalk``, ``cafm_summary``,
        ``cafm_particles``. Figures: ``spm_maps`` (particle outlines), ``particle_histograms``,
        ``boundary_core_profiles``.
    """
    from cathodescope.report._scene import write_scene_report

    # the engine's tables; its TXM-oriented figures are replaced by the SPM profile figure below
    write_scene_report(analysis.scene, run, None, figures=False)
    run.write_table("particle_statistics", analysis.statistics.table)
    run.write_table("particle_histograms", analysis.statistics.histograms)
    run.write_table("boundary_core", analysis.boundary_core)
    if analysis.crosstalk is not None:
        run.write_table("crosstalk", analysis.crosstalk.table)
        run.results["crosstalk_flagged"] = analysis.crosstalk.flagged
        if analysis.crosstalk.flagged:
            run.warn(
                "ESM amplitude correlates with topography (|rho| > "
                f"{analysis.crosstalk.threshold}); contrast may be cross-talk"
            )
    if analysis.cafm is not None:
        run.write_table("cafm_summary", analysis.cafm.summary)
        run.write_table("cafm_particles", analysis.cafm.per_particle)
    labels = np.asarray(analysis.scene.segmentation.labels)
    run.write_figure("spm_maps", maps_figure(analysis.maps, overlay=labels))
    run.write_figure("particle_histograms", spm_histogram_figure(analysis))
    run.write_figure("boundary_core_profiles", spm_profile_figure(analysis))
    run.parameters.setdefault("spm", analysis.parameters)


def write_spm_map_tiff(run: Any, name: str, da: Any) -> None:
    """Write an SPM map as a float32 TIFF with its units and spacing into a run folder.

    Parameters
    ----------
    run : cathodescope.report.RunFolder
        The open run folder.
    name : str
        File stem (``name.tif``).
    da : xarray.DataArray
        ``(y, x)`` map (``attrs["units"]``, ``attrs["spacing_um"]``).

    Returns
    -------
    None
    """
    import tifffile

    from cathodescope.common.atomic import atomic_path

    with atomic_path(run.path / f"{name}.tif") as tmp:
        tifffile.imwrite(
            tmp,
            np.asarray(da.values, dtype=np.float32),
            metadata={
                "units": da.attrs.get("units", ""),
                "spacing_um": list(da.attrs.get("spacing_um", ())),
            },
        )
    run.outputs.append(f"{name}.tif")
