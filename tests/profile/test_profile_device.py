"""``device="cuda"``: the engine's per-particle EDT, depths and bin moments on a GPU.

Two kinds of test:

* the GPU branch of the engine run with NumPy standing in for CuPy (a module that is numpy
  plus ``asnumpy``, with SciPy's exact EDT standing in for cuCIM's PBA+): every table equals the
  CPU run's bit for bit, so the branch's wiring (transfers, dtypes, which arrays reach the
  intervals) is checked on every machine;
* the same comparison with the real CuPy, skipped with a reason where no GPU is visible.
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from cathodescope.common.device import gpu_available
from cathodescope.errors import CathodescopeRunWarning, DeviceUnavailableError

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


def _tables_identical(got, ref):
    """Every table bit for bit: the stand-in runs the same float32 arithmetic, and an exact EDT
    (SciPy's here, PBA+ on a GPU) gives the same correctly rounded distances as the CPU path
    (edt's exact squared distances on the unit lattice, one rounding; see ``_distance_map``)."""
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), check_exact=True)


def _tables_close(got, ref):
    """Every table to 1e-6 (real GPU): CUDA's float32 ``powf`` in the sub-voxel step may
    differ from the CPU's by an ulp; a voxel within an ulp of a bin boundary may then change
    bin, which moves that bin's values by far less than its interval."""
    for name in TABLES:
        pd.testing.assert_frame_equal(
            getattr(got, name), getattr(ref, name), check_exact=False, rtol=1e-6, atol=1e-6
        )


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
    _tables_identical(got, ref)
    isotropic = np.ndim(spacing) == 0
    # the stand-in EDT ran once per particle for isotropic voxels, never for anisotropic ones
    assert len(numpy_as_cupy) == (3 if isotropic else 0)


def test_gpu_branch_through_analyze_scene(scene, numpy_as_cupy):
    from cathodescope.profile import analyze_scene

    chans, _ = scene
    ref = analyze_scene(chans, spacing=0.1, **WINDOWS)
    got = analyze_scene(chans, spacing=0.1, device="cuda", **WINDOWS)
    assert got.parameters["profile"]["device"] == "cuda"
    _tables_identical(got.depth, ref.depth)
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
    _tables_close(got, ref)


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
    pd.testing.assert_frame_equal(runs["cuda"], runs["cpu"], check_exact=True)


def test_gpu_branch_on_real_txm_frames(numpy_as_cupy, shared_data):
    """A real APS 8-BM TXM field of view (Xradia .xrm, below/above the Ni K edge): the GPU
    branch gives the CPU's tables bit for bit, isotropic and anisotropic voxels (before the
    CPU distances were correctly rounded, 0.35 % of the profile rows differed by a voxel)."""
    from cathodescope.io import read_xradia
    from cathodescope.profile import analyze_scene

    folder = shared_data / "txm" / "aps8bm_ni_edge_pair"

    def absorbance(energy):
        sample = read_xradia(folder / f"fov07_xanessoc01_{energy}_0eV.xrm")
        ref = read_xradia(folder / f"ref_xanessoc01_{energy}_0eV.xrm")
        s = np.asarray(sample.data.values, float).squeeze()
        r = np.asarray(ref.data.values, float).squeeze()
        return -np.log(np.clip(s, 1, None) / np.clip(r, 1, None)), sample.spacing

    below, spacing = absorbance(8250)
    above, _ = absorbance(8353)
    chans = {
        "below": np.clip(below, 0, None).astype(np.float32),
        "jump": (np.clip(above - below, 0, None) + 1e-3).astype(np.float32),
    }
    pixel = float(spacing[-1])
    for sp in (pixel, (1.5 * pixel, pixel)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CathodescopeRunWarning)  # too-shallow particles
            opts = dict(spacing=sp, min_size_um=1.0, segment_on="below")
            ref = analyze_scene(chans, **opts)
            got = analyze_scene(chans, device="cuda", **opts)
        assert ref.segmentation.n_particles >= 10 and len(ref.depth.profiles) > 500
        _tables_identical(got.depth, ref.depth)
