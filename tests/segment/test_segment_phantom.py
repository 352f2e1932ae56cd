"""Phantom particles: profiles, exact depth, analytic volumes, grids, noise, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cathodescope.errors import ParameterError, SpacingError
from cathodescope.phantom import (
    LayeredProfile,
    Spheroid,
    ellipsoid_depth,
    make_scene,
    paper_profile,
    paper_scene,
    render_particles,
)

NMC = (
    {"Ni": 1 / 3, "Mn": 1 / 3, "Co": 1 / 3},
    {"Ni": 0.6, "Mn": 0.2, "Co": 0.2},
    {"Ni": 0.8, "Mn": 0.1, "Co": 0.1},
)


def _rot(seed: int) -> tuple[tuple[float, ...], ...]:
    return tuple(map(tuple, Rotation.random(random_state=seed).as_matrix()))


# ----------------------------------------------------------------------------- profiles


def test_layered_profile_sums_to_one_and_steps():
    sharp = LayeredProfile(NMC, (0.5, 1.5), 0.0)
    assert sharp.fraction("Ni", 0.2) == pytest.approx(1 / 3)
    assert sharp.fraction("Ni", 1.0) == pytest.approx(0.6)
    assert sharp.fraction("Mn", 2.0) == pytest.approx(0.1)
    smooth = LayeredProfile(NMC, (0.5, 1.5), 0.2)
    d = np.linspace(0, 3, 301)
    total = sum(smooth(d).values())
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    # at an isolated interface the erf step is half-way: (c_k + c_k+1) / 2
    assert smooth.fraction("Ni", 0.5) == pytest.approx((1 / 3 + 0.6) / 2, abs=1e-4)
    # monotone between layer values (no over/undershoot)
    ni = smooth.fraction("Ni", d)
    assert np.all(np.diff(ni) >= -1e-12) and ni.min() >= 1 / 3 - 1e-9 and ni.max() <= 0.8


def test_paper_profile_matches_documented_table1_shape():
    p = paper_profile()
    edge, core = p(0.26), p(1.99)
    # documented values (docstring) and the paper's directions: Ni up, Mn and Co down inwards
    assert float(edge["Ni"]) == pytest.approx(0.53, abs=0.01)
    assert float(core["Ni"]) == pytest.approx(0.70, abs=0.01)
    assert float(edge["Mn"]) == pytest.approx(0.234, abs=0.01)
    assert float(core["Co"]) == pytest.approx(0.151, abs=0.01)


@pytest.mark.parametrize(
    ("comps", "bounds", "match"),
    [
        (({"Ni": 0.5, "Mn": 0.4},), (), "sum"),
        (({"Ni": 1.0}, {"Mn": 1.0}), (1.0,), "same elements"),
        (NMC, (1.0,), "interface depths"),
        (NMC, (1.0, 0.5), "increasing"),
    ],
)
def test_layered_profile_bad_input(comps, bounds, match):
    with pytest.raises(ParameterError, match=match):
        LayeredProfile(comps, bounds, 0.1)


# ----------------------------------------------------------------------------- depth


def test_ellipsoid_depth_sphere_is_r_minus_r():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1.5, 1.5, (500, 3))
    pts = pts[np.linalg.norm(pts, axis=1) < 2.0]
    d = ellipsoid_depth(pts, (2.0, 2.0, 2.0))
    np.testing.assert_allclose(d, 2.0 - np.linalg.norm(pts, axis=1), atol=1e-12)


def _reference_depth(points, axes):
    """Independent check: coarse surface grid, then Nelder-Mead on the surface angles."""
    from scipy.optimize import minimize

    a, b, c = axes

    def surf(th, ph):
        return np.stack(
            [a * np.cos(th), b * np.sin(th) * np.cos(ph), c * np.sin(th) * np.sin(ph)], axis=-1
        )

    th, ph = np.meshgrid(np.linspace(0, math.pi, 150), np.linspace(0, 2 * math.pi, 300))
    grid = surf(th.ravel(), ph.ravel())
    out = []
    for p in points:
        d2 = np.sum((grid - p) ** 2, axis=1)
        best = np.inf
        for i in np.argsort(d2)[:2]:
            res = minimize(
                lambda x, p=p: float(np.sum((surf(x[0], x[1]) - p) ** 2)),
                [th.ravel()[i], ph.ravel()[i]],
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-14},
            )
            best = min(best, res.fun)
        out.append(math.sqrt(best))
    return np.array(out)


@pytest.mark.parametrize("axes", [(3.0, 2.0, 2.0), (2.5, 2.5, 1.5), (3.0, 2.2, 1.6)])
def test_ellipsoid_depth_matches_brute_force(axes):
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1, 1, (400, 3)) * np.asarray(axes)
    pts = pts[np.sum((pts / np.asarray(axes)) ** 2, axis=1) < 1][:10]
    # include the degenerate points: centre and points on the minor-axis planes
    special = np.array([[0, 0, 0], [1.0, 0, 0], [0, 0.5, 0], [0, 0, 0.3], [0.7, 0.4, 0]])
    pts = np.vstack([pts, special])
    got = ellipsoid_depth(pts, axes)
    ref = _reference_depth(pts, axes)
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_ellipse_depth_2d_matches_brute_force():
    t = np.linspace(0, 2 * math.pi, 100_000, endpoint=False)
    surf = np.stack([3.0 * np.cos(t), 1.7 * np.sin(t)], axis=1)
    rng = np.random.default_rng(2)
    pts = rng.uniform(-1, 1, (200, 2)) * [3.0, 1.7]
    pts = pts[np.sum((pts / [3.0, 1.7]) ** 2, axis=1) < 1][:40]
    pts = np.vstack([pts, [[0, 0], [2.0, 0], [0, 1.0]]])
    ref = np.array([np.sqrt(np.min(np.sum((surf - p) ** 2, axis=1))) for p in pts])
    np.testing.assert_allclose(ellipsoid_depth(pts, (3.0, 1.7)), ref, atol=1e-5)


# ----------------------------------------------------------------------------- rendering


def test_render_volumes_depth_and_composition_truth():
    sphere = Spheroid((4.0, 4.0, 4.0), (2.5, 2.5, 2.5), paper_profile(), void_radius_um=0.8)
    data, truth = render_particles([sphere], (81, 81, 81), spacing=0.1)
    assert truth.labels.dtype == np.int32
    vox = np.count_nonzero(truth.labels == 1) * 1e-3
    analytic = 4 / 3 * math.pi * (2.5**3 - 0.8**3)
    assert truth.volumes_um3[0] == pytest.approx(analytic)
    assert vox == pytest.approx(analytic, rel=0.01)
    # depth is exactly R - r for a sphere (voxel i at i * spacing)
    z, y, x = np.nonzero(truth.labels)
    r = np.sqrt((z * 0.1 - 4) ** 2 + (y * 0.1 - 4) ** 2 + (x * 0.1 - 4) ** 2)
    np.testing.assert_allclose(truth.depth_um[z, y, x], 2.5 - r, atol=1e-6)
    # intensity / sum of intensities = true fraction at that depth (density cancels)
    tot = sum(d.values for d in data.values())
    frac = data["Ni"].values[z, y, x] / tot[z, y, x]
    np.testing.assert_allclose(frac, truth.profiles[1]["Ni"](2.5 - r), atol=1e-5)
    # density drops towards the void (porous rim), bulk density 1
    assert tot[z, y, x].max() == pytest.approx(1.0, abs=1e-3)
    assert tot[z, y, x][r < 0.85].mean() < 0.8
    # whole-particle composition truth = totals of the noise-free images
    ni = float(data["Ni"].values[truth.labels == 1].sum()) / float(tot[truth.labels == 1].sum())
    assert truth.mean_composition.loc[1, "mean_Ni"] == pytest.approx(ni, rel=1e-5)
    assert data["Ni"].dims == ("z", "y", "x") and data["Ni"].x.attrs["units"] == "um"
    assert data["Ni"].x.values[3] == pytest.approx(0.3)


def test_2d_phantom_is_central_slice_of_3d():
    scene = make_scene(
        2,
        (8.0, 12.0, 12.0),
        radius_um=(1.8, 2.0),
        aspect=(1.4, 1.4),
        planar=True,
        z_plane_um=4.0,
        touching_fraction=1.0,
        seed=3,
    )
    data3, t3 = render_particles(scene, (81, 121, 121), spacing=0.1)
    data2, t2 = render_particles(scene, (121, 121), spacing=0.1, z_plane_um=4.0)
    np.testing.assert_array_equal(t2.labels, t3.labels[40])
    np.testing.assert_allclose(t2.depth_um, t3.depth_um[40], atol=1e-5)
    np.testing.assert_allclose(data2["Mn"].values, data3["Mn"].values[40], atol=1e-6)
    # the cut of a prolate spheroid through its long axis: ellipse with the same a, b
    np.testing.assert_allclose(t2.semi_axes_um, t3.semi_axes_um[:, :2], rtol=1e-9)
    np.testing.assert_allclose(t2.feret_ratios, t3.feret_ratios, rtol=1e-9)


def test_same_object_on_anisotropic_grid_agrees():
    p = Spheroid((3.0, 3.0, 3.0), (2.4, 1.8, 1.5), paper_profile(), rotation=_rot(4))
    d_iso, t_iso = render_particles([p], (61, 61, 61), spacing=0.1)
    d_ani, t_ani = render_particles([p], (41, 61, 61), spacing=(0.15, 0.1, 0.1))
    # planes z = 0, 0.3, 0.6 ... um exist on both grids and hold identical values
    np.testing.assert_array_equal(t_iso.labels[::3], t_ani.labels[::2])
    np.testing.assert_allclose(d_iso["Co"].values[::3], d_ani["Co"].values[::2], atol=1e-6)
    v_iso = np.count_nonzero(t_iso.labels) * 0.1**3
    v_ani = np.count_nonzero(t_ani.labels) * 0.15 * 0.01
    assert v_iso == pytest.approx(p.volume_um3, rel=0.01)
    assert v_ani == pytest.approx(p.volume_um3, rel=0.015)


def test_noise_models(rng):
    p = Spheroid((3.0, 3.0, 3.0), (2.0, 2.0, 2.0))
    shape = (61, 61, 61)
    _, truth = render_particles([p], shape, spacing=0.1)
    empty = truth.labels == 0
    white, _ = render_particles([p], shape, spacing=0.1, noise_std=0.05, seed=1)
    corr, _ = render_particles([p], shape, spacing=0.1, noise_std=0.05, noise_psf_um=0.2, seed=1)
    for data, lag1 in ((white, (-0.05, 0.05)), (corr, (0.7, 1.0))):
        v = data["Ni"].values
        assert float(v[empty].std()) == pytest.approx(0.05, rel=0.05)
        c = np.corrcoef(
            v[:, :, :-1][empty[:, :, 1:] & empty[:, :, :-1]],
            v[:, :, 1:][empty[:, :, 1:] & empty[:, :, :-1]],
        )[0, 1]
        assert lag1[0] < c < lag1[1]
    # Poisson: variance = mean / scale in the bulk (bulk intensity c * 1)
    clean, t = render_particles([p], shape, spacing=0.1)
    pois, _ = render_particles([p], shape, spacing=0.1, poisson_scale=200.0, seed=2)
    resid = (pois["Ni"].values - clean["Ni"].values)[t.labels == 1]
    expected = clean["Ni"].values[t.labels == 1] / 200.0
    assert float(resid.var()) == pytest.approx(float(expected.mean()), rel=0.05)
    # phase artefacts: negative only in empty space, deepest next to the surface
    art, _ = render_particles([p], shape, spacing=0.1, phase_artefact=0.1)
    v = art["Ni"].values
    assert v[empty].min() < -0.06 and v[empty].max() <= 0
    assert np.all(v[~empty] == clean["Ni"].values[~empty])


def test_touching_particles_touch_without_overlap():
    scene = make_scene(
        4,
        (14.0, 14.0, 20.0),
        radius_um=(2.2, 2.6),
        aspect=(1.2, 1.5),
        touching_fraction=1.0,
        seed=5,
    )
    touching = 0
    for i, p in enumerate(scene):
        for q in scene[i + 1 :]:
            # sample q's surface densely; no sample may lie inside p
            u = np.random.default_rng(0).standard_normal((20000, 3))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            surf = np.asarray(q.centre_um) + (u * q.semi_axes_um) @ q.rotation_matrix.T
            d = surf - np.asarray(p.centre_um)
            alg = np.einsum("ni,ij,nj->n", d, p.quadric, d)
            assert alg.min() > 1 - 1e-3
            touching += alg.min() < 1.01
    assert touching >= 2


def test_paper_scene_2d_and_3d():
    data, truth = paper_scene((128, 192), n_particles=2, spacing=0.1)
    assert set(data) == {"Ni", "Mn", "Co"} and data["Ni"].dims == ("y", "x")
    assert truth.n_particles == 2 and truth.to_dataframe().shape[0] == 2
    assert "depth_um" in truth.depth_definition


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (
            lambda: render_particles([Spheroid((1, 1, 1), (1, 1, 1))], (10,)),
            ParameterError,
            "2 or 3",
        ),
        (
            lambda: render_particles([Spheroid((1, 1, 1), (1, 1, 1))], (10, 10), spacing=-1),
            SpacingError,
            "> 0",
        ),
        (lambda: render_particles([], (10, 10, 10)), ParameterError, "no particles"),
        (lambda: Spheroid((1, 1, 1), (1, 1, 1), void_radius_um=1.5), ParameterError, "void"),
        (lambda: make_scene(30, (5.0, 5.0, 5.0)), ParameterError, "larger box"),
        (
            lambda: render_particles(
                [Spheroid((0, 1, 1), (1, 1, 1)), Spheroid((2, 4, 4), (1, 1, 1))], (20, 20)
            ),
            ParameterError,
            "z_plane_um",
        ),
        (
            lambda: render_particles([Spheroid((1, 1, 1), (1, 1, 1))], (10, 10, 10), noise_std=-1),
            ParameterError,
            "noise_std",
        ),
    ],
)
def test_phantom_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
