"""Heating-series transitions and gas-release curves against synthetic ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.errors import (
    EmptyDataError,
    MissingMetadataError,
    NonMonotonicAxisError,
    NoReleasePeakError,
    ShapeMismatchError,
)
from cathodescope.io import make_series
from cathodescope.phantom import gas_release_trace, heating_series
from cathodescope.report import plot_heating_contour
from cathodescope.xrd import (
    analyze_gas_release,
    convert_wavelength,
    detect_thermal_transitions,
    join_on_temperature,
)


@pytest.fixture(scope="module")
def heating():
    return heating_series(seed=11)


def test_heating_transitions_within_one_frame(heating):
    series, truth = heating
    tr = detect_thermal_transitions(series)
    temps = series.temperature_C.values
    for event, frame in (
        ("layered_to_spinel", truth["spinel_frame"]),
        ("003_vanishing", truth["spinel_frame"]),
        ("spinel_220_appearing", truth["spinel_frame"]),
        ("spinel_to_rocksalt", truth["rocksalt_frame"]),
    ):
        got = int(tr.onsets.set_index("event").loc[event, "frame"])
        assert abs(got - frame) <= 1, event
    merge = int(tr.onsets.set_index("event").loc["108_110_merging", "frame"])
    assert abs(merge - truth["spinel_frame"]) <= 1
    assert abs(tr.onset("layered_to_spinel") - truth["t_spinel"]) <= np.diff(temps)[0]
    phases = tr.signatures.phase.to_numpy()
    assert phases[0] == "layered" and phases[-1] == "rock-salt"
    assert (phases == "spinel").sum() > 10


@pytest.mark.parametrize("a,c", [(2.815, 14.05), (2.83, 14.5)])
def test_heating_transitions_other_cells(a, c):
    # LiCoO2-like and charged Ni-rich cells: the default windows adapt
    series, truth = heating_series(a=a, c=c, seed=7, temperatures=np.arange(100.0, 450.0, 7.0))
    tr = detect_thermal_transitions(series).onsets.set_index("event")
    assert abs(tr.loc["layered_to_spinel", "frame"] - truth["spinel_frame"]) <= 1
    assert abs(tr.loc["spinel_to_rocksalt", "frame"] - truth["rocksalt_frame"]) <= 1


def test_heating_transitions_at_synchrotron_wavelength():
    # the paper's 0.45220 A series: detection works on the raw and on the Cu-converted axis
    series, truth = heating_series(wavelength=0.4522, seed=2, temperatures=np.arange(30, 330, 6.0))
    for s in (series, convert_wavelength(series, 1.5406)):
        tr = detect_thermal_transitions(s)
        got = int(tr.onsets.set_index("event").loc["layered_to_spinel", "frame"])
        assert abs(got - truth["spinel_frame"]) <= 1


def test_contour_plot_and_missing_temperature(heating):
    series, _ = heating
    fig = plot_heating_contour(series, detect_thermal_transitions(series))
    assert len(fig.axes) == 2  # image + colour bar
    bare = make_series(series.values[:3], series.two_theta.values, wavelength=1.5406)
    with pytest.raises(MissingMetadataError, match="temperature_C"):
        detect_thermal_transitions(bare)


def test_o2_trace_onset_and_peak_within_2c():
    trace, truth = gas_release_trace(peak_c=190.0, sigma_c=6.0, noise=0.02, seed=4)
    r = analyze_gas_release(trace.temperature_C, {"m/z 32": trace.signal}).summary.iloc[0]
    assert abs(r.onset_C - truth["onset_tangent_C"]) < 2.0
    assert abs(r.peak_C - truth["peak_C"]) < 2.0
    assert r.fwhm_C == pytest.approx(truth["fwhm_C"], abs=1.0)
    assert r.amount == pytest.approx(truth["amount"], rel=0.02)
    assert r.classification == "sharp"
    thr = analyze_gas_release(trace.temperature_C, trace.signal, onset="threshold").summary.iloc[0]
    assert abs(thr.onset_C - truth["onset_5pct_C"]) < 2.0


def test_broad_release_on_sloped_baseline_with_time():
    trace, truth = gas_release_trace(
        peak_c=240.0, sigma_c=30.0, baseline=1.0, baseline_slope=2e-3, seed=5
    )
    time_s = (trace.temperature_C - 30.0) / 4.0 * 60.0  # 4 C/min
    r = analyze_gas_release(
        trace.temperature_C, {"m/z 32": trace.signal}, time=time_s, edge_fraction=0.08
    ).summary.iloc[0]
    assert r.classification == "broad"
    assert abs(r.peak_C - 240.0) < 2.0 and abs(r.onset_C - truth["onset_tangent_C"]) < 2.0
    # integral over time = integral over temperature x 15 s/C
    assert r.amount_time == pytest.approx(15.0 * r.amount, rel=1e-9)
    assert r.amount == pytest.approx(truth["amount"], rel=0.03)


def test_gas_bad_input():
    t = np.linspace(30, 500, 200)
    flat = np.random.default_rng(0).normal(1.0, 0.01, t.size)
    with pytest.raises(NoReleasePeakError, match="no release peak"):
        analyze_gas_release(t, flat)
    with pytest.raises(NonMonotonicAxisError, match="heating ramp"):
        analyze_gas_release(t[::-1], flat)
    with pytest.raises(ShapeMismatchError, match="points"):
        analyze_gas_release(t, {"m/z 32": flat[:-1]})
    with pytest.raises(EmptyDataError, match="20"):
        analyze_gas_release(t[:5], flat[:5])


def test_join_xrd_and_gas_on_temperature(heating):
    series, _ = heating
    tr = detect_thermal_transitions(series)
    trace, _ = gas_release_trace(seed=1)
    gas = analyze_gas_release(trace.temperature_C, {"m/z 32": trace.signal})
    joined = join_on_temperature(tr.signatures, gas.curves)
    assert len(joined) == len(tr.signatures)
    np.testing.assert_allclose(joined.gas_temperature_C, joined.temperature_C, atol=0.25)
    i = int(np.argmin(np.abs(trace.temperature_C.to_numpy() - 190.0)))
    row = joined[joined.temperature_C == 190.0].iloc[0]
    assert row["m/z 32"] == pytest.approx(trace.signal.iloc[i])
    far = join_on_temperature(pd.DataFrame({"temperature_C": [1000.0]}), gas.curves)
    assert np.isnan(far["m/z 32"].iloc[0])
