import numpy as np
import pytest

from cathodescope._validation import (
    check_choice,
    check_finite,
    check_positive,
    normalize_spacing,
)
from cathodescope.errors import NonFiniteDataError, ParameterError, SpacingError


def test_spacing_scalar_broadcasts():
    assert normalize_spacing(0.049, 3) == (0.049, 0.049, 0.049)
    assert normalize_spacing([0.1], 2) == (0.1, 0.1)


def test_spacing_per_axis_kept_in_order():
    assert normalize_spacing((0.0735, 0.049, 0.049), 3) == (0.0735, 0.049, 0.049)


@pytest.mark.parametrize(
    ("spacing", "match"),
    [
        (None, "spacing is required"),
        (0.0, "must be finite and > 0"),
        (-1.0, "must be finite and > 0"),
        (float("nan"), "must be finite and > 0"),
        ((0.1, 0.1), "has 2 values but the data have 3"),
        ("abc", "must be numbers"),
    ],
)
def test_spacing_errors(spacing, match):
    with pytest.raises(SpacingError, match=match):
        normalize_spacing(spacing, 3)


def test_spacing_error_is_value_error():
    with pytest.raises(ValueError):
        normalize_spacing(0, 2)


def test_check_finite_counts_bad_values():
    a = np.ones(10, dtype=np.float32)
    a[[2, 5]] = [np.nan, np.inf]
    with pytest.raises(NonFiniteDataError, match="2 NaN/inf values out of 10"):
        check_finite(a, "Ni")
    check_finite(np.arange(5), "ints are always finite")


def test_check_choice_lists_choices():
    assert check_choice("hull", ("hull", "mask"), "surface") == "hull"
    with pytest.raises(ParameterError, match=r"expected one of \('hull', 'mask'\)"):
        check_choice("sphere", ("hull", "mask"), "surface")


def test_check_positive():
    assert check_positive(2, "w") == 2.0
    assert check_positive(0, "w", allow_zero=True) == 0.0
    with pytest.raises(ParameterError, match="must be finite and > 0"):
        check_positive(0, "w")
    with pytest.raises(ParameterError, match="must be a number"):
        check_positive("x", "w")


# --- spacing read from DataArray coordinates (issue 10) -------------------------------------


def _disk_image(step_um: float, radius_um: float = 1.5, n: int = 80):
    import xarray as xr

    yy, xx = np.mgrid[:n, :n]
    c = (n - 1) / 2
    disk = (((yy - c) * step_um) ** 2 + ((xx - c) * step_um) ** 2) < radius_um**2
    coords = {
        "y": ("y", np.arange(n) * step_um, {"units": "um"}),
        "x": ("x", np.arange(n) * step_um, {"units": "um"}),
    }
    return xr.DataArray(disk.astype(np.float32), dims=("y", "x"), coords=coords), disk


def test_resolve_spacing_reads_coords_and_refuses_a_contradiction():
    from cathodescope._validation import resolve_spacing, resolve_spacing_all

    img, _ = _disk_image(0.05)
    assert resolve_spacing(img, None, 2) == (0.05, 0.05)
    assert resolve_spacing(img, 0.05, 2) == (0.05, 0.05)
    with pytest.raises(SpacingError, match=r"spacing=\(1\.0, 1\.0\).*\(0\.05, 0\.05\)"):
        resolve_spacing(img, 1.0, 2)
    other, _ = _disk_image(0.1)
    with pytest.raises(SpacingError, match=r"channel 'Mn'.*\(0\.1, 0\.1\).*\(0\.05, 0\.05\)"):
        resolve_spacing_all([("channel 'Ni'", img), ("channel 'Mn'", other)], None, 2)
    # plain arrays are not consulted; without any spacing the message says what to give
    assert resolve_spacing_all([("labels", np.zeros((3, 3))), ("Ni", img)], None, 2) == (
        0.05,
        0.05,
    )
    with pytest.raises(SpacingError, match="spacing is required"):
        resolve_spacing_all([("labels", np.zeros((3, 3)))], None, 2)


def test_pixel_index_coordinates_carry_no_spacing():
    import xarray as xr

    from cathodescope._validation import spacing_from_coords

    img = xr.DataArray(
        np.zeros((4, 5)),
        dims=("y", "x"),
        coords={"y": ("y", np.arange(4.0), {"units": "pixel"}), "x": ("x", np.arange(5.0))},
    )
    with pytest.raises(SpacingError, match="some spatial axes but not on"):
        spacing_from_coords(img)
    img = img.assign_coords(x=("x", np.arange(5.0), {"units": "pixel"}))
    assert spacing_from_coords(img) is None


def test_dataarray_coordinates_are_honoured_by_the_engine():
    """The issue's case: coordinates say 0.05 um; spacing=1.0 was silently used before."""
    from cathodescope.profile import analyze_scene

    img, disk = _disk_image(0.05)
    true_area = np.pi * 1.5**2  # 7.07 um^2; the digitised disk has disk.sum() * 0.0025 um^2
    with pytest.raises(SpacingError, match=r"\(1\.0, 1\.0\).*\(0\.05, 0\.05\)"):
        analyze_scene({"Ni": img}, spacing=1.0)
    res = analyze_scene({"Ni": img}, sampling_window_um=(0.1, 1.0), core_window_um=(0.9, 1.0))
    area = float(res.particles.area_um2.iloc[0])
    assert area == pytest.approx(disk.sum() * 0.05**2, rel=1e-12)
    assert area == pytest.approx(true_area, rel=0.02)
    assert res.spacing == (0.05, 0.05)


def test_every_engine_entry_point_reads_coordinates():
    import xarray as xr

    from cathodescope.profile import depth_map, depth_profiles, radial_line_scans
    from cathodescope.segment import (
        dilate_labels,
        feret_diameters,
        measure_particles,
        segment_particles,
    )

    img, disk = _disk_image(0.05)
    lab_da = xr.DataArray(disk.astype(np.int32), dims=img.dims, coords=img.coords)
    plain = disk.astype(np.int32)
    assert segment_particles(img).spacing == (0.05, 0.05)
    pd_test = pytest.importorskip("pandas").testing
    pd_test.assert_frame_equal(measure_particles(lab_da), measure_particles(plain, spacing=0.05))
    np.testing.assert_array_equal(depth_map(lab_da), depth_map(plain, spacing=0.05))
    np.testing.assert_array_equal(
        dilate_labels(lab_da, 0.1), dilate_labels(plain, 0.1, spacing=0.05)
    )
    assert feret_diameters(lab_da) == feret_diameters(plain, spacing=0.05)
    windows = {"sampling_window_um": (0.1, 1.0), "core_window_um": (0.9, 1.0)}
    a = depth_profiles(plain, {"Ni": img}, **windows)
    b = depth_profiles(plain, {"Ni": img.values}, spacing=0.05, **windows)
    pd_test.assert_frame_equal(a.profiles, b.profiles)
    pd_test.assert_frame_equal(
        radial_line_scans(lab_da, {"Ni": img}), radial_line_scans(plain, {"Ni": img}, spacing=0.05)
    )
    for call in (
        lambda: segment_particles(img, spacing=0.1),
        lambda: measure_particles(lab_da, spacing=0.1),
        lambda: depth_map(lab_da, spacing=0.1),
        lambda: dilate_labels(lab_da, 0.1, spacing=0.1),
        lambda: depth_profiles(plain, {"Ni": img}, spacing=0.1),
        lambda: radial_line_scans(plain, {"Ni": img}, spacing=0.1),
    ):
        with pytest.raises(SpacingError, match=r"0\.1.*0\.05"):
            call()
