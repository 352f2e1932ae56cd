"""Lattice parameters: real LiCoO2 vs an independent lmfit route, synthetic LiNiO2 truth, WH."""

from __future__ import annotations

import json

import lmfit
import numpy as np
import pytest
from scipy.optimize import curve_fit

from cathodescope.errors import InsufficientPeaksError, MissingWavelengthError
from cathodescope.io import read_pattern
from cathodescope.phantom import layered_oxide_pattern
from cathodescope.xrd import (
    PeakWindow,
    convert_wavelength,
    d_spacing_hexagonal,
    d_to_two_theta,
    fit_hexagonal_lattice,
    fit_peaks,
    layered_oxide_lattice,
    layered_peak_windows,
    williamson_hall,
)

HKL = {"003": (0, 0, 3), "101": (1, 0, 1), "104": (1, 0, 4), "108": (1, 0, 8), "110": (1, 1, 0)}
LICOO2_WINDOWS = [
    PeakWindow(18.3, 19.7, (18.93,), ("003",)),
    PeakWindow(36.9, 38.0, (37.4,), ("101",)),
    PeakWindow(44.6, 45.9, (45.25,), ("104",)),
    PeakWindow(64.8, 67.0, (65.45, 66.35), ("108", "110")),
]


def _independent_doublet_positions(pattern):
    """Plain lmfit: sum of pseudo-Voigt doublets (lmfit's built-in PseudoVoigtModel) + line."""
    x_all, y_all = pattern.two_theta.values, pattern.values
    lam = 1.54443 / 1.5406
    pos, err = {}, {}
    for win in LICOO2_WINDOWS:
        sel = (x_all >= win.lo) & (x_all <= win.hi)
        x, y = x_all[sel], y_all[sel]
        params = lmfit.Parameters()
        params.add("b0", value=float(y.min()))
        params.add("b1", value=0.0)
        for i, c in enumerate(win.centers):
            params.add(f"a{i}", value=float(y.max()) * 0.12, min=0)
            params.add(f"c{i}", value=c)
            params.add(f"w{i}", value=0.12, min=0.005)
            params.add(f"e{i}", value=0.5, min=0, max=1)
        n_peaks = len(win.centers)

        def resid(p, x=x, y=y, n=n_peaks, pv=lmfit.models.PseudoVoigtModel()):  # noqa: B008
            v = p.valuesdict()
            model = v["b0"] + v["b1"] * (x - 0.5 * (x[0] + x[-1]))
            for i in range(n):
                c2 = 2 * np.degrees(np.arcsin(np.sin(np.radians(v[f"c{i}"] / 2)) * lam))
                # lmfit's PseudoVoigtModel uses sigma = FWHM / 2
                for cen, amp in ((v[f"c{i}"], v[f"a{i}"]), (c2, 0.514 * v[f"a{i}"])):
                    model = model + pv.eval(
                        x=x, amplitude=amp, center=cen, sigma=v[f"w{i}"] / 2, fraction=v[f"e{i}"]
                    )
            return (y - model) / np.sqrt(np.maximum(y, 1))

        out = lmfit.minimize(resid, params)
        for i, name in enumerate(win.names):
            pos[name] = out.params[f"c{i}"].value
            err[name] = out.params[f"c{i}"].stderr
    return pos, err


