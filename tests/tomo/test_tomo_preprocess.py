"""Pre-processing: normalization, -log, zingers, rings, slab-wise processing."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import (
    NonPositiveIntensityError,
    ProjectionGeometryError,
    ShapeMismatchError,
)
from cathodescope.io import make_projections
from cathodescope.tomo import (
    fbp,
    forward_project,
    minus_log,
    preprocess,
    remove_zingers,
    suppress_rings,
)


def test_normalization_and_log_exact():
    # I = D + (F - D) exp(-p) -> -log((I - D)/(F - D)) = p exactly (no noise)
    p = np.linspace(0, 2, 4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    flat, dark = 1000.0, 50.0
    counts = dark + (flat - dark) * np.exp(-p)
    raw = make_projections(
        counts, np.arange(4.0) * 45, flats=np.full((2, 3, 5), flat), darks=np.full((3, 3, 5), dark)
    )
    lines = preprocess(raw, zinger_threshold=None)
    np.testing.assert_allclose(lines.values, p, atol=1e-5)
    assert lines.attrs["units"] == "dimensionless"


def test_log_of_nonpositive_raises_with_hint():
    counts = np.full((3, 2, 4), 40.0)  # below the dark level
    raw = make_projections(
        counts, [0, 60, 120], flats=np.full((2, 4), 1000.0), darks=np.full((2, 4), 50.0)
    )
    with pytest.raises(NonPositiveIntensityError, match=r"24 of 24 .* dark frames"):
        preprocess(raw, zinger_threshold=None)
    clipped = preprocess(raw, zinger_threshold=None, min_transmission=1e-3)
    np.testing.assert_allclose(clipped.values, -np.log(1e-3), rtol=1e-6)
    with pytest.raises(NonPositiveIntensityError):
        minus_log(np.array([0.5, 0.0]))


def test_missing_or_wrong_flats():
    raw = make_projections(np.ones((3, 2, 4)), [0, 60, 120])
    with pytest.raises(ProjectionGeometryError, match="no flat-field"):
        preprocess(raw)
    with pytest.raises(ShapeMismatchError, match="same detector binning"):
        raw.with_flats(np.ones((2, 2, 5)))


def test_zingers_removed_and_counted(rng):
    clean = rng.poisson(1000, (20, 8, 30)).astype(np.float32)
    dirty = clean.copy()
    idx = (rng.integers(0, 20, 15), rng.integers(0, 8, 15), rng.integers(1, 29, 15))
    dirty[idx] *= 5.0
    fixed, n = remove_zingers(dirty, threshold=0.3)
    assert n >= 15  # every injected zinger (Poisson pixels are never 30 % above the median)
    assert n <= 15 + 2
    assert np.abs(fixed[idx] - 1000).max() < 150  # replaced by a local median


def test_ring_suppression_reduces_ring_artefact():
    # An off-centre object (columns of its sinogram vary with angle); a rotationally symmetric
    # object centred on the axis would be indistinguishable from rings by construction.
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    n = 64
    angles = np.linspace(0, 180, 90, endpoint=False)
    obj = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32) * 0.02
    sino = forward_project(obj, angles)
    offsets = np.zeros(n, np.float32)
    offsets[[20, 41]] = 0.05  # two miscalibrated detector columns -> two rings
    bad = (sino + offsets)[:, None, :]
    fixed = suppress_rings(bad, width=9)[:, 0, :]
    clean = fbp(sino, angles)
    err_bad = np.abs(fbp(bad[:, 0, :], angles) - clean).max()
    err_fixed = np.abs(fbp(fixed, angles) - clean).max()
    assert err_fixed < 0.25 * err_bad


def test_slab_processing_to_hdf5_equals_in_memory(tmp_path, rng):
    counts = rng.poisson(800, (6, 10, 7)).astype(np.float32)
    raw = make_projections(
        counts,
        np.arange(6.0) * 30,
        flats=rng.poisson(1000, (3, 10, 7)),
        darks=np.full((2, 10, 7), 20.0),
    )
    mem = preprocess(raw, slab=4)
    disk = preprocess(raw, slab=3, out=tmp_path / "lines.h5")
    np.testing.assert_allclose(np.asarray(disk.values), mem.values, rtol=1e-6)
    assert disk.attrs["n_zingers"] == mem.attrs["n_zingers"]
