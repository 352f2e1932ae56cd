"""End-to-end tests of analyze_scene, the scene report and the `profile`/`demo` commands."""

import json

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main
from cathodescope.errors import (
    EmptyDataError,
    NonFiniteDataError,
    OutputExistsError,
    ParameterError,
    ShapeMismatchError,
    SpacingError,
)
from cathodescope.phantom import paper_scene
from cathodescope.profile import analyze_scene
from cathodescope.report import RunFolder, write_scene_report


@pytest.fixture(scope="module")
def scene2d():
    """Three touching-or-not particles in 2D at 0.049 um, noise-free."""
    return paper_scene((300, 420), n_particles=3, spacing=0.049, seed=3)


def _true_ratio_errors(analysis, truth):
    windows = analysis.depth.reliable_windows.set_index("particle_id")
    errors = []
    for pid in np.unique(analysis.segmentation.labels[analysis.segmentation.labels > 0]):
        overlap = truth.labels[analysis.segmentation.labels == pid]
        true_id = int(np.bincount(overlap[overlap > 0]).argmax())
        lo, hi = windows.loc[pid, ["depth_min_um", "depth_max_um"]]
        r = analysis.depth.ratios
        r = r[(r.particle_id == pid) & (r.depth_um >= max(lo, 0.25)) & (r.depth_um <= hi)]
        for element, group in r.groupby("element"):
            true = truth.profiles[true_id][element](group.depth_um.to_numpy())
            errors.append(np.abs(group.ratio.to_numpy() - true).max())
    return np.asarray(errors)


def test_analyze_scene_recovers_truth_2d(scene2d):
    data, truth = scene2d
    analysis = analyze_scene(data, spacing=0.049, marker_spacing_um=2.0)
    assert analysis.segmentation.n_particles == truth.n_particles
    # noise-free: ratios within 0.01 of the true composition over the reliable window
    errors = _true_ratio_errors(analysis, truth)
    assert errors.size == 3 * truth.n_particles
    assert errors.max() < 0.01, errors
    assert set(analysis.particles.columns) >= {"particle_id", "area_um2", "mean_Ni"}
    assert analysis.parameters["spacing_um"] == (0.049, 0.049)


def test_analyze_scene_anisotropic_3d_matches_isotropic():
    """The same physical particle sampled isotropically and anisotropically agrees."""
    iso, _ = paper_scene((80, 80, 110), n_particles=1, spacing=0.1, seed=5)
    ani, _ = paper_scene((54, 80, 110), n_particles=1, spacing=(0.15, 0.1, 0.1), seed=5)
    a = analyze_scene(iso, spacing=0.1, reliable_window=(0.3, 1.8))
    b = analyze_scene(ani, spacing=(0.15, 0.1, 0.1), reliable_window=(0.3, 1.8))
    np.testing.assert_allclose(
        a.particles.volume_um3.iloc[0], b.particles.volume_um3.iloc[0], rtol=0.03
    )
    ma = a.depth.metrics.set_index("element")
    mb = b.depth.metrics.set_index("element")
    for element in ("Ni", "Mn", "Co"):
        assert abs(ma.loc[element, "edge_ratio"] - mb.loc[element, "edge_ratio"]) < 0.015
        assert abs(ma.loc[element, "core_ratio"] - mb.loc[element, "core_ratio"]) < 0.015


def test_analyze_scene_bad_input(scene2d):
    data, _ = scene2d
    ni = data["Ni"].values
    with pytest.raises(ParameterError, match="unknown option"):
        analyze_scene(data, spacing=0.049, bin_widht_um=0.1)
    with pytest.raises(ShapeMismatchError, match="different shapes"):
        analyze_scene({"Ni": ni, "Mn": ni[:, :100]}, spacing=0.049)
    bad = ni.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteDataError, match="NaN"):
        analyze_scene({"Ni": bad}, spacing=0.049)
    with pytest.raises(EmptyDataError, match="all zero"):
        analyze_scene({"Ni": ni, "Mn": np.zeros_like(ni)}, spacing=0.049)
    with pytest.raises(SpacingError):
        analyze_scene(data, spacing=0)
    with pytest.raises(ParameterError, match="not a channel"):
        analyze_scene(data, spacing=0.049, segment_on="Fe")
    with pytest.raises(ParameterError, match="non-empty mapping"):
        analyze_scene({}, spacing=0.049)


def test_scene_report_writes_tables_and_figures(tmp_path, scene2d):
    data, _ = scene2d
    analysis = analyze_scene(data, spacing=0.049, marker_spacing_um=2.0)
    with RunFolder(tmp_path / "run", command="test") as run:
        write_scene_report(analysis, run, channels=data, max_figure_particles=1)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    for table in ("particles", "profiles", "ratios", "metrics", "reliable_windows", "linescans"):
        assert f"{table}.csv" in names and f"{table}.parquet" in names
    assert any(n.startswith("slice_particle") for n in names)
    profiles = pd.read_csv(tmp_path / "run" / "profiles.csv")
    assert list(profiles.columns[:8]) == [
        "particle_id",
        "channel",
        "depth_um",
        "n_voxels",
        "mean",
        "std",
        "ci_low",
        "ci_high",
    ]
    ratios = pd.read_csv(tmp_path / "run" / "ratios.csv")
    assert list(ratios.columns[:7]) == [
        "particle_id",
        "element",
        "depth_um",
        "ratio",
        "ci_low",
        "ci_high",
        "flagged",
    ]
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(metrics.columns[:8]) == [
        "particle_id",
        "element",
        "edge_ratio",
        "core_ratio",
        "d_core_edge",
        "max_depth_um",
        "max_ratio",
        "d_max_min",
    ]


