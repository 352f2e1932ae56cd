"""``cathodescope spm ...`` commands write complete run folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_spm_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["spm", "--help"])
    out = capsys.readouterr().out
    for cmd in ("info", "level", "dart", "particles", "soc-series"):
        assert cmd in out


def test_info_on_real_scan_and_dart_command(shared_data, dart_file, tmp_path):
    small = shared_data / "spm" / "gwyddion_pfm_4ch.gwy"
    if not small.is_file():
        pytest.skip("gwyddion_pfm_4ch.gwy not available")
    assert main(["spm", "info", str(small), "--out", str(tmp_path / "info")]) == 0
    channels = pd.read_csv(tmp_path / "info" / "channels.csv")
    assert dict(zip(channels.channel, channels.units, strict=True))["Phase"] == "deg"
    assert _manifest(tmp_path / "info")["status"] == "ok"
    # DART command on a synthetic scan (the real scan is covered in test_spm_dart)
    path = dart_file("d.gwy", esm_m_per_v=10e-12, f0=300e3, current_a=1e-11)
    assert main(["spm", "dart", str(path), "--out", str(tmp_path / "dart")]) == 0
    summary = pd.read_csv(tmp_path / "dart" / "dart_summary.csv").set_index("quantity")
    assert summary.loc["resonance_frequency", "units"] == "Hz"
    assert summary.loc["resonance_frequency", "median"] == pytest.approx(300e3, rel=1e-3)
    assert summary.loc["q", "median"] == pytest.approx(60.0, rel=1e-3)
    m = _manifest(tmp_path / "dart")
    assert m["results"]["valid_fraction"] == 1.0
    assert {"dart_maps.png", "esm_amplitude.tif", "q.tif"} <= set(m["outputs"])


def test_level_command_and_failure_manifest(shared_data, tmp_path):
    path = shared_data / "spm" / "gwyddion_pfm_4ch.gwy"
    if not path.is_file():
        pytest.skip("gwyddion_pfm_4ch.gwy not available")
    out = tmp_path / "level"
    assert (
        main(
            [
                "spm",
                "level",
                str(path),
                "--method",
                "polynomial",
                "--order",
                "2",
                "--align-rows",
                "--scars",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "levelling.csv")
    assert "polynomial order 2" in table.steps[0]
    assert (out / "Height_levelled.tif").is_file()
    # a single-frequency scan without --q: a specific error, exit 2, manifest says failed
    bad = tmp_path / "bad"
    assert main(["spm", "dart", str(path), "--out", str(bad)]) == 2
    m = _manifest(bad)
    assert m["status"] == "failed" and "SPMChannelMissingError" in m["error"]
    assert main(["spm", "dart", str(path), "--q", "75", "--out", str(tmp_path / "esm")]) == 0


def test_soc_series_command(dart_file, tmp_path):
    rows = []
    for i, (soc, esm) in enumerate([(0, 12e-12), (50, 8e-12), (100, 5e-12)]):
        dart_file(f"s{soc}.gwy", esm_m_per_v=esm, f0=300e3, current_a=1e-11, seed=i)
        rows.append({"file": f"s{soc}.gwy", "soc_percent": soc, "direction": "charge"})
    pd.DataFrame(rows).to_csv(tmp_path / "series.csv", index=False)
    out = tmp_path / "soc"
    assert (
        main(["spm", "soc-series", str(tmp_path / "series.csv"), "--particles", "--out", str(out)])
        == 0
    )
    summary = pd.read_csv(out / "soc_summary.csv")
    assert list(summary.soc_percent) == [0, 50, 100]
    # particles only (segmented on the topography): the particle ESM and current themselves
    np.testing.assert_allclose(summary.esm_amplitude_mean, [12e-12, 8e-12, 5e-12], rtol=0.02)
    np.testing.assert_allclose(summary.current_mean, 1e-11, rtol=0.02)
    assert (out / "soc_series.png").is_file()
    assert len(_manifest(out)["inputs"]) == 4
