"""``cathodescope echem summary|dqdv|gitt`` write complete run folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from cathodescope.cli import main
from cathodescope.phantom import cycling_phantom, gitt_phantom


def _to_csv(df: pd.DataFrame, path) -> None:
    df[["time_s", "voltage_V", "current_mA", "charge_mAh"]].to_csv(path, index=False)


def test_cli_summary_on_real_file(shared_data, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "echem",
            "summary",
            str(shared_data / "echem" / "biologic_gcpl_7cycles_v3.mpr"),
            "--active-mass-g",
            "0.005",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "ok"
    assert man["results"]["n_cycles"] == 6
    assert man["inputs"][0]["sha256"]
    table = pd.read_csv(out / "cycles.csv")
    assert table["cycle"].tolist() == list(range(7))
    np.testing.assert_allclose(
        table["discharge_capacity_mAh_g"], table["discharge_capacity_mAh"] / 0.005
    )
    assert (out / "capacity.png").stat().st_size > 0
    assert (out / "cycles.parquet").is_file()


def test_cli_dqdv_and_gitt_on_phantoms(tmp_path):
    df, _truth = cycling_phantom(n_cycles=8, vanish_cycle=6, points_per_halfcycle=1500, seed=5)
    f = tmp_path / "cyc.csv"
    _to_csv(df, f)
    out = tmp_path / "dq"
    assert (
        main(
            [
                "echem",
                "dqdv",
                str(f),
                "--track-V",
                "3.75",
                "--peak-shape",
                "sech2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    man = json.loads((out / "manifest.json").read_text())
    assert man["results"]["vanish_cycles"] == [6]
    summ = pd.read_csv(out / "peak_track_summary.csv")
    assert summ["vanish_cycle"].iloc[0] == 6
    for name in ("dqdv.csv", "peaks.csv", "peak_tracks.csv", "dqdv.png"):
        assert (out / name).is_file()

    g, _ = gitt_phantom(n_pulses=6, rest_s=8000.0, current_mA=0.15)
    fg = tmp_path / "gitt.csv"
    _to_csv(g, fg)
    out = tmp_path / "gitt"
    assert main(["echem", "gitt", str(fg), "--radius-um", "5", "--out", str(out)]) == 0
    pulses = pd.read_csv(out / "gitt_pulses.csv")
    assert len(pulses) == 6
    assert np.all(np.abs(pulses["D_sqrt_m2_s"] / 1e-15 - 1) < 0.1)
    assert (out / "gitt_D_vs_soc.png").is_file()


def test_cli_errors_are_reported_not_raised(tmp_path, capsys):
    df, _ = cycling_phantom(n_cycles=2, points_per_halfcycle=500)
    f = tmp_path / "c.csv"
    _to_csv(df, f)
    out = tmp_path / "bad"
    rc = main(["echem", "summary", str(f), "--specific", "--out", str(out)])
    assert rc == 2
    assert "active mass" in capsys.readouterr().err
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "failed"
    assert not (out / "cycles.csv").exists()


def test_cli_ici_and_arbin_res(shared_data, tmp_path, capsys):
    df, _ = gitt_phantom(
        diffusion_m2_s=1e-14, pulse_s=300, rest_s=2, rest_points=10, n_pulses=8, pulse_dt_s=5.0
    )
    f = tmp_path / "ici.csv"
    _to_csv(df, f)
    out = tmp_path / "ici"
    assert main(["echem", "ici", str(f), "--radius-um", "5", "--out", str(out)]) == 0
    table = pd.read_csv(out / "ici_interruptions.csv")
    assert len(table) == 7 and (out / "ici_R_and_D.png").is_file()
    # an Arbin .res given as --format arbin (was a UnicodeDecodeError)
    out2 = tmp_path / "res"
    res = shared_data / "echem" / "arbin_cc.res"
    assert main(["echem", "summary", str(res), "--format", "arbin", "--out", str(out2)]) == 0
    man = json.loads((out2 / "manifest.json").read_text())
    assert man["results"]["instrument"] == "Arbin" and (out2 / "voltage_capacity.png").is_file()
    assert "results in" in capsys.readouterr().out
