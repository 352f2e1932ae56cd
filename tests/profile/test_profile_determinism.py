"""Determinism: the engine's tables are identical for any thread count (issue 11 item 8).

Particles are profiled in parallel and big particles use threads inside (EDT, FFT); every
reduction has a fixed order, so 1 and 2 threads must give the same bytes, not merely close
numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.profile import analyze_scene

TABLES = ("profiles", "ratios", "metrics", "reliable_windows", "diagnostics")


def _assert_identical(a, b):
    for name in TABLES:
        pd.testing.assert_frame_equal(
            getattr(a.depth, name), getattr(b.depth, name), check_exact=True, obj=name
        )


def test_many_particles_one_or_two_threads_identical():
    from cathodescope.phantom import paper_scene

    data, _ = paper_scene((300, 420), n_particles=3, spacing=0.049, seed=3)
    runs = [
        analyze_scene(data, threads=t, progress=False, marker_spacing_um=2, n_boot=100)
        for t in (1, 2)
    ]
    assert len(runs[0].depth.metrics) > 0
    _assert_identical(*runs)


@pytest.fixture(scope="module")
def big_particle():
    """One sphere whose crop (84^3 voxels) is big enough for threads inside the particle."""
    n = 92
    z, y, x = np.mgrid[:n, :n, :n].astype(float)
    r = np.sqrt((z - n / 2) ** 2 + (y - n / 2) ** 2 + (x - n / 2) ** 2)
    mask = r < 42
    rng = np.random.default_rng(11)
    ni = np.where(mask, 0.8 - 0.2 * r / 42, 0.0) + rng.normal(0, 0.02, mask.shape) * mask
    mn = np.where(mask, 0.1 + 0.2 * r / 42, 0.0) + rng.normal(0, 0.02, mask.shape) * mask
    return {"Ni": ni.astype(np.float32), "Mn": mn.astype(np.float32)}


def test_big_particle_threads_inside_identical(big_particle):
    # an 84^3 crop (593k voxels) is above the engine's 500k-voxel threshold for threads inside
    runs = [
        analyze_scene(
            big_particle,
            spacing=0.049,
            threads=t,
            progress=False,
            n_boot=50,
            remove_edge_particles=False,
        )
        for t in (1, 2)
    ]
    assert len(runs[0].depth.profiles) > 0
    _assert_identical(*runs)
