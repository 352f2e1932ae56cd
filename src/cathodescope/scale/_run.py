"""Out-of-core scene analysis on a dask cluster: the stages and the resumable cache."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope._validation import check_positive, normalize_spacing
from cathodescope.common.atomic import atomic_write_text
from cathodescope.errors import EmptySegmentationError, ParameterError
from cathodescope.scale._device import resolve_device
from cathodescope.scale._labels import (
    clean_mask,
    label_chunked,
    lazy_threshold,
    segmentation_image,
)
from cathodescope.scale._lazy import _ZarrSource, open_lazy_channels
from cathodescope.scale._memory import MemoryPlan, plan_memory
from cathodescope.scale._particles import (
    TABLES,
    load_result,
    padded_box,
    profile_particle,
    split_component,
)

_SEG_IN_TASK = ("fill_holes", "split_touching", "marker_spacing_um", "neck_ratio")


@dataclass(frozen=True)
class LargeSceneAnalysis:
    """Result of :func:`analyze_scene_large`: the tables of :func:`~cathodescope.profile.analyze_scene`.

    Parameters
    ----------
    particles, profiles, ratios, metrics, reliable_windows, diagnostics : pandas.DataFrame
        Same columns and rows as ``SceneAnalysis.particles`` and ``SceneAnalysis.depth.*``.
    threshold : float
        Segmentation threshold used.
    n_particles : int
        Number of particles.
    spacing : tuple of float
        Voxel size in um.
    parameters : dict
        Every option used, the memory plan and the stage timings (s).
    n_resumed : int
        Particles taken from the resume cache instead of being computed.
    """

    particles: pd.DataFrame
    profiles: pd.DataFrame
    ratios: pd.DataFrame
    metrics: pd.DataFrame
    reliable_windows: pd.DataFrame
    diagnostics: pd.DataFrame
    threshold: float
    n_particles: int
    spacing: tuple[float, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    n_resumed: int = 0


def _option_names(func: Any) -> set[str]:
    sig = inspect.signature(func)
    return {n for n, p in sig.parameters.items() if p.kind == inspect.Parameter.KEYWORD_ONLY}


def _split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    from cathodescope.profile import depth_profiles
    from cathodescope.segment import segment_particles

    seg_keys = _option_names(segment_particles) - {"spacing"}
    prof_keys = _option_names(depth_profiles) - {"spacing", "progress", "threads"}
    unknown = set(options) - seg_keys - prof_keys
    if unknown:
        raise ParameterError(
            f"unknown option(s) {sorted(unknown)}; segmentation takes {sorted(seg_keys)} and "
            f"depth profiles take {sorted(prof_keys)}."
        )
    return (
        {k: v for k, v in options.items() if k in seg_keys},
        {k: v for k, v in options.items() if k in prof_keys},
    )


@contextlib.contextmanager
def _client(scheduler: str | None, plan: MemoryPlan) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=plan.n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=plan.worker_limit,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _fingerprint(
    shape: Sequence[int], sources: Mapping[str, Any], options: Mapping[str, Any]
) -> str:
    text = json.dumps(
        {
            "shape": list(shape),
            "sources": {k: repr(v) for k, v in sources.items()},
            "options": options,
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(text.encode()).hexdigest()


class _Cache:
    """The resume cache: stage results and one file per finished component and particle."""

    def __init__(self, folder: Path, fingerprint: str, resume: bool) -> None:
        self.folder = folder
        state = folder / "state.json"
        if folder.exists() and not resume:
            shutil.rmtree(folder)
        elif folder.exists() and state.exists():
            old = json.loads(state.read_text())
            if old.get("fingerprint") != fingerprint:
                raise ParameterError(
                    f"the resume cache {folder} belongs to a run with other inputs or options; "
                    "rerun without --resume to start afresh (the cache is then replaced)."
                )
        (folder / "components").mkdir(parents=True, exist_ok=True)
        (folder / "particles").mkdir(parents=True, exist_ok=True)
        self.state: dict[str, Any] = (
            json.loads(state.read_text()) if state.exists() else {"fingerprint": fingerprint}
        )

    def save(self, **items: Any) -> None:
        self.state.update(items)
        atomic_write_text(self.folder / "state.json", json.dumps(self.state, default=str))

    def component(self, k: int) -> Path:
        return self.folder / "components" / f"{k}.npz"

    def particle(self, gid: int) -> Path:
        return self.folder / "particles" / f"{gid}.pkl"


def _readers(
    channels: Any, names: Sequence[str] | None, cache: _Cache, chunks: Sequence[int]
) -> dict[str, Any]:
    """Picklable per-channel readers: the lazy file sources, or in-memory arrays stored once
    as Zarr in the cache (so that workers read crops, never receive whole arrays)."""
    import dask.array as da

    if isinstance(channels, Mapping):
        pairs = list(channels.items())
    else:
        pairs = list(zip(names or [], channels, strict=True))
    out: dict[str, Any] = {}
    for name, spec in pairs:
        if isinstance(spec, str | os.PathLike):
            from cathodescope.scale._lazy import open_source

            out[str(name)] = open_source(spec)
            continue
        path = cache.folder / "channels" / f"{name}.zarr"
        if not path.exists():
            arr = (
                spec
                if isinstance(spec, da.Array)
                else da.from_array(np.asarray(getattr(spec, "values", spec)), chunks=tuple(chunks))
            )
            tmp = path.with_name(path.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            da.to_zarr(arr.rechunk(tuple(chunks)), str(tmp), overwrite=True)
            os.replace(tmp, path)
        out[str(name)] = _ZarrSource(path, None)
    return out


def analyze_scene_large(
    channels: Sequence[str | os.PathLike[str]] | Mapping[str, Any],
    *,
    spacing: float | Sequence[float],
    channel_names: Sequence[str] | None = None,
    segment_on: str | None = None,
    memory_limit: int | str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    device: str = "cpu",
    chunks: Sequence[int] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = False,
    on_particle: Callable[[int, int, int], None] | None = None,
    **options: Any,
) -> LargeSceneAnalysis:
    """Out-of-core :func:`cathodescope.profile.analyze_scene` on a dask cluster.

    Stages: (1) one chunked pass for the threshold (identical Otsu histogram); (2) chunked
    mask, clean-up and face-connected components whose labels agree across chunk borders,
    stored as Zarr in the cache; (3) one task per component: watershed split on its padded
    crop; (4) the in-memory filters (edge, size) and raster-order ids; (5) one task per
    particle: its bounding box read from every channel, measures and depth profiles by the
    engine. Tables equal those of ``analyze_scene`` on a volume that fits in memory.

    Parameters
    ----------
    channels : sequence of path, or mapping of str to path or array
        One Zarr / HDF5 (``file.h5:/dataset``) / TIFF stack / .npy file per channel, or a
        mapping name -> file or array (arrays are stored as Zarr in the cache first).
    spacing : float or sequence of float
        Voxel size in um, one value or one per axis (array order).
    channel_names : sequence of str, optional
        Channel names in file order (when ``channels`` is a sequence).
    segment_on : str, optional
        Channel to segment (default: the float32 sum of all channels).
    memory_limit : int or str, optional
        Memory of the whole process tree (driver and local workers), e.g. ``"4GiB"``; sets the
        workers' dask memory limits and the chunk shape (see :func:`plan_memory`).
    workers : int, optional
        Local worker processes (default: sized to the cores and the memory limit).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``) instead of a local cluster.
    chunks : sequence of int, optional
        Chunk shape of the chunked passes (voxels per axis); default: from the memory plan.
    device : {"cpu", "cuda"}
        ``"cuda"`` runs the chunked threshold pass and each particle's EDT, depths and bin
        moments on the GPU with CuPy (every worker needs one); an error when CuPy or a GPU is
        missing (never a silent fallback).
    cache_dir : path, optional
        Resume cache (per-stage state, per-component labels, per-particle rows). Default: a
        temporary folder, removed at the end.
    resume : bool
        Reuse what an interrupted run left in ``cache_dir``: finished stages and particles are
        skipped. Without it an existing cache is replaced.
    progress : bool
        Progress bars per stage and per particle.
    on_particle : callable, optional
        Called as ``on_particle(particle_id, n_done, n_total)`` after each particle.
    **options
        Options of :func:`cathodescope.segment.segment_particles` and
        :func:`cathodescope.profile.depth_profiles`, as for ``analyze_scene``.

    Returns
    -------
    LargeSceneAnalysis

    Raises
    ------
    ParameterError
        For unknown options, an impossible memory limit, ``dilate_um`` (not supported out of
        core yet) or a cache of another run.
    DataTooLargeError
        When one particle's crop cannot fit one worker within the memory limit.
    DeviceUnavailableError
        For ``device="cuda"`` without CuPy or a GPU.
    EmptySegmentationError
        If no particle is found.
    """
    if options.pop("dilate_um", 0.0):
        raise ParameterError(
            "dilate_um is not supported out of core yet; run without --memory-limit/--workers/"
            "--scheduler (in memory) to dilate the masks."
        )
    xp = resolve_device(device)
    seg_opts, prof_opts = _split_options(options)
    prof_opts["device"] = device  # each particle task's EDT, depths and bin moments
    probe = open_lazy_channels(channels, channel_names)
    first = next(iter(probe.values()))
    shape = tuple(int(n) for n in first.shape)
    sp = normalize_spacing(spacing, len(shape))
    plan = plan_memory(shape, memory_limit, n_workers=workers)
    if chunks is not None:
        if len(chunks) != len(shape) or any(int(c) < 1 for c in chunks):
            raise ParameterError(f"chunks must be {len(shape)} positive sizes, got {chunks!r}.")
        plan = dataclasses.replace(
            plan, chunks=tuple(min(int(c), n) for c, n in zip(chunks, shape, strict=True))
        )
    fingerprint = _fingerprint(
        shape,
        {
            k: v
            for k, v in (
                channels.items()
                if isinstance(channels, Mapping)
                else zip(channel_names or [], channels, strict=True)
            )
        },
        {**options, "segment_on": segment_on, "spacing": sp},
    )
    tmp = None
    if cache_dir is None:
        tmp = tempfile.mkdtemp(prefix="cathodescope-scale-")
        cache_dir = tmp
    cache = _Cache(Path(cache_dir), fingerprint, resume)
    try:
        readers = _readers(channels, channel_names, cache, plan.chunks)
        with _client(scheduler, plan) as client:
            job = _Job(
                client,
                readers,
                shape,
                sp,
                plan,
                cache,
                seg_opts,
                prof_opts,
                segment_on,
                xp,
                progress,
                on_particle,
            )
            result = _stages(job)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


@dataclass
class _Job:
    """Everything the stages share (one run)."""

    client: Any
    readers: dict[str, Any]
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    plan: MemoryPlan
    cache: _Cache
    seg_opts: dict[str, Any]
    prof_opts: dict[str, Any]
    segment_on: str | None
    xp: Any
    progress: bool
    on_particle: Callable[[int, int, int], None] | None
    timings: dict[str, float] = field(default_factory=dict)

    def key(self, stage: str, i: int) -> str:
        return f"{stage}-{i}-{self.cache.state['fingerprint'][:8]}"

    def bar(self, total: int, initial: int, desc: str, unit: str) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not self.progress)


def _stages(job: _Job) -> LargeSceneAnalysis:
    labels_path, boxes = _components(job)
    pieces = _split(job, labels_path, boxes)
    kept = _filter(job, pieces)
    results, n_resumed = _particles(job, kept)
    return _assemble(job, results, n_resumed, len(boxes))


def _components(job: _Job) -> tuple[str, dict[int, tuple[slice, ...]]]:
    """Stages 1-2: threshold, mask and clean-up, connected components (chunked, cached)."""
    import dask.array as da

    t0 = time.perf_counter()
    opts, cache = job.seg_opts, job.cache
    if "boxes" not in cache.state:
        lazy = {
            n: da.from_array(r, chunks=job.plan.chunks, asarray=True).astype(np.float32)
            for n, r in job.readers.items()
        }
        image = segmentation_image(lazy, job.segment_on)
        if job.xp is not np:
            image = image.map_blocks(job.xp.asarray)
        thr, method, lo, hi = lazy_threshold(image, opts.get("threshold", "otsu"))
        if job.xp is not np:
            image = image.map_blocks(job.xp.asnumpy)
        mask = clean_mask(
            image > thr,
            spacing=job.spacing,
            opening_radius_um=check_positive(
                opts.get("opening_radius_um", 0.0), "opening_radius_um", allow_zero=True
            ),
            closing_radius_um=check_positive(
                opts.get("closing_radius_um", 0.0), "closing_radius_um", allow_zero=True
            ),
        )
        try:
            _, boxes = label_chunked(mask, str(cache.folder))
        except EmptySegmentationError as exc:
            raise EmptySegmentationError(
                f"no voxel is above the threshold {thr:g} (image range {lo:g}..{hi:g}) after "
                "the clean-up; lower the threshold or use threshold='otsu'."
            ) from exc
        cache.save(
            threshold=thr,
            method=method,
            boxes={str(k): [[s.start, s.stop] for s in b] for k, b in boxes.items()},
        )
    job.timings["components"] = time.perf_counter() - t0
    boxes = {int(k): tuple(slice(a, b) for a, b in v) for k, v in cache.state["boxes"].items()}
    for k, b in boxes.items():
        voxels = math.prod(s.stop - s.start for s in padded_box(b, job.shape))
        job.plan.check_crop(voxels, f"connected component {k}", split=True)
    return str(cache.folder / "components.zarr"), boxes


def _split(
    job: _Job, labels_path: str, boxes: dict[int, tuple[slice, ...]]
) -> list[dict[str, Any]]:
    """Stage 3: one task per component, the watershed split on its crop (cached)."""
    from distributed import as_completed

    t0 = time.perf_counter()
    task_opts = {k: job.seg_opts[k] for k in _SEG_IN_TASK if k in job.seg_opts}
    done = job.cache.state.get("pieces", {})
    todo = [k for k in boxes if str(k) not in done]
    bar = job.bar(len(boxes), len(boxes) - len(todo), "split components", "component")
    futures = {
        job.client.submit(
            split_component,
            k,
            boxes[k],
            labels_path,
            job.shape,
            job.spacing,
            task_opts,
            str(job.cache.component(k)),
            key=job.key("split", k),
        ): k
        for k in todo
    }
    for fut in as_completed(futures):
        done[str(futures[fut])] = fut.result()
        bar.update()
        if bar.n % 50 == 0:
            job.cache.save(pieces=done)
    bar.close()
    job.cache.save(pieces=done)
    job.timings["split"] = time.perf_counter() - t0
    return [p for k in boxes for p in done[str(k)]]


def _filter(job: _Job, pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stage 4: the in-memory filters (edge, size), then ids in raster order of first voxels."""
    opts = job.seg_opts
    min_size = check_positive(opts.get("min_size_um", 0.0), "min_size_um", allow_zero=True)
    remove_edge = bool(opts.get("remove_edge_particles", False))
    voxel = float(np.prod(job.spacing))
    kept = [
        p
        for p in pieces
        if p["count"] > 0
        and not (remove_edge and p["edge"])
        and not (min_size > 0 and p["count"] * voxel < min_size)
    ]
    if not kept:
        raise EmptySegmentationError(
            f"{len(pieces)} candidate particle(s) found above threshold "
            f"{job.cache.state['threshold']:g}, but all were removed (edge or smaller than "
            f"min_size_um={min_size}); set remove_edge_particles=False or lower min_size_um."
        )
    kept.sort(key=lambda p: p["first"])
    for gid, p in enumerate(kept, start=1):
        job.plan.check_crop(math.prod(hi - lo for lo, hi in p["box"]), f"particle {gid}")
    return kept


