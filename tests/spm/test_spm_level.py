"""Levelling recovers known planes, polynomials, row offsets and scars."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from cathodescope.errors import EmptyDataError, ParameterError, ShapeMismatchError
from cathodescope.spm import (
    align_rows,
    masked_level,
    plane_level,
    polynomial_level,
    polynomial_surface,
    remove_scars,
)


def _scene(rng, noise=1e-10):
    y, x = np.mgrid[0:200, 0:256].astype(float)
    plane = 5e-9 + 2e-11 * x - 1e-11 * y
    particles = np.zeros_like(plane)
    truth = np.zeros(plane.shape, bool)
    for cy, cx, r in [(50, 60, 20), (120, 180, 30), (160, 70, 25)]:
        d = np.hypot(y - cy, x - cx)
        particles += np.where(d < r, 50e-9 * np.sqrt(np.clip(1 - (d / r) ** 2, 0, None)), 0)
        truth |= d < r
    noise_map = rng.normal(0, noise, plane.shape)
    return plane, particles, noise_map, truth


def test_plane_level_exact_and_keeps_dataarray():
    y, x = np.mgrid[0:40, 0:50].astype(float)
    img = xr.DataArray(3.0 + 0.2 * x - 0.1 * y, dims=("y", "x"), attrs={"units": "m"})
    out = plane_level(img)
    assert isinstance(out, xr.DataArray) and out.attrs["units"] == "m"
    assert out.attrs["levelling"] == ["plane"]
    assert np.abs(out.values).max() < 1e-12


def test_polynomial_level_quadratic_and_coefficients():
    _y, x = np.mgrid[0:60, 0:80].astype(float)
    xs, ys = np.linspace(-1, 1, 80)[None, :], np.linspace(-1, 1, 60)[:, None]
    img = 1.0 + 2.0 * xs - 3.0 * ys + 0.5 * xs**2 + 0.25 * xs * ys - 0.75 * ys**2 + 0 * x
    _, coef = polynomial_surface(img, order=2)
    np.testing.assert_allclose(coef, [1.0, 2.0, -3.0, 0.5, 0.25, -0.75], atol=1e-12)
    assert np.abs(polynomial_level(img, order=2)).max() < 1e-12
    assert np.abs(polynomial_level(img, order=1)).max() > 0.1  # a plane cannot remove it


def test_masked_level_excludes_particles_and_recovers_plane(rng):
    plane, particles, noise, truth = _scene(rng)
    img = plane + particles + noise
    res = masked_level(img, order=1, threshold=2.5)
    assert res.converged and res.n_iter < 10
    assert np.all(res.excluded[truth])  # every particle pixel excluded
    assert res.excluded.mean() < truth.mean() + 0.05  # ...and not much more
    levelled = res.image
    # background is flat to the noise level: residual plane tilt < 1 % of the true tilt
    bg = ~res.excluded
    _, coef = polynomial_surface(levelled, order=1, mask=~bg)
    tilt_x_true = 2e-11 * 255 / 2  # coefficient of x scaled to [-1, 1]
    assert abs(coef[1]) < 0.01 * tilt_x_true
    assert np.std(levelled[bg]) == pytest.approx(1e-10, rel=0.05)
    # recovered particle heights: ~50 nm caps on a zero background
    assert np.max(levelled) == pytest.approx(50e-9 + np.max(noise), rel=0.02)
    # a naive plane fit is pulled up by the particles
    naive = plane_level(img)
    assert np.std(naive[bg]) > 5 * np.std(levelled[bg])


def test_align_rows_removes_offsets_even_with_particles(rng):
    plane, particles, _noise, truth = _scene(rng, noise=0.0)
    offsets = rng.normal(0, 5e-9, (plane.shape[0], 1))
    img = particles + offsets
    out = align_rows(img, method="median", mask=truth)
    assert np.abs(out[~truth]).max() < 1e-20
    out_mean = align_rows(img, method="mean")  # particles bias the row means
    assert np.abs(out_mean[~truth]).max() > 1e-9
    slope_rows = np.linspace(-1, 1, 256)[None, :] * rng.normal(0, 1e-9, (200, 1)) + offsets
    assert np.abs(align_rows(slope_rows, method="linear")).max() < 1e-20
    with pytest.raises(ParameterError, match="method"):
        align_rows(img, method="mode")


def test_remove_scars(rng):
    _plane, particles, noise, _truth = _scene(rng)
    clean = particles + noise
    img = clean.copy()
    img[100, 20:80] += 5e-9  # one-line scar
    img[30:32, 100:150] -= 4e-9  # two-line scar
    out, scars = remove_scars(img, threshold=4.0, max_width=2, min_length=8)
    expected = np.zeros_like(scars)
    expected[100, 20:80] = True
    expected[30:32, 100:150] = True
    assert (scars & expected).sum() / expected.sum() > 0.95
    assert (scars & ~expected).sum() < 10
    assert np.abs(out - clean)[expected].max() < 6e-10  # back to the noise level
    _out2, scars2 = remove_scars(clean)
    assert scars2.sum() < 5  # no scars invented on clean data


def test_bad_inputs():
    with pytest.raises(EmptyDataError, match="all NaN"):
        plane_level(np.full((10, 10), np.nan))
    with pytest.raises(ShapeMismatchError, match="2-D"):
        plane_level(np.zeros((3, 4, 5)))
    with pytest.raises(ShapeMismatchError, match="mask"):
        plane_level(np.zeros((10, 10)), mask=np.zeros((5, 5), bool))
    with pytest.raises(ParameterError, match="order"):
        polynomial_level(np.zeros((10, 10)), order=9)
    with pytest.raises(ParameterError, match="pixels are left"):
        plane_level(np.zeros((10, 10)), mask=np.ones((10, 10), bool))
    with pytest.raises(ParameterError, match="threshold"):
        masked_level(np.zeros((10, 10)), threshold=-1)
    with pytest.raises(ParameterError, match="max_width"):
        remove_scars(np.zeros((10, 10)), max_width=9)
    nan_img = np.zeros((20, 20))
    nan_img[3, 4] = np.nan
    assert np.isnan(plane_level(nan_img)[3, 4])


@pytest.mark.parametrize("order", [0, 1, 3, 5])
def test_polynomial_surface_matches_explicit_least_squares(rng, order):
    img = rng.normal(size=(37, 53)) + np.linspace(0, 3, 53)[None, :] ** 2
    mask = rng.random(img.shape) < 0.3
    surface, coef = polynomial_surface(img, order=order, mask=mask)
    # independent: explicit design matrix on the kept pixels, numpy lstsq
    yy, xx = np.meshgrid(np.linspace(-1, 1, 37), np.linspace(-1, 1, 53), indexing="ij")
    terms = [(t - j, j) for t in range(order + 1) for j in range(t + 1)]
    design = np.stack([(xx**i * yy**j).ravel() for i, j in terms], axis=1)
    keep = ~mask.ravel()
    ref, *_ = np.linalg.lstsq(design[keep], img.ravel()[keep], rcond=None)
    np.testing.assert_allclose(coef, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(surface, (design @ ref).reshape(img.shape), atol=1e-8)
