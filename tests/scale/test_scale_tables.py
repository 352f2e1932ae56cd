"""Out-of-core tables equal the in-memory ``analyze_scene`` ones; resume skips finished particles.

The phantom (96^3 voxels, 0.1 um, five touching-prone particles) is stored as Zarr in 32^3 chunks
so that particles cross chunk borders: labels must agree across them. The in-memory reference runs
with one BLAS thread, as the dask workers do (the engine's interval arithmetic changes in the
last ~1e-10 with the BLAS thread count; with equal threading the tables are bit-identical).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from cathodescope.errors import CathodescopeRunWarning

SPACING = 0.1
OPTIONS = {"marker_spacing_um": 1.0, "min_size_um": 0.5, "core_window_um": (0.8, 0.85)}
TABLES = ("profiles", "ratios", "metrics", "reliable_windows", "diagnostics")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    import zarr
    from threadpoolctl import threadpool_limits

    from cathodescope.phantom import paper_scene
    from cathodescope.profile import analyze_scene

    data, _ = paper_scene(
        (96, 96, 96), n_particles=5, spacing=SPACING, radius_um=(1.4, 1.7), seed=2
    )
    folder = tmp_path_factory.mktemp("zarr")
    files = []
    for name, values in data.items():
        path = folder / f"{name}.zarr"
        z = zarr.open_array(
            str(path), mode="w", shape=values.shape, chunks=(32, 32, 32), dtype="float32"
        )
        z[:] = values.values
        files.append(str(path))
    with threadpool_limits(1):
        reference = analyze_scene(data, spacing=SPACING, **OPTIONS)
    return data, files, reference


def _assert_same(reference, large):
    assert large.n_particles == reference.segmentation.n_particles
    assert large.threshold == reference.segmentation.threshold
    pd.testing.assert_frame_equal(large.particles, reference.particles, check_exact=True)
    for name in TABLES:
        pd.testing.assert_frame_equal(
            getattr(large, name), getattr(reference.depth, name), check_exact=True
        )


def test_scene_crosses_chunk_borders(scene):
    """The test is meaningful: several particles span more than one 32^3 chunk."""
    _, _, reference = scene
    boxes = reference.particles[["bbox_z_min_um", "bbox_z_max_um"]].to_numpy() / SPACING + 0.5
    crossing = np.floor(boxes[:, 0] / 32) != np.floor((boxes[:, 1] - 1) / 32)
    assert reference.segmentation.n_particles >= 4
    assert crossing.sum() >= 3


@pytest.mark.parametrize("workers", [1, 2])
def test_out_of_core_tables_equal_in_memory(scene, workers, tmp_path):
    from cathodescope.scale import analyze_scene_large

    _, files, reference = scene
    large = analyze_scene_large(
        files,
        channel_names=["Ni", "Mn", "Co"],
        spacing=SPACING,
        memory_limit="3GiB",
        workers=workers,
        chunks=(32, 32, 32),
        cache_dir=tmp_path / "cache",
        **OPTIONS,
    )
    _assert_same(reference, large)
    assert large.parameters["memory_plan"]["workers"] == workers
    assert large.parameters["profile"]["device"] == "cpu"  # the particle tasks' device


def test_resume_skips_finished_particles(scene, tmp_path):
    from cathodescope.scale import analyze_scene_large

    _, files, reference = scene
    cache = tmp_path / "cache"
    seen = []

    class Killed(Exception):
        pass

    def kill_after_three(pid, done, total):
        seen.append(pid)
        if done == 3:
            raise Killed

    kwargs = dict(
        channel_names=["Ni", "Mn", "Co"],
        spacing=SPACING,
        memory_limit="3GiB",
        workers=1,
        chunks=(32, 32, 32),
        cache_dir=cache,
        **OPTIONS,
    )
    with pytest.raises(Killed):
        analyze_scene_large(files, on_particle=kill_after_three, **kwargs)
    finished = sorted(int(p.stem) for p in (cache / "particles").glob("*.pkl"))
    assert len(finished) >= 3
    computed = []
    large = analyze_scene_large(
        files, resume=True, on_particle=lambda p, d, t: computed.append(p), **kwargs
    )
    assert large.n_resumed == len(finished)
    assert sorted(computed) == sorted(set(range(1, large.n_particles + 1)) - set(finished))
    _assert_same(reference, large)


def test_in_memory_mapping_and_warnings_reach_the_caller(scene, tmp_path):
    """Arrays (not files) go through a Zarr copy in the cache; worker warnings are re-raised."""
    from cathodescope.scale import analyze_scene_large

    data, _, reference = scene
    options = {**OPTIONS, "core_window_um": None}
    with pytest.warns(CathodescopeRunWarning, match="too shallow"):
        large = analyze_scene_large(
            {k: v.values for k, v in data.items()},
            spacing=SPACING,
            memory_limit="3GiB",
            workers=1,
            chunks=(48, 48, 48),
            cache_dir=tmp_path / "cache",
            **options,
        )
    assert large.n_particles == reference.segmentation.n_particles
