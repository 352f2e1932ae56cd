"""The compiled watershed gives scikit-image's labels exactly (same flooding and tie order)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from cathodescope.segment._watershed import watershed_markers


def _case(rng: np.random.Generator, ndim: int, kind: str):
    shape = tuple(int(n) for n in rng.integers(3, 24 if ndim == 3 else 70, size=ndim))
    if kind == "continuous":
        image = rng.standard_normal(shape).astype(np.float32)
    elif kind == "plateaus":  # few distinct values: ties everywhere, markers of equal value
        image = rng.integers(0, 4, size=shape).astype(np.float64)
    else:  # quantised float32, like a distance map
        image = (np.round(rng.random(shape) * 20) / 4).astype(np.float32)
    mask = rng.random(shape) < rng.uniform(0.5, 1.0)
    markers = np.zeros(shape, dtype=np.int32)
    for label in range(1, int(rng.integers(1, 8)) + 1):
        markers[tuple(int(rng.integers(0, n)) for n in shape)] = label
    return image, markers, mask


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kind", ["continuous", "plateaus", "quantised"])
def test_watershed_equals_skimage_on_random_images(ndim, kind):
    rng = np.random.default_rng(100 * ndim + len(kind))
    for _ in range(40):
        image, markers, mask = _case(rng, ndim, kind)
        expected = watershed(image, markers, mask=mask)
        got = watershed_markers(image, markers, mask)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)


def test_watershed_equals_skimage_on_touching_balls():
    # the segmentation's use: negated distance map of two touching balls, one marker each
    z, y, x = np.mgrid[:40, :40, :60]
    mask = ((z - 20) ** 2 + (y - 20) ** 2 + (x - 18) ** 2 < 14**2) | (
        (z - 20) ** 2 + (y - 21) ** 2 + (x - 42) ** 2 < 13**2
    )
    dist = ndi.distance_transform_edt(mask, sampling=(0.05, 0.05, 0.07)).astype(np.float32)
    markers = np.zeros(mask.shape, np.int32)
    markers[20, 20, 18] = 1
    markers[20, 21, 42] = 2
    got = watershed_markers(-dist, markers, mask)
    np.testing.assert_array_equal(got, watershed(-dist, markers, mask=mask))
    assert set(np.unique(got)) == {0, 1, 2}


def test_watershed_markers_of_equal_value_follow_the_heap_order():
    # a flat image: every marker ties with every other (value and age 0), so the labels
    # depend on the order the heap pops them in; it must be scikit-image's
    image = np.zeros((9, 31), dtype=np.float32)
    mask = np.ones(image.shape, bool)
    markers = np.zeros(image.shape, np.int32)
    for label, col in enumerate([2, 9, 15, 16, 22, 29], start=1):
        markers[4, col] = label
    np.testing.assert_array_equal(
        watershed_markers(image, markers, mask), watershed(image, markers, mask=mask)
    )


def test_watershed_unusual_inputs_go_to_skimage():
    rng = np.random.default_rng(3)
    image = rng.random((12, 14))
    image[3, 4] = np.nan
    markers = np.zeros(image.shape, np.int32)
    markers[1, 1], markers[10, 12] = 1, -2  # a negative label
    mask = np.ones(image.shape, bool)
    np.testing.assert_array_equal(
        watershed_markers(image, markers, mask), watershed(image, markers, mask=mask)
    )


@pytest.mark.parametrize("split", [False, True])
def test_ball_inside_a_hollow_particle_gives_consecutive_labels(split):
    # the relabelling works box by box (boxes overlap here: the inner ball's box lies inside
    # the shell's); labels must stay consecutive 1..N in raster order of first voxels, with
    # the sizes bincount finds, whether the shell's hole fill keeps or absorbs the ball
    from cathodescope.segment import segment_particles

    z, y, x = np.mgrid[:48, :48, :70]
    r = np.sqrt((z - 24) ** 2 + (y - 24) ** 2 + (x - 24) ** 2)
    image = ((r < 20) & (r > 12)) | (r < 5)  # shell with a ball in its cavity
    image |= (z - 24) ** 2 + (y - 24) ** 2 + (x - 58) ** 2 < 9**2  # a neighbour
    image[2:5, 2:5, 64:68] = True  # a speck, removed by min_size_um
    seg = segment_particles(
        image.astype(np.float32),
        spacing=0.1,
        split_touching=split,
        marker_spacing_um=0.8,
        min_size_um=0.05,
    )
    lab = seg.labels
    ids = np.unique(lab)
    np.testing.assert_array_equal(ids, np.arange(seg.n_particles + 1))
    first = [np.flatnonzero(lab.ravel() == i)[0] for i in ids[1:]]
    assert first == sorted(first)
    assert seg.parameters["n_removed_small"] == 1
    assert np.all(np.bincount(lab.ravel())[1:] > 0)
