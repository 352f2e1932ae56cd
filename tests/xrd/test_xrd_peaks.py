"""Batched pseudo-Voigt / doublet fitter: synthetic truth, lmfit as independent reference."""

from __future__ import annotations

import lmfit
import numpy as np
import pytest

from cathodescope.errors import (
    EmptyWindowError,
    NonFiniteDataError,
    NonMonotonicAxisError,
    ParameterError,
)
from cathodescope.io import make_pattern, make_series, read_pattern
from cathodescope.xrd import PeakWindow, fit_peaks, pseudo_voigt, track_peaks


def _lmfit_pv(x, y, center, *, ratio=0.0, lam=1.0, xmid=None):
    """Independent lmfit model (written here, not using the library's model code)."""
    xmid = 0.5 * (x[0] + x[-1]) if xmid is None else xmid

    def pv(x, c, w, eta):
        g = np.sqrt(4 * np.log(2) / np.pi) / w * np.exp(-4 * np.log(2) * ((x - c) / w) ** 2)
        lor = 2 / (np.pi * w) / (1 + 4 * ((x - c) / w) ** 2)
        return eta * lor + (1 - eta) * g

    def f(x, area, center, fwhm, eta, b0, b1):
        out = area * pv(x, center, fwhm, eta) + b0 + b1 * (x - xmid)
        if ratio:
            c2 = 2 * np.degrees(np.arcsin(np.sin(np.radians(center / 2)) * lam))
            out = out + ratio * area * pv(x, c2, fwhm, eta)
        return out

    model = lmfit.Model(f)
    pars = model.make_params(
        area=(y.max() - y.min()) * 0.15,
        center=center,
        fwhm=0.12,
        eta=0.5,
        b0=float(np.min(y)),
        b1=0.0,
    )
    pars["eta"].set(min=0, max=1)
    pars["fwhm"].set(min=1e-3)
    pars["area"].set(min=0)
    return model.fit(y, pars, x=x, weights=1 / np.sqrt(np.maximum(y, 1)))


def test_pseudo_voigt_normalised_and_fwhm():
    x = np.linspace(-200, 200, 400001)
    for eta in (0.0, 0.3, 1.0):
        prof = pseudo_voigt(x, 0.0, 0.5, eta)
        half = prof.max() / 2
        above = x[prof >= half]
        assert above[-1] - above[0] == pytest.approx(0.5, abs=2e-3)
    assert np.trapezoid(pseudo_voigt(x, 0.0, 0.5, 0.0), x) == pytest.approx(1.0, rel=1e-9)


def test_single_peak_recovers_truth(rng):
    x = np.arange(30.0, 32.0, 0.01)
    truth = dict(center=31.0123, fwhm=0.11, eta=0.35, area=800.0)
    y = rng.poisson(200 + 5 * (x - 31) + pseudo_voigt(x, **truth)).astype(float)
    r = fit_peaks(make_pattern(x, y), PeakWindow(30.2, 31.8, (30.95,), ("p",)))
    row = r.table.iloc[0]
    assert row.converged
    # within 4 standard errors of the truth, and the errors are sensible (not 0, not huge)
    for key, err in (("center", "center_err_deg"), ("fwhm", "fwhm_err_deg"), ("area", "area_err")):
        col = "center_deg" if key == "center" else ("fwhm_deg" if key == "fwhm" else "area")
        assert abs(row[col] - truth[key]) < 4 * row[err], key
    assert 0 < row.center_err_deg < 0.01
    assert row.redchi == pytest.approx(1.0, abs=0.3)


