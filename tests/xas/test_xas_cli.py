"""CLI: every sub-command writes its run folder with a manifest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main


def _manifest(folder):
    m = json.loads((folder / "manifest.json").read_text())
    assert m["status"] == "ok"
    return m


def test_cli_normalize_athena(shared_data, tmp_path):
    out = tmp_path / "n"
    assert (
        main(
            [
                "xas",
                "normalize",
                str(shared_data / "xas" / "NiO.prj"),
                "--athena-params",
                "--group",
                "NiO.000",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    s = pd.read_csv(out / "summary.csv")
    assert s.loc[0, "edge_step"] == pytest.approx(s.loc[0, "stored_edge_step"], rel=1e-6)
    assert (out / "normalized.png").is_file() and (out / "normalized.parquet").is_file()
    _manifest(out)


def test_cli_calibrate_and_lcf(shared_data, tmp_path):
    d = shared_data / "xas"
    assert (
        main(
            [
                "xas",
                "calibrate",
                str(d / "ni_metal_rt.xdi"),
                "--element",
                "Ni",
                "--sample",
                str(d / "ni_metal_rt.xdi"),
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    m = _manifest(tmp_path / "c")
    assert m["results"]["shift_eV"] == pytest.approx(8333.0 - 8331.41, abs=0.1)
    out = tmp_path / "l"
    assert (
        main(
            [
                "xas",
                "lcf",
                str(d / "NCA_txm_xanes.csv"),
                "--standard",
                f"NiO={d / 'ref_NiO_Kedge.txt'}",
                "--standard",
                f"LiNiO2={d / 'ref_LiNiO2_Kedge.txt'}",
                "--fit-range",
                "8330",
                "8400",
                "--normalize",
                "--norm1",
                "30",
                "--uncertainty",
                "bootstrap",
                "--valence",
                "NiO=2",
                "--valence",
                "LiNiO2=3",
                "--combinations",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = _manifest(out)
    # pristine LiNi0.8Co0.15Al0.05O2: nominal Ni valence +3; the fit says Ni3+-like
    assert m["results"]["average_valence"] == pytest.approx(3.0, abs=0.1)
    w = pd.read_csv(out / "weights.csv")
    assert w["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (w["ci_low"] <= w["weight"]).all() and (w["weight"] <= w["ci_high"]).all()
    assert len(pd.read_csv(out / "combinations.csv")) == 3


def test_cli_map_and_errors(tmp_path, capsys):
    import tifffile

    from cathodescope.phantom import k_edge_standards, xanes_stack_phantom

    e = np.linspace(8290, 8420, 60)
    std = k_edge_standards(e, n_standards=2)
    stack, _ = xanes_stack_phantom(std, shape=(12, 12), noise=0.0)
    tifffile.imwrite(tmp_path / "s.tif", stack.values.astype(np.float32), photometric="minisblack")
    np.savetxt(tmp_path / "e.txt", e)
    for name, s in std.items():
        np.savetxt(tmp_path / f"{name}.txt", np.c_[s.energy.values, s.values], header="energy eV")
    args = [
        "xas",
        "map",
        str(tmp_path / "s.tif"),
        "--energies",
        str(tmp_path / "e.txt"),
        "--spacing",
        "0.03",
        "--fit-range",
        "8320",
        "8400",
        "--pre1",
        "-40",
        "--pre2",
        "-12",
        "--norm1",
        "30",
        "--nnorm",
        "1",
    ]
    for name in std:
        args += ["--standard", f"{name}={tmp_path / f'{name}.txt'}"]
    assert main([*args, "--out", str(tmp_path / "m")]) == 0
    m = _manifest(tmp_path / "m")
    assert m["results"]["masked_pixels"] > 0
    assert (tmp_path / "m" / "maps.nc").is_file() and (tmp_path / "m" / "maps.png").is_file()
    # bad input: specific error, exit code 2, failed manifest
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(f"{v} {v / 100}" for v in range(80, 120)))
    assert main(["xas", "normalize", str(bad), "--out", str(tmp_path / "b")]) == 2
    assert "energy_units" in capsys.readouterr().err
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["status"] == "failed"
