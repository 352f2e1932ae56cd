"""Whole-scene analysis: channels -> segmentation -> particle measures -> depth profiles.

This is the one function every imaging modality (TXM volumes, XRF maps, AFM maps, XANES fraction
maps) ends in. It only wires the engine together; each step lives in its own module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_finite, check_positive, resolve_spacing_all
from cathodescope.common import check_spacing_plausible
from cathodescope.common.device import resolve_device
from cathodescope.errors import EmptyDataError, ParameterError, ShapeMismatchError


@dataclass(frozen=True)
class SceneAnalysis:
    """Result of :func:`analyze_scene`.

    Parameters
    ----------
    segmentation : cathodescope.segment.Segmentation
        Labels (after dilation, if any) and the threshold used.
    particles : pandas.DataFrame
        One row per particle (see :func:`cathodescope.segment.measure_particles`).
    depth : cathodescope.profile.DepthProfiles
        Depth profiles, ratios, Table-1 metrics and reliable windows.
    spacing : tuple of float
        Voxel size in um (array axis order).
    parameters : dict
        Every option used, for the manifest.
    """

    segmentation: Any
    particles: pd.DataFrame
    depth: Any
    spacing: tuple[float, ...]
    parameters: dict[str, Any] = field(default_factory=dict)


def _as_float_arrays(channels: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(channels, Mapping) or len(channels) == 0:
        raise ParameterError(
            "channels must be a non-empty mapping of name -> image/volume, e.g. "
            "{'Ni': ni, 'Mn': mn, 'Co': co}."
        )
    arrays: dict[str, np.ndarray] = {}
    for name, data in channels.items():
        values = data.values if isinstance(data, xr.DataArray) else np.asarray(data)
        if values.ndim not in (2, 3):
            raise ShapeMismatchError(
                f"channel {name!r} has {values.ndim} dimensions; expected a 2D image or 3D volume."
            )
        if values.dtype != np.float32:
            values = values.astype(np.float32)
        # One streaming pass instead of isfinite + all + any (three passes and a full-size
        # boolean temporary per channel): a float32 sum is finite only if every value is (NaN
        # and inf propagate); a non-finite sum (an overflow, or bad values) gets the exact
        # check, which names the count; a zero sum gets the exact all-zero test.
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.sum(values))
        if not math.isfinite(total):
            check_finite(values, f"channel {name!r}")
        if total == 0 and not np.any(values):
            raise EmptyDataError(
                f"channel {name!r} is all zero; check that the right file was given for it "
                "or leave the channel out."
            )
        arrays[str(name)] = values
    shapes = {n: a.shape for n, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ShapeMismatchError(
            f"channels have different shapes {shapes}; register and crop them onto one grid "
            "before the analysis."
        )
    return arrays


# Options of analyze_scene that belong to each step (the names of their keywords).
SEGMENT_OPTIONS = (
    "threshold",
    "opening_radius_um",
    "closing_radius_um",
    "fill_holes",
    "split_touching",
    "marker_spacing_um",
    "remove_edge_particles",
    "min_size_um",
    "neck_ratio",
)
PROFILE_OPTIONS = (
    "bin_width_um",
    "surface",
    "ci_level",
    "ci_method",
    "ratio_channels",
    "reliable_window",
    "edge_window_um",
    "core_window_um",
    "sampling_window_um",
    "reliable_fraction",
    "density_bins",
    "n_boot",
    "seed",
    "threads",
    "depth_convention",
    "device",
)


def analyze_scene(
    channels: Mapping[str, Any],
    *,
    spacing: float | Sequence[float] | None = None,
    segment_on: str | np.ndarray | xr.DataArray | None = None,
    dilate_um: float = 0.0,
    segmentation: Any | None = None,
    progress: bool = False,
    threshold: float | Literal["otsu"] = "otsu",
    opening_radius_um: float = 0.0,
    closing_radius_um: float = 0.0,
    fill_holes: bool = True,
    split_touching: bool = True,
    marker_spacing_um: float = 1.0,
    remove_edge_particles: bool = False,
    min_size_um: float = 0.0,
    neck_ratio: float = 0.8,
    bin_width_um: float = 0.05,
    surface: Literal["hull", "mask"] = "hull",
    ci_level: float = 0.99,
    ci_method: Literal["ess", "block_bootstrap", "naive"] = "ess",
    ratio_channels: Sequence[str] | None = None,
    reliable_window: Literal["auto"] | tuple[float, float] = "auto",
    edge_window_um: tuple[float, float] | None = None,
    core_window_um: tuple[float, float] | None = None,
    sampling_window_um: tuple[float, float] | None = None,
    reliable_fraction: float = 0.8,
    density_bins: int = 100,
    n_boot: int = 400,
    seed: int = 0,
    threads: int | None = None,
    depth_convention: Literal["subvoxel", "centres"] = "subvoxel",
    device: Literal["cpu", "cuda"] = "cpu",
    **unknown: Any,
) -> SceneAnalysis:
    """Segment particles and compute their depth profiles, ratios and metrics.

    Parameters
    ----------
    channels : mapping of str to array, each shape (z, y, x) or (y, x)
        Elemental intensity images/volumes on one grid, e.g. ``{"Ni": ni, "Mn": mn, "Co": co}``.
        ``xarray.DataArray`` coordinates (um) give the spacing.
    spacing : float or tuple of float, optional
        Voxel/pixel size in um, one value or one per axis (array order). Required for plain
        arrays; for DataArrays with coordinates it may be omitted and must agree with them.
    segment_on : str or array, optional
        Image to segment: a channel name, a separate array of the same shape (e.g. the
        morphology image at 8400 eV), or None for the sum of all channels.
    dilate_um : float
        Grow each particle mask by this distance (um) before profiling, so that it also covers
        channels that are slightly misregistered (the paper's step 4). 0 = off.
    segmentation : Segmentation, optional
        Use these labels instead of segmenting.
    progress : bool
        Show a progress bar over particles.
    threshold, opening_radius_um, closing_radius_um, fill_holes
        Segmentation options of :func:`cathodescope.segment.segment_particles` (same
        defaults; radii in um).
    split_touching, marker_spacing_um, remove_edge_particles, min_size_um, neck_ratio
        Segmentation options, as above (``min_size_um`` in um^3 or um^2).
    bin_width_um, surface, ci_level, ci_method, ratio_channels, reliable_window
        Depth-profile options of :func:`cathodescope.profile.depth_profiles` (same
        defaults; depths in um).
    edge_window_um, core_window_um, sampling_window_um, reliable_fraction
        Depth-profile options, as above (windows in um).
    density_bins, n_boot, seed, threads, depth_convention, device
        Depth-profile options, as above (``device="cuda"``: each particle's EDT, depths and
        bin moments on a GPU; an error without CuPy or a GPU).
    **unknown
        Any other keyword raises :class:`ParameterError` naming the valid options, so that a
        misspelt option never passes silently.

    Returns
    -------
    SceneAnalysis

    Raises
    ------
    ParameterError
        For an option neither step knows, or an impossible value.
    ShapeMismatchError, NonFiniteDataError, EmptyDataError, SpacingError
        For inconsistent, non-finite or empty channels and a bad or contradicting spacing.
    DeviceUnavailableError
        For ``device="cuda"`` without CuPy or a visible GPU.
    EmptySegmentationError
        If no particle is found.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:60, :60]
    >>> disk = (((yy - 30) ** 2 + (xx - 30) ** 2) < 25**2).astype(np.float32)
    >>> res = analyze_scene({"Ni": disk * 2, "Mn": disk}, spacing=0.05,
    ...                     sampling_window_um=(0.1, 1.0), edge_window_um=(0.1, 0.15),
    ...                     core_window_um=(0.9, 1.0))
    >>> res.segmentation.n_particles, round(float(res.depth.metrics.edge_ratio[0]), 3)
    (1, 0.667)
    """
    from scipy import ndimage as ndi

    from cathodescope.profile._profiles import _check_labels, _depth_profiles
    from cathodescope.segment import measure_particles

    if unknown:
        raise ParameterError(
            f"unknown option(s) {sorted(unknown)}; segmentation takes {sorted(SEGMENT_OPTIONS)} "
            f"and depth profiles take {sorted(PROFILE_OPTIONS)}."
        )
    resolve_device(device)  # a missing GPU fails before the segmentation, not after it
    seg_opts: dict[str, Any] = {
        "threshold": threshold,
        "opening_radius_um": opening_radius_um,
        "closing_radius_um": closing_radius_um,
        "fill_holes": fill_holes,
        "split_touching": split_touching,
        "marker_spacing_um": marker_spacing_um,
        "remove_edge_particles": remove_edge_particles,
        "min_size_um": min_size_um,
        "neck_ratio": neck_ratio,
    }
    prof_opts: dict[str, Any] = {
        "bin_width_um": bin_width_um,
        "surface": surface,
        "ci_level": ci_level,
        "ci_method": ci_method,
        "ratio_channels": ratio_channels,
        "reliable_window": reliable_window,
        "edge_window_um": edge_window_um,
        "core_window_um": core_window_um,
        "sampling_window_um": sampling_window_um,
        "reliable_fraction": reliable_fraction,
        "density_bins": density_bins,
        "n_boot": n_boot,
        "seed": seed,
        "threads": threads,
        "depth_convention": depth_convention,
        "device": device,
    }
    arrays = _as_float_arrays(channels)
    ndim = next(iter(arrays.values())).ndim
    sources = [(f"channel {n!r}", a) for n, a in channels.items()]
    if isinstance(segment_on, xr.DataArray):
        sources.append(("the segmentation image", segment_on))
    sp = resolve_spacing_all(sources, spacing, ndim)
    check_spacing_plausible(sp)  # nm typed for um: said once per scene, not per particle
    dilate_um = check_positive(dilate_um, "dilate_um", allow_zero=True)

    image = None
    if segmentation is None:
        image = _segmentation_image(arrays, segment_on)
    segmentation = _segment_scene(arrays, image, segmentation, sp, dilate_um, seg_opts)
    # The channels are checked (above): the profiles skip their own full-volume checks and
    # share one bounding-box pass with the porosity.
    lab = _check_labels(segmentation.labels)
    objects = ndi.find_objects(lab)
    if all(o is None for o in objects):  # no particle: measure_particles says so
        measure_particles(lab, arrays, spacing=sp)

    def measures() -> pd.DataFrame:
        table = measure_particles(segmentation.labels, arrays, spacing=sp)
        if image is not None:
            table = _with_internal_porosity(table, lab, image, segmentation, objects)
        return table

    # The morphology measures and the depth profiles are independent per-particle work: run
    # side by side (each has its own thread pool; together they fill the gaps where the other
    # holds the GIL or runs serially). A measure error is raised before a profile error.
    with ThreadPoolExecutor(max_workers=1) as pool:
        measured = pool.submit(measures)
        try:
            depth = _depth_profiles(
                lab, arrays, sp, objects=objects, progress=progress, **prof_opts
            )
        finally:
            particles = measured.result()
    parameters = {
        "spacing_um": sp,
        "channels": list(arrays),
        "segment_on": segment_on if isinstance(segment_on, str | type(None)) else "array",
        "dilate_um": dilate_um,
        "segmentation": segmentation.parameters,
        "threshold_used": segmentation.threshold,
        "profile": depth.parameters,
    }
    return SceneAnalysis(
        segmentation=segmentation,
        particles=particles,
        depth=depth,
        spacing=sp,
        parameters=parameters,
    )


def _segment_scene(
    arrays: Mapping[str, np.ndarray],
    image: np.ndarray | None,
    segmentation: Any | None,
    sp: tuple[float, ...],
    dilate_um: float,
    seg_opts: dict[str, Any],
) -> Any:
    """Segment ``image`` (or check the given labels' grid), then dilate the labels."""
    from cathodescope.segment import Segmentation, dilate_labels, segment_particles

    shape = next(iter(arrays.values())).shape
    if segmentation is None:
        segmentation = segment_particles(image, spacing=sp, **seg_opts)
    elif segmentation.labels.shape != shape:
        raise ShapeMismatchError(
            f"given labels have shape {segmentation.labels.shape} but the channels "
            f"{shape}; segment the same grid."
        )
    if dilate_um > 0:
        labels = dilate_labels(segmentation.labels, dilate_um, spacing=sp)
        segmentation = Segmentation(
            labels=labels,
            spacing=sp,
            threshold=segmentation.threshold,
            parameters={**segmentation.parameters, "dilate_um": dilate_um},
        )
    return segmentation


def _segmentation_image(
    arrays: Mapping[str, np.ndarray], segment_on: str | np.ndarray | xr.DataArray | None
) -> np.ndarray:
    first = next(iter(arrays.values()))
    if segment_on is None:
        total = np.zeros(first.shape, dtype=np.float32)
        for values in arrays.values():
            total += values
        return total
    if isinstance(segment_on, str):
        if segment_on not in arrays:
            raise ParameterError(
                f"segment_on={segment_on!r} is not a channel; expected one of {tuple(arrays)}."
            )
        return arrays[segment_on]
    image = segment_on.values if isinstance(segment_on, xr.DataArray) else np.asarray(segment_on)
    if image.shape != first.shape:
        raise ShapeMismatchError(
            f"segmentation image has shape {image.shape} but the channels {first.shape}."
        )
    check_finite(image, "segmentation image")
    return image


def _with_internal_porosity(
    particles: pd.DataFrame,
    labels: np.ndarray,
    image: np.ndarray,
    segmentation: Any,
    objects: list[Any],
) -> pd.DataFrame:
    """Replace ``porosity`` by the fraction of each (hole-filled) particle below the threshold.

    Segmentation fills enclosed holes so that depth is measured through central voids (as in
    the paper, where the total intensity drops there). The porosity of the filled label would
    then always be 0; the physically meaningful internal porosity is the fraction of the
    particle's voxels whose segmentation intensity lies below the threshold used, i.e. the
    enclosed voids. ``solid_volume_um3`` / ``solid_area_um2`` is the particle volume without them.
    """
    # Counted crop by crop (``objects``: the labels' find_objects boxes): whole-volume
    # bincounts and a boolean gather over 512^3 voxels took ~6 s, the crops hold a small
    # fraction of it.
    lab = np.asarray(labels)
    thr = segmentation.threshold
    ids = particles["particle_id"].to_numpy()
    total = np.zeros(ids.size, dtype=np.int64)
    below = np.zeros(ids.size, dtype=np.int64)
    for i, pid in enumerate(ids):
        sl = objects[int(pid) - 1] if 0 < int(pid) <= len(objects) else None
        if sl is None:
            continue
        m = lab[sl] == pid
        total[i] = np.count_nonzero(m)
        below[i] = np.count_nonzero(m & (image[sl] < thr))
    porosity = below / np.maximum(total, 1)
    out = particles.copy()
    out["porosity"] = porosity
    size = "volume_um3" if "volume_um3" in out else "area_um2"
    solid = "solid_" + size
    if solid not in out:
        out.insert(out.columns.get_loc(size) + 1, solid, out[size] * (1.0 - porosity))
    return out
