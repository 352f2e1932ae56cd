"""The fast paths of the engine give the same numbers as the plain steps they replace.

``analyze_scene`` checks its channels once and shares one bounding-box pass between the
porosity and the depth profiles; ``measure_particles`` measures big crops in a thread pool and
computes caliper widths in chunks of directions. Each must equal, to the last bit, the public
steps run one by one (or the unchunked product).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cathodescope.errors import CathodescopeRunWarning
from cathodescope.profile import analyze_scene, depth_profiles
from cathodescope.segment import measure_particles, segment_particles
from cathodescope.segment._measure import _widths

TABLES = ("profiles", "ratios", "metrics", "reliable_windows", "diagnostics")


@pytest.fixture(scope="module")
def scene():
    from cathodescope.phantom import paper_scene

    data, _ = paper_scene(
        (120, 150, 190),
        n_particles=2,
        spacing=0.049,
        radius_um=(1.3, 1.5),
        seed=4,
        noise_std=0.03,
        touching_fraction=1.0,
    )
    return {k: v.values.astype(np.float32) for k, v in data.items()}


def test_analyze_scene_equals_the_steps_run_one_by_one(scene):
    opts = {"marker_spacing_um": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CathodescopeRunWarning)
        res = analyze_scene(scene, spacing=0.049, **opts)
        total = scene["Ni"] + scene["Mn"] + scene["Co"]
        seg = segment_particles(total, spacing=0.049, **opts)
        depth = depth_profiles(seg.labels, scene, spacing=0.049)
    np.testing.assert_array_equal(res.segmentation.labels, seg.labels)
    for name in TABLES:
        pd.testing.assert_frame_equal(
            getattr(res.depth, name), getattr(depth, name), check_exact=True, obj=name
        )
    for key in depth._density:
        for a, b in zip(res.depth._density[key], depth._density[key], strict=True):
            np.testing.assert_array_equal(a, b)
    plain = measure_particles(seg.labels, scene, spacing=0.049)
    same = [c for c in plain.columns if c != "porosity"]  # analyze_scene: internal porosity
    pd.testing.assert_frame_equal(res.particles[same], plain[same], check_exact=True)


def test_measure_particles_threads_do_not_change_the_table(scene, monkeypatch):
    import cathodescope.segment._measure as measure

    total = scene["Ni"] + scene["Mn"] + scene["Co"]
    labels = segment_particles(total, spacing=0.049, marker_spacing_um=1.0).labels
    pooled = measure_particles(labels, scene, spacing=0.049)
    monkeypatch.setattr(measure, "_POOL_CROP", 10**12)  # everything serial
    serial = measure_particles(labels, scene, spacing=0.049)
    monkeypatch.setattr(measure, "_POOL_CROP", 1)  # everything pooled
    all_pooled = measure_particles(labels, scene, spacing=0.049)
    pd.testing.assert_frame_equal(pooled, serial, check_exact=True)
    pd.testing.assert_frame_equal(all_pooled, serial, check_exact=True)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("n_dirs", [128, 129, 130, 225, 1440, 1500, 1803])
def test_chunked_caliper_widths_equal_one_product(ndim, n_dirs):
    rng = np.random.default_rng(n_dirs + ndim)
    points = rng.normal(size=(1700, ndim)) * 3.0
    dirs = rng.normal(size=(n_dirs, ndim))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    box = np.array([0.049, 0.05, 0.06][:ndim])
    proj = points @ dirs.T
    expected = proj.max(axis=0) - proj.min(axis=0) + np.max(np.abs(dirs) * box, axis=1)
    # Equal to the last bit with this OpenBLAS build; other BLAS kernels (chosen per CPU) may
    # round a many-column product differently from a few-column one, so the test allows that.
    np.testing.assert_allclose(_widths(points, dirs, box), expected, rtol=1e-13, atol=0)