def _particles(job: _Job, kept: list[dict[str, Any]]) -> tuple[dict[int, dict[str, Any]], int]:
    """Stage 5: one task per particle; each result is cached as soon as it is finished."""
    from distributed import as_completed

    t0 = time.perf_counter()
    results: dict[int, dict[str, Any]] = {}
    todo = []
    for gid in range(1, len(kept) + 1):
        path = job.cache.particle(gid)
        if path.exists():
            results[gid] = load_result(path)
        else:
            todo.append(gid)
    n_resumed = len(results)
    thr = float(job.cache.state["threshold"])
    bar = job.bar(len(kept), n_resumed, "depth profiles", "particle")
    futures = {
        job.client.submit(
            profile_particle,
            gid,
            kept[gid - 1],
            str(job.cache.component(kept[gid - 1]["component"])),
            job.readers,
            job.segment_on,
            thr,
            job.spacing,
            job.prof_opts,
            str(job.cache.particle(gid)),
            key=job.key("particle", gid),
        ): gid
        for gid in todo
    }
    for fut in as_completed(futures):
        gid = futures[fut]
        results[gid] = fut.result()
        bar.update()
        if job.on_particle is not None:
            job.on_particle(gid, len(results), len(kept))
    bar.close()
    job.timings["particles"] = time.perf_counter() - t0
    return results, n_resumed


