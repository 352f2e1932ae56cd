"""Per-component and per-particle tasks: they read their crop on demand and call the engine.

Both run in dask workers. A component task splits one connected component with
:func:`cathodescope.segment.segment_particles` on its crop (the same crop, padded by one voxel,
that the in-memory segmentation uses, so the watershed is identical). A particle task reads the
particle's bounding box from every channel and runs :func:`cathodescope.segment.measure_particles`
and :func:`cathodescope.profile.depth_profiles` on it with the particle's global id (the
engine seeds each particle's generator with it), giving the rows of the in-memory tables.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common.atomic import atomic_write_bytes

TABLES = ("particles", "profiles", "ratios", "metrics", "reliable_windows", "diagnostics")


def padded_box(box: Sequence[slice], shape: Sequence[int], pad: int = 1) -> tuple[slice, ...]:
    """``box`` grown by ``pad`` voxels per axis, clipped to ``shape``."""
    return tuple(
        slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, shape, strict=True)
    )


def split_component(
    k: int,
    box: tuple[slice, ...],
    labels_path: str,
    shape: tuple[int, ...],
    spacing: tuple[float, ...],
    seg_opts: Mapping[str, Any],
    out_path: str,
) -> list[dict[str, Any]]:
    """Split component ``k`` into particles on its padded crop; store the crop's labels.

    Returns one record per piece: local id, global box (voxel start/stop), voxel count, raster
    index of its first voxel and whether it touches the array border.
    """
    import zarr
    from scipy import ndimage as ndi

    from cathodescope.segment import segment_particles

    crop_sl = padded_box(box, shape, 1)
    comp = np.asarray(zarr.open_array(labels_path, mode="r")[crop_sl]) == k
    origin = np.array([s.start for s in crop_sl])
    if comp.all():  # no background in the crop (a component filling the field of view)
        lab = comp.astype(np.int32)
    else:
        seg = segment_particles(
            comp.astype(np.float32),
            spacing=spacing,
            threshold=0.5,
            opening_radius_um=0.0,
            closing_radius_um=0.0,
            remove_edge_particles=False,
            min_size_um=0.0,
            **seg_opts,
        )
        lab = seg.labels
    pieces = []
    for j, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None:
            continue
        plane = lab[(sl[0].start, *sl[1:])] == j
        local = np.unravel_index(int(np.flatnonzero(plane)[0]), plane.shape)
        first = (sl[0].start, *(s.start + i for s, i in zip(sl[1:], local, strict=True)))
        gfirst = tuple(int(o + f) for o, f in zip(origin, first, strict=True))
        gbox = [(int(o + s.start), int(o + s.stop)) for o, s in zip(origin, sl, strict=True)]
        pieces.append(
            {
                "component": int(k),
                "local_id": j,
                "box": gbox,
                "count": int(np.count_nonzero(lab[sl] == j)),
                "first": int(np.ravel_multi_index(gfirst, shape)),
                "edge": any(lo == 0 or hi == n for (lo, hi), n in zip(gbox, shape, strict=True)),
            }
        )
    dtype = np.uint8 if lab.max() < 256 else np.int32
    buf = _npz_bytes(labels=lab.astype(dtype), origin=origin)
    atomic_write_bytes(out_path, buf)
    return pieces


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    import io

    fh = io.BytesIO()
    np.savez_compressed(fh, **arrays)
    return fh.getvalue()


def _internal_porosity(
    particles: pd.DataFrame, mask: np.ndarray, image: np.ndarray, threshold: float
) -> pd.DataFrame:
    """Porosity = fraction of the (hole-filled) particle below the threshold (as analyze_scene)."""
    total = np.count_nonzero(mask)
    below = np.count_nonzero(mask & (image < threshold))
    porosity = np.array([below]) / np.maximum(np.array([total]), 1)
    out = particles.copy()
    out["porosity"] = porosity
    size = "volume_um3" if "volume_um3" in out else "area_um2"
    solid = "solid_" + size
    if solid not in out:
        out.insert(out.columns.get_loc(size) + 1, solid, out[size] * (1.0 - porosity))
    return out


def _global_position(
    particles: pd.DataFrame, mask: np.ndarray, origin: Sequence[int], spacing: Sequence[float]
) -> pd.DataFrame:
    """Centroid and bounding-box columns in the whole volume's frame (same arithmetic as
    :func:`cathodescope.segment.measure_particles` on the full labels)."""
    ndim = mask.ndim
    axes = ("z", "y", "x")[-ndim:]
    count = int(np.count_nonzero(mask))
    centroid = np.empty(ndim)
    for i in range(ndim):
        other = tuple(a for a in range(ndim) if a != i)
        prof = np.count_nonzero(mask, axis=other)
        centroid[i] = float(prof @ np.arange(mask.shape[i], dtype=np.int64)) / count
    centroid = (centroid + np.asarray(origin)) * np.asarray(spacing)
    out = particles.copy()
    for i, ax in enumerate(axes):
        out[f"centroid_{ax}_um"] = float(centroid[i])
        lo, hi = int(origin[i]), int(origin[i]) + mask.shape[i] - 1
        out[f"bbox_{ax}_min_um"] = float((lo - 0.5) * spacing[i])
        out[f"bbox_{ax}_max_um"] = float((hi + 0.5) * spacing[i])
    return out


def profile_particle(
    gid: int,
    piece: Mapping[str, Any],
    component_path: str,
    readers: Mapping[str, Any],
    segment_on: str | Any | None,
    threshold: float,
    spacing: tuple[float, ...],
    prof_opts: Mapping[str, Any],
    out_path: str | None,
) -> dict[str, Any]:
    """Measure and profile one particle from its crop; store and return its table rows.

    Returns a dict with the per-particle rows of ``particles``, ``profiles``, ``ratios``,
    ``metrics``, ``reliable_windows``, ``diagnostics`` and the ``warnings`` it raised.
    """
    from cathodescope.profile import depth_profiles
    from cathodescope.segment import measure_particles

    with np.load(component_path) as npz:
        clab, corigin = npz["labels"], npz["origin"]
    box = tuple(slice(lo, hi) for lo, hi in piece["box"])
    local = tuple(slice(s.start - o, s.stop - o) for s, o in zip(box, corigin, strict=True))
    mask = clab[local] == piece["local_id"]
    chans = {name: np.asarray(src[box], dtype=np.float32) for name, src in readers.items()}
    if segment_on is None:
        image = np.zeros(mask.shape, dtype=np.float32)
        for values in chans.values():
            image += values
    elif isinstance(segment_on, str):
        image = chans[segment_on]
    else:
        image = np.asarray(segment_on[box], dtype=np.float32)
    lab = mask.astype(np.int32) * np.int32(gid)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        particles = measure_particles(lab, chans, spacing=spacing)
        particles = _global_position(particles, mask, [s.start for s in box], spacing)
        particles = _internal_porosity(particles, mask, image, threshold)
        depth = depth_profiles(lab, chans, spacing=spacing, threads=1, **prof_opts)
    result = {
        "particle_id": int(gid),
        "particles": particles,
        "profiles": depth.profiles,
        "ratios": depth.ratios,
        "metrics": depth.metrics,
        "reliable_windows": depth.reliable_windows,
        "diagnostics": depth.diagnostics,
        "parameters": depth.parameters,
        "warnings": [(str(w.message), w.category) for w in caught],
    }
    if out_path is not None:
        atomic_write_bytes(out_path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return result


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a finished particle's rows back from the resume cache (written by this package)."""
    with open(path, "rb") as fh:
        return pickle.load(fh)
