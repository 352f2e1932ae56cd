"""Core/shell fits: the synthetic CG NMC622 particle (acceptance), the Mn/Ni midpoint bias,
model recovery, honest uncertainties, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq, curve_fit
from scipy.special import erf, erfinv

from cathodescope.errors import CoreShellFitError, EmptyMapError, ParameterError, ShapeMismatchError
from cathodescope.xrf import (
    NMC442,
    NMC701515,
    core_shell_map,
    fit_core_shell,
    fraction_maps,
    half_height_position,
    line_profile,
    ratio_map,
)

PIXEL = 0.05  # um
SIGMA = 1.0 / 6.0  # erf sigma: gradient region +/- 3 sigma = 1 um
R, DEPTH = 3.0, 1.5  # particle radius and interface depth below its surface, um


def _particle(noise="poisson", seed=7):
    maps, truth = core_shell_map(
        (160, 160),
        spacing=PIXEL,
        particles=[(4.0, 4.0, R)],
        interface_depth_um=DEPTH,
        sigma_um=SIGMA,
        counts=2000.0,
        noise=noise,
        rng=np.random.default_rng(seed),
    )
    return maps, truth


def _radial(image, width=0.5):
    """Profile from the particle centre outwards (shell at the end), stopping 1 pixel inside."""
    return line_profile(image, (4.0, 4.0), (4.0, 4.0 + R - PIXEL), width_um=width)


def test_acceptance_synthetic_core_shell_map():
    """NMC442 shell, NMC701515 core, ~1 um gradient: interface within one pixel, shell and core
    compositions within 0.01 (Poisson noise, 2000 counts per pixel)."""
    maps, truth = _particle()
    frac = fraction_maps(maps, ["Ni", "Mn", "Co"])
    prof = _radial(frac)
    fit = fit_core_shell(
        prof["distance"].values,
        {e: prof.sel(channel=e).values for e in ("Ni", "Mn", "Co")},
        shell_at="end",
    )
    r_interface = truth["interface_radius_um"][0]  # 1.5 um from the centre
    assert abs(fit.interface_um - r_interface) < PIXEL
    for e in ("Ni", "Mn", "Co"):
        assert abs(fit.shell[e] - NMC442[e]) < 0.01
        assert abs(fit.core[e] - NMC701515[e]) < 0.01
    # the gradient width is recovered too (10-90 % width 0.427 um; the band average and the
    # pixel sampling blur it slightly)
    assert fit.width_um == pytest.approx(truth["width_10_90_um"], rel=0.15)
    # the fitted interface agrees with its own error bar (3 sigma)
    assert abs(fit.interface_um - r_interface) < max(3 * fit.interface_stderr_um, 0.02)
    df = fit.to_dataframe()
    assert list(df["element"]) == ["Ni", "Mn", "Co"]
    assert set(fit.curves()["element"]) == {"Ni", "Mn", "Co"}


def _mn_ni_ratio_midpoint_analytic():
    """Where the noise-free Mn/Ni profile crosses half-way between its shell and core levels."""
    r_shell = NMC442["Mn"] / NMC442["Ni"]
    r_core = NMC701515["Mn"] / NMC701515["Ni"]
    half = 0.5 * (r_shell + r_core)

    def ratio(s):  # s = weight of the core composition
        mn = NMC442["Mn"] + (NMC701515["Mn"] - NMC442["Mn"]) * s
        ni = NMC442["Ni"] + (NMC701515["Ni"] - NMC442["Ni"]) * s
        return mn / ni - half

    s_half = brentq(ratio, 0.0, 1.0)
    depth = DEPTH + SIGMA * np.sqrt(2.0) * erfinv(2 * s_half - 1)  # s = S((d - DEPTH)/sigma)
    return R - depth  # radius from the centre


def test_raw_mn_ni_ratio_midpoint_is_biased_fraction_is_not():
    """The issue's point: the Mn/Ni ratio's midpoint sits ~0.05 um towards the shell (1.553 um
    instead of 1.500 um on the issue's particle); Mn/(Ni+Mn+Co) is unbiased."""
    maps, _ = _particle(noise="none")
    ratio_prof = _radial(ratio_map(maps, "Mn", "Ni"), width=0.0)
    frac_prof = _radial(fraction_maps(maps, ["Ni", "Mn", "Co"]), width=0.0)
    d = ratio_prof["distance"].values
    # model-free half-height crossings against the analytic value
    expected = _mn_ni_ratio_midpoint_analytic()
    assert expected == pytest.approx(1.5577, abs=1e-3)
    r_shell, r_core = 1.0, 0.15 / 0.7
    measured = half_height_position(d, ratio_prof.values, r_core, r_shell)
    assert measured == pytest.approx(expected, abs=0.005)
    mn = frac_prof.sel(channel="Mn").values
    assert half_height_position(d, mn, 0.15, 0.40) == pytest.approx(1.5, abs=0.005)
    # step-model fits: the ratio's fitted interface is biased by more than a pixel ...
    fit_ratio = fit_core_shell(d, ratio_prof.values, shell_at="end")
    assert 0.04 < fit_ratio.interface_um - 1.5 < 0.07

    # ... and agrees with an independent scipy fit of the same model to the analytic curve
    def analytic_ratio(x):
        s = 0.5 * (1 + erf(((R - x) - DEPTH) / (np.sqrt(2) * SIGMA)))
        return (0.4 - 0.25 * s) / (0.4 + 0.3 * s)

    def model(x, shell, core, x0, w):
        return shell + (core - shell) * 0.5 * (1 + erf(-(x - x0) / (np.sqrt(2) * w)))

    (_, _, x0_ref, _), _ = curve_fit(model, d, analytic_ratio(d), p0=[1, 0.2, 1.5, 0.2])
    assert fit_ratio.interface_um == pytest.approx(x0_ref, abs=0.005)
    fit_frac = fit_core_shell(
        d, {e: frac_prof.sel(channel=e).values for e in ("Ni", "Mn", "Co")}, shell_at="end"
    )
    assert fit_frac.interface_um == pytest.approx(1.5, abs=0.005)


@pytest.mark.parametrize("model", ["erf", "logistic"])
def test_model_recovery_noise_free(model):
    x = np.linspace(0, 4, 161)
    truth = {"x0": 1.7, "w": 0.2, "shell": 0.42, "core": 0.12}
    if model == "erf":
        s = 0.5 * (1 + erf((x - truth["x0"]) / (np.sqrt(2) * truth["w"])))
    else:
        s = 1 / (1 + np.exp(-(x - truth["x0"]) / truth["w"]))
    y = truth["shell"] + (truth["core"] - truth["shell"]) * s
    fit = fit_core_shell(x, {"Mn": y}, model=model, shell_at="start")
    assert fit.interface_um == pytest.approx(truth["x0"], abs=1e-6)
    assert fit.sigma_um == pytest.approx(truth["w"], rel=1e-5)
    assert fit.shell["Mn"] == pytest.approx(truth["shell"], abs=1e-7)
    assert fit.core["Mn"] == pytest.approx(truth["core"], abs=1e-7)
    factor = 2 * 1.2815515655446004 if model == "erf" else 2 * np.log(9)
    assert fit.width_um == pytest.approx(factor * truth["w"], rel=1e-5)
    # 10-90 % width by definition: the model reaches 10 % and 90 % of the step there
    lo, hi = truth["x0"] - fit.width_um / 2, truth["x0"] + fit.width_um / 2
    frac_lo = (np.interp(lo, x, y) - truth["shell"]) / (truth["core"] - truth["shell"])
    frac_hi = (np.interp(hi, x, y) - truth["shell"]) / (truth["core"] - truth["shell"])
    assert frac_lo == pytest.approx(0.1, abs=2e-3) and frac_hi == pytest.approx(0.9, abs=2e-3)


def test_cross_profile_two_interfaces():
    x = np.linspace(0, 6, 241)
    s = (
        0.5
        * (1 + erf((x - 1.5) / (np.sqrt(2) * 0.15)))
        * 0.5
        * (1 + erf((4.6 - x) / (np.sqrt(2) * 0.15)))
    )
    y = 0.4 + (0.15 - 0.4) * s
    fit = fit_core_shell(x, y, geometry="cross")
    np.testing.assert_allclose(fit.interface_um, (1.5, 4.6), atol=1e-5)
    assert fit.shell["value"] == pytest.approx(0.4, abs=1e-6)
    assert fit.core["value"] == pytest.approx(0.15, abs=1e-6)
    assert {"interface_in_um", "interface_out_um"} <= set(fit.to_dataframe().columns)


def test_uncertainties_are_honest():
    """Over 40 noise realizations the scatter of the fitted interface matches its stderr."""
    rng = np.random.default_rng(11)
    x = np.linspace(0, 3, 61)
    clean = 0.4 + (0.15 - 0.4) * 0.5 * (1 + erf((x - 1.2) / (np.sqrt(2) * 0.15)))
    x0s, errs = [], []
    for _ in range(40):
        fit = fit_core_shell(x, clean + rng.normal(0, 0.01, x.size))
        x0s.append(fit.interface_um)
        errs.append(fit.interface_stderr_um)
    ratio = np.std(x0s, ddof=1) / np.mean(errs)
    assert 0.7 < ratio < 1.4  # chi-square sampling of a 40-sample sd: ~ +/- 0.25 at 2 sigma
    assert abs(np.mean(x0s) - 1.2) < 3 * np.mean(errs) / np.sqrt(40)
    # given per-sample errors: weighted fit, redchi ~ 1
    fit = fit_core_shell(x, clean + rng.normal(0, 0.01, x.size), stderr=np.full(x.size, 0.01))
    assert 0.5 < fit.redchi < 1.6


def test_bad_profiles():
    x = np.linspace(0, 3, 50)
    with pytest.raises(CoreShellFitError, match="too few"):
        fit_core_shell(x[:5], x[:5])
    with pytest.raises(CoreShellFitError):
        fit_core_shell(x, np.full(x.size, 0.3))  # no step at all
    # a step sharper than the sampling: width unresolved, interface known to within a gap
    dx = x[1] - x[0]
    sharp = fit_core_shell(x, np.where(x > 1.23, 0.15, 0.4))
    assert not sharp.width_resolved and np.isnan(sharp.width_stderr_um)
    assert sharp.sigma_um == pytest.approx(dx / 4)
    assert abs(sharp.interface_um - 1.23) < dx
    assert sharp.interface_stderr_um >= dx / np.sqrt(12) - 1e-12
    assert sharp.shell["value"] == pytest.approx(0.4, abs=0.01)
    with pytest.raises(EmptyMapError, match="no finite sample"):
        fit_core_shell(x, np.full(x.size, np.nan))
    with pytest.raises(ShapeMismatchError, match="samples"):
        fit_core_shell(x, x[:-1])
    with pytest.raises(ParameterError, match="model"):
        fit_core_shell(x, x, model="tanh")
    with pytest.raises(CoreShellFitError, match="never crosses"):
        half_height_position(x, np.zeros_like(x), 1.0, 2.0)
