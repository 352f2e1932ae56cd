"""Memory-limit parsing and planning, device selection, lazy readers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cathodescope.errors import DataTooLargeError, DeviceUnavailableError, ParameterError
from cathodescope.scale import (
    format_bytes,
    gpu_available,
    open_lazy_channels,
    parse_memory_limit,
    plan_memory,
    resolve_device,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5GiB", 3 * 2**29),
        ("4GiB", 4 * 2**30),
        ("800MB", 800 * 10**6),
        ("512 mib", 512 * 2**20),
        ("2e9", 2 * 10**9),
        (1024, 1024),
        ("3TB", 3 * 10**12),
    ],
)
def test_parse_memory_limit(text, expected):
    assert parse_memory_limit(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "1.5 GiBs", "-1GiB", "0", "GiB", "1,5GiB"])
def test_parse_memory_limit_refuses_nonsense(text):
    with pytest.raises(ParameterError, match="memory limit"):
        parse_memory_limit(text)


def test_plan_fits_the_limit():
    plan = plan_memory((1024, 1024, 1024), "4GiB", n_workers=2)
    assert plan.n_workers == 2
    assert plan.worker_limit * plan.n_workers < plan.limit  # the driver keeps its share
    # chunk working set (64 B/voxel) times 4 in flight fits one worker's room
    assert np.prod(plan.chunks) * 64 * 4 <= plan.worker_limit
    assert all(c & (c - 1) == 0 for c in plan.chunks)  # powers of two


def test_plan_refuses_impossible_limits():
    with pytest.raises(ParameterError, match="too small"):
        plan_memory((512, 512, 512), "100MiB")
    with pytest.raises(ParameterError, match="lower --workers"):
        plan_memory((512, 512, 512), "1GiB", n_workers=16)
    with pytest.raises(ParameterError, match="positive whole number"):
        plan_memory((64, 64, 64), "1GiB", n_workers=0)


def test_plan_refuses_a_particle_that_cannot_fit():
    plan = plan_memory((2048, 2048, 2048), "1GiB", n_workers=1)
    with pytest.raises(DataTooLargeError, match="raise --memory-limit"):
        plan.check_crop(600**3, "particle 7")


def test_default_worker_count_shrinks_with_the_limit():
    plan = plan_memory((256, 256, 256), "1GiB")
    assert plan.worker_limit >= 4 * 200 * 2**20 or plan.n_workers == 1


def test_format_bytes():
    assert format_bytes(3 * 2**29) == "1.50 GiB"


def test_device_cpu_and_bad_name():
    assert resolve_device("cpu") is np
    with pytest.raises(ParameterError, match="expected one of"):
        resolve_device("tpu")


def test_device_cuda_is_an_error_without_a_gpu():
    if gpu_available():
        pytest.skip("a GPU is present: the error path cannot be exercised")
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        resolve_device("cuda")


def test_gpu_threshold_pass_equals_cpu():
    if not gpu_available():
        pytest.skip("needs CuPy and an NVIDIA GPU (pip install 'cathodescope[gpu]')")
    import dask.array as da

    from cathodescope.scale._labels import lazy_threshold

    rng = np.random.default_rng(5)
    img = rng.normal(size=(64, 64, 64)).astype(np.float32)
    img[16:48, 16:48, 16:48] += 3
    cpu = lazy_threshold(da.from_array(img, chunks=32))
    xp = resolve_device("cuda")
    gpu = lazy_threshold(da.from_array(img, chunks=32).map_blocks(xp.asarray))
    assert gpu == pytest.approx(cpu, rel=1e-6)


@pytest.mark.parametrize("fmt", ["zarr", "h5", "tif", "npy"])
def test_lazy_readers_read_slabs(tmp_path, fmt):
    import pickle

    rng = np.random.default_rng(3)
    vol = rng.random((6, 10, 12)).astype(np.float32)
    if fmt == "zarr":
        import zarr

        spec = str(tmp_path / "v.zarr")
        zarr.open_array(spec, mode="w", shape=vol.shape, dtype="float32")[:] = vol
    elif fmt == "h5":
        import h5py

        with h5py.File(tmp_path / "v.h5", "w") as fh:
            fh["/exchange/ni"] = vol
        spec = f"{tmp_path / 'v.h5'}:/exchange/ni"
    elif fmt == "tif":
        import tifffile

        spec = str(tmp_path / "v.tif")
        tifffile.imwrite(spec, vol)
    else:
        spec = str(tmp_path / "v.npy")
        np.save(spec, vol)
    lazy = open_lazy_channels([spec], ["Ni"], chunks=(3, 5, 12))["Ni"]
    assert lazy.shape == vol.shape
    np.testing.assert_array_equal(lazy[2:5, 3:9, 1:11].compute(), vol[2:5, 3:9, 1:11])
    pickle.loads(pickle.dumps(lazy))  # shippable to distributed workers


def test_lazy_channels_refuse_mismatches(tmp_path):
    from cathodescope.errors import FileFormatError, InputNotFoundError, ShapeMismatchError

    with pytest.raises(ShapeMismatchError, match="different shapes"):
        open_lazy_channels({"a": np.ones((4, 4, 4)), "b": np.ones((4, 4, 5))})
    with pytest.raises(ParameterError, match="--channels"):
        open_lazy_channels(["a.zarr", "b.zarr"], ["Ni"])
    with pytest.raises(InputNotFoundError):
        open_lazy_channels([tmp_path / "missing.zarr"], ["Ni"])
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(FileFormatError, match="lazily"):
        open_lazy_channels([tmp_path / "x.csv"], ["Ni"])


def test_a_component_is_checked_with_the_split_cost_not_the_particle_cost():
    plan = plan_memory((1024, 1024, 1024), "4GiB", n_workers=2)
    voxels = int(plan.max_crop_voxels * 1.5)  # too big for the per-particle work, fine to split
    with pytest.raises(DataTooLargeError):
        plan.check_crop(voxels, "particle 3")
    plan.check_crop(voxels, "connected component 3", split=True)
    with pytest.raises(DataTooLargeError, match="connected component 3"):
        plan.check_crop(3 * voxels, "connected component 3", split=True)


_SPLIT_MEMORY = """
import json, sys
import numpy as np, zarr
from cathodescope.scale._particles import split_component
from cathodescope.segment import segment_particles
n, folder = int(sys.argv[1]), sys.argv[2]
z, y, x = np.ogrid[:40, :40, :48]
pair = ((z - 20) ** 2 + (y - 20) ** 2 + (x - 14) ** 2 < 121) | (
    (z - 20) ** 2 + (y - 20) ** 2 + (x - 34) ** 2 < 121)