def test_doublet_matches_lmfit_on_real_licoo2(shared_data):
    p = read_pattern(shared_data / "xrd" / "LiCoO2_CuKa.UXD")
    win = PeakWindow(44.6, 45.9, (45.25,), ("104",))
    ours = fit_peaks(p, win, doublet=True).table.iloc[0]
    sel = (p.two_theta.values >= 44.6) & (p.two_theta.values <= 45.9)
    ref = _lmfit_pv(
        p.two_theta.values[sel], p.values[sel], 45.25, ratio=0.514, lam=1.54443 / 1.5406
    )
    # both optimisers stop at the same minimum: differences below 1 % of a standard error
    for col, name, err in (
        ("center_deg", "center", "center_err_deg"),
        ("fwhm_deg", "fwhm", "fwhm_err_deg"),
        ("area", "area", "area_err"),
        ("eta", "eta", "eta_err"),
    ):
        assert abs(ours[col] - ref.params[name].value) < 0.01 * ours[err], col
    assert ours.redchi == pytest.approx(ref.redchi, rel=1e-6)
    # same covariance scaling as lmfit (scale_covar=True)
    assert ours.center_err_deg == pytest.approx(ref.params["center"].stderr, rel=1e-3)
    assert ours.area_err == pytest.approx(ref.params["area"].stderr, rel=1e-3)


def test_two_overlapping_peaks(rng):
    x = np.arange(63.5, 66.0, 0.01)
    y = 50 + pseudo_voigt(x, 64.45, 0.1, 0.4, 300) + pseudo_voigt(x, 64.93, 0.1, 0.4, 280)
    y = rng.poisson(y).astype(float)
    r = fit_peaks(make_pattern(x, y), PeakWindow(63.9, 65.5, (64.4, 65.0), ("108", "110")))
    t = r.table.set_index("peak")
    assert abs(t.loc["108", "center_deg"] - 64.45) < 4 * t.loc["108", "center_err_deg"]
    assert abs(t.loc["110", "center_deg"] - 64.93) < 4 * t.loc["110", "center_err_deg"]


def test_tracking_moving_peak_series(rng):
    x = np.arange(17.0, 21.0, 0.01)
    n = 160
    centers = 18.7 + 0.4 * np.sin(np.linspace(0, np.pi, n))  # moves by up to 0.4 deg
    frames = np.array([rng.poisson(80 + pseudo_voigt(x, c, 0.1, 0.5, 400)) for c in centers])
    s = make_series(frames, x, temperature=np.linspace(25, 300, n))
    win = PeakWindow(18.3, 19.1, (18.7,), ("003",))
    for block in (1, 32):
        t = track_peaks(s, win, block=block).peak("003")
        assert t.converged.all()
        z = (t.center_deg - centers) / t.center_err_deg
        assert np.all(np.abs(z) < 5), block
        assert np.sqrt(np.mean(z**2)) == pytest.approx(1.0, abs=0.25)  # honest error bars
        np.testing.assert_allclose(t.temperature_C, s.temperature_C.values)


def test_bad_input():
    x = np.arange(10.0, 12.0, 0.1)
    p = make_pattern(x, np.ones_like(x))
    with pytest.raises(EmptyWindowError, match="widen the window"):
        fit_peaks(p, PeakWindow(10.5, 10.6, (10.55,)))
    with pytest.raises(EmptyWindowError, match="holds 0 points"):
        fit_peaks(p, PeakWindow(30.0, 31.0, (30.5,)))
    with pytest.raises(ParameterError, match="inside"):
        PeakWindow(10.0, 11.0, (12.0,))
    with pytest.raises(ParameterError, match="no fitting windows"):
        fit_peaks(p, [])
    backwards = p.isel(two_theta=slice(None, None, -1))
    with pytest.raises(NonMonotonicAxisError, match="strictly increasing"):
        fit_peaks(backwards, PeakWindow(10.2, 11.5, (11.0,)))
    nan = make_pattern(x, np.where(x > 11, np.nan, 1.0))
    with pytest.raises(NonFiniteDataError, match="NaN"):
        fit_peaks(nan, PeakWindow(10.2, 11.5, (11.0,)))
    with pytest.raises(ParameterError, match="weights"):
        fit_peaks(p, PeakWindow(10.2, 11.5, (11.0,)), weights="bogus")
