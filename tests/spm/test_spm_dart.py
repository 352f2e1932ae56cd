"""DART closed form on synthetic damped-harmonic-oscillator resonances and on the real scan."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import (
    DartError,
    EmptyDataError,
    ParameterError,
    ScanSizeMismatchError,
    SPMChannelMissingError,
)
from cathodescope.io import read_spm
from cathodescope.spm import dart_from_scan, dart_solve, dho_response, normalize_esm


def _synthetic(rng, shape=(64, 64), noise=0.0):
    f0 = rng.uniform(280e3, 320e3, shape)
    q = rng.uniform(30, 200, shape)
    ad = rng.uniform(5e-12, 50e-12, shape)
    offset = rng.uniform(-120, 60, shape)  # instrument phase offset, cancels
    centre = f0 * (1 + rng.uniform(-0.002, 0.002, shape))  # imperfect tracking
    width = 6e3
    f1, f2 = centre - width / 2, centre + width / 2
    a1, p1 = dho_response(f1, f0=f0, q=q, drive_amplitude=ad, drive_phase_deg=offset)
    a2, p2 = dho_response(f2, f0=f0, q=q, drive_amplitude=ad, drive_phase_deg=offset)
    if noise:
        a1 = a1 * (1 + rng.normal(0, noise, shape))
        a2 = a2 * (1 + rng.normal(0, noise, shape))
        p1 = p1 + rng.normal(0, 100 * noise, shape)
        p2 = p2 + rng.normal(0, 100 * noise, shape)
    return dict(f0=f0, q=q, ad=ad, offset=offset, f1=f1, f2=f2, a1=a1, a2=a2, p1=p1, p2=p2)


def test_dho_response_analytic():
    a, p = dho_response(100e3, f0=100e3, q=40, drive_amplitude=2e-12)
    assert a == pytest.approx(80e-12, rel=1e-12)  # A_res = Q A_d
    assert p == pytest.approx(90.0, abs=1e-12)
    a0, p0 = dho_response(1.0, f0=100e3, q=40, drive_amplitude=2e-12)
    assert a0 == pytest.approx(2e-12, rel=1e-6) and p0 == pytest.approx(0.0, abs=1e-3)


def test_dart_recovers_q_f0_drive_exactly(rng):
    s = _synthetic(rng)
    r = dart_solve(
        s["a1"],
        s["a2"],
        s["p1"],
        s["p2"],
        f1=s["f1"],
        f2=s["f2"],
        drive_voltage=2.0,
        amplitude_units="m",
    )
    assert r.valid_fraction == 1.0
    np.testing.assert_allclose(r.resonance_frequency.values, s["f0"], rtol=1e-9)
    np.testing.assert_allclose(r.q.values, s["q"], rtol=1e-7)
    np.testing.assert_allclose(r.drive_amplitude.values, s["ad"], rtol=1e-7)
    np.testing.assert_allclose(r.drive_phase.values, s["offset"], atol=1e-6)
    np.testing.assert_allclose(r.esm_amplitude.values, s["ad"] / 2.0, rtol=1e-7)
    assert r.esm_amplitude.attrs["units"] == "m/V"


def test_dart_with_noise_within_one_percent(rng):
    # 0.1 % amplitude noise and 0.1 deg phase noise: Q and f0 within 1 % (acceptance)
    s = _synthetic(rng, noise=1e-3)
    r = dart_solve(s["a1"], s["a2"], s["p1"], s["p2"], f1=s["f1"], f2=s["f2"])
    err_f0 = np.abs(r.resonance_frequency.values / s["f0"] - 1)
    err_q = np.abs(r.q.values / s["q"] - 1)
    assert np.nanmax(err_f0) < 1e-3
    assert np.nanmedian(err_q) < 0.01
    assert np.nanpercentile(err_q, 95) < 0.05


def test_dart_common_gain_and_lead_convention(rng):
    s = _synthetic(rng, shape=(8, 8))
    r1 = dart_solve(s["a1"], s["a2"], s["p1"], s["p2"], f1=s["f1"], f2=s["f2"])
    r2 = dart_solve(
        7 * s["a1"],
        7 * s["a2"],
        -s["p1"],
        -s["p2"],
        f1=s["f1"],
        f2=s["f2"],
        phase_convention="lead",
    )
    np.testing.assert_allclose(r2.q.values, r1.q.values, rtol=1e-9)
    np.testing.assert_allclose(r2.drive_amplitude.values, 7 * r1.drive_amplitude.values, rtol=1e-9)


def test_dart_invalid_pixels_and_errors(rng):
    s = _synthetic(rng, shape=(4, 4))
    p2 = s["p2"].copy()
    p2[0, 0] = s["p1"][0, 0] - 10  # phase difference of the wrong sign
    r = dart_solve(s["a1"], s["a2"], s["p1"], p2, f1=s["f1"], f2=s["f2"])
    assert not r.valid.values[0, 0] and np.isnan(r.q.values[0, 0])
    assert r.valid.values.sum() == 15
    with pytest.raises(DartError, match="phase difference"):
        dart_solve(s["a1"], s["a2"], s["p2"], s["p1"], f1=s["f1"], f2=s["f2"])
    with pytest.raises(DartError, match="f1 < f2"):
        dart_solve(s["a1"], s["a2"], s["p1"], s["p2"], f1=s["f2"], f2=s["f1"])
    with pytest.raises(ScanSizeMismatchError, match="one grid"):
        dart_solve(s["a1"][:2], s["a2"], s["p1"], s["p2"], f1=s["f1"], f2=s["f2"])
    nan = np.full((4, 4), np.nan)
    with pytest.raises(EmptyDataError, match="all NaN"):
        dart_solve(nan, nan, nan, nan, f1=1e5, f2=1.1e5)
    with pytest.raises(ParameterError, match="phase_convention"):
        dart_solve(
            s["a1"], s["a2"], s["p1"], s["p2"], f1=s["f1"], f2=s["f2"], phase_convention="up"
        )


def test_normalize_esm_single_frequency(rng):
    amp = rng.uniform(1e-10, 1e-9, (16, 16))
    out = normalize_esm(amp, q=80.0, drive_voltage=4.0)
    np.testing.assert_allclose(out.values, amp / 320.0, rtol=1e-12)
    # consistency with DART: at resonance A_res / (Q V) equals A_d / V
    a_res, _ = dho_response(300e3, f0=300e3, q=80.0, drive_amplitude=3e-12)
    assert float(normalize_esm(a_res, q=80.0, drive_voltage=2.0)) == pytest.approx(1.5e-12)
    with pytest.raises(ParameterError, match="q must be"):
        normalize_esm(amp, q=0.0, drive_voltage=1.0)
    with pytest.raises(ParameterError, match="drive_voltage"):
        normalize_esm(amp, q=50.0, drive_voltage=-1.0)
    with pytest.raises(EmptyDataError):
        normalize_esm(np.full((3, 3), np.nan), q=50.0, drive_voltage=1.0)


def test_dart_on_real_asylum_scan(shared_data):
    path = shared_data / "spm" / "asylum_dart_pfm_6ch.ibw"
    if not path.is_file():
        pytest.skip("asylum_dart_pfm_6ch.ibw not available")
    scan = read_spm(path)
    r = dart_from_scan(scan)
    assert r.parameters["frequency_width_Hz"] == pytest.approx(10e3)
    assert r.valid_fraction > 0.9
    # DART feedback keeps the tracked centre frequency on the resonance, so the closed-form
    # f0 (computed from amplitudes and phases only) must agree with the Frequency channel
    ok = r.valid.values
    rel = r.resonance_frequency.values[ok] / scan["Frequency"].values[ok] - 1
    assert abs(np.median(rel)) < 1e-3
    assert np.percentile(np.abs(rel), 90) < 5e-3
    assert 5 < np.nanmedian(r.q.values) < 500
    assert r.esm_amplitude.attrs["units"] == "m/V"
    # the scan shows ferroelectric domains: the excitation phase recovered by DART must be
    # bimodal with the two modes 180 deg apart (up/down polarisation)
    phase = r.drive_phase.values[ok]
    hist, edges = np.histogram(np.mod(phase, 360), bins=72, range=(0, 360))
    mode = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
    d = np.mod(phase - mode + 180, 360) - 180
    near_mode = np.abs(d) < 30
    near_opposite = np.abs(np.abs(d) - 180) < 30
    assert near_opposite.mean() > 0.1  # the second domain population exists...
    assert (near_mode | near_opposite).mean() > 0.9  # ...and almost nothing lies in between


def test_dart_missing_channels(shared_data):
    path = shared_data / "spm" / "gwyddion_pfm_4ch.gwy"
    if not path.is_file():
        pytest.skip("gwyddion_pfm_4ch.gwy not available")
    with pytest.raises(SPMChannelMissingError, match="single-frequency"):
        dart_from_scan(read_spm(path))
