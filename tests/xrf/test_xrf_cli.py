"""``cathodescope xrf ...``: run folders with tables, figures and a manifest."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_phantom_then_coreshell_profile_overlay(tmp_path, capsys):
    h5 = tmp_path / "cg.h5"
    assert main(["xrf", "phantom", "--out", str(h5), "--size", "160", "--seed", "3"]) == 0
    out = tmp_path / "cs"
    rc = main(
        [
            "xrf",
            "coreshell",
            str(h5),
            "--start",
            "4,4",
            "--end",
            "4,6.95",
            "--width",
            "0.5",
            "--shell-at",
            "end",
            "--compare-ratio",
            "Mn/Ni",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    m = _manifest(out)
    assert m["status"] == "ok"
    assert {
        "coreshell.csv",
        "coreshell.parquet",
        "coreshell.png",
        "profile.csv",
        "coreshell_ratio.csv",
        "coreshell_curves.csv",
    } <= set(m["outputs"])
    assert m["inputs"][0]["sha256"]
    cs = pd.read_csv(out / "coreshell.csv").set_index("element")
    # truth: interface 1.5 um from the centre, NMC442 shell, NMC701515 core
    assert abs(cs.loc["Mn", "interface_um"] - 1.5) < 0.05
    assert abs(cs.loc["Mn", "shell"] - 0.40) < 0.01 and abs(cs.loc["Mn", "core"] - 0.15) < 0.01
    assert abs(cs.loc["Ni", "shell"] - 0.40) < 0.01 and abs(cs.loc["Ni", "core"] - 0.70) < 0.01
    ratio = pd.read_csv(out / "coreshell_ratio.csv")
    assert ratio["interface_um"][0] - 1.5 > 0.03  # the Mn/Ni midpoint is biased outwards
    # the same profile table from `xrf profile`, and an overlay
    prof = tmp_path / "prof"
    assert (
        main(
            [
                "xrf",
                "profile",
                str(h5),
                "--start",
                "4,4",
                "--end",
                "4,6.95",
                "--width",
                "0.5",
                "--out",
                str(prof),
            ]
        )
        == 0
    )
    table = pd.read_parquet(prof / "profile.parquet")
    sums = table[["fraction_Ni", "fraction_Mn", "fraction_Co"]].sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-9)
    rgb = tmp_path / "rgb"
    assert main(["xrf", "overlay", str(h5), "--out", str(rgb)]) == 0
    assert (rgb / "overlay.png").is_file()
    limits = pd.read_csv(rgb / "overlay_limits.csv")
    assert list(limits["channel"]) == ["Ni_K", "Co_K", "Mn_K"]
    capsys.readouterr()


def test_ratio_on_the_real_file(shared_data, tmp_path):
    path = shared_data / "xrf/pyxrf_fitted_NiCoMn_20x30.h5"
    with h5py.File(path, "r") as f:
        names = [n.decode() for n in f["xrfmap/detsum/xrf_fit_name"][()]]
        fit = f["xrfmap/detsum/xrf_fit"][()]
    expected = fit[names.index("Mn_K")] / fit[names.index("Ni_K")]  # i0 cancels
    out = tmp_path / "ratio"
    rc = main(
        [
            "xrf",
            "ratio",
            str(path),
            "--num",
            "Mn",
            "--den",
            "Ni",
            "--scaler",
            "i0",
            "--position-units",
            "um",
            "--min-signal",
            "none",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    summary = pd.read_csv(out / "ratio_summary.csv")
    assert summary["median"][0] == pytest.approx(np.median(expected), rel=1e-12)
    assert summary["n_pixels"][0] == 600
    m = _manifest(out)
    assert m["results"]["map"]["shape"] == [20, 30]
    assert m["results"]["map"]["units"] == "counts per i0"
    np.testing.assert_allclose(m["results"]["map"]["spacing_um"], [0.02, 0.01])


def test_cli_errors_are_reported(shared_data, tmp_path, capsys):
    path = shared_data / "xrf/pyxrf_fitted_NiCoMn_20x30.h5"
    out = tmp_path / "fail"
    # the real maps are uniform: Otsu has no contrast to work with -> EmptyMapError, exit 2
    rc = main(
        [
            "xrf",
            "ratio",
            str(path),
            "--num",
            "Mn",
            "--den",
            "Ni",
            "--position-units",
            "um",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    assert "constant" in capsys.readouterr().err
    m = _manifest(out)
    assert m["status"] == "failed" and "EmptyMapError" in m["error"]
    rc = main(
        [
            "xrf",
            "ratio",
            str(path),
            "--num",
            "Mn",
            "--den",
            "Ni",
            "--out",
            str(tmp_path / "nounits"),
        ]
    )
    assert rc == 2 and "position_units" in capsys.readouterr().err
    # an existing, non-empty output folder that is not a failed run is refused
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    rc = main(
        [
            "xrf",
            "ratio",
            str(path),
            "--num",
            "Mn",
            "--den",
            "Ni",
            "--position-units",
            "um",
            "--out",
            str(out),
        ]
    )
    assert rc == 2 and "not empty" in capsys.readouterr().err


def test_particles_command(tmp_path, capsys):
    h5 = tmp_path / "many.h5"
    assert (
        main(
            ["xrf", "phantom", "--out", str(h5), "--size", "400", "--particles", "3", "--seed", "4"]
        )
        == 0
    )
    out = tmp_path / "particles"
    assert (
        main(["xrf", "particles", str(h5), "--no-progress", "--no-figures", "--out", str(out)]) == 0
    )
    m = _manifest(out)
    assert m["status"] == "ok" and m["results"]["n_particles"] == 3
    assert {
        "particles.csv",
        "profiles.csv",
        "ratios.csv",
        "core_shell.csv",
        "core_shell_summary.csv",
    } <= set(m["outputs"])
    cs = pd.read_csv(out / "core_shell.csv")
    assert (cs["status"] == "ok").all()
    assert np.all(np.abs(cs["interface_depth_um"] - 1.5) < 0.05)
    capsys.readouterr()


def test_phantom_writes_to_out_with_spacing(tmp_path, capsys):
    from cathodescope.io import read_pyxrf_h5

    h5 = tmp_path / "aniso.h5"
    assert main(["xrf", "phantom", "--out", str(h5), "--size", "120", "--spacing", "0.06"]) == 0
    maps = read_pyxrf_h5(h5)
    np.testing.assert_allclose(maps.attrs["spacing_um"], (0.06, 0.06), rtol=1e-12)
    assert f"wrote {h5}" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the old positional output is gone
        main(["xrf", "phantom", str(tmp_path / "old.h5")])
    capsys.readouterr()


def test_layers_of_the_spm_and_xrf_slice():
    """spm/xrf compute (no report, workflows, cli, matplotlib); their CLIs hold no numpy."""
    import ast
    from pathlib import Path

    import cathodescope

    root = Path(cathodescope.__file__).parent

    def imports(path):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from (a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                yield node.module

    for pkg in ("spm", "xrf"):
        for path in (root / pkg).glob("*.py"):
            bad = [
                m
                for m in imports(path)
                if m.split(".")[0] == "matplotlib"
                or m.startswith(
                    ("cathodescope.report", "cathodescope.workflows", "cathodescope.cli")
                )
            ]
            assert not bad, f"{path.name} imports {bad}"
    for name in ("spm.py", "xrf.py"):
        mods = set(imports(root / "cli" / name))
        assert not mods & {"numpy", "matplotlib", "matplotlib.pyplot", "scipy"}, name
    for path in (root / "report").glob("_[sx][pr][mf].py"):
        assert "matplotlib.pyplot" not in set(imports(path)), path.name
