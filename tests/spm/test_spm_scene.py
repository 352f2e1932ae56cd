"""Particles through the engine: segmentation, boundary vs core, cross-talk, C-AFM, report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main
from cathodescope.errors import CathodescopeRunWarning, ParameterError
from cathodescope.io import read_spm
from cathodescope.spm import analyze_spm_scene, particles_from_scan


@pytest.fixture
def rim_scan(dart_file):
    # ESM doubled within 5 px (0.1 um) of the particle boundary, 10 pA particle current
    return dart_file(
        "rim.gwy", esm_m_per_v=10e-12, f0=300e3, current_a=10e-12, seed=3, rim_factor=2.0, rim_px=5
    )


def test_scene_on_synthetic_dart_cafm_scan(rim_scan, discs):
    scan = read_spm(rim_scan)
    with pytest.warns(CathodescopeRunWarning):
        res = analyze_spm_scene(scan, segment_on="height", boundary_um=0.1)
    truth = discs()
    labels = res.scene.segmentation.labels
    assert res.scene.segmentation.n_particles == 2
    inter = np.logical_and(labels > 0, truth > 0).sum()
    union = np.logical_or(labels > 0, truth > 0).sum()
    assert inter / union > 0.97
    # boundary vs core through the engine depth profiles: rim doubled, core at the truth
    bc = res.boundary_core[res.boundary_core.channel == "esm_amplitude"]
    assert (bc["units"] == "pm/V").all()
    for _, row in bc.iterrows():
        assert row["core_mean"] == pytest.approx(10.0, rel=0.02)  # pm/V
        assert 1.7 < row["ratio"] < 2.05
        assert row["difference"] > 7.0
    # per-particle statistics in SI units, NaN-safe
    st = res.statistics.table
    esm = st[(st.channel == "esm_amplitude") & (st.particle_id > 0)]
    assert esm["units"].eq("m/V").all()
    assert (esm["mean"] > 10e-12).all() and (esm["mean"] < 20e-12).all()
    f0 = st[(st.channel == "resonance_frequency") & (st.particle_id > 0)]
    np.testing.assert_allclose(f0["mean"], 300e3, rtol=1e-3)
    # C-AFM over particle areas, offset (1 pA) removed using the matrix
    per = res.cafm.per_particle
    np.testing.assert_allclose(per["mean_A"], 10e-12, atol=0.1e-12)
    assert res.cafm.summary.iloc[0]["offset_A"] == pytest.approx(1e-12, abs=0.05e-12)
    assert set(res.crosstalk.table.descriptor) == {"height", "slope"}
    assert res.crosstalk.table["spearman_rho"].abs().le(1).all()


def test_scene_bad_segment_channel(rim_scan):
    scan = read_spm(rim_scan)
    with pytest.raises(ParameterError, match="segment_on"):
        analyze_spm_scene(scan, segment_on="topography")
    with pytest.raises(ParameterError, match="core_fraction"):
        analyze_spm_scene(scan, core_fraction=1.5)


def test_particles_from_scan_matches_truth(rim_scan, discs):
    labels = particles_from_scan(segment_on="esm_amplitude")(read_spm(rim_scan))
    truth = discs() > 0
    assert np.logical_and(labels > 0, truth).sum() / np.logical_or(labels > 0, truth).sum() > 0.95


def test_particles_command_writes_report(rim_scan, tmp_path):
    out = tmp_path / "run"
    assert main(["spm", "particles", str(rim_scan), "--boundary-um", "0.1", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    for name in (
        "particles.csv",
        "profiles.csv",
        "particle_statistics.csv",
        "boundary_core.csv",
        "cafm_particles.csv",
        "spm_maps.png",
        "boundary_core_profiles.png",
    ):
        assert name in manifest["outputs"]
    bc = pd.read_csv(out / "boundary_core.csv")
    assert (bc[bc.channel == "esm_amplitude"]["ratio"] > 1.7).all()
    # per-map means in particles.csv, named after the map and its units (issue 14): the mean
    # of that map over the particle's pixels, not the share of the summed maps
    particles = pd.read_csv(out / "particles.csv").set_index("particle_id")
    assert not any(c in particles for c in ("mean_height", "mean_esm_amplitude"))
    stats = pd.read_csv(out / "particle_statistics.csv")
    for column, channel in (
        ("mean_height_m", "height"),
        ("mean_esm_amplitude_m_per_V", "esm_amplitude"),
        ("mean_current_A", "current"),
    ):
        expected = stats[(stats.channel == channel) & (stats.particle_id > 0)]
        np.testing.assert_allclose(
            particles.loc[expected.particle_id, column], expected["mean"], rtol=1e-12
        )
    # synthetic truth: 80 nm tall particles carrying 10 pA above the 1 pA offset
    np.testing.assert_allclose(particles["mean_current_A"], 11e-12, rtol=0.02)
    assert (particles["mean_height_m"] > 70e-9).all()


def test_particle_means_against_the_labels(rim_scan):
    scan = read_spm(rim_scan)
    with pytest.warns(CathodescopeRunWarning):
        res = analyze_spm_scene(scan, segment_on="height", boundary_um=0.1)
    labels = np.asarray(res.scene.segmentation.labels)
    table = res.scene.particles.set_index("particle_id")
    for pid in table.index:  # independent: numpy means of the maps over each label
        inside = labels == pid
        assert table.loc[pid, "mean_height_m"] == pytest.approx(
            np.nanmean(res.maps["height"].values[inside]), rel=1e-12
        )
        assert table.loc[pid, "mean_q"] == pytest.approx(
            np.nanmean(res.maps["q"].values[inside]), rel=1e-12
        )


def test_min_size_default_and_help_agree(rim_scan, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["spm", "particles", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    help_min = re.search(r"--min-size-um MIN_SIZE_UM (.*?)--", text).group(1)
    assert "3 x 3 pixels" in help_min and "0.5" not in help_min
    out = tmp_path / "run"
    assert main(["spm", "particles", str(rim_scan), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    dy, dx = read_spm(rim_scan).spacing
    used = set(_values_of(manifest["parameters"]["spm"]["engine"], "min_size_um"))
    assert used and all(v == pytest.approx(9 * dy * dx, rel=1e-12) for v in used)
    capsys.readouterr()


def _values_of(tree, key):
    """Every value stored under ``key`` anywhere in nested dicts/lists."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                yield v
            yield from _values_of(v, key)
    elif isinstance(tree, list):
        for v in tree:
            yield from _values_of(v, key)