def test_licoo2_lattice_matches_independent_fit(shared_data):
    p = read_pattern(shared_data / "xrd" / "LiCoO2_CuKa.UXD")
    peaks = fit_peaks(p, LICOO2_WINDOWS, doublet=True)
    t = peaks.table.set_index("peak")
    assert 18.9 < t.loc["003", "center_deg"] < 19.1
    pos, err = _independent_doublet_positions(p)
    names = list(HKL)
    for n in names:  # the peak positions agree within a small fraction of their uncertainty
        assert abs(pos[n] - t.loc[n, "center_deg"]) < 0.05 * err[n], n
    hkl = np.array([HKL[n] for n in names], float)
    tth = np.array([pos[n] for n in names])
    sig = np.array([err[n] for n in names])

    def bragg(i, a, c, z):
        h, k, l_ = hkl[i.astype(int)].T
        d = 1 / np.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l_**2 / c**2)
        return 2 * np.degrees(np.arcsin(1.5406 / (2 * d))) + z

    for correction in ("none", "zero"):
        ours = layered_oxide_lattice(peaks, correction=correction, scale_covar=False).table.iloc[0]
        auto = layered_oxide_lattice(peaks, correction=correction).table.iloc[0]
        # default: error bars widened by sqrt(max(redchi, 1)) when the cell misfits the positions
        assert auto.a_err_A == pytest.approx(ours.a_err_A * np.sqrt(max(ours.redchi, 1)), rel=1e-9)
        if correction == "none":
            popt, pcov = curve_fit(
                lambda i, a, c: bragg(i, a, c, 0.0),
                np.arange(5.0),
                tth,
                p0=(2.8, 14.0),
                sigma=sig,
                absolute_sigma=True,
            )
        else:
            popt, pcov = curve_fit(
                bragg, np.arange(5.0), tth, p0=(2.8, 14.0, 0.0), sigma=sig, absolute_sigma=True
            )
        perr = np.sqrt(np.diag(pcov))
        assert abs(ours.a_A - popt[0]) < np.hypot(ours.a_err_A, perr[0])
        assert abs(ours.c_A - popt[1]) < np.hypot(ours.c_err_A, perr[1])
        assert ours.a_err_A == pytest.approx(perr[0], rel=0.05)
        if correction == "zero":
            assert ours.zero_deg == pytest.approx(popt[2], abs=perr[2])
    # with the zero offset fitted, a and c agree with the COD single-crystal cell
    # (a = 2.8150(3), c = 14.0516(6) A) to better than 0.05 %
    zero = layered_oxide_lattice(peaks, correction="zero").table.iloc[0]
    assert zero.a_A == pytest.approx(2.8150, rel=5e-4)
    assert zero.c_A == pytest.approx(14.0516, rel=5e-4)
    assert zero.c_over_a == pytest.approx(zero.c_A / zero.a_A)
    ratio = t.loc["003", "area"] / t.loc["104", "area"]
    assert zero.i003_i104 == pytest.approx(ratio)


def _reference(shared_data):
    doc = json.loads((shared_data / "xrd" / "reference_peaks_LiNiO2_model.json").read_text())
    return doc["LiNiO2_model_a2.87_c14.2_CuKa1"]


def test_hexagonal_d_spacing_matches_pymatgen_reference(shared_data):
    ref = _reference(shared_data)
    hkl = [tuple(int(ch) for ch in name) for name in ref]
    d = d_spacing_hexagonal(hkl, 2.87, 14.2)
    np.testing.assert_allclose(d, [v["d"] for v in ref.values()], atol=6e-5)  # 4-decimal table
    tth = d_to_two_theta(d, 1.54056)
    np.testing.assert_allclose(tth, [v["two_theta"] for v in ref.values()], atol=6e-4)


@pytest.mark.parametrize("wavelength", [1.5406, 0.45220])
def test_synthetic_linio2_recovers_a_c(shared_data, wavelength):
    ref = _reference(shared_data)
    intens = {k: v["I_rel"] for k, v in ref.items()}
    pattern, _ = layered_oxide_pattern(
        2.87,
        14.2,
        wavelength=wavelength,
        intensities=intens,
        fwhm=0.08 * wavelength / 1.5406,
        seed=3,
    )
    if wavelength != 1.5406:
        pattern = convert_wavelength(pattern, 1.5406)
        assert pattern.attrs["converted_from_wavelength_A"] == wavelength
    windows = layered_peak_windows(2.87, 14.2, 1.5406, half_width=0.35)
    lat = layered_oxide_lattice(fit_peaks(pattern, windows), wavelength=1.5406).table.iloc[0]
    assert abs(lat.a_A / 2.87 - 1) < 1e-4
    assert abs(lat.c_A / 14.2 - 1) < 1e-4
    assert abs(lat.a_A - 2.87) < 4 * lat.a_err_A and abs(lat.c_A - 14.2) < 4 * lat.c_err_A


@pytest.mark.parametrize("correction,kw", [("zero", {"zero_shift": 0.05})])
def test_zero_shift_recovered(correction, kw):
    pattern, _ = layered_oxide_pattern(2.87, 14.2, seed=5, **kw)
    peaks = fit_peaks(pattern, layered_peak_windows(2.87, 14.2, 1.5406, half_width=0.35))
    lat = layered_oxide_lattice(peaks, correction=correction).table.iloc[0]
    assert lat.zero_deg == pytest.approx(0.05, abs=4 * lat.zero_err_deg)
    assert abs(lat.a_A / 2.87 - 1) < 1e-4 and abs(lat.c_A / 14.2 - 1) < 1e-4
    biased = layered_oxide_lattice(peaks, correction="none").table.iloc[0]
    assert abs(biased.c_A / 14.2 - 1) > 1e-3  # uncorrected zero error biases c


