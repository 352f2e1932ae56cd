"""GITT: Weppner-Huggins D recovered from exact spherical-diffusion phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.echem import (
    diffusion_length,
    gitt_analysis,
    weppner_huggins_mass,
    weppner_huggins_radius,
)
from cathodescope.errors import GITTError, ParameterError
from cathodescope.io import build_cycling_table
from cathodescope.phantom import gitt_phantom
from cathodescope.phantom._cycling import _sphere_roots, sphere_surface_response

D_TRUE = 1e-15  # m^2/s, as in SCIENCE.md section 3


@pytest.fixture(scope="module")
def titration():
    return gitt_phantom(
        diffusion_m2_s=D_TRUE,
        radius_um=5.0,
        pulse_s=60.0,
        rest_s=8000.0,
        n_pulses=18,
        current_mA=0.15,
    )


def test_series_solution_limits():
    """g(0) = 0 (sum 1/a_n^2 = 1/10); short times: planar 2 sqrt(theta/pi); long: 3 theta + 1/5."""
    roots = _sphere_roots(300)
    assert np.sum(1 / roots**2) == pytest.approx(0.1, abs=4e-4)
    g = sphere_surface_response(np.array([0.0, 1e-4, 10.0]), roots)
    assert g[0] == 0.0
    assert g[1] == pytest.approx(2 * np.sqrt(1e-4 / np.pi), rel=0.02)
    assert g[2] == pytest.approx(30.2, rel=1e-9)


def test_D_recovered_within_10_percent_radius_form(titration):
    df, truth = titration
    res = gitt_analysis(df, radius_um=5.0)
    p = res.pulses
    assert len(p) == 18
    valid = p[p["valid"]]
    assert len(valid) == len(p)  # tau D / r^2 = 0.0024 < 0.01
    for col in ("D_m2_s", "D_sqrt_m2_s"):
        err = valid[col] / D_TRUE - 1
        assert np.max(np.abs(err)) < 0.10, (col, err.tolist())
    # dEs equals the OCV difference across the pulse (rest long enough to relax)
    np.testing.assert_allclose(p["dEs_V"], truth["pulses"]["dEs_V"], rtol=0.01)
    # IR drop from the sqrt(t) intercept recovers the ohmic resistance (to 7 %: near SOC 0 the
    # OCV is curved within one pulse and the sqrt(t) extrapolation absorbs part of it)
    np.testing.assert_allclose(p["resistance_ohm"], truth["resistance_ohm"], rtol=0.07)
    np.testing.assert_allclose(p["resistance_ohm"].iloc[6:], truth["resistance_ohm"], rtol=0.03)
    np.testing.assert_allclose(p["tau_s"], 60.0)
    # SOC axis: uniform steps, ends at 1 with the default (total pulse charge) capacity
    np.testing.assert_allclose(np.diff(p["soc"]), 1 / 18, rtol=1e-6)


def test_D_mass_form_equals_radius_form_for_spheres(titration):
    """m V_M / (M S) = volume / area = r / 3 for spheres: both forms must agree."""
    df, _ = titration
    r_cm = 5e-4
    n_particles = 1e6
    molar_mass, density = 97.0, 4.7  # g/mol, g/cm^3 (order of an NMC)
    volume = n_particles * 4 / 3 * np.pi * r_cm**3
    area = n_particles * 4 * np.pi * r_cm**2
    mass = volume * density
    res_m = gitt_analysis(
        df,
        mass_g=mass,
        molar_volume_cm3_mol=molar_mass / density,
        molar_mass_g_mol=molar_mass,
        area_cm2=area,
    )
    res_r = gitt_analysis(df, radius_um=5.0)
    np.testing.assert_allclose(res_m.pulses["D_m2_s"], res_r.pulses["D_m2_s"], rtol=1e-9)
    assert res_m.length_um == pytest.approx(5.0)
    assert np.max(np.abs(res_m.pulses["D_m2_s"] / D_TRUE - 1)) < 0.10


def test_formulas_match_each_other_and_hand_values():
    # 4/(pi*100) * (3e-6/3)^2 * (0.01/0.02)^2 = 3.183e-15
    assert weppner_huggins_radius(100.0, 3.0, 0.01, 0.02) == pytest.approx(
        4 / (np.pi * 100) * 1e-12 * 0.25, rel=1e-12
    )
    # mass form with m V_M/(M S) = 1e-4 cm -> same as r = 3 um
    assert weppner_huggins_mass(100.0, 1.0, 1e-4, 1.0, 1.0, 0.01, 0.02) == pytest.approx(
        weppner_huggins_radius(100.0, 3.0, 0.01, 0.02), rel=1e-12
    )


def test_long_pulses_flagged_invalid():
    """tau D / r^2 = 0.1: the semi-infinite assumption fails and the pulses are flagged."""
    df, _ = gitt_phantom(
        diffusion_m2_s=D_TRUE,
        radius_um=1.0,
        pulse_s=100.0,
        rest_s=3000.0,
        n_pulses=5,
        current_mA=0.3,
        rest_points=40,
    )
    res = gitt_analysis(df, radius_um=1.0)
    assert not res.pulses["valid"].any()
    assert (res.pulses["tau_ratio"] > 0.05).all()


def test_diffusion_length_per_ac_cycle():
    """SCIENCE.md 3: D ~ 1e3 nm^2/s at 320 kHz gives ~0.05-0.06 nm."""
    length_nm = diffusion_length(1e3 * 1e-18, 320e3) * 1e9
    assert length_nm == pytest.approx(np.sqrt(1e3 / 320e3), rel=1e-12)
    assert 0.05 <= length_nm <= 0.06
    np.testing.assert_allclose(
        diffusion_length(np.array([1e-15, 4e-15]), 1.0), [np.sqrt(1e-15), 2 * np.sqrt(1e-15)]
    )
    with pytest.raises(ParameterError, match="frequency"):
        diffusion_length(1e-15, 0.0)
    with pytest.raises(ParameterError, match="diffusion"):
        diffusion_length(-1.0, 1.0)


def test_gitt_bad_input(titration):
    df, _ = titration
    with pytest.raises(ParameterError, match="radius_um"):
        gitt_analysis(df)
    with pytest.raises(ParameterError, match="sqrt_window"):
        gitt_analysis(df, radius_um=5.0, sqrt_window=(0.5, 0.2))
    cc = build_cycling_table(np.arange(100.0), np.linspace(3, 4, 100), np.ones(100))
    with pytest.raises(GITTError, match="no GITT pulse"):
        gitt_analysis(cc, radius_um=5.0)


def test_discharge_titration():
    """Negative current pulses (lithiation): same D, SOC axis running down from 1."""
    df, truth = gitt_phantom(
        diffusion_m2_s=D_TRUE,
        radius_um=5.0,
        pulse_s=60.0,
        rest_s=8000.0,
        n_pulses=8,
        current_mA=-0.15,
        soc0=0.9,
    )
    res = gitt_analysis(df, radius_um=5.0)
    p = res.pulses
    assert (p["direction"] == "discharge").all()
    assert np.all(np.diff(p["soc"]) < 0)
    np.testing.assert_allclose(p["dEs_V"], truth["pulses"]["dEs_V"], rtol=0.01)
    assert np.max(np.abs(p["D_sqrt_m2_s"] / D_TRUE - 1)) < 0.10
    assert np.max(np.abs(p["D_m2_s"] / D_TRUE - 1)) < 0.10
    with pytest.raises(ParameterError, match="SOC"):
        gitt_phantom(current_mA=-0.15, soc0=0.05, n_pulses=30)


def test_relaxation_split_over_several_rest_steps(titration):
    """EC-Lab often records a rest as two steps (10 s, then the rest): E_after is the end of both."""
    df, _ = titration
    codes = df["step_type"].astype(str).to_numpy()
    run = df["step_index"].to_numpy()
    pos_in_step = np.arange(len(df)) - np.searchsorted(run, run, side="left")
    split = (codes == "rest") & (pos_in_step >= 3)  # first 3 points of every rest: own step
    instrument = run * 2 + split
    df2 = build_cycling_table(
        df["time_s"],
        df["voltage_V"],
        df["current_mA"],
        charge_mAh=df["charge_mAh"],
        instrument_step=instrument,
    )
    assert df2["step_index"].max() > df["step_index"].max()
    a = gitt_analysis(df, radius_um=5.0).pulses
    b = gitt_analysis(df2, radius_um=5.0).pulses
    np.testing.assert_allclose(b["dEs_V"], a["dEs_V"], rtol=1e-12)
    np.testing.assert_allclose(b["D_m2_s"], a["D_m2_s"], rtol=1e-12)
