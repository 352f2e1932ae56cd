"""``--device cuda``: the array-module FBP and gridrec, run here with numpy against the CPU path.

The GPU code (:mod:`cathodescope.tomo._xp_recon`) goes through an array module ``xp``; with
``xp=numpy`` it runs on any machine, where it must give the numbers of the numba reconstructors
(:func:`fbp`, :func:`gridrec`) to float32 rounding: max |difference| <= 2e-6 of the image's
maximum (measured 1.5e-7 to 7e-7), hence the same RMSE against the continuous truth. The CuPy run
of the same code is a test that skips with a reason where no GPU is visible. A device that cannot
be honoured is an error, never a fallback to the CPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cathodescope.cli import main
from cathodescope.errors import DeviceUnavailableError, ParameterError
from cathodescope.tomo import check_device, fbp, gridrec, reconstruct, reconstruct_batch
from cathodescope.tomo._xp_recon import fbp_xp, gridrec_xp

# discs (x0, y0, radius, mu): x right, y up, in px from the slice centre; mu in 1/px
DISCS = [(0.0, 0.0, 30.0, 0.01), (10.0, 7.0, 8.0, 0.02), (-13.0, -10.0, 5.0, -0.005)]
TOL = 2e-6  # of the image maximum: float32 rounding (sums in another order)


def _gpu() -> bool:
    try:
        check_device("cuda")
    except DeviceUnavailableError:
        return False
    return True


def _discs(n_det, angles_deg, centre, scale=1.0):
    """Exact line integrals (n_angles, n_det) of the discs and their truth image (n_det^2)."""
    t = np.arange(n_det) - centre
    theta = np.radians(angles_deg)[:, None]
    sino = np.zeros((angles_deg.size, n_det))
    h = (n_det - 1) / 2
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    x = (np.arange(n_det) - h)[None, :, None, None] + sub[None, None, None, :]
    y = (h - np.arange(n_det))[:, None, None, None] - sub[None, None, :, None]
    img = np.zeros((n_det, n_det))
    for x0, y0, r, mu in DISCS:
        r *= scale
        s0 = x0 * np.cos(theta) + y0 * np.sin(theta)
        sino += 2.0 * mu * np.sqrt(np.clip(r**2 - (t[None] - s0) ** 2, 0.0, None))
        img += mu * ((x - x0) ** 2 + (y - y0) ** 2 < r**2).mean(axis=(2, 3))
    return sino.astype(np.float32), img


def _batch(n_det, angles, centre, n_slices):
    """(n_angles, n_slices, n_det) sinograms: the discs scaled a little differently per slice."""
    sinos, truths = zip(
        *(_discs(n_det, angles, centre, 1.0 - 0.04 * k) for k in range(n_slices)), strict=True
    )
    return np.stack(sinos, axis=1), np.stack(truths)


def _cpu(func, sinos, angles, **kw):
    rec = func(np.ascontiguousarray(sinos.transpose(0, 2, 1)), angles, **kw)
    return rec.transpose(2, 0, 1)


@pytest.mark.parametrize(("name", "cpu_func", "xp_func"), [("fbp", fbp, fbp_xp), ("gridrec", gridrec, gridrec_xp)])  # fmt: skip
@pytest.mark.parametrize("pad_mode", ["edge", "zero"])
def test_xp_numpy_equals_the_cpu_path(name, cpu_func, xp_func, pad_mode):
    """Off-centre axis, odd slice count (gridrec pairs the last slice with zeros), even and odd
    detector widths, a slice side other than the detector's."""
    for n_det, n_ang, n_slices, centre, size in ((64, 100, 3, 33.4, None), (71, 120, 4, 34.0, 66)):
        angles = np.linspace(0, 180, n_ang, endpoint=False)
        sinos, _ = _batch(n_det, angles, centre, n_slices)
        opts = {"centre": centre, "size": size, "pad_mode": pad_mode}
        ref = _cpu(cpu_func, sinos, angles, **opts)
        got = xp_func(sinos, angles, xp=np, **opts)
        assert got.shape == ref.shape == (n_slices, size or n_det, size or n_det)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=0, atol=TOL * np.abs(ref).max())


@pytest.mark.parametrize("filter_name", ["shepp-logan", "hann"])
def test_xp_numpy_filters_and_uneven_angles(filter_name, rng):
    angles = np.sort(rng.uniform(0.0, 180.0, 150))
    sinos, _ = _batch(64, angles, 31.5, 2)
    for cpu_func, xp_func in ((fbp, fbp_xp), (gridrec, gridrec_xp)):
        ref = _cpu(cpu_func, sinos, angles, filter_name=filter_name)
        got = xp_func(sinos, angles, xp=np, filter_name=filter_name)
        np.testing.assert_allclose(got, ref, rtol=0, atol=TOL * np.abs(ref).max())


