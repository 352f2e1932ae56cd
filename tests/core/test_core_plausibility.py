"""Plausibility warnings where a unit mistake is likely (issue 11 item 2)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from cathodescope.common import (
    check_current_ma_plausible,
    check_energy_ev_plausible,
    check_spacing_plausible,
)
from cathodescope.errors import CathodescopeWarning, UnitPlausibilityWarning


@pytest.mark.parametrize("spacing", [0.049, (0.0735, 0.049, 0.049), 10.0, 0.001, 5.0])
def test_plausible_spacings_pass_silently(spacing):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_spacing_plausible(spacing)


def test_spacing_in_nm_names_the_mistake():
    with pytest.warns(UnitPlausibilityWarning, match=r"--spacing 49 .*did you give nm\?") as rec:
        assert check_spacing_plausible(49)
    # the hint gives the value the user meant
    assert "--spacing 0.049" in str(rec[0].message)
    with pytest.warns(UnitPlausibilityWarning, match="did you give nm"):
        check_spacing_plausible((73.5, 49, 49))


def test_spacing_in_m_names_the_mistake():
    with pytest.warns(UnitPlausibilityWarning, match="did you give mm or m"):
        assert check_spacing_plausible(4.9e-8)


def test_energy_in_kev_names_the_mistake():
    with pytest.warns(UnitPlausibilityWarning, match=r"did you give keV\?.*8333 eV"):
        assert check_energy_ev_plausible(8.333, name="--energy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_energy_ev_plausible(np.array([8250.0, 8353.0]))
        assert not check_energy_ev_plausible(np.array([np.nan, 0.0]))


def _cycle(amps_labelled_ma: bool):
    """One 1 h charge at 0.5 mA, capacity in mAh; current written in A if asked."""
    t = np.arange(0.0, 3600.0 + 1, 10.0)
    current_ma = np.full(t.size, 0.5)
    capacity_mah = current_ma * t / 3600.0  # analytic: 0.5 mAh after one hour
    return (current_ma / 1000.0 if amps_labelled_ma else current_ma), t, capacity_mah


def test_current_in_amps_is_found_against_the_capacity():
    i, t, q = _cycle(amps_labelled_ma=True)
    with pytest.warns(UnitPlausibilityWarning, match=r"did you give A\?.*Multiply it by 1000"):
        assert check_current_ma_plausible(i, t, q, name="cell.csv")
    i, t, q = _cycle(amps_labelled_ma=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_current_ma_plausible(i, t, q)
    # a per-step capacity that resets to 0 does not confuse the comparison
    q_steps = np.concatenate([q[: q.size // 2], q[: q.size - q.size // 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_current_ma_plausible(i, t, q_steps)


def test_current_in_amps_without_capacity():
    i, t, _ = _cycle(amps_labelled_ma=True)
    with pytest.warns(UnitPlausibilityWarning, match="did you give A"):
        assert check_current_ma_plausible(i, t)


def test_xradia_energy_in_kev_warns():
    from cathodescope.io import make_projections

    data = np.ones((2, 4, 4), np.uint16)
    with pytest.warns(UnitPlausibilityWarning, match="did you give keV"):
        make_projections(data, [0.0, 90.0], energy_ev=8.333, source="scan.xrm")
    proj = make_projections(data, [0.0, 90.0], energy_ev=8333.0)
    with pytest.warns(UnitPlausibilityWarning, match="did you give keV"):
        proj.with_metadata(energy_ev=8.333)


def test_profile_spacing_49_warns_on_the_terminal_and_in_the_manifest(tmp_path, capsys):
    """The issue's example: nm typed for um must be said on the terminal, not only on disk."""
    from cathodescope.cli import main

    yy, xx = np.mgrid[:48, :48]
    image = ((yy - 24) ** 2 + (xx - 24) ** 2 < 15**2).astype(np.float32)
    np.save(tmp_path / "Ni.npy", image)
    out = tmp_path / "run"
    argv = ["profile", str(tmp_path / "Ni.npy"), "--channels", "Ni", "--spacing", "49"]
    code = main([*argv, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0
    assert "warning: --spacing 49 (spacing=49 um): did you give nm?" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("did you give nm" in w for w in manifest["warnings"])
    # -q keeps it off the terminal, not out of the manifest
    code = main(["-q", *argv, "--out", str(tmp_path / "quiet"), "--no-progress"])
    assert code == 0 and "did you give nm" not in capsys.readouterr().err
    manifest = json.loads((tmp_path / "quiet" / "manifest.json").read_text())
    assert any("did you give nm" in w for w in manifest["warnings"])


def test_warning_class_is_a_cathodescope_warning():
    assert issubclass(UnitPlausibilityWarning, CathodescopeWarning)


def _csv(tmp_path, current_header: str, current_values, capacity=True):
    import pandas as pd

    t = np.arange(0.0, 7200.0 + 1, 30.0)
    charging = t <= 3600
    i_ma = np.where(charging, 0.5, -0.5)
    v = np.where(charging, 3.5 + t / 36000, 3.9 - (t - 3600) / 36000)
    q = np.where(charging, 0.5 * t / 3600, 0.5 * (1 - (t - 3600) / 3600))  # mAh, analytic
    cols = {"Test_Time(s)": t, "Voltage(V)": v, current_header: current_values(i_ma)}
    if capacity:
        cols["Capacity(mAh)"] = q
    path = tmp_path / "cell.csv"
    pd.DataFrame(cols).to_csv(path, index=False)
    return path


def test_cycler_csv_current_in_amps_labelled_ma_warns(tmp_path):
    from cathodescope.io import read_cycler

    amps = _csv(tmp_path, "Current(mA)", lambda i: i / 1000.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_cycler(amps)
    units = [str(w.message) for w in caught if w.category is UnitPlausibilityWarning]
    # the charge-counter check also disagrees; the unit warning says why
    assert len(units) == 1 and "Current(mA)" in units[0] and "did you give A?" in units[0]
    right = _csv(tmp_path, "Current(mA)", lambda i: i)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_cycler(right)
    # 0.5 mA for one hour: 0.5 mAh (trapezoid of a constant current is exact)
    assert df["charge_mAh"].max() == pytest.approx(0.5, rel=1e-9)


def test_echem_cli_units_flag_answers_the_units_error(tmp_path, capsys):
    from cathodescope.cli import main

    path = _csv(tmp_path, "current", lambda i: i / 1000.0, capacity=False)
    assert main(["echem", "summary", str(path), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--units current=UNIT" in err and len(err.strip().splitlines()) == 1
    argv = ["echem", "summary", str(path), "--units", "current=A", "--out", str(tmp_path / "b")]
    assert main(argv) == 0


def test_engine_warns_once_per_scene_for_python_users():
    from cathodescope.profile import analyze_scene

    yy, xx = np.mgrid[:40, :40]
    disk = ((yy - 20) ** 2 + (xx - 20) ** 2 < 12**2).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analyze_scene({"Ni": disk * 2, "Mn": disk}, spacing=49, progress=False)
    units = [w for w in caught if w.category is UnitPlausibilityWarning]
    assert len(units) == 1 and "did you give nm" in str(units[0].message)
