"""The array-module-agnostic per-particle kernels equal the engine (CPU) and run on CuPy (GPU).

With ``device="cpu"`` (``xp = numpy``) the depth values equal :func:`depth_map` and the binned
statistics equal the ``n_voxels``, ``mean``, ``std`` and ``ratio`` columns of
:func:`depth_profiles` to 1e-6 (they are computed by the same arithmetic). The CuPy run is
skipped with a reason where no GPU is visible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.errors import DeviceUnavailableError, EmptyDataError, ShapeMismatchError
from cathodescope.profile import device_depth_values
from cathodescope.scale import gpu_available, particle_statistics

PROFILE_COLS = ["particle_id", "channel", "depth_um", "n_voxels", "mean", "std"]
RATIO_COLS = ["particle_id", "element", "depth_um", "ratio"]


@pytest.fixture(scope="module")
def particle():
    """One noisy paper-like particle (prolate, central void), its crop and channels."""
    from scipy import ndimage as ndi

    from cathodescope.phantom import paper_scene

    data, truth = paper_scene(
        (56, 56, 72), n_particles=1, spacing=0.1, radius_um=(2.0, 2.1), seed=3, noise_std=0.03
    )
    sl = ndi.find_objects(truth.labels)[0]
    mask = truth.labels[sl] == 1
    chans = {k: v.values[sl] for k, v in data.items()}
    return mask, chans


@pytest.mark.parametrize(
    ("surface", "convention", "spacing"),
    [
        ("hull", "subvoxel", (0.1, 0.1, 0.1)),
        ("mask", "centres", (0.1, 0.1, 0.1)),
        ("hull", "subvoxel", (0.15, 0.1, 0.1)),
    ],
)
def test_cpu_tables_equal_engine(particle, surface, convention, spacing):
    from cathodescope.profile import depth_profiles

    mask, chans = particle
    ref = depth_profiles(
        mask.astype(np.int32) * 7,
        chans,
        spacing=spacing,
        surface=surface,
        depth_convention=convention,
        ci_method="naive",
        sampling_window_um=(0.2, 0.8),
        edge_window_um=(0.2, 0.3),
        core_window_um=(0.7, 0.8),
        threads=1,
    )
    got = particle_statistics(
        mask,
        chans,
        spacing=spacing,
        surface=surface,
        depth_convention=convention,
        particle_id=7,
    )
    assert got.device == "cpu" and got.parameters["edt"] == "cpu (edt)"
    assert len(got.profiles) == len(ref.profiles) > 30
    pd.testing.assert_frame_equal(
        got.profiles, ref.profiles[PROFILE_COLS], check_exact=False, rtol=1e-6, atol=1e-9
    )
    pd.testing.assert_frame_equal(
        got.ratios, ref.ratios[RATIO_COLS], check_exact=False, rtol=1e-6, atol=1e-9
    )
    assert got.max_depth_um == pytest.approx(
        float(ref.diagnostics["max_depth_um"].iloc[0]), rel=1e-6
    )


@pytest.mark.parametrize("convention", ["subvoxel", "centres"])
def test_depth_values_equal_depth_map(particle, convention):
    from cathodescope.profile import depth_map

    mask, _ = particle
    sp = (0.12, 0.1, 0.1)
    ref = depth_map(mask, spacing=sp, convention=convention)[mask]
    d, flat, where = device_depth_values(mask, sp, np, "hull", convention)
    np.testing.assert_array_equal(flat, np.flatnonzero(mask))
    np.testing.assert_allclose(d, ref, rtol=1e-6, atol=0)
    assert d.dtype == np.float32 and where == "cpu (edt)"


def test_ratio_channels_subset(particle):
    mask, chans = particle
    got = particle_statistics(mask, chans, spacing=0.1, ratio_channels=["Ni", "Mn"])
    wide = got.ratios.pivot(index="depth_um", columns="element", values="ratio")
    np.testing.assert_allclose(wide.sum(axis=1), 1.0, rtol=1e-12)
    assert set(wide.columns) == {"Ni", "Mn"}


def test_bad_input_is_refused(particle):
    mask, chans = particle
    with pytest.raises(EmptyDataError, match="empty mask"):
        particle_statistics(np.zeros_like(mask), chans, spacing=0.1)
    with pytest.raises(ShapeMismatchError, match="same box"):
        particle_statistics(mask, {"Ni": chans["Ni"][:-1]}, spacing=0.1)
    with pytest.raises(EmptyDataError, match="at least one channel"):
        particle_statistics(mask, {}, spacing=0.1)


@pytest.mark.skipif(gpu_available(), reason="a GPU is visible: the refusal is not testable")
def test_cuda_without_gpu_is_an_error_not_a_fallback(particle):
    mask, chans = particle
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        particle_statistics(mask, chans, spacing=0.1, device="cuda")


@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a visible GPU (gpu extra)")
@pytest.mark.parametrize("spacing", [(0.1, 0.1, 0.1), (0.15, 0.1, 0.1)])
def test_cuda_equals_cpu(particle, spacing):
    mask, chans = particle
    cpu = particle_statistics(mask, chans, spacing=spacing)
    gpu = particle_statistics(mask, chans, spacing=spacing, device="cuda")
    assert gpu.device == "cuda"
    iso = spacing[0] == spacing[1]
    assert gpu.parameters["edt"] == ("cuda (PBA+, isotropic)" if iso else "cpu (edt, anisotropic)")
    pd.testing.assert_frame_equal(gpu.profiles, cpu.profiles, check_exact=False, rtol=1e-6)
    pd.testing.assert_frame_equal(gpu.ratios, cpu.ratios, check_exact=False, rtol=1e-6)