def test_xp_numpy_rmse_against_the_truth_equals_the_cpu_rmse():
    n, angles = 96, np.linspace(0, 180, 150, endpoint=False)
    sinos, truth = _batch(n, angles, (n - 1) / 2, 2)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    inside = np.hypot(yy, xx) < n / 2 - 4
    for cpu_func, xp_func in ((fbp, fbp_xp), (gridrec, gridrec_xp)):
        rmse_cpu = np.sqrt(np.mean((_cpu(cpu_func, sinos, angles) - truth)[:, inside] ** 2))
        rmse_xp = np.sqrt(np.mean((xp_func(sinos, angles, xp=np) - truth)[:, inside] ** 2))
        assert rmse_cpu < 0.1 * 0.01  # a real reconstruction: < 10 % of the main disc's mu
        assert rmse_xp == pytest.approx(rmse_cpu, rel=1e-4)


@pytest.mark.skipif(_gpu(), reason="a GPU is visible: the refusal is for machines without one")
def test_cuda_without_a_gpu_is_an_error_not_a_fallback(tmp_path):
    angles = np.linspace(0, 180, 60, endpoint=False)
    sinos, _ = _batch(32, angles, 15.5, 2)
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        reconstruct_batch(sinos, angles, algorithm="gridrec", device="cuda")
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        reconstruct(sinos, angles, algorithm="fbp", device="cuda", out=tmp_path / "v.zarr")
    assert not (tmp_path / "v.zarr").exists()  # refused before any work


def test_cuda_refuses_what_it_cannot_run():
    angles = np.linspace(0, 180, 60, endpoint=False)
    sinos, _ = _batch(32, angles, 15.5, 1)
    with pytest.raises(ParameterError, match="runs fbp and gridrec"):
        reconstruct_batch(sinos, angles, algorithm="sirt", device="cuda")
    with pytest.raises(ParameterError, match="expected one of"):
        reconstruct_batch(sinos, angles, device="gpu")  # type: ignore[arg-type]


@pytest.mark.skipif(_gpu(), reason="a GPU is visible: the refusal is for machines without one")
def test_cli_device_cuda_without_a_gpu_exits_with_the_reason(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('[[scan]]\nfile = "missing.h5"\n')
    out = tmp_path / "run"
    assert main(["tomo", "pipeline", str(config), "--out", str(out), "--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err
    assert not out.exists() or json.loads((out / "manifest.json").read_text())["status"] != "ok"


@pytest.mark.skipif(
    not _gpu(), reason="no CuPy or no visible GPU: the CuPy run needs an NVIDIA GPU"
)
@pytest.mark.parametrize("algorithm", ["fbp", "gridrec"])
def test_cuda_equals_the_cpu_path(algorithm):
    n, angles = 128, np.linspace(0, 180, 200, endpoint=False)
    sinos, _ = _batch(n, angles, 62.8, 5)
    ref = reconstruct_batch(sinos, angles, centre=62.8, algorithm=algorithm)
    got = reconstruct_batch(sinos, angles, centre=62.8, algorithm=algorithm, device="cuda")
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL * np.abs(ref).max())


class _NumpyAsGpu:
    """Stands in for CuPy: numpy under another name, so that ``device="cuda"`` takes the GPU
    code path (array module, host <-> device copies) end to end on a machine without a GPU."""

    __name__ = "numpy_as_gpu"

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.fixture
def fake_gpu(monkeypatch):
    import cathodescope.tomo._device as device_module

    real = device_module.resolve_device
    monkeypatch.setattr(
        device_module, "resolve_device", lambda d="cpu": _NumpyAsGpu() if d == "cuda" else real(d)
    )


@pytest.mark.parametrize("algorithm", ["fbp", "gridrec"])
def test_reconstruct_device_cuda_takes_the_array_module_path(fake_gpu, algorithm, tmp_path):
    """The slabs of ``reconstruct(..., device="cuda")`` go through the array-module code (the
    gridding matrix built once and reused by every slab) and equal the CPU volume."""
    import cathodescope.tomo._xp_recon as xp_recon

    angles = np.linspace(0, 180, 90, endpoint=False)
    sinos, _ = _batch(48, angles, 23.9, 7)
    cpu = reconstruct(sinos, angles, centre=23.9, algorithm=algorithm, slab=3)
    gpu = reconstruct(
        sinos,
        angles,
        centre=23.9,
        algorithm=algorithm,
        slab=3,
        device="cuda",
        out=tmp_path / "v.h5",
    )
    assert gpu.attrs["device"] == "cuda" and cpu.attrs["device"] == "cpu"
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=0, atol=TOL * np.abs(cpu.values).max())
    if algorithm == "gridrec":
        assert xp_recon._LAST_MATRIX[0][0][0] == "numpy_as_gpu"
