"""2theta/d/Q conversions, wavelength conversion and the Ka doublet against analytic values."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import CathodescopeWarning, MissingWavelengthError, UnreachableAngleError
from cathodescope.io import make_pattern
from cathodescope.xrd import (
    convert_wavelength,
    d_to_two_theta,
    kalpha2_position,
    kalpha_wavelengths,
    q_to_two_theta,
    two_theta_to_d,
    two_theta_to_q,
)


def test_bragg_round_trips_analytic():
    # d = lambda / (2 sin theta): at 2theta = 60 deg, sin 30 = 1/2 -> d = lambda
    assert float(two_theta_to_d(60.0, 1.5406)) == pytest.approx(1.5406, rel=1e-14)
    # Q = 4 pi sin(theta) / lambda = 2 pi / d
    assert float(two_theta_to_q(60.0, 1.5406)) == pytest.approx(2 * np.pi / 1.5406, rel=1e-14)
    tth = np.linspace(5, 150, 30)
    np.testing.assert_allclose(d_to_two_theta(two_theta_to_d(tth, 0.4522), 0.4522), tth, rtol=1e-12)
    np.testing.assert_allclose(q_to_two_theta(two_theta_to_q(tth, 1.0), 1.0), tth, rtol=1e-12)


def test_unreachable_d_and_missing_wavelength():
    with pytest.raises(UnreachableAngleError, match="cannot be reached"):
        d_to_two_theta(0.5, 1.5406)  # lambda/2d = 1.54 > 1
    assert np.isnan(d_to_two_theta([0.5], 1.5406, unreachable="nan")[0])
    with pytest.raises(MissingWavelengthError, match="wavelength"):
        two_theta_to_d(20.0, None)


def test_convert_synchrotron_to_cu():
    tth = np.linspace(2.0, 40.0, 500)  # 0.4522 A synchrotron range
    p = make_pattern(tth, np.arange(500.0), wavelength=0.4522)
    with pytest.warns(CathodescopeWarning, match="dropped"):
        q = convert_wavelength(p, 1.5406)
    # same d before and after: 2 sin(theta)/lambda conserved
    d_old = 0.4522 / (2 * np.sin(np.radians(tth / 2)))
    keep = d_old >= 1.5406 / 2
    np.testing.assert_allclose(
        1.5406 / (2 * np.sin(np.radians(q.two_theta.values / 2))), d_old[keep], rtol=1e-12
    )
    np.testing.assert_array_equal(q.values, np.arange(500.0)[keep])
    assert q.attrs["wavelength_A"] == 1.5406 and q.attrs["converted_from_wavelength_A"] == 0.4522
    with pytest.raises(UnreachableAngleError, match="cannot be"):
        convert_wavelength(p, 1.5406, unreachable="raise")
    bare = make_pattern(tth, np.ones(500))
    with pytest.raises(MissingWavelengthError, match="wavelength"):
        convert_wavelength(bare, 1.5406)
    np.testing.assert_allclose(
        convert_wavelength(bare, 1.5406, wavelength=1.5406).two_theta.values, tth, rtol=1e-12
    )


def test_kalpha2_position_and_xraydb_lines():
    c1 = 45.0
    c2 = float(kalpha2_position(c1, 1.5406, 1.54443))
    # Ka1 and Ka2 reflect on the same d
    assert 1.5406 / np.sin(np.radians(c1 / 2)) == pytest.approx(
        1.54443 / np.sin(np.radians(c2 / 2))
    )
    ka1, ka2, ratio = kalpha_wavelengths("Cu")
    assert ka1 == pytest.approx(1.5406, rel=3e-4) and ka2 == pytest.approx(1.54443, rel=3e-4)
    assert ratio == pytest.approx(0.5, abs=0.03)
