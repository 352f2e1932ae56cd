"""Segmentation and particle measures against phantom truth and independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from cathodescope.errors import (
    EmptyDataError,
    EmptySegmentationError,
    NonFiniteDataError,
    ParameterError,
    ShapeMismatchError,
    SpacingError,
)
from cathodescope.phantom import Spheroid, make_scene, paper_profile, render_particles
from cathodescope.segment import (
    binary_close_um,
    binary_open_um,
    dilate_labels,
    feret_diameters,
    measure_particles,
    segment_particles,
)


def _rot(seed: int) -> tuple[tuple[float, ...], ...]:
    return tuple(map(tuple, Rotation.random(random_state=seed).as_matrix()))


def _total(data):
    return sum(d.values for d in data.values())


def _match(labels, truth_labels):
    """Map segmented id -> truth id by majority overlap; also return the IoU of each pair."""
    out = {}
    for k in range(1, int(labels.max()) + 1):
        t = truth_labels[labels == k]
        ids, cnt = np.unique(t[t > 0], return_counts=True)
        j = int(ids[np.argmax(cnt)])
        inter = np.count_nonzero((labels == k) & (truth_labels == j))
        union = np.count_nonzero((labels == k) | (truth_labels == j))
        out[k] = (j, inter / union)
    return out


@pytest.fixture(scope="module")
def touching_scene():
    """Five particles, most in point contact, with central voids (spacing 0.1 um)."""
    scene = make_scene(
        5,
        (11.0, 16.0, 16.0),
        radius_um=(1.9, 2.2),
        aspect=(1.0, 1.4),
        void_radius_um=(0.3, 0.5),
        touching_fraction=0.8,
        seed=11,
    )
    data, truth = render_particles(scene, (111, 161, 161), spacing=0.1)
    return scene, data, truth


# ------------------------------------------------------------------- count, volumes, touching


def test_touching_particles_exact_count_and_volumes(touching_scene):
    _, data, truth = touching_scene
    # the scene really has touching particles: they form fewer connected components
    n_components = ndi.label(truth.labels > 0)[1]
    assert n_components < truth.n_particles
    seg = segment_particles(_total(data), spacing=0.1, fill_holes=False)
    assert seg.n_particles == truth.n_particles == 5
    pairs = _match(seg.labels, truth.labels)
    assert sorted(j for j, _ in pairs.values()) == [1, 2, 3, 4, 5]
    assert min(iou for _, iou in pairs.values()) > 0.97
    df = measure_particles(seg.labels, data, spacing=0.1)
    for k, (j, _) in pairs.items():
        row = df.set_index("particle_id").loc[k]
        # volume (voids excluded) within 3 % of 4/3 pi (abc - r_void^3)
        assert row.volume_um3 == pytest.approx(truth.volumes_um3[j - 1], rel=0.03)
        assert row.equivalent_diameter_um == pytest.approx(
            (6 * truth.volumes_um3[j - 1] / math.pi) ** (1 / 3), rel=0.01
        )
        # enclosed void -> porosity = r_void^3 / (abc) (+- digitisation)
        assert row.porosity == pytest.approx(
            1 - truth.volumes_um3[j - 1] / truth.filled_volumes_um3[j - 1], abs=0.004
        )
        np.testing.assert_allclose(
            [row.centroid_z_um, row.centroid_y_um, row.centroid_x_um],
            truth.centres_um[j - 1],
            atol=0.05,
        )
        # ~20 voxels per semi-axis and near-spherical: digitisation gives +-0.5 voxel on each
        # Feret diameter (the strict 0.02 acceptance is test_feret_ratio_of_rotated_ellipsoid)
        assert row.feret_ratio == pytest.approx(truth.feret_ratios[j - 1], abs=0.03)
        for e in ("Ni", "Mn", "Co"):
            assert row[f"mean_{e}"] == pytest.approx(
                truth.mean_composition.loc[j, f"mean_{e}"], abs=0.003
            )


def test_fill_holes_gives_filled_volume(touching_scene):
    _, data, truth = touching_scene
    seg = segment_particles(_total(data), spacing=0.1)  # fill_holes=True by default
    df = measure_particles(seg.labels, spacing=0.1).set_index("particle_id")
    for k, (j, _) in _match(seg.labels, truth.labels).items():
        assert df.loc[k, "volume_um3"] == pytest.approx(truth.filled_volumes_um3[j - 1], rel=0.03)
        assert df.loc[k, "porosity"] == 0.0
    assert seg.parameters["fill_holes"] is True and seg.threshold > 0


def test_without_splitting_touching_particles_merge(touching_scene):
    _, data, truth = touching_scene
    seg = segment_particles(_total(data), spacing=0.1, split_touching=False)
    assert seg.n_particles == ndi.label(truth.labels > 0)[1] < truth.n_particles


def test_noisy_scene_with_artefacts_exact_count(touching_scene):
    scene, _, truth = touching_scene
    data, _ = render_particles(
        scene,
        truth.labels.shape,
        spacing=0.1,
        noise_std=0.08,
        noise_psf_um=0.15,
        phase_artefact=0.15,
        seed=7,
    )
    seg = segment_particles(
        _total(data), spacing=0.1, opening_radius_um=0.2, closing_radius_um=0.2, min_size_um=1.0
    )
    assert seg.n_particles == truth.n_particles
    pairs = _match(seg.labels, truth.labels)
    assert sorted(j for j, _ in pairs.values()) == [1, 2, 3, 4, 5]
    assert min(iou for _, iou in pairs.values()) > 0.9


# ------------------------------------------------------------------- Feret ratio


@pytest.mark.parametrize(
    ("axes", "seed", "spacing"),
    [
        ((3.0, 2.0, 2.0), 1, 0.1),
        ((2.6, 2.6, 1.7), 2, 0.1),
        ((3.0, 2.4, 1.8), 3, 0.1),
        ((2.0, 1.9, 1.85), 4, 0.05),
        ((2.8, 2.0, 2.0), 5, (0.15, 0.1, 0.1)),
    ],
)
def test_feret_ratio_of_rotated_ellipsoid(axes, seed, spacing):
    # analytic FD(perp min/max) of an ellipsoid a >= b >= c: min Feret 2c along the c axis,
    # the largest width orthogonal to it is 2a -> ratio c / a
    p = Spheroid((3.1, 3.1, 3.1), axes, paper_profile(), rotation=_rot(seed))
    shape = [int(6.2 / s) + 1 for s in np.broadcast_to(spacing, 3)]
    _, truth = render_particles([p], shape, spacing=spacing, keep_depth=False)
    f_min, f_perp, ratio = feret_diameters(truth.labels == 1, spacing=spacing)
    assert ratio == pytest.approx(min(axes) / max(axes), abs=0.02)
    # each diameter within one voxel
    assert f_min == pytest.approx(2 * min(axes), abs=np.max(spacing))
    assert f_perp == pytest.approx(2 * max(axes), abs=np.max(spacing))


def test_feret_of_boxes_and_rectangles_exact():
    # box of 6 x 10 x 20 voxels, spacing (0.2, 0.1, 0.05): extents 1.2, 1.0, 1.0 um
    box = np.zeros((10, 14, 24), bool)
    box[2:8, 2:12, 2:22] = True
    f_min, f_perp, _ = feret_diameters(box, spacing=(0.2, 0.1, 0.05))
    # along y or x: outer centres 0.9 (0.95) um apart + one voxel = 1.0 um
    assert f_min == pytest.approx(1.0, abs=1e-3)
    # orthogonal to it the widest caliper is a face diagonal: between the diagonal of the
    # voxel centres and that of the full voxel boxes
    assert math.hypot(1.0, 0.9) - 1e-9 <= f_perp <= math.hypot(1.2, 1.0) + 1e-9
    rect = np.zeros((30, 30), bool)
    rect[5:25, 10:16] = True
    f_min, f_perp, _ = feret_diameters(rect, spacing=0.1)
    assert (f_min, f_perp) == (pytest.approx(0.6, abs=1e-6), pytest.approx(2.0, abs=1e-6))
    df = measure_particles(rect.astype(np.int32), spacing=0.1)
    assert df.feret_ratio[0] == pytest.approx(0.3, abs=1e-6)


# ------------------------------------------------------------------- 2D vs 3D, grids


def test_2d_central_slice_agrees_with_3d():
    scene = make_scene(
        3,
        (9.0, 18.0, 18.0),
        radius_um=(2.0, 2.3),
        aspect=(1.3, 1.5),
        planar=True,
        z_plane_um=4.5,
        touching_fraction=0.7,
        seed=8,
    )
    d3, t3 = render_particles(scene, (91, 181, 181), spacing=0.1, keep_depth=False)
    d2, t2 = render_particles(scene, (361, 361), spacing=0.05, z_plane_um=4.5, keep_depth=False)
    s3 = segment_particles(_total(d3), spacing=0.1)
    s2 = segment_particles(_total(d2), spacing=0.05)
    assert s3.n_particles == s2.n_particles == 3
    m3 = measure_particles(s3.labels, d3, spacing=0.1)
    m2 = measure_particles(s2.labels, d2, spacing=0.05)
    assert list(m2.columns[:6]) == [
        "particle_id",
        "area_um2",
        "equivalent_diameter_um",
        "feret_ratio",
        "convex_area_um2",
        "porosity",
    ]
    for k, (j, _) in _match(s2.labels, t2.labels).items():
        row2 = m2.set_index("particle_id").loc[k]
        assert row2.area_um2 == pytest.approx(t2.filled_volumes_um3[j - 1], rel=0.03)
        # prolate particle cut through its long axis: 2D ratio b/a = 3D ratio c/a
        assert row2.feret_ratio == pytest.approx(t3.feret_ratios[j - 1], abs=0.02)
    for k, (j, _) in _match(s3.labels, t3.labels).items():
        row3 = m3.set_index("particle_id").loc[k]
        assert row3.feret_ratio == pytest.approx(t3.feret_ratios[j - 1], abs=0.02)
        assert row3.volume_um3 == pytest.approx(t3.filled_volumes_um3[j - 1], rel=0.03)


def test_isotropic_and_anisotropic_sampling_agree(touching_scene):
    scene, data_iso, truth_iso = touching_scene
    sp_ani = (0.15, 0.1, 0.1)
    data_ani, truth_ani = render_particles(scene, (74, 161, 161), spacing=sp_ani)
    seg_iso = segment_particles(_total(data_iso), spacing=0.1, fill_holes=False)
    seg_ani = segment_particles(_total(data_ani), spacing=sp_ani, fill_holes=False)
    assert seg_iso.n_particles == seg_ani.n_particles == truth_iso.n_particles
    m_iso = measure_particles(seg_iso.labels, data_iso, spacing=0.1)
    m_ani = measure_particles(seg_ani.labels, data_ani, spacing=sp_ani)
    by_truth_iso = {j: k for k, (j, _) in _match(seg_iso.labels, truth_iso.labels).items()}
    by_truth_ani = {j: k for k, (j, _) in _match(seg_ani.labels, truth_ani.labels).items()}
    mi, ma = m_iso.set_index("particle_id"), m_ani.set_index("particle_id")
    for j in range(1, truth_iso.n_particles + 1):
        a, b = mi.loc[by_truth_iso[j]], ma.loc[by_truth_ani[j]]
        assert b.volume_um3 == pytest.approx(a.volume_um3, rel=0.03)
        assert b.feret_ratio == pytest.approx(a.feret_ratio, abs=0.02)
        assert b.convex_volume_um3 == pytest.approx(a.convex_volume_um3, rel=0.03)
        for ax in "zyx":
            assert b[f"centroid_{ax}_um"] == pytest.approx(a[f"centroid_{ax}_um"], abs=0.05)
        assert b.mean_Ni == pytest.approx(a.mean_Ni, abs=0.003)


# ------------------------------------------------------------------- filters


def test_remove_edge_particles_and_min_size():
    inside = Spheroid((3.0, 4.0, 4.0), (1.5, 1.5, 1.5))
    cut = Spheroid((3.0, 4.0, 9.0), (1.5, 1.5, 1.5))  # x up to 10.5 um, grid ends at 9.9
    data, _ = render_particles([inside, cut], (61, 81, 100), spacing=0.1, keep_depth=False)
    img = _total(data)
    img[30, 10, 10] = 1.0  # a one-voxel speck
    assert segment_particles(img, spacing=0.1).n_particles == 3
    seg = segment_particles(img, spacing=0.1, remove_edge_particles=True, min_size_um=0.01)
    assert seg.n_particles == 1
    assert seg.parameters["n_removed_edge"] == 1 and seg.parameters["n_removed_small"] == 1
    vol = np.count_nonzero(seg.labels == 1) * 1e-3
    assert vol == pytest.approx(4 / 3 * math.pi * 1.5**3, rel=0.02)


def test_xarray_input_and_threshold_value():
    img = np.zeros((40, 50))
    img[5:15, 5:15] = 2.0
    img[20:35, 25:45] = 1.0
    da = xr.DataArray(img, dims=("y", "x"))
    seg = segment_particles(da, spacing=(0.2, 0.1), threshold=1.5)
    assert seg.n_particles == 1 and seg.threshold == 1.5
    seg = segment_particles(da, spacing=(0.2, 0.1))
    assert seg.n_particles == 2 and 0 <= seg.threshold < 1.0
    df = measure_particles(seg.labels, {"a": da, "b": da * 3}, spacing=(0.2, 0.1))
    assert df.area_um2.tolist() == pytest.approx([100 * 0.02, 300 * 0.02])
    assert df.mean_a.tolist() == pytest.approx([0.25, 0.25])
    row = df.iloc[1]
    assert row.centroid_y_um == pytest.approx(27 * 0.2)
    assert row.centroid_x_um == pytest.approx(34.5 * 0.1)
    assert (row.bbox_y_min_um, row.bbox_y_max_um) == (
        pytest.approx(19.5 * 0.2),
        pytest.approx(34.5 * 0.2),
    )


# ------------------------------------------------------------------- morphology, hull, porosity


def _ellipsoid_structure(radius, spacing):
    half = [math.floor(radius / s + 1e-9) for s in spacing]
    grids = np.meshgrid(
        *[np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)], indexing="ij"
    )
    return sum(g**2 for g in grids) <= radius**2 + 1e-12


@pytest.mark.parametrize("spacing", [(0.1, 0.1, 0.1), (0.2, 0.1, 0.1)])
def test_um_morphology_matches_scipy_with_ellipsoidal_structure(rng, spacing):
    mask = ndi.gaussian_filter(rng.standard_normal((40, 50, 50)), 2) > 0.1
    mask[:4] = mask[-4:] = False
    mask[:, :4] = mask[:, -4:] = False
    mask[:, :, :4] = mask[:, :, -4:] = False
    se = _ellipsoid_structure(0.3, spacing)
    np.testing.assert_array_equal(
        binary_open_um(mask, 0.3, spacing), ndi.binary_opening(mask, structure=se)
    )
    # closing: compare away from the border, where scipy's padding convention differs
    inner = (slice(6, -6),) * 3
    np.testing.assert_array_equal(
        binary_close_um(mask, 0.3, spacing)[inner], ndi.binary_closing(mask, structure=se)[inner]
    )


def test_convex_volume_and_porosity_vs_independent_count():
    from scipy.spatial import ConvexHull

    # non-convex: two overlapping balls, plus an enclosed cavity
    z, y, x = np.ogrid[:24, :24, :36]
    obj = ((z - 12) ** 2 + (y - 12) ** 2 + (x - 11) ** 2 <= 49) | (
        (z - 12) ** 2 + (y - 13) ** 2 + (x - 24) ** 2 <= 30
    )
    cavity = (z - 12) ** 2 + (y - 12) ** 2 + (x - 11) ** 2 <= 5
    obj &= ~cavity
    sp = (0.1, 0.2, 0.1)
    df = measure_particles(obj.astype(np.int32), spacing=sp)
    # independent count: every voxel centre tested against every facet of the hull of all
    # voxel centres (brute force, no row-wise intervals)
    hull = ConvexHull(np.argwhere(obj) * sp)
    grid = np.argwhere(np.ones(obj.shape, bool)) * sp
    inside = np.all(grid @ hull.equations[:, :-1].T + hull.equations[:, -1] <= 1e-9, axis=1)
    voxel = 0.1 * 0.2 * 0.1
    assert df.convex_volume_um3[0] == pytest.approx(inside.sum() * voxel, rel=1e-9)
    assert df.volume_um3[0] == pytest.approx(obj.sum() * voxel)
    assert df.porosity[0] == pytest.approx(cavity.sum() / (obj.sum() + cavity.sum()))
    assert df.convex_volume_um3[0] > df.volume_um3[0] / (1 - df.porosity[0])


# ------------------------------------------------------------------- dilation


def _brute_dilate(labels, distance, spacing):
    out = labels.copy()
    ids = [k for k in np.unique(labels) if k]
    coords = {k: np.argwhere(labels == k) * spacing for k in ids}
    for p in np.argwhere(labels == 0):
        q = p * spacing
        best, best_k = np.inf, 0
        for k in ids:
            d = np.sqrt(np.min(np.sum((coords[k] - q) ** 2, axis=1)))
            if d < best - 1e-12:
                best, best_k = d, k
        if best <= distance + 1e-12:
            out[tuple(p)] = best_k
    return out


@pytest.mark.parametrize("spacing", [(0.1, 0.1), (0.2, 0.1)])
def test_dilate_labels_matches_brute_force(rng, spacing):
    labels = np.zeros((30, 40), np.int32)
    labels[5:10, 5:12] = 1
    labels[14:20, 10:14] = 2
    labels[8:25, 20:24] = 3
    labels[26, 35] = 4
    got = dilate_labels(labels, 0.45, spacing=spacing)
    np.testing.assert_array_equal(got, _brute_dilate(labels, 0.45, np.asarray(spacing)))
    assert np.all(got[labels > 0] == labels[labels > 0])  # never into another particle
    np.testing.assert_array_equal(dilate_labels(labels, 0, spacing=spacing), labels)


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("image", "kwargs", "err", "match"),
    [
        (np.full((20, 20), np.nan), {}, NonFiniteDataError, "NaN"),
        (np.zeros((20, 20)), {}, EmptyDataError, "all zero"),
        (np.ones((20, 20)), {}, EmptyDataError, "constant"),
        (np.eye(20), {"threshold": 5.0}, EmptySegmentationError, "lower the threshold"),
        (np.eye(20), {"threshold": "mean"}, ParameterError, "otsu"),
        (np.eye(20), {"opening_radius_um": -1}, ParameterError, "opening_radius_um"),
        (np.eye(20), {"marker_spacing_um": 0}, ParameterError, "marker_spacing_um"),
        (np.eye(20), {"min_size_um": 100.0}, EmptySegmentationError, "min_size_um"),
        (np.ones((2, 2, 2, 2)), {}, ParameterError, "2D"),
        (np.eye(20), {"spacing": (0.1, 0.1, 0.1)}, SpacingError, "spacing"),
        (np.eye(20), {"spacing": None}, SpacingError, "required"),
    ],
)
def test_segment_bad_input(image, kwargs, err, match):
    kwargs = {"spacing": 0.1, **kwargs}
    with pytest.raises(err, match=match):
        segment_particles(image, **kwargs)


def test_everything_cut_by_the_field_of_view():
    img = np.zeros((20, 20))
    img[0:5, 0:5] = 1
    with pytest.raises(EmptySegmentationError, match="remove_edge_particles=False"):
        segment_particles(img, spacing=0.1, remove_edge_particles=True)


def test_measure_and_dilate_bad_input():
    lab = np.zeros((10, 10), np.int32)
    with pytest.raises(EmptySegmentationError, match="no particle"):
        measure_particles(lab, spacing=0.1)
    lab[2:5, 2:5] = 1
    with pytest.raises(ShapeMismatchError, match="shape"):
        measure_particles(lab, {"Ni": np.ones((10, 11))}, spacing=0.1)
    bad = np.ones((10, 10))
    bad[0, 0] = np.inf
    with pytest.raises(NonFiniteDataError, match="Ni"):
        measure_particles(lab, {"Ni": bad}, spacing=0.1)
    with pytest.raises(ParameterError, match="integer"):
        measure_particles(lab + 0.5, spacing=0.1)
    with pytest.raises(ParameterError, match="distance_um"):
        dilate_labels(lab, -0.1, spacing=0.1)


@pytest.mark.parametrize("shape", [(60, 70), (30, 40, 50)])
def test_fast_fill_holes_matches_scipy(rng, shape):
    from cathodescope.segment._common import fill_holes

    mask = ndi.gaussian_filter(rng.standard_normal(shape), 1.5) > 0.05
    np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
    np.testing.assert_array_equal(fill_holes(~mask), ndi.binary_fill_holes(~mask))


def test_elongated_particle_is_not_oversplit():
    # a capsule (5 um axis, radius 1.6 um) has a flat distance-map ridge: without marker merging
    # it shatters into several pieces; neck_ratio merges markers joined by a thick ridge
    z, y, x = np.meshgrid(*(np.arange(n) * 0.1 for n in (50, 50, 100)), indexing="ij")
    capsule = (z - 2.5) ** 2 + (y - 2.5) ** 2 + (x - np.clip(x, 2.5, 7.5)) ** 2 <= 1.6**2
    img = capsule.astype(float)
    assert segment_particles(img, spacing=0.1, neck_ratio=0).n_particles > 1
    assert segment_particles(img, spacing=0.1).n_particles == 1
    # ... while two touching spheres of the same length are still split
    pair = [Spheroid((3.0, 3.0, 2.5), (1.6, 1.6, 1.6)), Spheroid((3.0, 3.0, 5.7), (1.6, 1.6, 1.6))]
    data, truth = render_particles(pair, (61, 61, 91), spacing=0.1, keep_depth=False)
    seg = segment_particles(_total(data), spacing=0.1)
    assert seg.n_particles == 2
    assert min(iou for _, iou in _match(seg.labels, truth.labels).values()) > 0.98