# a touching pair, so that imports and the compiled watershed (numba) are not measured
assert segment_particles(pair.astype(np.float32), spacing=0.05, threshold=0.5).n_particles == 2
def hwm():  # VmHWM: ru_maxrss would carry the parent pytest's peak across exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
base = hwm()
pieces = split_component(1, (slice(1, n - 1),) * 3, folder + "/lab.zarr", (n,) * 3, (0.05,) * 3,
                         {}, folder + "/pieces.npz")
peak = hwm()
print(json.dumps({"pieces": len(pieces), "per_voxel": (peak - base) / n**3}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc for VmHWM")
def test_split_task_memory_stays_within_its_constant(tmp_path):
    """The split task's measured peak (RSS above a warmed-up process) is below the constant."""
    import json
    import subprocess
    import sys

    import zarr

    from cathodescope.scale._memory import BYTES_PER_SPLIT_VOXEL

    n = 160
    z, y, x = np.ogrid[:n, :n, :n]
    r2 = (0.28 * n) ** 2
    pair = ((z - n / 2) ** 2 + (y - n / 2) ** 2 + (x - 0.3 * n) ** 2 < r2) | (
        (z - n / 2) ** 2 + (y - n / 2) ** 2 + (x - 0.7 * n) ** 2 < r2
    )
    store = zarr.create_array(tmp_path / "lab.zarr", shape=pair.shape, chunks=(64,) * 3, dtype="i4")
    store[:] = pair.astype(np.int32)
    out = subprocess.run(
        [sys.executable, "-c", _SPLIT_MEMORY, str(n), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["pieces"] == 2  # two touching spheres split in two
    assert 0 < record["per_voxel"] < BYTES_PER_SPLIT_VOXEL
