"""Depth maps: EDT parity with scipy, hull-fill parity with scikit-image, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from cathodescope.errors import CathodescopeRunWarning, EmptyDataError, SpacingError
from cathodescope.profile import convex_hull_fill, depth_map


def _blob(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random non-convex blob with a zero border."""
    field = ndi.gaussian_filter(rng.standard_normal(shape), 2.0)
    m = field > np.percentile(field, 60)
    lab, _ = ndi.label(m)
    sizes = np.bincount(lab.ravel())[1:]
    m = lab == (1 + int(np.argmax(sizes)))
    border = tuple(slice(1, -1) for _ in shape)
    out = np.zeros(shape, bool)
    out[border] = m[border]
    return out


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [
        ((40, 50), (0.049, 0.049)),
        ((40, 50), (0.0735, 0.049)),
        ((24, 30, 28), (0.049, 0.049, 0.049)),
        ((24, 30, 28), (0.0735, 0.049, 0.03)),
    ],
)
def test_mask_depth_matches_scipy_edt(rng, shape, spacing):
    m = _blob(rng, shape)
    ours = depth_map(m, spacing=spacing, surface="mask")
    ref = ndi.distance_transform_edt(m, sampling=spacing)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - ref)) < 1e-6  # um
    assert np.all(ours[~m] == 0)


@pytest.mark.parametrize("spacing", [(0.049, 0.049, 0.049), (0.0735, 0.049, 0.049)])
def test_hull_depth_matches_scipy_edt_of_skimage_hull(rng, spacing):
    m = _blob(rng, (22, 26, 24))
    hull = convex_hull_image(m, offset_coordinates=False)
    ref = np.where(
        m, ndi.distance_transform_edt(np.pad(hull, 1), sampling=spacing)[1:-1, 1:-1, 1:-1], 0
    )
    ours = depth_map(m, spacing=spacing, surface="hull")
    assert np.max(np.abs(ours - ref)) < 1e-6
    # the hull surface is never inside the mask surface
    assert np.all(ours >= depth_map(m, spacing=spacing, surface="mask") - 1e-6)


def test_array_border_counts_as_outside():
    m = np.ones((5, 7), bool)
    d = depth_map(m, spacing=(0.1, 0.2), surface="mask")
    ref = ndi.distance_transform_edt(np.pad(m, 1), sampling=(0.1, 0.2))[1:-1, 1:-1]
    np.testing.assert_allclose(d, ref, atol=1e-6)
    assert d[0, 3] == pytest.approx(0.1)


@pytest.mark.parametrize("ndim", [2, 3])
def test_hull_fill_matches_skimage_on_random_shapes(rng, ndim):
    for trial in range(12):
        shape = (30, 27) if ndim == 2 else (14, 17, 13)
        m = np.zeros(shape, bool)
        if trial % 2:
            m = _blob(rng, shape)
        else:  # sparse points: a hull much bigger than the mask
            pts = rng.integers(1, np.array(shape) - 1, size=(7, ndim))
            m[tuple(pts.T)] = True
        ours = convex_hull_fill(m)
        ref = convex_hull_image(m, offset_coordinates=False)
        assert np.array_equal(ours, ref), f"trial {trial}: {np.sum(ours != ref)} voxels differ"


def test_hull_fill_of_digitised_ellipsoid_is_itself():
    z, y, x = np.mgrid[:31, :41, :35]
    m = ((z - 15) / 14.2) ** 2 + ((y - 20) / 19.3) ** 2 + ((x - 17) / 11.7) ** 2 <= 1
    assert np.array_equal(convex_hull_fill(m), m)


def test_hull_fill_fills_a_void_and_a_notch():
    z, y, x = np.mgrid[:31, :31, :31]
    r = np.sqrt((z - 15) ** 2 + (y - 15) ** 2 + (x - 15) ** 2)
    solid = r <= 13
    m = solid & (r > 5) & ~((x > 24) & (np.abs(y - 15) < 3))  # central void + surface notch
    hull = convex_hull_fill(m)
    assert np.array_equal(hull, convex_hull_image(m, offset_coordinates=False))
    assert hull[r <= 5].all()  # the void is inside the hull
    assert not hull[~solid].any()


def test_depth_map_bad_input():
    m = np.zeros((10, 10), bool)
    with pytest.raises(EmptyDataError, match="empty mask"):
        depth_map(m, spacing=0.05)
    m[3:6, 3:6] = True
    with pytest.raises(SpacingError, match="spacing is required"):
        depth_map(m, spacing=None)
    with pytest.raises(SpacingError, match="> 0"):
        depth_map(m, spacing=(0.05, 0.0))
    with pytest.raises(SpacingError, match="2 spatial dimensions"):
        depth_map(m, spacing=(0.05, 0.05, 0.05))
    with pytest.raises(ValueError, match="surface='skin' is not valid"):
        depth_map(m, spacing=0.05, surface="skin")


def test_flat_particle_hull_warns_and_uses_mask():
    m = np.zeros((5, 8, 8), bool)
    m[2, 2:6, 1:7] = True  # one plane: qhull cannot build a 3D hull
    with pytest.warns(CathodescopeRunWarning, match="flat"):
        d = depth_map(m, spacing=0.05)
    assert np.allclose(d[m], 0.05)
