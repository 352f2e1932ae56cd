"""Per-cycle metrics against synthetic ground truth and analytic values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.echem import cycle_summary, step_table
from cathodescope.errors import ActiveMassError, CyclerColumnError, ParameterError
from cathodescope.io import build_cycling_table
from cathodescope.phantom import cycling_phantom


@pytest.fixture(scope="module")
def phantom():
    return cycling_phantom(n_cycles=8, points_per_halfcycle=1500, seed=3)


def test_capacities_energy_and_voltages_match_truth(phantom):
    df, truth = phantom
    s = cycle_summary(df, active_mass_g=0.005, nominal_capacity_mAh=1.0)
    caps = truth["capacities"].set_index("cycle")
    got = s.set_index("cycle")
    # trapezoid of a constant current over uniform samples is exact
    np.testing.assert_allclose(
        got.loc[caps.index, "charge_capacity_mAh"], caps["charge_capacity_mAh"], rtol=1e-9
    )
    np.testing.assert_allclose(
        got.loc[caps.index, "discharge_capacity_mAh"], caps["discharge_capacity_mAh"], rtol=1e-9
    )
    np.testing.assert_allclose(got["charge_capacity_mAh_g"], got["charge_capacity_mAh"] / 0.005)
    np.testing.assert_allclose(
        got["coulombic_efficiency"],
        caps["discharge_capacity_mAh"] / caps["charge_capacity_mAh"],
        rtol=1e-9,
    )
    ref = caps["discharge_capacity_mAh"].iloc[0]
    np.testing.assert_allclose(
        got["retention_pct"], 100 * caps["discharge_capacity_mAh"] / ref, rtol=1e-9
    )
    # C-rate: 0.5 mA on a 1 mAh nominal capacity
    np.testing.assert_allclose(got["charge_c_rate"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(got["discharge_c_rate"], 0.5, rtol=1e-6)
    # end voltages at the cut-offs (within the 0.5 mV noise x 5)
    np.testing.assert_allclose(got["charge_end_voltage_V"], 4.3, atol=2.5e-3)
    np.testing.assert_allclose(got["discharge_end_voltage_V"], 3.0, atol=2.5e-3)
    # energy: integral of V dQ of the true Q(V) (independent: from the analytic dQ/dV)
    v = np.linspace(3.0, 4.3, 20001)
    for c in (1, 5):
        e_true = np.trapezoid(v * truth["dqdv"](c, "charge", v), v)
        assert abs(got.loc[c, "charge_energy_mWh"] - e_true) <= 2e-3 * e_true
        assert (
            abs(got.loc[c, "mean_charge_voltage_V"] - e_true / caps.loc[c, "charge_capacity_mAh"])
            < 2e-3
        )
    assert got["complete"].all()


def test_cycle_definition_start_with_discharge_and_rest():
    """rest, discharge, rest, charge, discharge, charge, charge(CV), discharge -> cycles 0,0,0,1,1,2,2,2."""
    segs = [(0.0, 5), (-1.0, 10), (0.0, 5), (1.0, 10), (-1.0, 10), (1.0, 10), (0.2, 5), (-1.0, 10)]
    cur = np.concatenate([np.full(n, c) for c, n in segs])
    t = np.arange(cur.size) * 60.0
    v = 3.5 + 0.001 * np.cumsum(cur)
    df = build_cycling_table(t, v, cur)
    st = step_table(df)
    assert st["cycle"].tolist() == [0, 0, 0, 1, 1, 2, 2]  # CC and CV charge are one step here
    s = cycle_summary(df)
    assert s["cycle"].tolist() == [0, 1, 2]
    assert s.loc[0, "charge_capacity_mAh"] == 0.0
    assert s.loc[0, "discharge_capacity_mAh"] > 0


def test_specific_values_need_a_positive_mass(phantom):
    df, _ = phantom
    with pytest.raises(ActiveMassError, match="active_mass_g"):
        cycle_summary(df, specific=True)
    with pytest.raises(ActiveMassError, match="> 0"):
        cycle_summary(df, active_mass_g=0.0, specific=True)
    with pytest.raises(ActiveMassError):
        cycle_summary(df, active_mass_g=-1.0)
    s = cycle_summary(df)
    assert "charge_capacity_mAh_g" not in s


def test_reference_cycle_and_bad_table(phantom):
    df, _truth = phantom
    s = cycle_summary(df, reference_cycle=3)
    assert s.loc[s["cycle"] == 3, "retention_pct"].iloc[0] == pytest.approx(100.0)
    with pytest.raises(ParameterError, match="reference_cycle"):
        cycle_summary(df, reference_cycle=99)
    with pytest.raises(CyclerColumnError, match="canonical"):
        cycle_summary(pd.DataFrame({"time_s": [0.0, 1.0]}))
    with pytest.raises(ParameterError):
        cycle_summary(df, nominal_capacity_mAh=0.0)
