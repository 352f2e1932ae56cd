"""dQ/dV, peak detection and tracking against synthetic cycling with known peaks."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.echem import dqdv, find_dqdv_peaks, track_peaks
from cathodescope.errors import ActiveMassError, NoCyclesError, ParameterError
from cathodescope.io import build_cycling_table
from cathodescope.phantom import cycling_phantom


@pytest.fixture(scope="module")
def phantom():
    # voltage noise 0.5 mV: the sampled voltage is not monotonic within a half-cycle
    return cycling_phantom(n_cycles=9, vanish_cycle=7, points_per_halfcycle=3000, seed=11)


@pytest.fixture(scope="module")
def peaks(phantom):
    df, _ = phantom
    return find_dqdv_peaks(dqdv(df))


def test_voltage_really_is_non_monotonic(phantom):
    df, _ = phantom
    v = df.loc[(df["cycle"] == 1) & (df["step_type"] == "charge"), "voltage_V"].to_numpy()
    assert np.sum(np.diff(v) < 0) > 100


def test_integral_of_dqdv_is_the_capacity(phantom):
    df, truth = phantom
    res = dqdv(df, smoothing="none", exclude_cv=False)
    caps = truth["capacities"].set_index("cycle")
    hc = res.halfcycles
    for k in range(len(hc)):
        c, d = int(hc["cycle"].iloc[k]), hc["direction"].iloc[k]
        integral = abs(np.nansum(res.raw[k]) * res.parameters["grid_step_V"])
        assert integral == pytest.approx(caps.loc[c, f"{d}_capacity_mAh"], rel=1e-9)


def test_smoothed_curve_follows_the_analytic_dqdv(phantom):
    df, truth = phantom
    for smoothing in ("savgol", "spline"):
        res = dqdv(df, smoothing=smoothing, cycles=[1])
        x = res.voltage_V
        for direction in ("charge", "discharge"):
            y = res.curve(1, direction)
            inner = np.isfinite(y) & (x > 3.1) & (x < 4.2)
            true = truth["dqdv"](1, direction, x[inner])
            rms = np.sqrt(np.mean((y[inner] - true) ** 2))
            assert rms < 0.05 * np.max(np.abs(true)), (smoothing, direction, rms)


def test_peak_positions_within_5_mV(phantom, peaks):
    _, truth = phantom
    tp = truth["peaks"][truth["peaks"]["present"]]
    worst = 0.0
    for _, row in tp.iterrows():
        cand = peaks[(peaks["cycle"] == row["cycle"]) & (peaks["direction"] == row["direction"])]
        err = np.min(np.abs(cand["position_V"].to_numpy() - row["position_V"]))
        worst = max(worst, err)
    assert worst < 0.005
    # no spurious peaks: one detection per true peak
    assert len(peaks) == len(tp)
    # the reported uncertainty is honest: errors within ~4 standard errors
    merged = []
    for _, row in tp.iterrows():
        cand = peaks[(peaks["cycle"] == row["cycle"]) & (peaks["direction"] == row["direction"])]
        j = np.argmin(np.abs(cand["position_V"].to_numpy() - row["position_V"]))
        merged.append(
            (cand["position_V"].iloc[j] - row["position_V"]) / cand["position_err_V"].iloc[j]
        )
    assert np.percentile(np.abs(merged), 95) < 4.0


def test_peak_width_and_area(phantom, peaks):
    """FWHM of a logistic-derivative peak is 3.525 w; the Gaussian area is ~0.89 of its charge."""
    _, truth = phantom
    p = peaks[(peaks["cycle"] == 1) & (peaks["direction"] == "charge")].sort_values("position_V")
    widths = np.array([0.020, 0.025, 0.020])
    np.testing.assert_allclose(p["fwhm_V"], 3.525 * widths, rtol=0.05)
    caps = truth["peaks"].query("cycle == 1 and direction == 'charge'")["capacity_mAh"].to_numpy()
    # a Gaussian fitted to a sech^2 peak misses its heavier tails: area ~ 0.89 x the charge
    np.testing.assert_allclose(p["area"] / caps, 0.89, rtol=0.06)
    assert (p["area_err"] > 0).all() and (p["height_err"] > 0).all()


def test_fading_peak_vanishes_at_the_right_cycle(phantom, peaks):
    _, truth = phantom
    tracks = track_peaks(peaks, direction="charge", targets_V=[3.75])
    s = tracks.summary.iloc[0]
    assert s["vanish_cycle"] == truth["vanish_cycle"] == 7
    assert s["last_seen_cycle"] == 6
    # the tracked peak shifts up by 4 mV per cycle (truth) over cycles 1..6
    true_pos = truth["peaks"].query("peak_id == 1 and direction == 'charge' and present")
    assert s["shift_V"] == pytest.approx(
        true_pos["position_V"].iloc[-1] - true_pos["position_V"].iloc[0], abs=0.003
    )
    # tracking from the first cycle's peaks: the other two never vanish
    all_tracks = track_peaks(peaks, direction="discharge")
    assert all_tracks.summary["vanish_cycle"].isna().sum() == 2
    assert all_tracks.summary["vanish_cycle"].dropna().tolist() == [7]


def test_no_fade_means_no_vanishing():
    df, _ = cycling_phantom(n_cycles=4, vanish_cycle=None, points_per_halfcycle=1500, seed=2)
    tr = track_peaks(find_dqdv_peaks(dqdv(df)), direction="charge")
    assert tr.summary["vanish_cycle"].isna().all()
    assert len(tr.summary) == 3


def test_cv_points_are_left_out():
    """A CCCV charge: the CV part piles charge into the top bin unless excluded."""
    t = np.arange(0, 4000.0, 1.0)
    v = np.minimum(3.5 + t / 5000.0, 4.2)
    i = np.where(v < 4.2, 1.0, np.exp(-(t - 3500.0) / 200.0))
    i = np.r_[i, -np.ones(3000)]
    v = np.r_[v, 4.2 - np.arange(1, 3001) / 5000.0]
    t = np.arange(i.size, dtype=float)
    df = build_cycling_table(t, v, i)
    with_cv = dqdv(df, exclude_cv=False, smoothing="none")
    without = dqdv(df, exclude_cv=True, smoothing="none")
    top = np.nanmax(with_cv.raw[0])
    assert top > 10 * np.nanmax(without.raw[0])
    # CC part: dQ/dV = I / (dV/dt) = (1 mA / 3600 s/h) / (1/5000 V/s) = 1.389 mAh/V
    assert np.nanmedian(without.raw[0]) == pytest.approx(5000 / 3600, rel=0.01)


def test_bad_arguments(phantom):
    df, _ = phantom
    with pytest.raises(ParameterError, match="smoothing"):
        dqdv(df, smoothing="lowess")
    with pytest.raises(ParameterError, match="odd"):
        dqdv(df, window_bins=10)
    with pytest.raises(ActiveMassError):
        dqdv(df, specific=True)
    with pytest.raises(NoCyclesError):
        dqdv(df, cycles=[99])
    rest = build_cycling_table(np.arange(10.0), np.full(10, 3.0), np.zeros(10))
    with pytest.raises(NoCyclesError):
        dqdv(rest)
    with pytest.raises(ParameterError, match="voltage_range"):
        dqdv(df, voltage_range=(4.0, 3.0))
    specific = dqdv(df, specific=True, active_mass_g=0.01, cycles=[1])
    plain = dqdv(df, cycles=[1])
    np.testing.assert_allclose(specific.raw, plain.raw / 0.01)


def test_auto_grid_follows_sampling_density():
    """Sparse sampling gets wider bins (3 x median voltage step), dense sampling 2 mV."""
    sparse, truth = cycling_phantom(n_cycles=2, points_per_halfcycle=200, noise_V=0.0, seed=1)
    res = dqdv(sparse)
    v = sparse.loc[sparse["step_type"] == "charge", "voltage_V"].to_numpy()
    expected = np.clip(3 * np.median(np.abs(np.diff(v))), 0.002, 0.02)
    assert res.parameters["grid_step_V"] == pytest.approx(expected, rel=0.05)
    assert res.parameters["grid_step_V"] > 0.005
    # even with 200 points per half-cycle the three peaks are found within 5 mV
    pk = find_dqdv_peaks(res)
    tp = truth["peaks"].query("cycle == 1 and direction == 'charge'")
    got = np.sort(pk.query("cycle == 1 and direction == 'charge'")["position_V"].to_numpy())
    assert got.size == 3
    assert np.max(np.abs(got - np.sort(tp["position_V"].to_numpy()))) < 0.005


def test_batched_fit_agrees_with_scipy_curve_fit(phantom):
    """Independent implementation: scipy.optimize.curve_fit on the same windows."""
    from scipy.optimize import curve_fit

    from cathodescope.echem._peaks import _batched_gauss_lm

    def model(x, a, mu, s, b0, b1):
        return a * np.exp(-0.5 * ((x - mu) / s) ** 2) + b0 + b1 * (x - mu)

    df, _ = phantom
    res = dqdv(df, cycles=[2])
    x = res.voltage_V
    y = res.raw[0]
    xs, ys, p0 = [], [], []
    for centre in (3.45, 3.754, 4.05):
        m = np.isfinite(y) & (np.abs(x - centre) <= 0.06)
        xs.append(x[m])
        ys.append(y[m])
        p0.append([3.0, centre + 0.003, 0.03, 0.1, 0.0])
    width = max(a.size for a in xs)
    xw = np.zeros((3, width))
    yw = np.zeros((3, width))
    mw = np.zeros((3, width))
    for k in range(3):
        n = xs[k].size
        xw[k, :n], yw[k, :n], mw[k, :n] = xs[k], ys[k], 1.0
        xw[k, n:] = xs[k][-1]
    par, cov, _ = _batched_gauss_lm(xw, yw, mw, np.array(p0))
    for k in range(3):
        popt, pcov = curve_fit(model, xs[k], ys[k], p0=p0[k], maxfev=5000)
        perr = np.sqrt(np.diag(pcov))
        # same optimum to a thousandth of each parameter's standard error, same errors
        assert np.all(np.abs(par[k] - popt) < 1e-3 * perr)
        np.testing.assert_allclose(np.sqrt(np.diag(cov[k])), perr, rtol=1e-3)


def test_sech2_shape_recovers_the_reaction_charge(phantom):
    """The phantom's peaks are logistic derivatives: the sech^2 model gives their charge."""
    df, truth = phantom
    pk = find_dqdv_peaks(dqdv(df, cycles=[1, 2]), shape="sech2")
    for c in (1, 2):
        for direction in ("charge", "discharge"):
            got = pk[(pk["cycle"] == c) & (pk["direction"] == direction)].sort_values("position_V")
            tp = truth["peaks"].query(f"cycle == {c} and direction == '{direction}' and present")
            tp = tp.sort_values("position_V")
            np.testing.assert_allclose(got["area"], tp["capacity_mAh"], rtol=0.03)
            np.testing.assert_allclose(got["position_V"], tp["position_V"], atol=0.002)
    # width parameter: FWHM = 3.525 w with w = 20, 25, 20 mV
    one = pk[(pk["cycle"] == 1) & (pk["direction"] == "charge")].sort_values("position_V")
    np.testing.assert_allclose(one["fwhm_V"], 3.525 * np.array([0.02, 0.025, 0.02]), rtol=0.03)
    with pytest.raises(ParameterError, match="shape"):
        find_dqdv_peaks(dqdv(df, cycles=[1]), shape="lorentzian")
