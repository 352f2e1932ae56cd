import json

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from cathodescope.errors import (
    CathodescopeWarning,
    FileFormatError,
    OutputExistsError,
    ParameterError,
    ShapeMismatchError,
)
from cathodescope.io import (
    atomic_path,
    read_channel,
    read_channels,
    sha256_file,
    split_dataset_path,
)
from cathodescope.report import RunFolder


@pytest.fixture
def volume(rng):
    return rng.random((4, 5, 6)).astype(np.float32)


def test_split_dataset_path():
    assert split_dataset_path("a/b.h5:/x/y") == (
        pytest.importorskip("pathlib").Path("a/b.h5"),
        "/x/y",
    )
    path, inner = split_dataset_path("plain.tif")
    assert inner is None and path.name == "plain.tif"


def test_read_channel_formats_round_trip(tmp_path, volume):
    import zarr

    tifffile.imwrite(tmp_path / "v.tif", volume, photometric="minisblack")
    np.save(tmp_path / "v.npy", volume)
    with h5py.File(tmp_path / "v.h5", "w") as fh:
        fh["group/ni"] = volume
        fh["group/mn"] = volume * 2
    zarr.save_array(str(tmp_path / "v.zarr"), volume)
    for spec in ("v.tif", "v.npy", "v.h5:/group/mn", "v.zarr"):
        arr = read_channel(
            tmp_path / spec if ":" not in spec else f"{tmp_path}/{spec}", spacing=(0.2, 0.1, 0.1)
        )
        expected = volume * 2 if spec.endswith("mn") else volume
        np.testing.assert_array_equal(arr.values, expected)
        assert arr.dims == ("z", "y", "x")
        np.testing.assert_allclose(arr["z"].values, [0, 0.2, 0.4, 0.6])
        assert arr["x"].attrs["units"] == "um"


def test_read_channel_hdf5_needs_dataset_name_when_ambiguous(tmp_path, volume):
    with h5py.File(tmp_path / "v.h5", "w") as fh:
        fh["a"] = volume
        fh["b"] = volume
    with pytest.raises(FileFormatError, match="name one as"):
        read_channel(tmp_path / "v.h5")
    with pytest.raises(FileFormatError, match="has no dataset"):
        read_channel(f"{tmp_path}/v.h5:/missing")


def test_read_channel_truncated_tiff(tmp_path, volume):
    tifffile.imwrite(tmp_path / "v.tif", volume, photometric="minisblack")
    data = (tmp_path / "v.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 3])
    with pytest.raises(FileFormatError, match="truncated"):
        read_channel(tmp_path / "cut.tif")


def test_read_channel_unknown_extension_and_missing(tmp_path):
    (tmp_path / "x.foo").write_text("1")
    with pytest.raises(FileFormatError, match="extension"):
        read_channel(tmp_path / "x.foo")
    with pytest.raises(FileNotFoundError):
        read_channel(tmp_path / "nope.tif")


def test_read_channels_checks_shapes_and_counts(tmp_path, volume):
    np.save(tmp_path / "a.npy", volume)
    np.save(tmp_path / "b.npy", volume[:, :, :3])
    with pytest.raises(ShapeMismatchError, match="different shapes"):
        read_channels([tmp_path / "a.npy", tmp_path / "b.npy"], ["Ni", "Mn"])
    with pytest.raises(ParameterError, match="one file per channel"):
        read_channels([tmp_path / "a.npy"], ["Ni", "Mn"])


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_run_folder_manifest(tmp_path):
    src = tmp_path / "input.bin"
    src.write_bytes(b"abc")
    out = tmp_path / "run"
    params = {"spacing": (0.1, 0.2), "path": src, "func": print}
    with RunFolder(out, command="test", parameters=params) as run:
        run.add_input(src, channel="Ni")
        with run.timer("work"):
            run.write_table("t", pd.DataFrame({"a": [1, 2]}))
        run.warn("something odd")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["inputs"][0]["sha256"] == sha256_file(src)
    assert manifest["inputs"][0]["channel"] == "Ni"
    assert manifest["parameters"]["spacing"] == [0.1, 0.2]
    assert "func" not in manifest["parameters"]
    assert manifest["warnings"] == ["something odd"]
    assert {"t.csv", "t.parquet"} <= set(manifest["outputs"])
    assert manifest["timings_s"]["work"] >= 0
    assert "numpy" in manifest["versions"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "t.parquet"), pd.DataFrame({"a": [1, 2]}))


def test_run_folder_records_failure_and_refuses_non_empty(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), RunFolder(out, command="x"):
        1 / 0  # noqa: B018
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "ZeroDivisionError" in manifest["error"]
    # a folder holding only a failed run may be reused without --overwrite ...
    with RunFolder(out, command="x") as run:
        run.write_table("t", pd.DataFrame({"a": [1]}))
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    # ... a finished one may not
    with pytest.raises(OutputExistsError, match="--overwrite"):
        RunFolder(out, command="x")


def test_run_folder_overwrite_removes_only_previous_outputs(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out, command="x") as run:
        run.write_table("old", pd.DataFrame({"a": [1]}))
    (out / "notes.txt").write_text("mine")
    with RunFolder(out, command="x", overwrite=True) as run:
        run.write_table("new", pd.DataFrame({"a": [1]}))
    names = {p.name for p in out.iterdir()}
    assert "old.csv" not in names and "new.csv" in names and "notes.txt" in names


def test_cathodescope_warning_captured_not_raised(tmp_path):
    import warnings

    with RunFolder(tmp_path / "r", command="x") as run:
        warnings.warn("recorded", CathodescopeWarning, stacklevel=1)
    assert run.warnings == ["recorded"]
