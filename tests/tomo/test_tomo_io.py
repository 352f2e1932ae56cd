"""TXM readers: real Data Exchange and Xradia files, FXI/TIFF layouts, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import (
    FileFormatError,
    MissingMetadataError,
    ProjectionGeometryError,
    ShapeMismatchError,
    TruncatedFileError,
)
from cathodescope.io import (
    make_projections,
    read_data_exchange,
    read_fxi,
    read_projections,
    read_tiff_stack,
    read_xradia,
)


def test_data_exchange_real_file(shared_data):
    path = shared_data / "txm" / "tomopy_tooth_data_exchange.h5"
    raw = read_data_exchange(path)
    assert raw.data.dims == ("angle", "y", "x")
    assert raw.data.shape == (181, 2, 640)
    assert raw.flats.shape == (10, 2, 640) and raw.darks.shape == (10, 2, 640)
    # theta stored in degrees: 181 angles evenly over [0, 180)
    np.testing.assert_allclose(raw.angles, np.linspace(0, 180, 181, endpoint=False), atol=1e-9)
    assert raw.data["angle"].attrs["units"] == "degree"
    lazy = read_projections(path, lazy=True)
    np.testing.assert_array_equal(np.asarray(lazy.data[:, 1, :]), raw.data.values[:, 1, :])


def test_xradia_real_files(shared_data):
    folder = shared_data / "txm" / "aps8bm_ni_edge_pair"
    raw = read_xradia(
        folder / "fov07_xanessoc01_8353_0eV.xrm", reference=folder / "ref_xanessoc01_8353_0eV.xrm"
    )
    assert raw.data.shape == (1, 1024, 1024)
    assert raw.flats.shape == (1, 1024, 1024)
    # metadata from the OLE streams: energy named in the file name, 2x2-binned pixel size
    assert abs(raw.energy_ev - 8353.0) < 0.1
    assert abs(raw.spacing[1] - 0.0389) < 1e-3
    np.testing.assert_allclose(raw.angles, [-0.042], atol=1e-4)
    assert raw.metadata["xray_magnification"] == 38.0
    assert raw.data.values.dtype == np.uint16
    with pytest.raises(ShapeMismatchError, match="reference frame of the same energy"):
        read_xradia(
            folder / "fov07_xanessoc01_8353_0eV.xrm",
            reference=folder / "ref_xanessoc01_8250_0eV.xrm",
        )


def test_xradia_bad_files(tmp_path, shared_data):
    not_ole = tmp_path / "x.xrm"
    not_ole.write_bytes(b"not an ole file" * 100)
    with pytest.raises(FileFormatError, match="OLE2"):
        read_xradia(not_ole)
    src = (
        shared_data / "txm" / "aps8bm_ni_edge_pair" / "fov07_xanessoc01_8250_0eV.xrm"
    ).read_bytes()
    cut = tmp_path / "cut.xrm"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises((TruncatedFileError, FileFormatError)):
        read_xradia(cut)


def _write_fxi(path, rng, n_ang=5, ny=4, nx=6, flat_shape=None):
    import h5py

    with h5py.File(path, "w") as fh:
        fh["img_tomo"] = rng.integers(100, 200, (n_ang, ny, nx)).astype(np.uint16)
        fh["img_bkg"] = np.full((3, *(flat_shape or (ny, nx))), 400, np.uint16)
        fh["img_dark"] = np.full((2, ny, nx), 10, np.uint16)
        fh["angle"] = np.linspace(-90, 90, n_ang)
        fh["X_eng"] = 8.353
        fh["Pixel Size"] = "21.3nm"


def test_fxi_layout(tmp_path, rng):
    path = tmp_path / "fxi.h5"
    _write_fxi(path, rng)
    raw = read_fxi(path)
    assert raw.energy_ev == pytest.approx(8353.0)
    assert raw.spacing == pytest.approx((0.0213, 0.0213))
    np.testing.assert_allclose(raw.angles, np.linspace(-90, 90, 5))
    np.testing.assert_allclose(raw.data["x"].values, np.arange(6) * 0.0213)
    assert read_projections(path).flats.shape == (3, 4, 6)


def test_fxi_flats_of_another_shape(tmp_path, rng):
    path = tmp_path / "fxi.h5"
    _write_fxi(path, rng, flat_shape=(4, 5))
    with pytest.raises(ShapeMismatchError, match="same detector binning"):
        read_fxi(path)


def test_angles_count_mismatch():
    with pytest.raises(ProjectionGeometryError, match="5 projections but 4 angles"):
        make_projections(np.ones((5, 3, 3)), np.arange(4.0))


def test_tiff_stack_with_angles_file(tmp_path, rng):
    import tifffile

    data = rng.integers(0, 1000, (4, 5, 6)).astype(np.uint16)
    for k in range(4):
        tifffile.imwrite(tmp_path / f"proj_{k:03d}.tif", data[k])
    tifffile.imwrite(tmp_path / "flat.tiff", np.full((2, 5, 6), 1200, np.uint16))
    (tmp_path / "angles.txt").write_text("# deg\n0\n45\n90\n135\n")
    raw = read_tiff_stack(
        sorted(tmp_path.glob("proj_*.tif")),
        tmp_path / "angles.txt",
        flats=tmp_path / "flat.tiff",
        energy_ev=8000.0,
        spacing=0.05,
    )
    np.testing.assert_array_equal(raw.data.values, data)
    np.testing.assert_allclose(raw.angles, [0, 45, 90, 135])
    (tmp_path / "angles3.txt").write_text("0\n60\n120\n")
    with pytest.raises(ProjectionGeometryError, match="one entry"):
        read_tiff_stack(sorted(tmp_path.glob("proj_*.tif")), tmp_path / "angles3.txt")
    with pytest.raises(MissingMetadataError, match="angles="):
        read_projections(tmp_path / "proj_000.tif")


def test_unknown_hdf5_layout(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as fh:
        fh["something"] = np.zeros(3)
    with pytest.raises(FileFormatError, match="not recognised"):
        read_projections(tmp_path / "other.h5")
    (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(FileFormatError, match="not a readable HDF5"):
        read_data_exchange(tmp_path / "broken.h5")
