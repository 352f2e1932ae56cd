"""The tomography workflows: anisotropic voxels from the projections to the depth-profile
engine, config keys, energy overrides, and ``tomo reconstruct --spacing``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cathodescope.cli import main
from cathodescope.errors import ParameterError, SpacingError
from cathodescope.tomo import (
    demo_particle_densities,
    edge_energy_pairs,
    open_volume,
    simulate_projections,
    volume_spacing,
)
from cathodescope.workflows.tomo import read_scans, run_pipeline

RADIUS = 1.2  # um


def _scans(spacing):
    densities, _ = demo_particle_densities(32, spacing=spacing, radius_um=RADIUS)
    scans, _ = simulate_projections(
        densities,
        spacing=spacing,
        energies_ev=edge_energy_pairs(("Ni",))["Ni"],
        n_angles=61,
        flat_counts=1e5,
        max_shift_px=0.5,
        seed=3,
    )
    return densities, scans


def test_anisotropic_voxels_reach_the_engine(tmp_path):
    spacing = (0.15, 0.1, 0.1)
    densities, scans = _scans(spacing)
    assert densities["Ni"].shape == (21, 32, 32)  # z sampled at 0.15 um: a cube in um
    assert scans[0].spacing == (0.15, 0.1)
    cfg = {
        "processing": {"size": 32},
        "elements": {"names": ["Ni"], "method": "difference"},
        "profile": {"bin_width_um": 0.1},
    }
    result, analysis = run_pipeline(cfg, tmp_path / "run", scans=scans, save_volumes="none")
    assert result.spacing == spacing
    channel = result.channels["Ni"]
    assert np.diff(channel["z"].values)[0] == pytest.approx(0.15)
    assert np.diff(channel["x"].values)[0] == pytest.approx(0.1)
    assert tuple(analysis.spacing) == pytest.approx(spacing)
    # the sphere's volume from continuous geometry, 4/3 pi r^3 = 7.24 um^3, within 5 %
    # (measured +0.1 %; isotropic 0.1 um voxels give -0.9 %)
    largest = analysis.particles.sort_values("volume_um3").iloc[-1]
    assert largest.volume_um3 == pytest.approx(4 / 3 * math.pi * RADIUS**3, rel=0.05)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["results"]["spacing_um"] == pytest.approx(list(spacing))


def test_volume_spacing_rules():
    assert volume_spacing((0.2, 0.05, 0.05)) == (0.2, 0.05, 0.05)
    with pytest.raises(SpacingError, match="y and x must be equal"):
        volume_spacing((0.1, 0.05, 0.06))
    with pytest.raises(SpacingError):
        volume_spacing((0.1, 0.05))


def test_config_keys_and_energy_overrides(shared_data, tmp_path):
    with pytest.raises(ParameterError, match="'spacing_um' is now 'spacing'"):
        run_pipeline({"processing": {"spacing_um": 0.1}, "scan": [{"file": "x"}]}, tmp_path / "o")
    folder = shared_data / "txm" / "ssrl_ni_edge_pair"
    name = "rep01_20161456_ssrl-test-data_08324.0_eV_001of003.xrm"
    cfg = {"_base_dir": str(folder), "scan": [{"file": name}]}
    (scan,) = read_scans(cfg, energies={name: 8323.5})  # no file-name warning: the energy is given
    assert scan.energy_ev == 8323.5
    with pytest.raises(ParameterError, match=r"not \[\[scan\]\] files"):
        read_scans(cfg, energies={"other.xrm": 8000.0})


def test_cli_reconstruct_anisotropic_spacing(shared_data, tmp_path):
    tooth = str(shared_data / "txm" / "tomopy_tooth_data_exchange.h5")
    out = tmp_path / "rec"
    args = ["tomo", "reconstruct", tooth, "--centre", "296", "--no-progress"]
    assert main([*args, "--out", str(out), "--spacing", "0.2,0.1,0.1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["results"]["units"] == "1/um"
    assert manifest["results"]["spacing_um"] == [0.2, 0.1, 0.1]
    assert open_volume(out / "volume.zarr").shape == (2, 640, 640)
    assert main([*args, "--out", str(tmp_path / "bad"), "--spacing", "0.2,0.1,0.3"]) == 2
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "old"), "--pixel-size", "0.1"])


def test_cli_pipeline_energy_option_is_checked(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[[scan]]\nfile = "a.h5"\n')
    for bad in ("a.h5", "a.h5=zero", "=8000", "a.h5=-5"):
        with pytest.raises(SystemExit):
            main(["tomo", "pipeline", str(config), "--out", str(tmp_path / "o"), "--energy", bad])
    # a well-formed override naming no [[scan]] file is refused before anything is read
    code = main(
        ["tomo", "pipeline", str(config), "--out", str(tmp_path / "o"), "--energy", "b.h5=8000"]
    )
    assert code == 2
    failed = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert "--energy names ['b.h5']" in failed["error"]
