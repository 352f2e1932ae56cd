"""CLI: xrd peaks|lattice|series and thermal write complete run folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cathodescope.cli import main
from cathodescope.phantom import gas_release_trace, heating_series


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_cli_lattice_and_peaks_on_real_raw(shared_data, tmp_path, capsys):
    raw = shared_data / "xrd" / "LiCoO2_CuKa.RAW"
    out = tmp_path / "lat"
    assert (
        main(
            [
                "xrd",
                "lattice",
                str(raw),
                "--a",
                "2.815",
                "--c",
                "14.05",
                "--doublet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = _manifest(out)
    assert m["status"] == "ok" and m["inputs"][0]["sha256"]
    assert {"lattice.csv", "lattice.parquet", "peaks.csv", "peak_fits.png"} <= set(m["outputs"])
    assert m["results"]["lattice"]["a_A"] == pytest.approx(2.815, rel=1e-3)
    out2 = tmp_path / "pk"
    assert (
        main(
            [
                "xrd",
                "peaks",
                str(raw),
                "--window",
                "18.3:19.7:18.95:003",
                "--doublet",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    assert "1 peaks fitted" in capsys.readouterr().out
    assert (
        main(["xrd", "peaks", str(raw), "--window", "18.3:19.7:18.95:003", "--out", str(out2)]) == 2
    )  # folder not empty, no --overwrite


def test_cli_series_and_thermal(tmp_path):
    series, truth = heating_series(temperatures=np.arange(150.0, 240.0, 5.0), seed=3)
    paths = []
    for i, frame in enumerate(series.values):
        path = tmp_path / f"frame_{i:03d}.xy"
        np.savetxt(path, np.column_stack([series.two_theta.values, frame]))
        paths.append(str(path))
    out = tmp_path / "series"
    assert (
        main(
            [
                "xrd",
                "series",
                *paths,
                "--wavelength",
                "1.5406",
                "--temperatures",
                "150:5",
                "--a",
                "2.86",
                "--c",
                "14.4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = _manifest(out)
    assert m["status"] == "ok"
    assert "heating_contour.png" in m["outputs"]
    assert abs(m["results"]["onsets_C"]["layered_to_spinel"] - truth["t_spinel"]) <= 5.0
    trace, t = gas_release_trace(seed=2)
    csv = tmp_path / "ms.csv"
    trace.rename(columns={"signal": "m/z 32"}).to_csv(csv, index=False)
    out3 = tmp_path / "thermal"
    assert (
        main(
            [
                "thermal",
                str(csv),
                "--xrd-table",
                str(out / "transition_signatures.csv"),
                "--out",
                str(out3),
            ]
        )
        == 0
    )
    m3 = _manifest(out3)
    row = m3["results"]["gas_release"][0]
    assert abs(row["peak_C"] - t["peak_C"]) < 2 and row["classification"] == "sharp"
    assert "xrd_gas_joined.csv" in m3["outputs"]