def test_displacement_exact():
    hkl = list(HKL.values())
    tth = d_to_two_theta(d_spacing_hexagonal(hkl, 2.87, 14.2), 1.5406)
    tth = tth + 0.03 * np.cos(np.radians(tth / 2))
    r = fit_hexagonal_lattice(hkl, tth, None, 1.5406, correction="displacement")
    assert r["displacement"][0] == pytest.approx(0.03, abs=1e-9)
    assert r["a"][0] == pytest.approx(2.87, rel=1e-10) and r["c"][0] == pytest.approx(
        14.2, rel=1e-10
    )


def test_williamson_hall_recovers_size_and_strain():
    size_nm, strain, wl = 40.0, 1.5e-3, 1.5406
    tth = np.array([18.7, 36.7, 44.5, 58.7, 64.5, 68.2])
    th = np.radians(tth / 2)
    beta = (0.9 * wl / 10 / size_nm + 4 * strain * np.sin(th)) / np.cos(th)  # rad
    inst = 0.05
    fwhm = np.sqrt(np.degrees(beta) ** 2 + inst**2)
    r = williamson_hall(tth, fwhm, wl, instrumental_fwhm=inst)
    assert r.size_nm == pytest.approx(size_nm, rel=1e-9)
    assert r.strain == pytest.approx(strain, rel=1e-9)
    lin = williamson_hall(
        tth, np.degrees(beta) + inst, wl, instrumental_fwhm=inst, subtraction="linear"
    )
    assert lin.size_nm == pytest.approx(size_nm, rel=1e-9)


def test_lattice_bad_input():
    with pytest.raises(InsufficientPeaksError, match="l != 0"):
        fit_hexagonal_lattice([(1, 0, 0), (1, 1, 0)], [30.0, 60.0], None, 1.5406)
    with pytest.raises(InsufficientPeaksError, match="at least 3"):
        fit_hexagonal_lattice([(0, 0, 3), (1, 1, 0)], [18.7, 64.9], None, 1.5406, correction="zero")
    with pytest.raises(InsufficientPeaksError, match=">= 3 peaks"):
        williamson_hall([18.0, 30.0], [0.1, 0.1], 1.5406)
    pattern, _ = layered_oxide_pattern(seed=1)
    peaks = fit_peaks(pattern, layered_peak_windows(2.87, 14.2, 1.5406))
    table = peaks.table
    with pytest.raises(MissingWavelengthError, match="wavelength"):
        layered_oxide_lattice(table)


def test_lattice_tracked_through_heating_series():
    from cathodescope.phantom import heating_series
    from cathodescope.xrd import track_peaks

    temps = np.arange(30.0, 180.0, 10.0)  # layered range only (transition at 192.5 C)
    series, _ = heating_series(temperatures=temps, seed=8, expansion_per_c=5e-5)
    windows = layered_peak_windows(2.86, 14.40, 1.5406, half_width=0.35)
    peaks = track_peaks(series, windows, block=4)
    lat = layered_oxide_lattice(peaks).table
    grow = 1 + 5e-5 * (temps - 25.0)
    np.testing.assert_allclose(lat.a_A / (2.86 * grow), 1.0, atol=1e-4)
    np.testing.assert_allclose(lat.c_A / (14.40 * grow), 1.0, atol=1e-4)
    np.testing.assert_allclose(lat.temperature_C, temps)
    z = (lat.c_A - 14.40 * grow) / lat.c_err_A
    assert np.all(np.abs(z) < 5)


def test_start_offset_absorbed_by_zero_correction(shared_data):
    # the .dat file's 2theta is 0.015 deg above the .UXD's (documented start offset): a fitted
    # zero offset takes it up and leaves a and c unchanged within their uncertainties
    rows = {}
    for ext in ("UXD", "dat"):
        p = read_pattern(shared_data / "xrd" / f"LiCoO2_CuKa.{ext}", wavelength=1.5406)
        peaks = fit_peaks(p, LICOO2_WINDOWS, doublet=True, ka2_ratio=0.514)
        rows[ext] = layered_oxide_lattice(peaks, correction="zero").table.iloc[0]
    dat, uxd = rows["dat"], rows["UXD"]
    assert dat.zero_deg - uxd.zero_deg == pytest.approx(0.015, abs=2 * uxd.zero_err_deg)
    assert abs(dat.a_A - uxd.a_A) < uxd.a_err_A and abs(dat.c_A - uxd.c_A) < uxd.c_err_A
