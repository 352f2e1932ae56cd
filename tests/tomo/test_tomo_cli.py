"""CLI: ``cathodescope tomo reconstruct`` on the real Data Exchange file, ``tomo pipeline`` on
simulated NSLS-II FXI files described by a TOML config."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cathodescope.cli import main


def test_cli_reconstruct_tooth(shared_data, tmp_path):
    out = tmp_path / "rec"
    code = main(
        [
            "tomo",
            "reconstruct",
            str(shared_data / "txm" / "tomopy_tooth_data_exchange.h5"),
            "--out",
            str(out),
            "--centre",
            "296",
            "--no-progress",
            "--volume-format",
            "h5",
        ]
    )
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["results"]["rotation_centre_px"] == 296.0
    assert manifest["inputs"][0]["sha256"]
    assert not list(out.glob(".projections*"))  # temporary -log stack removed
    for name in ("slices.csv", "slices.parquet", "middle_slice.png", "volume.h5"):
        assert (out / name).is_file(), name
    from cathodescope.tomo import open_volume

    assert open_volume(out / "volume.h5").shape == (2, 640, 640)
    # a centre off the detector is refused with a helpful message, and the run is marked failed
    bad = tmp_path / "bad"
    code = main(
        [
            "tomo",
            "reconstruct",
            str(shared_data / "txm" / "tomopy_tooth_data_exchange.h5"),
            "--out",
            str(bad),
            "--centre",
            "700",
            "--no-progress",
        ]
    )
    assert code == 2
    failed = json.loads((bad / "manifest.json").read_text())
    assert failed["status"] == "failed" and "outside the detector" in failed["error"]


def _write_fxi(path, scan):
    import h5py

    with h5py.File(path, "w") as fh:
        fh["img_tomo"] = scan.data.values.astype(np.float32)
        fh["img_bkg"] = scan.flats.values.astype(np.float32)
        fh["img_dark"] = scan.darks.values.astype(np.float32)
        fh["angle"] = scan.angles
        fh["X_eng"] = scan.energy_ev / 1000.0  # keV, as FXI stores it
        fh["Pixel Size"] = f"{scan.spacing[1] * 1000:.1f}nm"


def test_cli_pipeline_from_toml(tmp_path):
    from cathodescope.tomo import demo_particle_densities, edge_energy_pairs, simulate_projections

    densities, _ = demo_particle_densities(48, spacing=0.1, radius_um=2.05)
    energies = [e for pair in edge_energy_pairs(("Ni", "Mn")).values() for e in pair]
    scans, sim = simulate_projections(
        densities,
        spacing=0.1,
        energies_ev=energies,
        n_angles=91,
        flat_counts=1e5,
        max_shift_px=1.0,
        centre_offset_px=-1.2,
        seed=5,
        reference_energy_ev=max(energies),
    )
    lines = []
    for k, scan in enumerate(scans):
        _write_fxi(tmp_path / f"scan{k}.h5", scan)
        lines.append(f'[[scan]]\nfile = "scan{k}.h5"\n')
    config = tmp_path / "run.toml"
    config.write_text(
        "\n".join(lines)
        + "\n[processing]\nsize = 48\nregister_3d = true\n"
        + '\n[elements]\nnames = ["Ni", "Mn"]\nmethod = "difference"\n'
        + "\n[profile]\nbin_width_um = 0.1\n"
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "tomo",
                "pipeline",
                str(config),
                "--out",
                str(out),
                "--no-progress",
                "--volumes",
                "none",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert len(manifest["inputs"]) == 4
    assert abs(manifest["results"]["rotation_centre_px"] - sim.centre_px) < 0.5
    for name in (
        "registration.csv",
        "volume_registration.csv",
        "ratios.csv",
        "profiles.csv",
        "metrics.csv",
    ):
        assert (out / name).is_file(), name
    import pandas as pd

    ratios = pd.read_csv(out / "ratios.csv")
    assert set(ratios.element) == {"Ni", "Mn"}


def test_cli_pipeline_bad_config(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[processing]\ncentre = "auto"\n')
    with pytest.raises(SystemExit):
        main(["tomo", "pipeline"])
    assert (
        main(["tomo", "pipeline", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    )
    config.write_text("[processing\n")
    assert main(["tomo", "pipeline", str(config), "--out", str(tmp_path / "o2")]) == 2


def test_demo_from_projections(tmp_path):
    import pandas as pd

    out = tmp_path / "demo"
    assert main(["demo", "--from-projections", "--out", str(out), "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert (
        abs(
            manifest["results"]["rotation_centre_px"]
            - manifest["parameters"]["demo"]["true_centre_px"]
        )
        < 0.5
    )
    ratios = pd.read_csv(out / "ratios.csv")
    truth = pd.read_csv(out / "truth_ratios.csv")
    window = pd.read_csv(out / "reliable_windows.csv").iloc[0]
    for table in (ratios, truth):
        table["depth_key"] = table.depth_um.round(4)
    merged = ratios.merge(
        truth.drop(columns="depth_um"), on=["element", "depth_key"], suffixes=("", "_true")
    )
    sel = merged[
        (merged.depth_um >= window.depth_min_um) & (merged.depth_um <= window.depth_max_um)
    ]
    assert len(sel) > 30
    assert (sel.ratio - sel.ratio_true).abs().max() < 0.02
