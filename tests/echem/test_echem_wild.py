"""Issue 12 behaviour on synthetic truth: counters vs the integral, pulse trains, incomplete
cycles, dQ/dV peaks that can be trusted, GITT with PEIS, ICI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.echem import (
    cycle_summary,
    dqdv,
    find_dqdv_peaks,
    gitt_analysis,
    ici_analysis,
    track_peaks,
)
from cathodescope.errors import CathodescopeWarning
from cathodescope.io import build_cycling_table, read_arbin_csv, read_biologic_mpt
from cathodescope.phantom import cycling_phantom, gitt_phantom


def _cc_table(currents_mA, durations_s, dt=1.0):
    """Piecewise constant-current table: (time, current) with a row every dt seconds."""
    t, i = [], []
    t0 = 0.0
    for cur, dur in zip(currents_mA, durations_s, strict=True):
        n = max(round(dur / dt), 1)
        t.append(t0 + dt * np.arange(1, n + 1))
        i.append(np.full(n, float(cur)))
        t0 += n * dt
    return np.concatenate(t), np.concatenate(i)


# -- capacity from first principles --------------------------------------------------------------


def test_negative_and_reset_counters_are_replaced_by_the_integral():
    t, i = _cc_table([1.0, -1.0, 0.0, 1.0], [3600, 3600, 600, 1800])
    v = np.linspace(3.0, 4.0, t.size)
    exact = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t) / 3600)])
    # a counter that reports the discharge with the wrong sign and resets inside the rest
    counter = exact.copy()
    dis = (t > 3600) & (t <= 7200)
    counter[dis] = 1.0 + (1.0 - exact[dis])
    counter[t > 7500] -= 0.3
    with pytest.warns(CathodescopeWarning, match="charge counter disagrees"):
        df = build_cycling_table(t, v, i, charge_mAh=counter)
    steps = df.attrs["charge_check"]
    assert steps["charge_source"] == "counter+integral" and steps["n_replaced"] >= 2
    s = cycle_summary(df, include_incomplete=True)
    # 1 mAh charged, 1 mAh discharged, 0.5 mAh charged: the integral, to 0.1 %
    assert s["charge_capacity_mAh"].sum() == pytest.approx(1.5, rel=1e-3)
    assert s["discharge_capacity_mAh"].sum() == pytest.approx(1.0, rel=1e-3)
    # an agreeing counter is kept as it is
    df2 = build_cycling_table(t, v, i, charge_mAh=exact)
    assert df2.attrs["charge_check"]["n_replaced"] == 0
    np.testing.assert_array_equal(df2["charge_mAh"], exact)


def test_hppc_pulses_are_not_cycles():
    """3 cycles, each with 10 HPPC pulse pairs (10 s at 5C) in the middle of the discharge."""
    cur, dur = [], []
    for _ in range(3):
        cur += [1.0, 0.0, -1.0]
        dur += [3600, 600, 1800]
        for _ in range(10):
            cur += [-5.0, 0.0, 5.0, 0.0]
            dur += [10, 40, 10, 40]
        cur += [-1.0, 0.0]
        dur += [1800, 600]
    t, i = _cc_table(cur, dur)
    df = build_cycling_table(t, np.full(t.size, 3.7), i)
    assert df["cycle"].max() == 3
    s = cycle_summary(df)
    # each discharge: 1 mAh plus 10 pulses of 5 mA x 10 s; each charge 1 mAh plus 10 pulses
    # (to 1 %: the trapezoid books half of each pulse edge interval to the next rest)
    pulses = 10 * 5.0 * 10 / 3600
    np.testing.assert_allclose(
        s.loc[s["cycle"] >= 1, "discharge_capacity_mAh"], 1 + pulses, rtol=1e-2
    )


def test_incomplete_last_cycle_left_out_of_ce_and_retention(shared_data):
    from cathodescope.io import read_cycler

    tab = read_cycler(shared_data / "echem" / "maccor_truncated_last_cycle.034")
    s = cycle_summary(tab)
    last = s.iloc[-1]
    # the file is cut one point into its last discharge
    assert not last["complete"] and not last["discharge_complete"] and last["charge_complete"]
    assert np.isnan(last["coulombic_efficiency"]) and np.isnan(last["retention_pct"])
    s_all = cycle_summary(tab, include_incomplete=True)
    assert s_all.iloc[-1]["coulombic_efficiency"] < 1e-5  # what the instrument's numbers give
    assert s.attrs["reference_cycle"] == 1


def test_discharge_stopped_early_is_incomplete():
    """A discharge cut at 3.56 V (of a 3.0 V cut-off) passing 56 % of the previous one."""
    df, _ = cycling_phantom(n_cycles=3, vanish_cycle=None, points_per_halfcycle=600, seed=1)
    last_dis = np.flatnonzero((df["cycle"] == 3) & (df["step_type"] == "discharge"))
    cut = last_dis[df["voltage_V"].to_numpy()[last_dis] < 3.56]
    tab = build_cycling_table(
        df["time_s"].drop(cut), df["voltage_V"].drop(cut), df["current_mA"].drop(cut)
    )
    s = cycle_summary(tab)
    assert s["complete"].tolist() == [True, True, False]
    assert np.isnan(s["retention_pct"].iloc[-1])


# -- readers -----------------------------------------------------------------------------------


def test_mpt_without_trailing_newline_keeps_its_last_row(shared_data, tmp_path):
    src = shared_data / "echem" / "biologic_bcd_ecell.mpt"
    raw = src.read_bytes().rstrip(b"\r\n")
    f = tmp_path / "cut.mpt"
    f.write_bytes(raw)
    full = read_biologic_mpt(src)
    kept = read_biologic_mpt(f)
    assert len(kept) == len(full) == 2550
    assert full.attrs["voltage_column"] == "Ecell/V"
    np.testing.assert_array_equal(kept["voltage_V"], full["voltage_V"])


def test_arbin_csv_empty_step_index_and_capitalised_metadata(shared_data, tmp_path):
    src = shared_data / "echem" / "arbin_fastcharge_snippet.csv"
    frame = pd.read_csv(src)
    frame["Step_Index"] = np.nan
    f = tmp_path / "cell.csv"
    frame.to_csv(f, index=False)
    (tmp_path / "cell_Metadata.csv").write_bytes(
        (shared_data / "echem" / "arbin_fastcharge_snippet_metadata.csv").read_bytes()
    )
    df = read_arbin_csv(f)
    assert df["step_index"].nunique() == 1  # not one step per row
    assert df.attrs["metadata"]


def test_newcols_mpr_decodes_the_step_time_column(shared_data):
    """IDs 115, 116, 182 decoded with their documented widths: step time restarts per step."""
    from cathodescope.io import read_biologic_mpr

    df = read_biologic_mpr(shared_data / "echem" / "biologic_gcpl_newcols.mpr")
    assert df.attrs["decoder"] == "cathodescope" and df.attrs["unknown_column_ids"] == []
    assert 2.69 < df["voltage_V"].min() and df["voltage_V"].max() < 4.31


# -- dQ/dV ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cells():
    return cycling_phantom(n_cycles=4, vanish_cycle=None, points_per_halfcycle=3000, seed=3)


def test_peak_positions_stable_across_smoothing_choices(cells):
    df, truth = cells
    pos = []
    for kw in ({}, {"window_bins": 9}, {"window_bins": 17}, {"smoothing": "spline"}):
        pk = find_dqdv_peaks(dqdv(df, **kw), shape="sech2")
        c = pk.query("cycle == 2 and direction == 'charge'").sort_values("position_V")
        pos.append(c["position_V"].to_numpy())
    pos = np.array(pos)
    assert pos.shape == (4, 3)
    assert np.ptp(pos, axis=0).max() <= 0.002  # +-2 mV across the smoothing choices
    tp = np.sort(truth["peaks"].query("cycle == 2 and direction == 'charge'")["position_V"])
    assert np.max(np.abs(pos[0] - tp)) < 0.005


def test_fit_errors_are_honest_on_the_exact_model(cells):
    """sech^2 is the exact dQ/dV of the phantom's logistic steps: standardised errors ~ N(0,1)."""
    df, truth = cells
    pk = find_dqdv_peaks(dqdv(df), shape="sech2")
    tp = truth["peaks"]
    z = []
    for _, p in pk[pk["fitted"]].iterrows():
        ref = tp[(tp["cycle"] == p["cycle"]) & (tp["direction"] == p["direction"])]
        k = np.argmin(np.abs(ref["position_V"].to_numpy() - p["position_V"]))
        z.append((p["position_V"] - ref["position_V"].iloc[k]) / p["position_err_V"])
    z = np.abs(np.array(z))
    assert z.size >= 20
    assert np.all(pk.loc[pk["fitted"], "height_err"] < pk.loc[pk["fitted"], "height"])
    assert np.all(pk.loc[pk["fitted"], "fwhm_V"] >= dqdv(df).parameters["grid_step_V"])
    # not absurdly small errors: most true positions within 5 standard errors
    assert np.mean(z < 5) >= 0.8, np.sort(z)


