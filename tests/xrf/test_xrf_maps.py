"""Ratio and fraction images, RGB overlays and line profiles against analytic images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import profile_line

from cathodescope.errors import EmptyMapError, ParameterError, ScanGeometryError, XRFChannelError
from cathodescope.xrf import as_maps, fraction_maps, line_profile, ratio_map, rgb_overlay
from cathodescope.xrf._lineprofile import _physical_profile


def _square_scene(rng=None):
    """Ni = 100 inside a square, Mn = 2 Ni, Co = 0.5 Ni; background 1 count of noise."""
    ni = np.zeros((40, 50))
    ni[10:30, 15:35] = 100.0
    if rng is not None:
        ni = ni + rng.uniform(0, 1, ni.shape)
    return as_maps({"Ni": ni, "Mn": 2 * ni, "Co": 0.5 * ni}, spacing=0.1)


def test_ratio_map_masks_low_signal(rng):
    maps = _square_scene(rng)
    r = ratio_map(maps, "Mn", "Ni")
    inside = np.zeros((40, 50), bool)
    inside[10:30, 15:35] = True
    np.testing.assert_allclose(r.values[inside], 2.0, rtol=1e-12)
    # Otsu's threshold sits at the top of the background histogram: pixels below it are NaN,
    # at most a few of the brightest background pixels pass
    thr = r.attrs["min_signal"]
    assert 0.5 < thr < 100
    assert np.isnan(r.values[maps.sel(channel="Ni").values <= thr]).all()
    # background is U(0, 1): the fraction passing is P(U > thr) = 1 - thr (binomial sd 0.005)
    assert np.isfinite(r.values[~inside]).mean() == pytest.approx(max(0.0, 1 - thr), abs=0.015)
    assert r.attrs["masked_fraction"] == pytest.approx(np.isnan(r.values).mean())
    # an explicit threshold below the background keeps the background (ratio still 2 there)
    r0 = ratio_map(maps, "Mn", "Ni", min_signal=0.0)
    np.testing.assert_allclose(r0.values[np.isfinite(r0.values)], 2.0)
    with pytest.raises(EmptyMapError, match="lower min_signal"):
        ratio_map(maps, "Mn", "Ni", min_signal=1e6)
    with pytest.raises(XRFChannelError, match="'Fe'"):
        ratio_map(maps, "Fe", "Ni")
    with pytest.raises(ParameterError, match="min_signal"):
        ratio_map(maps, "Mn", "Ni", min_signal="mean")


def test_all_nan_and_constant_maps():
    nan = np.full((10, 10), np.nan)
    maps = as_maps({"Ni": np.ones((10, 10)), "Mn": nan}, spacing=0.1)
    with pytest.raises(EmptyMapError, match="all NaN"):
        ratio_map(maps, "Mn", "Ni")
    with pytest.raises(EmptyMapError, match="constant"):
        ratio_map(maps, "Ni", "Ni")
    with pytest.raises(ScanGeometryError, match="one size"):
        as_maps({"Ni": np.ones((10, 10)), "Mn": np.ones((10, 11))}, spacing=0.1)


def test_fraction_maps_sum_to_one_and_sensitivity(rng):
    maps = _square_scene(rng)
    f = fraction_maps(maps, ["Ni", "Mn", "Co"])
    valid = np.isfinite(f.values[0])
    np.testing.assert_allclose(f.values[:, valid].sum(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(f.sel(channel="Mn").values[valid], 2 / 3.5, rtol=1e-12)
    # with Mn twice as sensitive as Ni and Co, the atomic fractions are 1 : 1 : 0.5
    f2 = fraction_maps(maps, ["Ni", "Mn", "Co"], sensitivity={"Ni": 1, "Mn": 2, "Co": 1})
    np.testing.assert_allclose(f2.sel(channel="Mn").values[valid], 1 / 2.5, rtol=1e-12)
    with pytest.raises(ParameterError, match="sensitivity has no value"):
        fraction_maps(maps, ["Ni", "Mn"], sensitivity={"Ni": 1})


def test_rgb_overlay_per_channel_percentiles():
    y, x = np.mgrid[0:20, 0:30].astype(float)
    maps = as_maps({"Ni": x, "Co": 1000 * y, "Mn": x + y}, spacing=0.1)
    rgb = rgb_overlay(maps, ("Ni", "Co", "Mn"), percentiles=(0, 100))
    assert rgb.dims == ("y", "x", "rgb")
    np.testing.assert_allclose(rgb.values[..., 0], x / 29)
    np.testing.assert_allclose(rgb.values[..., 1], y / 19)  # scaled on its own, not by Ni
    np.testing.assert_allclose(rgb.values[..., 2], (x + y) / 48)
    assert rgb.attrs["limits"]["Co"] == (0.0, 19000.0)
    clipped = rgb_overlay(maps, ("Ni", "Co", "Mn"), percentiles=(10, 90))
    lo, hi = np.percentile(x, [10, 90])
    np.testing.assert_allclose(clipped.values[..., 0], np.clip((x - lo) / (hi - lo), 0, 1))
    with pytest.raises(ParameterError, match="exactly 3"):
        rgb_overlay(maps, ("Ni", "Co"))
    with pytest.raises(ParameterError, match="percentiles"):
        rgb_overlay(maps, percentiles=(50, 10))
    flat = as_maps({"Ni": x, "Co": np.ones_like(x), "Mn": x}, spacing=0.1)
    with pytest.raises(EmptyMapError, match="no contrast"):
        rgb_overlay(flat, ("Ni", "Co", "Mn"))


def _plane(spacing, shape=(60, 80), a=0.7, b=-1.3, c=5.0):
    """f(y, x) = a*y + b*x + c in um: bilinear interpolation reproduces it exactly."""
    yy = np.arange(shape[0])[:, None] * spacing[0]
    xx = np.arange(shape[1])[None, :] * spacing[1]
    return as_maps({"f": a * yy + b * xx + c + 0 * (yy + xx)}, spacing=spacing), (a, b, c)


@pytest.mark.parametrize("spacing", [(0.05, 0.05), (0.02, 0.01)])
def test_line_profile_on_a_plane(spacing):
    maps, (a, b, c) = _plane(spacing)
    start, end = (0.2, 0.1), (0.9, 0.6)
    prof = line_profile(maps, start, end, width_um=0.1)
    length = np.hypot(end[0] - start[0], end[1] - start[1])
    assert prof["distance"].values[-1] == pytest.approx(length)
    assert np.all(np.diff(prof["distance"].values) <= min(spacing) + 1e-12)
    np.testing.assert_allclose(prof["y"].values[[0, -1]], (start[0], end[0]))
    np.testing.assert_allclose(prof["x"].values[[0, -1]], (start[1], end[1]))
    expected = a * prof["y"].values + b * prof["x"].values + c
    # averaging symmetrically across the band leaves a plane unchanged
    np.testing.assert_allclose(prof.sel(channel="f").values, expected, atol=1e-9)
    assert prof.attrs["width_um"] == pytest.approx(0.1, abs=min(spacing))


def test_line_profile_width_averages_across():
    # a stripe pattern along x: across a horizontal line the width averages stripes
    y = np.arange(41)[:, None] * np.ones((1, 60))
    img = np.where(y.astype(int) % 2 == 0, 1.0, 0.0)
    maps = as_maps({"s": img}, spacing=0.1)
    single = line_profile(maps, (2.0, 0.5), (2.0, 5.0))
    np.testing.assert_allclose(single.values, 1.0)  # on an even row
    band = line_profile(maps, (2.0, 0.5), (2.0, 5.0), width_um=0.5)  # 5 rows: 3 even, 2 odd
    np.testing.assert_allclose(band.values, 3 / 5)
    with pytest.raises(ParameterError, match="leaves the map"):
        line_profile(maps, (0.1, 0.5), (0.1, 5.0), width_um=1.0)
    with pytest.raises(ParameterError, match="coincide"):
        line_profile(maps, (1.0, 1.0), (1.0, 1.0))


def test_own_band_sampler_matches_skimage_profile_line(rng):
    """Independent implementation check: the um-band sampler equals profile_line on square
    pixels, for several widths and directions."""
    img = rng.normal(size=(50, 60))
    for src, dst, lw in [((5, 5), (40, 50), 1), ((10.5, 3), (30, 55), 5), ((45, 10), (8, 12), 4)]:
        ref = profile_line(img, src, dst, linewidth=lw, order=1, mode="nearest")
        own, _, m = _physical_profile(
            img, np.array(src, float), np.array(dst, float), (0.1, 0.1), lw * 0.1, 1
        )
        assert m == lw
        np.testing.assert_allclose(own, ref, atol=1e-12)


def test_as_maps_refuses_a_spacing_that_contradicts_the_coordinates():
    from cathodescope.errors import SpacingError
    from cathodescope.xrf import as_maps

    maps = as_maps({"Ni": np.ones((4, 5)), "Mn": np.ones((4, 5))}, spacing=0.05)
    assert as_maps(maps, spacing=0.05) is not None  # agreeing spacing is fine
    with pytest.raises(SpacingError, match=r"spacing=\(1\.0, 1\.0\) um contradicts"):
        as_maps(maps, spacing=1.0)


def test_transect_and_its_fit_match_the_direct_calls():
    from cathodescope.xrf import (
        core_shell_map,
        fit_core_shell,
        fit_transect,
        fraction_maps,
        fraction_transect,
        line_profile,
    )

    maps, truth = core_shell_map((160, 160), spacing=0.05, rng=np.random.default_rng(3))
    cy, cx, r = truth["particles"][0]
    start, end = (cy, cx), (cy, cx + r * 0.98)
    t = fraction_transect(maps, start, end, width_um=0.5, compare_ratio="Mn/Ni")
    fp = line_profile(fraction_maps(maps, ["Ni", "Mn", "Co"]), start, end, width_um=0.5)
    np.testing.assert_array_equal(t.table["fraction_Mn"], fp.sel(channel="Mn").values)
    res = fit_transect(t, shell_at="end")
    direct = fit_core_shell(
        fp["distance"].values,
        {e: fp.sel(channel=e).values for e in ("Ni", "Mn", "Co")},
        shell_at="end",
    )
    assert res.fit.interface_um == pytest.approx(direct.interface_um, rel=1e-12)
    # truth: interface 1.5 um below the surface of the particle
    assert res.fit.interface_um == pytest.approx(r - truth["interface_depth_um"], abs=0.05)
    assert res.ratio_table["profile"][0].startswith("ratio")
