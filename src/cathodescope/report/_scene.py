"""Tables and figures of a whole-scene depth-profile analysis, written into a run folder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cathodescope.report._runfolder import RunFolder


def write_scene_report(
    analysis: Any,
    run: RunFolder,
    channels: Mapping[str, Any] | None = None,
    *,
    figures: bool = True,
    max_figure_particles: int = 3,
) -> None:
    """Write the tables and figures of a :class:`~cathodescope.profile.SceneAnalysis`.

    Tables (CSV and Parquet): ``particles``, ``profiles``, ``ratios``, ``metrics``,
    ``reliable_windows`` and ``linescans`` (radial line scans in the XY/YZ/XZ planes of the
    ``max_figure_particles`` largest particles, when the channels are given). Figures (PNG), for up to
    ``max_figure_particles`` of the largest particles: profiles with CI bands, the ratio
    profile, the depth-intensity density plot, and a slice through the particle centre with the
    mask, hull and distance overlays.

    Parameters
    ----------
    analysis : SceneAnalysis
        Result of :func:`cathodescope.profile.analyze_scene`.
    run : RunFolder
        Open run folder to write into.
    channels : mapping of str to array, optional
        The channels analysed; needed for the slice figure.
    figures : bool
        Write the PNG figures (tables are always written).
    max_figure_particles : int
        Number of particles (largest first) that get their own figures.
    """
    depth = analysis.depth
    run.write_table("particles", analysis.particles)
    run.write_table("profiles", depth.profiles)
    run.write_table("ratios", depth.ratios)
    run.write_table("metrics", depth.metrics)
    run.write_table("reliable_windows", depth.reliable_windows)
    # the sample's answer: mean over particles with an interval over particles, and the
    # particle-to-particle spread
    from cathodescope.profile import sample_summary

    run.write_table("sample_ratios", sample_summary(depth, table="ratios"))
    run.write_table("sample_metrics", sample_summary(depth, table="metrics"))
    if channels is not None:
        from cathodescope.profile import radial_line_scans

        scans = radial_line_scans(
            analysis.segmentation.labels,
            {k: getattr(v, "values", v) for k, v in channels.items()},
            spacing=analysis.spacing,
            particle_ids=_largest_particles(analysis, max_figure_particles),
        )
        run.write_table("linescans", scans)
    run.results.update(
        n_particles=int(analysis.segmentation.n_particles),
        threshold_used=float(analysis.segmentation.threshold),
        spacing_um=list(analysis.spacing),
    )
    run.parameters.setdefault("analysis", analysis.parameters)
    if figures:
        _write_figures(analysis, run, channels, max_figure_particles)


def _largest_particles(analysis: Any, count: int) -> list[int]:
    particles = analysis.particles
    size_col = "volume_um3" if "volume_um3" in particles else "area_um2"
    order = particles.sort_values(size_col, ascending=False)["particle_id"]
    return [int(p) for p in order.iloc[:count]]


def _write_figures(
    analysis: Any, run: RunFolder, channels: Mapping[str, Any] | None, count: int
) -> None:
    from cathodescope.report import _profiles as figs

    depth = analysis.depth
    first = str(depth.profiles["channel"].iloc[0])
    objects = None
    if channels is not None:
        from scipy import ndimage as ndi

        # bounding boxes of all particles in one pass over the label volume
        objects = ndi.find_objects(np.asarray(analysis.segmentation.labels))
    for pid in _largest_particles(analysis, count):
        run.write_figure(f"profiles_particle{pid}", figs.plot_channel_profiles(depth, pid))
        run.write_figure(f"ratios_particle{pid}", figs.plot_ratio_profile(depth, pid))
        run.write_figure(f"density_particle{pid}_{first}", figs.plot_density(depth, pid, first))
        if channels is not None and objects is not None:
            run.write_figure(
                f"slice_particle{pid}", _slice_figure(analysis, channels, pid, objects[pid - 1])
            )


def _slice_figure(analysis: Any, channels: Mapping[str, Any], pid: int, box: tuple[slice, ...]):
    """Slice through the particle's centroid: intensity, mask and hull outlines, depth map."""
    from cathodescope.profile import convex_hull_fill, depth_map
    from cathodescope.report import _profiles as figs

    labels = np.asarray(analysis.segmentation.labels)
    box = tuple(
        slice(max(s.start - 2, 0), min(s.stop + 2, n))
        for s, n in zip(box, labels.shape, strict=True)
    )
    mask = labels[box] == pid
    surface = analysis.depth.parameters.get("surface", "hull")
    hull = convex_hull_fill(mask)
    # depth below the hull (or the mask) surface, without filling the hull a second time
    body = hull if surface == "hull" else mask
    depth = depth_map(body, spacing=analysis.spacing, surface="mask")
    depth[~mask] = 0.0
    image = _total_image(channels, box)
    index = None
    if mask.ndim == 3:
        index = int(np.rint(np.nonzero(mask)[0].mean()))
    return figs.plot_depth_slice(
        mask, depth, spacing=analysis.spacing, hull=hull, image=image, index=index
    )


def _total_image(channels: Mapping[str, Any], box: tuple[slice, ...]) -> np.ndarray | None:
    total = None
    for data in channels.values():
        values = np.asarray(getattr(data, "values", data)[box], dtype=np.float32)
        total = values.copy() if total is None else total + values
    return total
