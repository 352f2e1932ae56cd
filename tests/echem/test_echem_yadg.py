"""Our BioLogic .mpr readings against yadg's (dgbowl/yadg, an independent .mpr decoder).

For every .mpr of ../shared/data/echem that yadg reads: voltage (``Ewe`` or ``Ecell``), time and
current (``I``; for files without one, our current times each time interval against yadg's
``dq``) equal yadg's exactly (the same float32 / float64 numbers decoded twice), and the charge
``charge_mAh`` rises and falls as yadg's ``(Q-Qo)`` (increments within each step, exact to
1e-12 mAh), except in the steps where our reader replaced the counter by the integral of the
current (``attrs['charge_check']['replaced_steps']``, on purpose).

yadg 7 requires pandas < 3, so it is not in the ``test`` extra (this project runs pandas 3);
the test is skipped when yadg is absent. It was run with yadg 7.0.1 and pandas 2.3.3 in a
separate environment.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from cathodescope.errors import CathodescopeWarning
from cathodescope.io import read_biologic_mpr

yadg_extractors = pytest.importorskip(
    "yadg.extractors",
    reason="yadg is not installed (yadg 7 requires pandas < 3; install it in a separate "
    "environment with pandas 2 to run this cross-check)",
)

_ENV = os.environ.get("CATHODESCOPE_SHARED_DATA")  # as tests/conftest.py finds the corpus
_DIR = (
    Path(_ENV) if _ENV else Path(__file__).resolve().parents[2].parent / "shared" / "data"
) / "echem"
MPR_FILES = sorted(_DIR.glob("*.mpr")) if _DIR.is_dir() else []


@pytest.mark.shared_data
@pytest.mark.parametrize("path", MPR_FILES, ids=[p.name for p in MPR_FILES])
def test_mpr_reading_equals_yadg(path: Path, shared_data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yadg's own deprecation warnings
            ds = yadg_extractors.extract(filetype="eclab.mpr", path=path).to_dataset()
    except Exception as exc:  # yadg's failures are its own; nothing to compare then
        pytest.skip(f"yadg cannot read {path.name}: {type(exc).__name__}: {exc}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CathodescopeWarning)  # counter checks, tested elsewhere
        df = read_biologic_mpr(path)
    assert len(df) == ds.sizes["uts"]
    vname = "Ewe" if "Ewe" in ds else "Ecell"
    assert ds[vname].attrs["units"] == "V" and ds["time"].attrs["units"] == "s"
    np.testing.assert_array_equal(df["voltage_V"].to_numpy(), ds[vname].to_numpy())
    np.testing.assert_array_equal(df["time_s"].to_numpy(), ds["time"].to_numpy())
    if "I" in ds:
        assert ds["I"].attrs["units"] == "mA"
        np.testing.assert_array_equal(df["current_mA"].to_numpy(), ds["I"].to_numpy())
    else:
        assert df.attrs["current_source"] == "dq/dt"
        t = df["time_s"].to_numpy()
        dq = df["current_mA"].to_numpy() * np.diff(t, prepend=t[0]) / 3600.0
        np.testing.assert_allclose(dq, ds["dq"].to_numpy(), rtol=1e-12, atol=1e-15)
    assert ds["(Q-Qo)"].attrs["units"] == "mA·h"
    step = df["step_index"].to_numpy()
    replaced = df.attrs["charge_check"]["replaced_steps"]
    inside = (step[1:] == step[:-1]) & ~np.isin(step[1:], replaced)
    # not a vacuous comparison: the rows inside kept steps are compared (the modulo-bat file,
    # whose counter is replaced in 19 of 64 steps, keeps 278 of its 564 rows)
    assert inside.sum() > 0.25 * len(df)
    ours = np.diff(df["charge_mAh"].to_numpy())[inside]
    theirs = np.diff(ds["(Q-Qo)"].to_numpy())[inside]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
