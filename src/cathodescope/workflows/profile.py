"""The profile run: one file per elemental channel -> segmentation, depth profiles -> run folder."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["run_profile"]


def run_profile(
    files: Sequence[str | os.PathLike[str]],
    channels: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    spacing: float | Sequence[float],
    segment_on: str | None = None,
    dilate_um: float = 0.0,
    engine: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Read the channels, analyse the scene and write tables, figures and the manifest.

    Parameters
    ----------
    files : sequence of path
        One image or volume per channel (``.tif``, ``.npy``, ``file.h5:/dataset``, ``.zarr``).
    channels : sequence of str
        Channel names in file order, e.g. ``("Ni", "Mn", "Co")``.
    out_dir : path
        Run folder to create.
    spacing : float or sequence of float
        Pixel/voxel size in um, one value or one per axis in array order.
    segment_on : str, optional
        A channel name, or another image file to segment (default: sum of the channels).
    dilate_um : float
        Grow the particle masks by this distance in um.
    engine : mapping, optional
        Further keyword options of :func:`cathodescope.profile.analyze_scene`.
    overwrite : bool
        Replace an earlier run in ``out_dir``.
    progress : bool
        Progress bars.
    parameters : mapping, optional
        What to record as the run's parameters (default: the arguments of this call).

    Returns
    -------
    (SceneAnalysis, RunFolder)
        The analysis and the (closed) run folder; ``run.path`` is where the results are.
    """
    from cathodescope.io import read_channel, read_channels, split_dataset_path
    from cathodescope.profile import analyze_scene
    from cathodescope.report import RunFolder, write_scene_report

    options = dict(engine or {})
    if parameters is None:
        parameters = {
            "files": [os.fspath(f) for f in files],
            "channels": list(channels),
            "spacing": spacing,
            "segment_on": segment_on,
            "dilate_um": dilate_um,
            **options,
        }
    with RunFolder(out_dir, command="profile", parameters=parameters, overwrite=overwrite) as run:
        with run.timer("read"):
            data = read_channels(list(files), list(channels))
            for path, name in zip(files, channels, strict=True):
                run.add_input(split_dataset_path(path)[0], channel=name)
            segment: Any = segment_on
            if segment_on is not None and segment_on not in data:
                run.add_input(split_dataset_path(segment_on)[0], role="segmentation image")
                segment = read_channel(segment_on)
        with run.timer("analysis"):
            analysis = analyze_scene(
                data,
                spacing=spacing,
                segment_on=segment,
                dilate_um=dilate_um,
                progress=progress,
                **options,
            )
        with run.timer("report"):
            write_scene_report(analysis, run, channels=data)
    return analysis, run
