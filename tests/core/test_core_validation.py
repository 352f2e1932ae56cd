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