def _assemble(
    job: _Job, results: dict[int, dict[str, Any]], n_resumed: int, n_components: int
) -> LargeSceneAnalysis:
    """Re-raise the workers' warnings in particle order; concatenate the tables."""
    for gid in sorted(results):
        for message, category in results[gid]["warnings"]:
            warnings.warn(message, category, stacklevel=4)
    tables = {
        name: pd.concat([results[g][name] for g in sorted(results)], ignore_index=True)
        for name in TABLES
    }
    plan = job.plan
    thr = float(job.cache.state["threshold"])
    params = {
        "spacing_um": job.spacing,
        "channels": list(job.readers),
        "segment_on": job.segment_on,
        "threshold_used": thr,
        "threshold_method": job.cache.state.get("method"),
        "segmentation": job.seg_opts,
        "profile": results[1]["parameters"],
        "memory_plan": {
            "limit_bytes": plan.limit,
            "workers": plan.n_workers,
            "worker_limit_bytes": plan.worker_limit,
            "chunks": list(plan.chunks),
        },
        "n_components": n_components,
        "timings_s": job.timings,
    }
    return LargeSceneAnalysis(
        threshold=thr,
        n_particles=len(results),
        spacing=job.spacing,
        parameters=params,
        n_resumed=n_resumed,
        **tables,
    )
