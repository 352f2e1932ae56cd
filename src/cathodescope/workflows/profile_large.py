"""The out-of-core profile run: lazy channels -> dask cluster -> tables in a run folder.

Used by ``cathodescope profile`` when ``--memory-limit``, ``--workers``, ``--scheduler``,
``--device`` or ``--resume`` is given. The resume cache lives beside the run folder in
``<out>.resume/`` (the run folder itself is built in a hidden staging folder and only moved into
place at the end); it is removed when the run finishes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["resume_cache_path", "run_profile_large"]


def resume_cache_path(out_dir: str | os.PathLike[str]) -> Path:
    """The resume cache of the run into ``out_dir``: ``<out_dir>.resume`` beside it.

    Examples
    --------
    >>> resume_cache_path("runs/scan7").name
    'scan7.resume'
    """
    out = Path(out_dir).absolute()
    return out.with_name(out.name + ".resume")


def run_profile_large(
    files: Sequence[str | os.PathLike[str]],
    channels: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    spacing: float | Sequence[float],
    segment_on: str | None = None,
    memory_limit: str | int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    device: str = "cpu",
    resume: bool = False,
    engine: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Analyse a scene larger than memory and write its tables and manifest.

    Parameters
    ----------
    files : sequence of path
        One Zarr / HDF5 (``file.h5:/dataset``) / TIFF stack / ``.npy`` file per channel, read
        lazily.
    channels : sequence of str
        Channel names in file order.
    out_dir : path
        Run folder to create.
    spacing : float or sequence of float
        Voxel size in um, one value or one per axis in array order.
    segment_on : str, optional
        Channel to segment (default: the sum of the channels).
    memory_limit : str or int, optional
        Memory of the whole process tree, e.g. ``"4GiB"``.
    workers : int, optional
        Local dask worker processes.
    scheduler : str, optional
        Address of a running dask scheduler.
    device : {"cpu", "cuda"}
        Compute device of the chunked passes.
    resume : bool
        Reuse the finished stages and particles in :func:`resume_cache_path`.
    engine : mapping, optional
        Options of segmentation and depth profiles (as for ``analyze_scene``).
    overwrite : bool
        Replace an earlier run in ``out_dir``.
    progress : bool
        Progress bars per stage and per particle.
    parameters : mapping, optional
        What to record as the run's parameters.

    Returns
    -------
    (LargeSceneAnalysis, RunFolder)
    """
    from cathodescope.io import split_dataset_path
    from cathodescope.report import RunFolder
    from cathodescope.scale import analyze_scene_large

    options = dict(engine or {})
    if parameters is None:
        parameters = {
            "files": [os.fspath(f) for f in files],
            "channels": list(channels),
            "spacing": spacing,
            "memory_limit": memory_limit,
            "workers": workers,
            "scheduler": scheduler,
            "device": device,
            **options,
        }
    cache = resume_cache_path(out_dir)
    with RunFolder(out_dir, command="profile", parameters=parameters, overwrite=overwrite) as run:
        for path, name in zip(files, channels, strict=True):
            run.add_input(split_dataset_path(path)[0], channel=name)
        with run.timer("analysis"):
            analysis = analyze_scene_large(
                list(files),
                channel_names=list(channels),
                spacing=spacing,
                segment_on=segment_on,
                memory_limit=memory_limit,
                workers=workers,
                scheduler=scheduler,
                device=device,
                cache_dir=cache,
                resume=resume,
                progress=progress,
                **options,
            )
        with run.timer("report"):
            for name in ("particles", "profiles", "ratios", "metrics", "reliable_windows"):
                run.write_table(name, getattr(analysis, name))
            run.results.update(
                n_particles=analysis.n_particles,
                threshold_used=analysis.threshold,
                spacing_um=list(analysis.spacing),
                n_resumed=analysis.n_resumed,
            )
            run.parameters.setdefault("analysis", analysis.parameters)
            run.timings.update(
                {f"scale_{k}": v for k, v in analysis.parameters["timings_s"].items()}
            )
    shutil.rmtree(cache, ignore_errors=True)
    return analysis, run
