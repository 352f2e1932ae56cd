"""The streaming multi-energy chain (``stream_energies``, ``tomo pipeline --memory-limit``) gives
the numbers of the in-memory chain slab by slab, under a memory limit it refuses when impossible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cathodescope.cli import main
from cathodescope.errors import DataTooLargeError, ParameterError
from cathodescope.tomo import (
    demo_particle_densities,
    open_volume,
    parse_memory_limit,
    plan_stream,
    process_energies,
    simulate_projections,
    stream_energies,
)

ENERGIES = (8293.0, 8363.0, 8400.0)  # Ni K edge pair and the morphology energy
OPTIONS = {"elements": ("Ni",), "matrix_elements": ("O",), "size": 64}


@pytest.fixture(scope="module")
def scans():
    densities, _ = demo_particle_densities(64, spacing=0.1)
    projections, truth = simulate_projections(
        densities,
        spacing=0.1,
        energies_ev=ENERGIES,
        angles_deg=np.arange(0.0, 360.0, 4.0),  # 45 opposite pairs: the mirror centre
        flat_counts=1e5,
        max_shift_px=1.5,
        centre_offset_px=1.3,
        seed=11,
    )
    return projections, truth


@pytest.fixture(scope="module")
def both(scans, tmp_path_factory):
    projections, _ = scans
    whole = process_energies(projections, **OPTIONS)
    # small slabs and blocks: 64 rows in 13 slabs of <= 5 (the last one short), 90 angles in 13
    # blocks of <= 7, so every border between slabs and blocks is crossed
    streamed = stream_energies(
        projections,
        tmp_path_factory.mktemp("stream"),
        memory_limit="3GiB",
        max_row_slab=5,
        max_angle_block=7,
        **OPTIONS,
    )
    return whole, streamed


def test_stream_equals_whole_slab_by_slab(both):
    whole, streamed = both
    assert streamed.parameters["stream"]["row_slab"] == 5
    assert streamed.parameters["stream"]["angle_block"] == 7
    assert streamed.centre.method == whole.centre.method == "mirror"
    assert streamed.centre.centre == whole.centre.centre
    for e, reg in whole.registrations.items():
        np.testing.assert_array_equal(streamed.registrations[e].shifts, reg.shifts)
        np.testing.assert_array_equal(streamed.registrations[e].angles, reg.angles)
    for e, vol in whole.attenuation.items():
        lazy = streamed.attenuation[e]
        assert lazy.attrs["units"] == vol.attrs["units"] == "1/um"
        np.testing.assert_array_equal(lazy["z"].values, vol["z"].values)
        for z0 in range(0, vol.shape[0], 5):  # identical, slab by slab
            np.testing.assert_array_equal(lazy[z0 : z0 + 5].values, vol[z0 : z0 + 5].values)
    d_whole, d_stream = whole.differences["Ni"], streamed.differences["Ni"]
    np.testing.assert_array_equal(d_stream.values, d_whole.values)
    assert d_stream.attrs["negative_fraction"] == d_whole.attrs["negative_fraction"]
    # the least squares per chunk: equal to float32 rounding (the matrix products are blocked
    # differently); measured: identical
    np.testing.assert_allclose(
        streamed.channels["Ni"].values, whole.channels["Ni"].values, rtol=1e-6, atol=1e-12
    )
    np.testing.assert_allclose(
        streamed.decomposition.molar.values, whole.decomposition.molar.values, rtol=1e-6, atol=1e-12
    )
    assert streamed.decomposition.residual_rms == pytest.approx(
        whole.decomposition.residual_rms, rel=1e-9
    )
    assert streamed.decomposition.condition_number == whole.decomposition.condition_number


def test_stream_recovers_the_injected_geometry(both, scans):
    _, streamed = both
    _, truth = scans
    # the simulator displaced the 8293 eV images by -shift: the registration finds them to
    # 0.1 px (median), and the mirror centre lies within 0.1 px of the true axis
    found = streamed.registrations[8293.0].shifts
    assert np.median(np.abs(found + truth.shifts_px[8293.0])) < 0.1
    assert abs(streamed.centre.centre - truth.centre_px) < 0.1


def test_impossible_limit_says_the_minimum(scans, tmp_path):
    projections, _ = scans
    with pytest.raises(DataTooLargeError, match=r"below the minimum of \d+\.\d\d GiB"):
        stream_energies(projections, tmp_path, memory_limit="100MiB", **OPTIONS)
    with pytest.raises(ParameterError, match="jitter needs a whole volume"):
        stream_energies(projections, tmp_path, memory_limit="3GiB", jitter=True, **OPTIONS)


def test_plan_follows_the_limit():
    shape = (900, 1024, 1024)
    plan = plan_stream(shape, "6GiB", n_energies=6, n_unknowns=4)
    assert plan.estimated_peak <= plan.memory_limit
    assert 1 <= plan.row_slab < 1024 and 1 <= plan.angle_block < 900
    # one more GiB buys slabs in proportion: (budget + 1 GiB) / per-row bytes
    bigger = plan_stream(shape, "7GiB", n_energies=6, n_unknowns=4)
    assert bigger.row_slab > plan.row_slab and bigger.angle_block > plan.angle_block
    with pytest.raises(DataTooLargeError, match="give --memory-limit"):
        plan_stream(shape, "1GiB", n_energies=6, n_unknowns=4)


def test_parse_memory_limit():
    assert parse_memory_limit("6GiB") == 6 * 2**30
    assert parse_memory_limit("6G") == 6 * 2**30
    assert parse_memory_limit("512 MiB") == 512 * 2**20
    assert parse_memory_limit("8GB") == 8 * 10**9
    assert parse_memory_limit(2**30) == 2**30
    for bad in ("six GiB", "-1GiB", "0", "6PiB"):
        with pytest.raises(ParameterError, match="memory limit"):
            parse_memory_limit(bad)


def _write_fxi(path, scan):
    import h5py

    with h5py.File(path, "w") as fh:
        fh["img_tomo"] = scan.data.values.astype(np.float32)
        fh["img_bkg"] = scan.flats.values.astype(np.float32)
        fh["img_dark"] = scan.darks.values.astype(np.float32)
        fh["angle"] = scan.angles
        fh["X_eng"] = scan.energy_ev / 1000.0  # keV, as FXI stores it
        fh["Pixel Size"] = f"{scan.spacing[1] * 1000:.1f}nm"


def test_cli_pipeline_memory_limit(scans, both, tmp_path):
    projections, _ = scans
    whole, _ = both
    lines = []
    for k, scan in enumerate(projections):
        _write_fxi(tmp_path / f"scan{k}.h5", scan)
        lines.append(f'[[scan]]\nfile = "scan{k}.h5"\n')
    config = tmp_path / "run.toml"
    config.write_text(
        "\n".join(lines)
        + '\n[processing]\nsize = 64\n\n[elements]\nnames = ["Ni"]\n\n[profile]\nbin_width_um = 0.1\n'
    )
    out = tmp_path / "run"
    args = ["tomo", "pipeline", str(config), "--no-progress", "--volumes", "h5"]
    assert main([*args, "--out", str(out), "--memory-limit", "3GiB"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["results"]["stream"]["memory_limit_gib"] == 3.0
    assert "channel_Ni.h5" in manifest["outputs"]
    assert not list(out.glob(".minus_log*"))  # scratch stacks removed
    # the files hold what the simulation held: the run's Ni channel is the in-memory one
    np.testing.assert_allclose(
        open_volume(out / "channel_Ni.h5").values,
        whole.channels["Ni"].values,
        rtol=1e-6,
        atol=1e-12,
    )
    assert (out / "ratios.csv").is_file()
    # an impossible limit: exit 2, the failed manifest names the minimum and the flag
    assert main([*args, "--out", str(tmp_path / "small"), "--memory-limit", "64MiB"]) == 2
    failed = json.loads((tmp_path / "small" / "manifest.json").read_text())
    assert "--memory-limit" in failed["error"] and "minimum" in failed["error"]
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "x"), "--memory-limit", "lots"])
    from cathodescope.workflows.tomo import run_pipeline

    with pytest.raises(ParameterError, match="--volumes zarr"):
        run_pipeline(str(config), tmp_path / "none", save_volumes="none", memory_limit="3GiB")
    # the returned volumes are read from the finished run folder (moved into place at the end)
    result, _ = run_pipeline(str(config), tmp_path / "zarr", memory_limit="3GiB")
    assert result.channels["Ni"].attrs["store"] == "channel_Ni.zarr"
    np.testing.assert_allclose(
        np.asarray(result.channels["Ni"]), whole.channels["Ni"].values, rtol=1e-6, atol=1e-12
    )
    np.testing.assert_array_equal(
        np.asarray(result.attenuation[8400.0]), whole.attenuation[8400.0].values
    )
    assert result.decomposition.molar.sel(channel="O").shape == whole.channels["Ni"].shape


def test_pipeline_memory_limit_profiles_out_of_core(scans, both, tmp_path):
    """With --memory-limit the profile step reads the stored volumes out of core: its tables
    equal ``analyze_scene`` on the same volumes in memory (exactly, at one BLAS thread as the
    workers run), and those of the in-memory pipeline to float32 rounding of the channels."""
    pytest.importorskip("distributed")
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from cathodescope.profile import analyze_scene
    from cathodescope.workflows.tomo import run_pipeline

    projections, _ = scans
    config = {
        "processing": {"size": 64},
        "elements": {"names": ["Ni"]},
        "profile": {"bin_width_um": 0.1},
    }
    out = tmp_path / "run"
    result, large = run_pipeline(config, out, scans=projections, memory_limit="3GiB")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["results"]["profile_engine"] == "out_of_core"
    assert not (out / ".profile_cache").exists()
    channels = {el: v.load() for el, v in result.channels.items()}
    with threadpool_limits(1):
        reference = analyze_scene(
            channels, spacing=result.spacing, min_size_um=0.5, bin_width_um=0.1
        )
    assert large.n_particles == reference.segmentation.n_particles >= 1
    assert large.threshold == reference.segmentation.threshold
    pd.testing.assert_frame_equal(large.particles, reference.particles, check_exact=True)
    for name in ("profiles", "ratios", "metrics", "reliable_windows"):
        pd.testing.assert_frame_equal(
            getattr(large, name), getattr(reference.depth, name), check_exact=True
        )
        written = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(written, getattr(large, name), check_exact=True)
    assert (out / "sample_ratios.csv").is_file()
    # the in-memory pipeline on the same projections: channels equal to float32 rounding
    # (the chunked least squares), so the tables agree to that rounding
    _, in_memory = run_pipeline(config, tmp_path / "memory", scans=projections, save_volumes="none")
    assert large.n_particles == in_memory.segmentation.n_particles
    pd.testing.assert_frame_equal(
        large.ratios, in_memory.depth.ratios, check_exact=False, rtol=1e-5, atol=1e-7
    )


def test_stream_device_cuda_reaches_the_reconstructor(both, scans, tmp_path, monkeypatch):
    """``device="cuda"`` travels through the streamed chain to every slab's reconstruction (here
    with numpy standing in for CuPy): the volumes equal the CPU ones to float32 rounding."""
    import cathodescope.tomo._device as device_module

    class NumpyAsGpu:
        __name__ = "numpy_as_gpu"

        def __getattr__(self, name):
            return getattr(np, name)

    calls = []

    def fake(device="cpu"):
        calls.append(device)
        return NumpyAsGpu() if device == "cuda" else np

    monkeypatch.setattr(device_module, "resolve_device", fake)
    whole, _ = both
    projections, _ = scans
    gpu = stream_energies(projections, tmp_path, memory_limit="3GiB", device="cuda", **OPTIONS)
    assert gpu.parameters["device"] == "cuda" and calls.count("cuda") > len(ENERGIES)
    for e, vol in whole.attenuation.items():
        ref = vol.values
        np.testing.assert_allclose(
            gpu.attenuation[e].values, ref, rtol=0, atol=2e-6 * abs(ref).max()
        )
