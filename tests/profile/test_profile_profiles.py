"""Depth profiles on noise-free analytic balls: ratios, 2D/3D/anisotropic agreement, metrics,
reliable window, density data, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from cathodescope.errors import (
    CathodescopeRunWarning,
    EmptyDataError,
    EmptySegmentationError,
    NonFiniteDataError,
    ParameterError,
    ParticleTooSmallError,
    ShapeMismatchError,
    SpacingError,
)
from cathodescope.profile import DepthProfiles, depth_profiles

ISO = (0.049, 0.049, 0.049)
ANISO = (0.0735, 0.049, 0.049)


def _in_window(res: DepthProfiles, df: pd.DataFrame) -> pd.DataFrame:
    w = res.reliable_windows.set_index("particle_id")
    lo = df.particle_id.map(w.depth_min_um)
    hi = df.particle_id.map(w.depth_max_um)
    return df[(df.depth_um >= lo) & (df.depth_um <= hi)]


@pytest.fixture(scope="module")
def iso_ball(make_ball):
    labels, chans, _ = make_ball((96, 96, 96), ISO, 2.3)
    return labels, chans, depth_profiles(labels, chans, spacing=ISO)


def test_noise_free_ratios_match_truth_in_reliable_window(iso_ball, composition):
    _, _, res = iso_ball
    r = _in_window(res, res.ratios)
    w = res.reliable_windows.iloc[0]
    assert w.depth_min_um <= 0.25 and w.depth_max_um >= 2.0  # no intensity drop: full range
    for el, f in composition.items():
        q = r[r.element == el]
        err = np.abs(q.ratio.to_numpy() - f(q.depth_um.to_numpy()))
        assert err.max() < 0.01, f"{el}: max error {err.max():.4f}"
    assert not r.flagged.any()
    # noise-free: intervals are tiny and contain the value
    assert ((r.ci_low <= r.ratio) & (r.ratio <= r.ci_high)).all()


def test_profiles_table_is_consistent(iso_ball):
    labels, chans, res = iso_ball
    p = res.profiles
    assert list(p.columns) == [
        "particle_id",
        "channel",
        "depth_um",
        "n_voxels",
        "mean",
        "std",
        "ci_low",
        "ci_high",
    ]
    for c, v in chans.items():
        q = p[p.channel == c]
        assert q.n_voxels.sum() == int((labels > 0).sum())
        total = (q["mean"] * q.n_voxels).sum()
        assert total == pytest.approx(float(v[labels > 0].astype(float).sum()), rel=1e-9)
        hist, d_edges, v_edges = res.density(1, c)
        assert hist.shape == (len(d_edges) - 1, len(v_edges) - 1)
        # the 0.5-99.5 percentile range drops at most ~1 % of the voxels
        assert hist.sum() >= 0.98 * q.n_voxels.sum()
    with pytest.raises(KeyError, match="no density data"):
        res.density(99, "Ni")


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((64, 96, 96), ANISO), ((96, 96), ISO[:2]), ((64, 96), ANISO[:2])],
)
def test_2d_3d_iso_aniso_agree(iso_ball, make_ball, shape, spacing):
    _, _, ref = iso_ball
    labels, chans, _ = make_ball(shape, spacing, 2.3)
    res = depth_profiles(labels, chans, spacing=spacing)
    a = ref.ratios.set_index(["element", "depth_um"]).ratio
    b = res.ratios.set_index(["element", "depth_um"]).ratio
    common = (
        _in_window(res, res.ratios).set_index(["element", "depth_um"]).index.intersection(a.index)
    )
    assert len(common) >= 3 * 40
    diff = np.abs(a.loc[common].to_numpy() - b.loc[common].to_numpy())
    assert diff.max() < 0.005
    m = ref.metrics.set_index("element")[["edge_ratio", "core_ratio", "d_core_edge"]]
    m2 = res.metrics.set_index("element")[["edge_ratio", "core_ratio", "d_core_edge"]]
    np.testing.assert_allclose(m2.to_numpy(), m.to_numpy(), atol=0.005)


def test_table1_metrics_on_analytic_profile(make_ball):
    def ni(d):
        return 0.60 + 0.10 * np.exp(-((d - 1.2) ** 2) / (2 * 0.2**2))

    comp = {"Ni": ni, "Mn": lambda d: (1 - ni(d)) * 0.4, "Co": lambda d: (1 - ni(d)) * 0.6}
    labels, chans, _ = make_ball((100, 100, 100), ISO, 2.4, composition=comp)
    res = depth_profiles(labels, chans, spacing=ISO)
    m = res.metrics.set_index("element")
    assert m.loc["Ni", "edge_ratio"] == pytest.approx(ni(0.275), abs=0.005)
    assert m.loc["Ni", "core_ratio"] == pytest.approx(ni(1.975), abs=0.005)
    assert m.loc["Ni", "d_core_edge"] == pytest.approx(ni(1.975) - ni(0.275), abs=0.005)
    assert m.loc["Ni", "max_depth_um"] == pytest.approx(1.2, abs=0.05)
    assert m.loc["Ni", "max_ratio"] == pytest.approx(0.70, abs=0.005)
    depths = np.arange(0.275, 2.0, 0.05)
    assert m.loc["Ni", "d_max_min"] == pytest.approx(0.70 - ni(depths).min(), abs=0.005)
    # Mn = 0.4 (1 - Ni): its maximum is where Ni is lowest, at an end of the sampling window
    assert m.loc["Mn", "d_max_min"] == pytest.approx(0.4 * m.loc["Ni", "d_max_min"], abs=0.003)


def test_auto_reliable_window_excludes_blurred_surface_and_void(make_ball):
    _, chans, _ = make_ball((84, 84, 84), ISO, 2.0, void_um=0.4)
    solid, _, _ = make_ball((84, 84, 84), ISO, 2.0)  # segmentation with the void filled
    blurred = {c: ndi.gaussian_filter(v, 2.5) for c, v in chans.items()}
    res = depth_profiles(solid, blurred, spacing=ISO)
    w = res.reliable_windows.iloc[0]
    # blur of 2.5 voxels = 0.12 um: the outer ~0.1 um loses intensity, so does the void rim
    assert 0.05 <= w.depth_min_um <= 0.25
    assert 1.3 <= w.depth_max_um <= 1.6  # the void starts 1.6 um below the surface
    fixed = depth_profiles(
        solid, blurred, spacing=ISO, reliable_window=(0.25, 1.5), ci_method="naive"
    )
    assert tuple(fixed.reliable_windows.iloc[0, 1:]) == (0.25, 1.5)


def test_values_outside_unit_interval_are_flagged(make_ball):
    labels, chans, _ = make_ball((48, 48), ISO[:2], 1.1)
    chans = dict(chans)
    chans["Mn"] = chans["Mn"] - 60.0  # phase artefact: negative intensities
    res = depth_profiles(
        labels,
        chans,
        spacing=ISO[:2],
        edge_window_um=(0.25, 0.3),
        core_window_um=(0.8, 0.9),
        sampling_window_um=(0.25, 0.9),
    )
    r = res.ratios
    assert r[r.element == "Mn"].flagged.all()
    assert (r[r.element == "Mn"].ratio < 0).all()
    assert r[r.element == "Ni"].flagged.all()  # Ni / (reduced total) > 1


def test_two_particles_and_ratio_channel_subset(make_ball):
    a, ca, _ = make_ball((60, 60), ISO[:2], 1.3)
    labels = np.concatenate([a, 2 * a], axis=1)  # second, identical disk
    chans = {c: np.concatenate([v, v], axis=1) for c, v in ca.items()}
    chans["O"] = (labels > 0) * 50.0
    kw = {
        "edge_window_um": (0.25, 0.3),
        "core_window_um": (1.0, 1.1),
        "sampling_window_um": (0.25, 1.1),
    }
    res = depth_profiles(labels, chans, spacing=0.049, ratio_channels=["Ni", "Mn", "Co"], **kw)
    assert sorted(res.profiles.channel.unique()) == ["Co", "Mn", "Ni", "O"]
    assert sorted(res.ratios.element.unique()) == ["Co", "Mn", "Ni"]
    p1 = res.ratios[res.ratios.particle_id == 1].ratio.to_numpy()
    p2 = res.ratios[res.ratios.particle_id == 2].ratio.to_numpy()
    np.testing.assert_allclose(p1, p2, atol=1e-12)
    s = res.ratios.groupby(["particle_id", "depth_um"]).ratio.sum()
    np.testing.assert_allclose(s.to_numpy(), 1.0, atol=1e-9)


def test_too_small_particle_warns_or_raises(make_ball):
    labels, chans, _ = make_ball((48, 48, 48), ISO, 1.0)
    with pytest.warns(CathodescopeRunWarning, match="too shallow for the core window"):
        res = depth_profiles(labels, chans, spacing=ISO)
    m = res.metrics
    assert m.core_ratio.isna().all() and m.d_core_edge.isna().all()
    assert m.edge_ratio.notna().all()
    with pytest.raises(ParticleTooSmallError, match="too shallow for the core window"):
        depth_profiles(labels, chans, spacing=ISO, core_window_um=(1.95, 2.0))


def test_bad_input(make_ball):
    labels, chans, _ = make_ball((30, 30), ISO[:2], 0.6)
    kw = {
        "spacing": 0.049,
        "edge_window_um": (0.1, 0.15),
        "core_window_um": (0.3, 0.35),
        "sampling_window_um": (0.1, 0.35),
    }
    with pytest.raises(ShapeMismatchError, match="same grid"):
        depth_profiles(labels, {**chans, "Co": chans["Co"][:-1]}, **kw)
    bad = chans["Ni"].copy()
    bad[10, 10] = np.nan
    with pytest.raises(NonFiniteDataError, match="1 NaN/inf"):
        depth_profiles(labels, {**chans, "Ni": bad}, **kw)
    bad[10, 10] = np.inf
    with pytest.raises(NonFiniteDataError, match="nan_to_num"):
        depth_profiles(labels, {**chans, "Ni": bad}, **kw)
    with pytest.raises(EmptyDataError, match="all zero"):
        depth_profiles(labels, {**chans, "Mn": np.zeros_like(bad)}, **kw)
    with pytest.raises(EmptyDataError, match="non-empty mapping"):
        depth_profiles(labels, {}, **kw)
    with pytest.raises(EmptySegmentationError, match="no particle"):
        depth_profiles(np.zeros_like(labels), chans, **kw)
    with pytest.raises(ParameterError, match="integer label image"):
        depth_profiles(labels.astype(float), chans, **kw)
    with pytest.raises(SpacingError, match="spacing is required"):
        depth_profiles(labels, chans, **{**kw, "spacing": None})
    with pytest.raises(SpacingError, match="> 0"):
        depth_profiles(labels, chans, **{**kw, "spacing": -0.05})
    with pytest.raises(ParameterError, match="bin_width_um must be finite and > 0"):
        depth_profiles(labels, chans, bin_width_um=0, **kw)
    with pytest.raises(ParameterError, match="ci_level must be in"):
        depth_profiles(labels, chans, ci_level=99, **kw)
    with pytest.raises(ParameterError, match="ci_method='bayes' is not valid"):
        depth_profiles(labels, chans, ci_method="bayes", **kw)
    with pytest.raises(ParameterError, match="surface='skin' is not valid"):
        depth_profiles(labels, chans, surface="skin", **kw)
    with pytest.raises(ParameterError, match="subset of the channels"):
        depth_profiles(labels, chans, ratio_channels=["Ni", "Al"], **kw)
    with pytest.raises(ParameterError, match="not a valid depth window"):
        depth_profiles(labels, chans, reliable_window=(2.0, 0.25), **kw)
    with pytest.raises(ParameterError, match="reliable_window='manual' is not valid"):
        depth_profiles(labels, chans, reliable_window="manual", **kw)
    with pytest.raises(ParameterError, match="not a valid depth window"):
        depth_profiles(labels, chans, **{**kw, "edge_window_um": (-0.1, 0.2)})


def test_dataarray_inputs_progress_and_threads_give_same_result(make_ball):
    import xarray as xr

    labels, chans, _ = make_ball((64, 128), (0.049, 0.049), 1.2)
    labels = labels.copy()
    labels[:, 64:] *= 2  # two particles (the ball is centred: it is split in two halves)
    kw = {
        "spacing": 0.049,
        "edge_window_um": (0.1, 0.15),
        "core_window_um": (0.3, 0.35),
        "sampling_window_um": (0.1, 0.35),
    }
    da = {c: xr.DataArray(v, dims=("y", "x")) for c, v in chans.items()}
    a = depth_profiles(labels, da, progress=True, threads=2, **kw)
    b = depth_profiles(labels, chans, threads=1, **kw)
    pd.testing.assert_frame_equal(a.profiles, b.profiles)
    pd.testing.assert_frame_equal(a.ratios, b.ratios)
    assert a.reliable_windows.particle_id.tolist() == [1, 2]
