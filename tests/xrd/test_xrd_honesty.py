"""Warnings for numbers that should not be reported (issue 14 item 4) and the fitted-model
curve that the peak-fit figure draws (issue 10: moved out of the CLI into the library)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cathodescope.errors import CathodescopeWarning, ParameterError
from cathodescope.phantom import layered_oxide_pattern
from cathodescope.report import plot_peak_fits, plot_williamson_hall
from cathodescope.xrd import (
    PeakWindow,
    fit_peaks,
    layered_oxide_lattice,
    layered_peak_windows,
    peak_fit_curve,
    williamson_hall,
)

LAMBDA = 1.5406


def _breadths(tth, size_nm, strain, k=0.9):
    """FWHM (deg) from the Williamson-Hall relation itself (the analytic truth)."""
    th = np.radians(np.asarray(tth) / 2)
    beta = (k * LAMBDA / 10 / size_nm + 4 * strain * np.sin(th)) / np.cos(th)
    return np.degrees(beta)


def test_williamson_hall_negative_strain_warns():
    tth = np.array([20.0, 35.0, 50.0, 65.0, 80.0])
    with pytest.warns(CathodescopeWarning, match="strain is negative"):
        wh = williamson_hall(tth, _breadths(tth, 40.0, -5e-4), LAMBDA)
    # the numbers are still the exact line through the points
    assert wh.strain == pytest.approx(-5e-4, rel=1e-9)
    assert wh.size_nm == pytest.approx(40.0, rel=1e-9)
    assert not wh.physical and len(wh.warnings) == 1


def test_williamson_hall_nonpositive_intercept_warns():
    tth = np.array([20.0, 35.0, 50.0, 65.0, 80.0])
    th = np.radians(tth / 2)
    fwhm = np.degrees((-2e-4 + 4 * 2e-3 * np.sin(th)) / np.cos(th))  # intercept < 0
    with pytest.warns(CathodescopeWarning, match="intercept"):
        wh = williamson_hall(tth, fwhm, LAMBDA)
    assert wh.size_nm == np.inf and wh.strain == pytest.approx(2e-3, rel=1e-9)
    fig = plot_williamson_hall(wh)
    assert "not physical" in fig.axes[0].get_title()


def test_williamson_hall_physical_is_silent():
    tth = np.array([20.0, 35.0, 50.0, 65.0, 80.0])
    wh = williamson_hall(tth, _breadths(tth, 40.0, 1e-3), LAMBDA)  # warnings are errors here
    assert wh.physical and wh.strain == pytest.approx(1e-3, rel=1e-9)


def test_ratio_from_unconverged_peaks_warns():
    pattern, _ = layered_oxide_pattern(seed=2)
    windows = layered_peak_windows(2.87, 14.2, LAMBDA)
    stopped = fit_peaks(pattern, windows, max_iter=1)  # stopped after one step
    assert not stopped.table["converged"].all()
    with pytest.warns(CathodescopeWarning, match=r"I\(003\)/I\(104\).*did not converge"):
        layered_oxide_lattice(stopped)
    full = fit_peaks(pattern, windows)
    assert full.table["converged"].all()
    layered_oxide_lattice(full)  # no warning (warnings are errors in the test suite)


def test_peak_fit_curve_doublet_reproduces_noise_free_pattern():
    pattern, _ = layered_oxide_pattern(doublet=True, noise=False, seed=0)
    windows = layered_peak_windows(2.87, 14.2, LAMBDA)
    fit = fit_peaks(pattern, windows, doublet=True, ka2_ratio=0.5, wavelength2=1.54443)
    for win in windows:
        x, model = peak_fit_curve(pattern, fit, win)
        data = pattern.sel(two_theta=x).values
        # same model as the generator's but for the tails of reflections outside the window
        # (not in the window's linear background): within 5e-5 of the window's maximum
        assert np.max(np.abs(model - data)) <= 5e-5 * data.max()
        # and the very curve the fitter minimised: its chi-square (Poisson weights) is the
        # fitter's reduced chi-square, computed by the batched model, to 1e-6
        rows = fit.table[fit.table["peak"].isin(win.names)]
        dof = x.size - (4 * len(win.names) + 2)
        chi2 = np.sum((data - model) ** 2 / np.maximum(data, 1.0))
        assert chi2 / dof == pytest.approx(rows["redchi"].iloc[0], rel=1e-6)
    fig = plot_peak_fits(pattern, fit, windows)
    assert len(fig.axes) == len(windows)


def test_peak_fit_curve_unknown_window():
    pattern, _ = layered_oxide_pattern(noise=False)
    win = PeakWindow(18.3, 19.2, (18.73,), ("003",))
    fit = fit_peaks(pattern, win)
    with pytest.raises(ParameterError, match="no fitted peaks"):
        peak_fit_curve(pattern, fit, PeakWindow(44.0, 45.0, (44.46,), ("104",)))


def test_lattice_run_records_unphysical_williamson_hall(shared_data, tmp_path):
    from cathodescope.workflows.xrd import xrd_lattice_run

    run = xrd_lattice_run(
        shared_data / "xrd" / "LiCoO2_CuKa.RAW", out=tmp_path / "wh", a=2.815, c=14.05,
        doublet=True,
    )  # fmt: skip
    manifest = json.loads((tmp_path / "wh" / "manifest.json").read_text())
    # the LiCoO2 breadths fall with angle: negative strain, which the run must flag
    assert run.williamson_hall is not None and run.williamson_hall.strain < 0
    assert any("strain is negative" in w for w in manifest["warnings"])
