"""``device="cuda"``: the engine's per-particle EDT, depths and bin moments on a GPU.

Two kinds of test:

* the GPU branch of the engine run with NumPy standing in for CuPy (a module that is numpy
  plus ``asnumpy``, with SciPy's exact EDT standing in for cuCIM's PBA+): every table equals the
  CPU run's to 1e-6, so the branch's wiring (transfers, dtypes, which arrays reach the
  intervals) is checked on every machine;
* the same comparison with the real CuPy, skipped with a reason where no GPU is visible.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from cathodescope.common.device import gpu_available
from cathodescope.errors import DeviceUnavailableError

TABLES = ("profiles", "ratios", "metrics", "reliable_windows", "diagnostics")
WINDOWS = {
    "sampling_window_um": (0.2, 0.6),
    "edge_window_um": (0.2, 0.3),
    "core_window_um": (0.5, 0.6),
}


@pytest.fixture(scope="module")
def scene():
    from cathodescope.phantom import paper_scene

    data, truth = paper_scene(
        (48, 80, 80), n_particles=3, spacing=0.1, radius_um=(1.1, 1.4), seed=5, noise_std=0.03
    )
    return {k: v.values for k, v in data.items()}, truth.labels


@pytest.fixture
def numpy_as_cupy(monkeypatch):
    """Install a 'cupy' that is numpy (plus asnumpy) and a 'cupyx' EDT that is SciPy's."""
    fake = types.ModuleType("cupy")
    fake.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.asnumpy = np.asarray
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    calls = []

    def distance_transform_edt(image, float64_distances=True):
        calls.append(image.shape)
        return ndi.distance_transform_edt(image)

    nd = types.ModuleType("cupyx.scipy.ndimage")
    nd.distance_transform_edt = distance_transform_edt
    for name, mod in {
        "cupy": fake,
        "cupyx": types.ModuleType("cupyx"),
        "cupyx.scipy": types.ModuleType("cupyx.scipy"),
        "cupyx.scipy.ndimage": nd,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return calls


def _tables_equal(got, ref):
    """Every table to 1e-6: values to ``rtol=1e-6`` (``atol=1e-9``), interval bounds to 1e-6
    of their interval's width plus their magnitude.

    Not bit-identical: SciPy's and PBA+'s EDT give exact integer distances times the spacing,
    edt's float32 squared distances differ in the last bit, and so do some float32 depths. The
    means, counts and ratios do not move; an interval bound moves through the
    depth-discretisation term (slope and curvature at the bin's mean depth), most in the
    deepest few-voxel bins, whose intervals are wide (measured: 2.3e-6 on a bound of -0.83 of
    an interval ~1 wide, 4.5e-9 on a metric's bound).
    """
    for name in TABLES:
        a, b = getattr(got, name), getattr(ref, name)
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        bounds = [c for c in b.columns if c.endswith(("ci_low", "ci_high"))]
        pd.testing.assert_frame_equal(
            a.drop(columns=bounds),
            b.drop(columns=bounds),
            check_exact=False,
            rtol=1e-6,
            atol=1e-9,
        )
        for c in bounds:
            stem = c.rsplit("_", 1)[0]
            width = (b[stem + "_high"] - b[stem + "_low"]).abs().to_numpy()
            scale = np.nan_to_num(width + b[c].abs().to_numpy(), nan=0.0)
            diff = (a[c] - b[c]).abs().to_numpy()
            assert np.array_equal(np.isnan(a[c]), np.isnan(b[c])), (name, c)
            assert np.nanmax(diff - 1e-6 * scale, initial=-1.0) <= 1e-9, (name, c)


@pytest.mark.parametrize(
    ("spacing", "ci_method", "surface"),
    [(0.1, "ess", "hull"), ((0.15, 0.1, 0.1), "block_bootstrap", "hull"), (0.1, "naive", "mask")],
)
def test_gpu_branch_equals_cpu(scene, numpy_as_cupy, spacing, ci_method, surface):
    from cathodescope.profile import depth_profiles

    chans, labels = scene
    opts = dict(spacing=spacing, ci_method=ci_method, surface=surface, n_boot=50, **WINDOWS)
    ref = depth_profiles(labels, chans, **opts)
    got = depth_profiles(labels, chans, device="cuda", **opts)
    assert got.parameters["device"] == "cuda" and ref.parameters["device"] == "cpu"
    assert len(got.profiles) > 100
    _tables_equal(got, ref)
    isotropic = np.ndim(spacing) == 0
    # the stand-in EDT ran once per particle for isotropic voxels, never for anisotropic ones
    assert len(numpy_as_cupy) == (3 if isotropic else 0)


def test_gpu_branch_through_analyze_scene(scene, numpy_as_cupy):
    from cathodescope.profile import analyze_scene

    chans, _ = scene
    ref = analyze_scene(chans, spacing=0.1, **WINDOWS)
    got = analyze_scene(chans, spacing=0.1, device="cuda", **WINDOWS)
    assert got.parameters["profile"]["device"] == "cuda"
    _tables_equal(got.depth, ref.depth)
    pd.testing.assert_frame_equal(got.particles, ref.particles)


@pytest.mark.skipif(gpu_available(), reason="a GPU is visible: the refusal is not testable")
def test_cuda_without_gpu_fails_before_the_segmentation(scene, monkeypatch):
    import cathodescope.segment as segment
    from cathodescope.profile import analyze_scene, depth_profiles

    chans, labels = scene

    def no_segmentation(*args, **kwargs):
        raise AssertionError("segmentation ran before the device was checked")

    monkeypatch.setattr(segment, "segment_particles", no_segmentation)
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        analyze_scene(chans, spacing=0.1, device="cuda")
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        depth_profiles(labels, chans, spacing=0.1, device="cuda")


def test_unknown_device_is_refused(scene):
    from cathodescope.errors import ParameterError
    from cathodescope.profile import depth_profiles

    chans, labels = scene
    with pytest.raises(ParameterError, match="device"):
        depth_profiles(labels, chans, spacing=0.1, device="gpu")


@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a visible GPU (gpu extra)")
@pytest.mark.parametrize("spacing", [0.1, (0.15, 0.1, 0.1)])
def test_cuda_tables_equal_cpu(scene, spacing):
    from cathodescope.profile import depth_profiles

    chans, labels = scene
    ref = depth_profiles(labels, chans, spacing=spacing, **WINDOWS)
    got = depth_profiles(labels, chans, spacing=spacing, device="cuda", **WINDOWS)
    _tables_equal(got, ref)


def test_cli_device_cuda_runs_in_memory(scene, numpy_as_cupy, tmp_path, capsys):
    """``--device cuda`` alone runs the in-memory engine (not the out-of-core path), records
    the device in the manifest and writes the same tables as ``--device cpu``."""
    import json

    from cathodescope.cli import main

    chans, _ = scene
    files = []
    for name, values in chans.items():
        np.save(tmp_path / f"{name}.npy", values.astype(np.float32))
        files.append(str(tmp_path / f"{name}.npy"))
    runs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        args = ["profile", *files, "--channels", ",".join(chans), "--spacing", "0.1"]
        rc = main([*args, "--device", device, "--no-progress", "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        assert "tables and figures in" in capsys.readouterr().out  # the in-memory report
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "ok" and manifest["parameters"]["device"] == device
        runs[device] = pd.read_csv(out / "profiles.csv")
    pd.testing.assert_frame_equal(
        runs["cuda"].drop(columns=["ci_low", "ci_high"]),
        runs["cpu"].drop(columns=["ci_low", "ci_high"]),
        check_exact=False,
        rtol=1e-6,
    )