def test_profile_cli_end_to_end(tmp_path, scene2d):
    data, truth = scene2d
    files = []
    for name in ("Ni", "Mn", "Co"):
        np.save(tmp_path / f"{name}.npy", data[name].values)
        files.append(str(tmp_path / f"{name}.npy"))
    out = tmp_path / "run"
    argv = [
        "profile",
        *files,
        "--channels",
        "Ni,Mn,Co",
        "--spacing",
        "0.049",
        "--marker-spacing-um",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [i["channel"] for i in manifest["inputs"]] == ["Ni", "Mn", "Co"]
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["results"]["n_particles"] == truth.n_particles
    particles = pd.read_csv(out / "particles.csv")
    assert len(particles) == truth.n_particles
    # a second run into the same folder is refused, with --overwrite it is allowed
    assert main(argv) == 2
    with pytest.raises(OutputExistsError):
        RunFolder(out, command="profile")
    assert main([*argv, "--overwrite"]) == 0


def test_profile_cli_reports_errors_cleanly(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.ones((10, 10), np.float32))
    np.save(tmp_path / "b.npy", np.ones((10, 12), np.float32))
    code = main(
        [
            "profile",
            str(tmp_path / "a.npy"),
            str(tmp_path / "b.npy"),
            "--channels",
            "Ni,Mn",
            "--spacing",
            "0.049",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ]
    )
    assert code == 2
    assert "different shapes" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--n-particles", "1", "--out", str(out), "--no-progress"]) == 0
    assert "largest |ratio - truth|" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["results"]["n_particles"] == 1
    # 0.098 um voxels: ratios within 0.02 of the phantom's truth in the reliable window
    assert manifest["results"]["max_abs_ratio_error_in_reliable_window"] < 0.02


def test_internal_porosity_matches_phantom_voids():
    """Central voids are filled for the depth map but counted as internal porosity."""
    data, truth = paper_scene(
        (90, 90, 110),
        n_particles=1,
        spacing=0.07,
        radius_um=(2.0, 2.1),
        aspect=(1.2, 1.2),
        void_radius_um=(0.8, 0.9),
        seed=7,
    )
    analysis = analyze_scene(data, spacing=0.07, core_window_um=(1.0, 1.1))
    row = analysis.particles.iloc[0]
    true_porosity = 1 - truth.volumes_um3[0] / truth.filled_volumes_um3[0]
    assert true_porosity > 0.03
    assert abs(row["porosity"] - true_porosity) < 0.005
    np.testing.assert_allclose(row["solid_volume_um3"], truth.volumes_um3[0], rtol=0.03)
    np.testing.assert_allclose(row["volume_um3"], truth.filled_volumes_um3[0], rtol=0.03)


def test_reliable_window_of_a_particle_without_plateau_is_nan_not_a_warning():
    """A lone well-filled depth bin (tiny particle) gives no window and no numpy warning."""
    from cathodescope.profile._tables import reliable_window as _reliable_window

    centres = np.array([0.025, 0.075, 0.125])
    counts = np.array([3, 40, 2])
    lo, hi = _reliable_window(centres, np.array([1.0, 2.0, 1.0]), counts, 0.05, 0.8, 10)
    assert np.isnan(lo) and np.isnan(hi)


def test_spm_real_scan_particles_without_runtime_warnings(shared_data, tmp_path):
    """The real DART scan segmented on ESM runs cleanly (no numpy warnings in the engine)."""
    import warnings

    out = tmp_path / "spm"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code = main(
            [
                "spm",
                "particles",
                str(shared_data / "spm" / "asylum_dart_pfm_6ch.ibw"),
                "--segment-on",
                "esm_amplitude",
                "--out",
                str(out),
            ]
        )
    assert code == 0
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"


def test_analyze_scene_options_are_the_steps_keywords_with_their_defaults():
    """Explicit keywords (no **options sorted by signature): same names and defaults."""
    import inspect

    from cathodescope.profile import depth_profiles
    from cathodescope.profile._pipeline import PROFILE_OPTIONS, SEGMENT_OPTIONS
    from cathodescope.segment import segment_particles

    scene = inspect.signature(analyze_scene).parameters
    for func, names in ((segment_particles, SEGMENT_OPTIONS), (depth_profiles, PROFILE_OPTIONS)):
        own = inspect.signature(func).parameters
        expected = {n for n, p in own.items() if p.kind == p.KEYWORD_ONLY} - {"spacing", "progress"}
        assert set(names) == expected
        for name in names:
            assert scene[name].default == own[name].default, name


def test_engine_api_doc_examples_run(tmp_path, monkeypatch):
    """Every ```python block of docs/engine_api.md runs (API sketches are ```pyi blocks)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "engine_api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert blocks, "docs/engine_api.md has no runnable example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        exec(compile(code, "docs/engine_api.md", "exec"), {})
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert (tmp_path / "out" / "sample_summary.csv").is_file()