def test_one_bin_spike_is_not_a_fitted_peak(cells):
    df, _ = cells
    res = dqdv(df, cycles=[1])
    raw = res.raw.copy()
    row = int(np.flatnonzero(res.halfcycles["direction"] == "charge")[0])
    j = int(np.argmin(np.abs(res.voltage_V - 3.9)))
    raw[row, j] += 50 * np.nanmax(raw[row])
    spiked = type(res)(res.voltage_V, raw.copy(), raw, res.halfcycles, res.parameters)
    pk = find_dqdv_peaks(spiked)
    near = pk[(np.abs(pk["position_V"] - 3.9) < 0.004) & (pk["direction"] == "charge")]
    assert len(near) == 1 and not near["fitted"].iloc[0]  # spans < 3 grid points: not fitted


def test_peak_at_the_voltage_limit_is_dropped():
    peaks = ((3.6, 0.02, 0.3), (4.295, 0.01, 0.3))
    df, _ = cycling_phantom(
        n_cycles=2, charge_peaks=peaks, vanish_cycle=None, points_per_halfcycle=3000, seed=4
    )
    pk = find_dqdv_peaks(dqdv(df))
    charge = pk[pk["direction"] == "charge"]
    assert (charge["position_V"] > 4.28).sum() == 0
    assert pk.attrs["n_limit_peaks"] >= 2
    assert (np.abs(charge["position_V"] - 3.6) < 0.01).sum() == 2


