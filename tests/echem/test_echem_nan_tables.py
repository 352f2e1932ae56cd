"""Canonical cycling tables are checked for NaN before analysis (issue 11 item 7)."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.echem import cycle_summary, dqdv
from cathodescope.errors import NonFiniteDataError
from cathodescope.phantom import cycling_phantom


@pytest.fixture(scope="module")
def cycling():
    df, truth = cycling_phantom(n_cycles=2, points_per_halfcycle=400, seed=2)
    return df, truth


def test_clean_table_gives_the_phantom_capacities(cycling):
    df, truth = cycling
    summary = cycle_summary(df)
    caps = truth["capacities"].set_index("cycle")
    got = summary.set_index("cycle").loc[caps.index]
    # trapezoid integration of a uniformly sampled constant current: 1 % of the analytic value
    np.testing.assert_allclose(
        got["discharge_capacity_mAh"], caps["discharge_capacity_mAh"], rtol=0.01
    )
    assert (got["discharge_energy_mWh"] > 0).all()


@pytest.mark.parametrize("column", ["voltage_V", "current_mA", "charge_mAh", "time_s"])
def test_one_nan_is_refused_not_averaged_to_zero(cycling, column):
    df, _ = cycling
    bad = df.copy()
    row = int(np.flatnonzero(bad["step_type"].astype(str).to_numpy() == "discharge")[50])
    bad.loc[bad.index[row], column] = np.nan
    with pytest.raises(NonFiniteDataError, match=rf"{column} has 1 NaN/inf value.*row {row}"):
        cycle_summary(bad)
    with pytest.raises(NonFiniteDataError, match=column):
        dqdv(bad)


def test_nan_voltage_in_a_rest_row_is_allowed(cycling):
    df, _ = cycling
    rest = np.flatnonzero(df["step_type"].astype(str).to_numpy() == "rest")
    assert rest.size
    ok = df.copy()
    ok.loc[ok.index[rest[0]], "voltage_V"] = np.nan
    clean = cycle_summary(df)
    got = cycle_summary(ok)
    np.testing.assert_array_equal(
        got["discharge_capacity_mAh"].to_numpy(), clean["discharge_capacity_mAh"].to_numpy()
    )
