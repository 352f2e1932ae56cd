"""The coarse-grid connected-component labelling equals scipy's full-volume labelling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from cathodescope.segment._segment import _any_4blocks, _label_components


@pytest.mark.parametrize(
    ("shape", "fraction", "seed"),
    [((37, 50, 61), 0.3, 0), ((64, 64, 64), 0.5, 1), ((30, 41, 23), 0.1, 2), ((9, 8, 5), 0.0, 3)],
)
def test_coarse_labelling_matches_scipy(shape, fraction, seed):
    rng = np.random.default_rng(seed)
    mask = ndi.binary_opening(rng.random(shape) < fraction) | (rng.random(shape) < 0.02)
    coarse = _label_components(mask, max_coarse=10**9, min_voxels=0)
    full = _label_components(mask, min_voxels=10**12)  # plain ndi.label + find_objects
    ref, n_ref = ndi.label(mask, structure=ndi.generate_binary_structure(3, 1))
    assert coarse[1] == full[1] == n_ref > 0
    # same components, same boxes, same order (raster order of first voxels, scipy's order)
    assert [sl for _, sl in coarse[2]] == [sl for _, sl in full[2]]
    assert [k for k, _ in full[2]] == list(range(1, n_ref + 1))
    lut = np.zeros(coarse[1] + 1, dtype=np.int64)
    for (kc, _), (kf, _) in zip(coarse[2], full[2], strict=True):
        lut[kc] = kf
    np.testing.assert_array_equal(lut[coarse[0]], ref)


def test_any_4blocks_matches_brute_force():
    rng = np.random.default_rng(4)
    mask = rng.random((13, 10, 7)) < 0.01
    got = _any_4blocks(mask)
    want = np.zeros((4, 3, 2), dtype=bool)
    for z, y, x in np.argwhere(mask):
        want[z // 4, y // 4, x // 4] = True
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_check_finite_fast_catches_non_finite(bad, dtype):
    from cathodescope.errors import NonFiniteDataError
    from cathodescope.segment._common import check_finite_fast

    arr = np.ones((4, 5, 6), dtype=dtype)
    arr[2, 3, 4] = bad
    with pytest.raises(NonFiniteDataError, match="1 NaN/inf"):
        check_finite_fast(arr, "image")


def test_check_finite_fast_accepts_finite_data_whose_sum_overflows():
    from cathodescope.segment._common import check_finite_fast

    big = np.full((3, 3), np.finfo(np.float64).max)  # float64 sum overflows: exact fallback
    check_finite_fast(big, "image")
    check_finite_fast(np.full((3, 3), np.finfo(np.float32).max, dtype=np.float32), "image")
    check_finite_fast(np.arange(6).reshape(2, 3), "image")  # integers are always finite