def test_tracker_keeps_the_main_peak_when_a_shoulder_comes_closer():
    rows = []
    for c, (main, shoulder) in enumerate([(3.49, None), (3.515, 3.492), (3.52, 3.496)], start=1):
        rows.append(
            {
                "cycle": c,
                "direction": "charge",
                "position_V": main,
                "height": 30.0,
                "height_err": 1.0,
                "fwhm_V": 0.01,
            }
        )
        if shoulder:
            rows.append(
                {
                    "cycle": c,
                    "direction": "charge",
                    "position_V": shoulder,
                    "height": 3.0,
                    "height_err": 0.5,
                    "fwhm_V": 0.03,
                }
            )
    pk = pd.DataFrame(rows)
    follow = track_peaks(pk, targets_V=[3.49]).tracks["position_V"].tolist()
    assert follow == [3.49, 3.515, 3.52]
    greedy = track_peaks(pk, targets_V=[3.49], shape_weight=0.0).tracks["position_V"].tolist()
    assert greedy == [3.49, 3.492, 3.496]  # position only follows the shoulder


def test_lfp_charge_peak_tracked_through_every_cycle(shared_data):
    from cathodescope.io import read_cycler

    df = read_cycler(shared_data / "echem" / "biologic_gcpl_lfp_5cycles.mpr")
    tr = track_peaks(find_dqdv_peaks(dqdv(df)), targets_V=[3.49])
    t = tr.tracks.set_index("cycle")
    assert t["detected"].all()
    assert np.all(np.abs(t.loc[2:, "position_V"] - 3.493) < 0.004)


# -- GITT and ICI --------------------------------------------------------------------------------


def test_gitt_pulse_peis_rest_gives_the_same_diffusion():
    df, truth = gitt_phantom(n_pulses=6, rest_s=3000.0, seed=2)
    codes = df["step_type"].astype(str).to_numpy().copy()
    run = df["step_index"].to_numpy()
    pos = np.arange(len(df)) - np.searchsorted(run, run, side="left")
    codes[(codes == "rest") & (pos < 5) & (run > 0)] = "eis"  # a PEIS right after each pulse
    eis = build_cycling_table(df["time_s"], df["voltage_V"], df["current_mA"], row_class=codes)
    a = gitt_analysis(df, radius_um=truth["radius_um"]).pulses
    b = gitt_analysis(eis, radius_um=truth["radius_um"]).pulses
    assert (b["relaxation"] == "eis+rest").sum() >= 5
    np.testing.assert_allclose(b["D_sqrt_m2_s"], a["D_sqrt_m2_s"], rtol=1e-9)
    assert np.all(b["D_sqrt_err_m2_s"] > 0)


def test_ici_recovers_resistance_and_diffusion_of_the_sphere_phantom():
    """Exact sphere phantom: R to 3 %, D to 25 % with 2 s interruptions (bias +19 %: the
    finite interruption; it shrinks with the interruption: +38 % at 10 s)."""
    bias = []
    for rest_s in (10.0, 2.0):
        df, truth = gitt_phantom(
            diffusion_m2_s=1e-14,
            radius_um=5.0,
            pulse_s=300,
            rest_s=rest_s,
            rest_points=20,
            n_pulses=16,
            current_mA=0.1,
            pulse_dt_s=5.0,
            n_terms=400,
        )
        res = ici_analysis(df, radius_um=5.0).interruptions.iloc[6:]
        assert res["valid"].all()
        np.testing.assert_allclose(res["R_ohm"], truth["resistance_ohm"], rtol=0.05)
        bias.append(np.median(res["D_m2_s"]) / truth["diffusion_m2_s"] - 1)
        assert np.all(res["D_err_m2_s"] > 0)
    assert 0 < bias[1] < bias[0]
    assert abs(bias[1]) < 0.25
