"""Honest intervals (issue 14): coverage of the TRUE composition at the REPORTED depth.

Phantoms of exact geometry (a sphere, rotated ellipsoids, anisotropic voxels, 2D cuts) whose
composition is the paper-like layered profile of the exact distance to the ellipsoid surface
(``cathodescope.phantom``), with i.i.d. or spatially correlated (PSF 1.4 voxels) Gaussian
noise. The truth of a row of the tables is ``profile(depth_um)``: the phantom's continuous
profile at the depth the engine reports, not the mean over the engine's own voxels. 99 %
intervals must contain it in >= 97 % of the bins (channels and ratios), and the Table-1 edge,
core and core-edge intervals in >= 95 % of the cases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cathodescope.phantom import Spheroid, paper_profile, render_particles
from cathodescope.profile import depth_profiles

PROFILE = paper_profile()
WINDOWS = {"sampling_window_um": (0.25, 1.0), "core_window_um": (0.95, 1.0)}
CASES = {
    "iid_sphere_3d": dict(semi=(1.5, 1.5, 1.5), spacing=(0.049,) * 3, psf=0.0, seeds=(0, 1, 2)),
    "corr_ellipsoid_3d": dict(
        semi=(1.8, 1.3, 1.1), spacing=(0.049,) * 3, psf=0.07, seeds=(3, 4, 5)
    ),
    "corr_anisotropic_3d": dict(
        semi=(1.6, 1.3, 1.2), spacing=(0.07, 0.049, 0.049), psf=0.07, seeds=(6, 7, 8)
    ),
    "iid_ellipse_2d": dict(semi=(2.5, 1.8, 1.8), spacing=(0.049,) * 2, psf=0.0, seeds=range(6)),
    "corr_ellipse_2d": dict(semi=(2.5, 1.8, 1.8), spacing=(0.049,) * 2, psf=0.07, seeds=range(6)),
}


def _phantom(semi, spacing, psf, seed, noise=0.03):
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(100 + seed)
    sp = np.asarray(spacing, float)
    shape = tuple(int(np.ceil(2 * (max(semi) + 0.2) / s)) + 3 for s in sp)
    centre = (np.array(shape) - 1) / 2 * sp + rng.uniform(-0.5, 0.5, sp.size) * sp
    if sp.size == 2:  # a central cut: long axis in the plane, random in-plane angle
        phi = rng.uniform(0, np.pi)
        c, s = np.cos(phi), np.sin(phi)
        rot = ((0.0, 0.0, 1.0), (c, -s, 0.0), (s, c, 0.0))
        centre = (0.0, *centre)
    else:
        rot = tuple(map(tuple, Rotation.random(random_state=rng).as_matrix()))
    particle = Spheroid(tuple(centre), semi, PROFILE, rotation=rot)
    data, truth = render_particles(
        [particle], shape, spacing=tuple(sp), noise_std=noise, noise_psf_um=psf, seed=seed
    )
    return truth.labels, {k: v.values for k, v in data.items()}, tuple(sp)


def _hits(labels, channels, spacing, **options):
    res = depth_profiles(labels, channels, spacing=spacing, **WINDOWS, **options)
    p, r, m = res.profiles, res.ratios, res.metrics
    true_p = np.array([PROFILE.fraction(c, d) for c, d in zip(p.channel, p.depth_um, strict=True)])
    true_r = np.array([PROFILE.fraction(c, d) for c, d in zip(r.element, r.depth_um, strict=True)])
    hit_p = (p.ci_low.to_numpy() <= true_p) & (true_p <= p.ci_high.to_numpy())
    hit_r = (r.ci_low.to_numpy() <= true_r) & (true_r <= r.ci_high.to_numpy())
    # Table-1 truth: the profile at the centre of the (one-bin) edge and core windows
    edge = np.array([PROFILE.fraction(e, 0.275) for e in m.element])
    core = np.array([PROFILE.fraction(e, 0.975) for e in m.element])
    hit_m = np.concatenate(
        [
            (m.edge_ci_low <= edge) & (edge <= m.edge_ci_high),
            (m.core_ci_low <= core) & (core <= m.core_ci_high),
            (m.d_core_edge_ci_low <= core - edge) & (core - edge <= m.d_core_edge_ci_high),
        ]
    )
    return hit_p, hit_r, hit_m, res


@pytest.mark.parametrize("name", list(CASES))
def test_99_percent_intervals_cover_the_truth_at_the_reported_depth(name):
    case = CASES[name]
    hp, hr, hm = [], [], []
    for seed in case["seeds"]:
        labels, channels, sp = _phantom(case["semi"], case["spacing"], case["psf"], seed)
        a, b, c, _ = _hits(labels, channels, sp)
        hp.append(a)
        hr.append(b)
        hm.append(c)
    hp, hr, hm = (np.concatenate(h) for h in (hp, hr, hm))
    print(
        f"{name}: channels {hp.mean():.3f}, ratios {hr.mean():.3f} over {hp.size} bins; "
        f"Table-1 {hm.mean():.3f} over {hm.size}"
    )
    assert hp.size >= 150
    assert hp.mean() >= 0.97
    assert hr.mean() >= 0.97
    assert hm.mean() >= 0.95


def test_noise_free_intervals_are_narrow_and_cover():
    """Without noise the interval is the depth-discretisation term itself: it must cover the
    truth yet stay far below the composition range (here 1 % of the Ni 0.33 -> 0.9 range)."""
    labels, channels, sp = _phantom((1.5, 1.5, 1.5), (0.049,) * 3, 0.0, 7, noise=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hp, hr, _, res = _hits(labels, channels, sp)
    r = res.ratios[res.ratios.depth_um > 0.1]
    assert hr.mean() >= 0.97 and hp.mean() >= 0.97
    assert float((r.ci_high - r.ci_low).median()) < 0.006


def test_metric_intervals_contain_their_value_and_are_finite():
    labels, channels, sp = _phantom((1.5, 1.5, 1.5), (0.049,) * 3, 0.07, 8)
    m = depth_profiles(labels, channels, spacing=sp, **WINDOWS).metrics
    for key in ("edge", "core", "d_core_edge", "max_ratio", "d_max_min"):
        value = m["edge_ratio" if key == "edge" else "core_ratio" if key == "core" else key]
        lo, hi = m[f"{key}_ci_low"], m[f"{key}_ci_high"]
        assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)), key
        assert np.all((lo < value) & (value < hi)), key


@pytest.mark.parametrize("method", ["naive", "block_bootstrap"])
def test_metric_intervals_for_the_other_ci_methods(method):
    labels, channels, sp = _phantom((1.5, 1.5, 1.5), (0.049,) * 3, 0.07, 9)
    m = depth_profiles(labels, channels, spacing=sp, ci_method=method, n_boot=50, **WINDOWS)
    m = m.metrics
    assert np.all(m.edge_ci_low < m.edge_ratio) and np.all(m.edge_ratio < m.edge_ci_high)
    assert np.all(np.isfinite(m.d_core_edge_ci_high))


# --- sample summary over particles ----------------------------------------------------------


@pytest.fixture(scope="module")
def four_particles():
    """Four separated 2D particles of the same true profile, i.i.d. noise."""
    from cathodescope.phantom import make_scene

    scene = make_scene(
        4, (14.0, 14.0), radius_um=(1.8, 2.0), aspect=(1.2, 1.4), touching_fraction=0.0, seed=4
    )
    data, truth = render_particles(scene, (290, 290), spacing=0.049, noise_std=0.03, seed=5)
    channels = {k: v.values for k, v in data.items()}
    return depth_profiles(truth.labels, channels, spacing=0.049, **WINDOWS)


def test_sample_summary_matches_an_independent_groupby(four_particles):
    from cathodescope.profile import sample_summary

    res = four_particles
    s = sample_summary(res).set_index(["element", "depth_um"])
    r = res.ratios
    for (el, d), row in list(s.iterrows())[::7]:
        vals = r[(r.element == el) & (r.depth_um == d)].ratio.to_numpy()
        assert row.n_particles == vals.size
        assert row["mean"] == pytest.approx(vals.mean(), rel=1e-12)
        if vals.size >= 2:
            assert row.sd_between == pytest.approx(vals.std(ddof=1), rel=1e-9)
            t = __import__("scipy").stats.t.ppf(0.995, vals.size - 1)
            half = t * vals.std(ddof=1) / np.sqrt(vals.size)
            assert row.ci_high - row["mean"] == pytest.approx(half, rel=1e-9)
    assert s.n_particles.max() == 4


def test_sample_summary_interval_covers_the_sample_truth(four_particles):
    from cathodescope.profile import sample_summary

    s = sample_summary(four_particles)
    s = s[(s.depth_um > 0.2) & (s.depth_um < 1.5) & (s.n_particles == 4)]
    truth = np.array([PROFILE.fraction(e, d) for e, d in zip(s.element, s.depth_um, strict=True)])
    hit = (s.ci_low <= truth) & (truth <= s.ci_high)
    assert len(s) >= 60
    assert hit.mean() >= 0.95
    assert np.all(s.sd_between > 0) and np.all(s.within_halfwidth > 0)


def test_sample_summary_of_metrics_and_profiles(four_particles):
    from cathodescope.errors import ParameterError
    from cathodescope.profile import sample_summary

    m = sample_summary(four_particles, table="metrics")
    assert set(m.metric) == {"edge_ratio", "core_ratio", "d_core_edge", "max_ratio", "d_max_min"}
    assert len(m) == 15 and np.all(m.n_particles == 4)
    edge = m[(m.element == "Ni") & (m.metric == "edge_ratio")].iloc[0]
    assert edge.ci_low <= PROFILE.fraction("Ni", 0.275) <= edge.ci_high
    p = sample_summary(four_particles, table="profiles", ci_level=0.9)
    assert set(p.channel) == {"Ni", "Mn", "Co"}
    with pytest.raises(ParameterError, match="expected one of"):
        sample_summary(four_particles, table="voxels")
    with pytest.raises(ParameterError, match="min_particles"):
        sample_summary(four_particles, min_particles=1)
