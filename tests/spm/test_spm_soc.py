"""State-of-charge series on synthetic DART + C-AFM scans with known values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.errors import FileFormatError, MissingMetadataError, ParameterError
from cathodescope.report import soc_series_figure
from cathodescope.spm import read_soc_table, soc_series

TRUTH = [  # soc, direction, esm (m/V), f0 (Hz), current (A)
    (0, "charge", 12e-12, 300e3, 40e-12),
    (50, "charge", 8e-12, 302e3, 20e-12),
    (100, "charge", 5e-12, 305e3, 5e-12),
    (50, "discharge", 9e-12, 301e3, 25e-12),
]


def _series_files(dart_file, tmp_path):
    rows = []
    for i, (soc, direction, esm, f0, cur) in enumerate(TRUTH):
        name = f"soc{soc:03d}_{direction}.gwy"
        dart_file(name, esm_m_per_v=esm, f0=f0, current_a=cur, seed=i)
        rows.append({"file": name, "soc_percent": soc, "direction": direction})
    return rows


def test_soc_series_csv_whole_image(dart_file, tmp_path, discs):
    rows = _series_files(dart_file, tmp_path)
    pd.DataFrame(rows).to_csv(tmp_path / "series.csv", index=False)
    series = soc_series(tmp_path / "series.csv")
    s = series.summary.set_index(["soc_percent", "direction"])
    labels_frac = (discs() > 0).mean()
    for soc, direction, esm, f0, cur in TRUTH:
        row = s.loc[(soc, direction)]
        assert row["n_files"] == 1
        # whole image: ESM = area-weighted particles + matrix (0.2 x esm)
        expected = esm * (labels_frac + 0.2 * (1 - labels_frac))
        assert row["esm_amplitude_mean"] == pytest.approx(expected, rel=0.01)
        assert row["esm_amplitude_units"] == "m/V"
        assert row["resonance_frequency_mean"] == pytest.approx(f0, rel=1e-3)
        assert row["current_mean"] == pytest.approx(1e-12 + cur * labels_frac, rel=0.02)
        assert row["esm_amplitude_std"] > 0
    fig = soc_series_figure(series)
    assert len(fig.axes) == 3


def test_soc_series_toml_particles_only(dart_file, tmp_path, discs):
    rows = _series_files(dart_file, tmp_path)
    lines = []
    for r in rows:
        lines += [
            "[[scan]]",
            f'file = "{r["file"]}"',
            f"soc_percent = {r['soc_percent']}",
            f'direction = "{r["direction"]}"',
            "",
        ]
    (tmp_path / "series.toml").write_text("\n".join(lines))
    table = read_soc_table(tmp_path / "series.toml")
    assert len(table) == 4

    def particles(scan):
        return discs()

    series = soc_series(table, particles=particles)
    s = series.summary.set_index(["soc_percent", "direction"])
    for soc, direction, esm, f0, cur in TRUTH:
        row = s.loc[(soc, direction)]
        assert row["esm_amplitude_mean"] == pytest.approx(esm, rel=0.01)
        # offset (1 pA) removed using the background: the particle current itself
        assert row["current_mean"] == pytest.approx(cur, abs=0.1e-12)
        assert row["resonance_frequency_mean"] == pytest.approx(f0, rel=1e-3)
    # ESM and current fall with SOC on charge, as built in
    charge = series.summary[series.summary.direction == "charge"].sort_values("soc_percent")
    assert np.all(np.diff(charge["esm_amplitude_mean"]) < 0)
    assert np.all(np.diff(charge["current_mean"]) < 0)


def test_soc_pooled_statistics_two_files(dart_file, tmp_path, discs):
    dart_file("a.gwy", esm_m_per_v=10e-12, f0=300e3, current_a=1e-11, seed=1)
    dart_file("b.gwy", esm_m_per_v=12e-12, f0=300e3, current_a=1e-11, seed=2)
    pd.DataFrame(
        {"file": ["a.gwy", "b.gwy"], "soc_percent": [50, 50], "direction": ["charge", "charge"]}
    ).to_csv(tmp_path / "t.csv", index=False)
    series = soc_series(tmp_path / "t.csv", particles=lambda scan: discs())
    row = series.summary.iloc[0]
    assert row["n_files"] == 2
    pf = series.per_file
    n, m, s = pf["esm_amplitude_n"], pf["esm_amplitude_mean"], pf["esm_amplitude_std"]
    assert row["esm_amplitude_mean"] == pytest.approx((m * n).sum() / n.sum(), rel=1e-12)
    assert row["esm_amplitude_mean"] == pytest.approx(11e-12, rel=0.01)
    assert row["esm_amplitude_sem_files"] == pytest.approx(m.std(ddof=1) / np.sqrt(2))
    assert row["esm_amplitude_std"] > s.max()  # pooled std includes the between-file spread


def test_soc_table_errors(dart_file, tmp_path):
    dart_file("a.gwy", esm_m_per_v=10e-12, f0=300e3, current_a=1e-11)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,soc\na.gwy,50\n")
    with pytest.raises(FileFormatError, match="direction"):
        read_soc_table(bad)
    bad.write_text("file,soc_percent,direction\na.gwy,150,charge\n")
    with pytest.raises(ParameterError, match="0 to 100"):
        read_soc_table(bad)
    bad.write_text("file,soc_percent,direction\na.gwy,50,sideways\n")
    with pytest.raises(ParameterError, match="direction"):
        read_soc_table(bad)
    bad.write_text("file,soc_percent,direction\nmissing.gwy,50,charge\n")
    with pytest.raises(FileNotFoundError, match=r"missing\.gwy"):
        read_soc_table(bad)
    with pytest.raises(FileFormatError, match=r"csv or \.toml"):
        read_soc_table(tmp_path / "a.gwy")


def test_single_frequency_needs_q(tmp_path, rng, gwy_writer):
    amp = rng.uniform(1e-10, 2e-10, (32, 32))
    gwy_writer(
        tmp_path / "pfm.gwy",
        {"HeightRetrace": (amp * 0, "m"), "AmplitudeRetrace": (amp, "m")},
        meta={"DriveAmplitude": "4.0"},
    )
    pd.DataFrame({"file": ["pfm.gwy"], "soc_percent": [0], "direction": ["pristine"]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    with pytest.raises(MissingMetadataError, match="add a q column"):
        soc_series(tmp_path / "t.csv")
    pd.DataFrame(
        {"file": ["pfm.gwy"], "soc_percent": [0], "direction": ["pristine"], "q": [80.0]}
    ).to_csv(tmp_path / "t.csv", index=False)
    row = soc_series(tmp_path / "t.csv").summary.iloc[0]
    assert row["esm_amplitude_mean"] == pytest.approx(amp.mean() / (80 * 4), rel=1e-9)
    assert np.isnan(row["current_mean"])
