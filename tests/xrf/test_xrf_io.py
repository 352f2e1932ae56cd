"""Readers of fitted XRF maps: the real PyXRF file, synthetic MAPS files, TIFF exports."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from cathodescope.errors import (
    EmptyMapError,
    FileFormatError,
    MissingMetadataError,
    ParameterError,
    ScanGeometryError,
    TruncatedFileError,
    UnitsError,
    XRFChannelError,
)
from cathodescope.io import (
    read_maps_h5,
    read_pyxrf_h5,
    read_xrf_map,
    read_xrf_tiffs,
    write_pyxrf_h5,
)
from cathodescope.xrf import core_shell_map

REAL = "xrf/pyxrf_fitted_NiCoMn_20x30.h5"


# -- the real PyXRF file -----------------------------------------------------------------------


def test_real_pyxrf_file_against_its_own_metadata(shared_data):
    path = shared_data / REAL
    with h5py.File(path, "r") as h5:  # independent read of what the file says
        fit = h5["xrfmap/detsum/xrf_fit"][()]
        names = [n.decode() for n in h5["xrfmap/detsum/xrf_fit_name"][()]]
        pos = h5["xrfmap/positions/pos"][()]
        pos_names = [
            n.decode() if isinstance(n, bytes) else n for n in h5["xrfmap/positions/name"][()]
        ]
        scalers = h5["xrfmap/scalers/val"][()]
        scaler_names = [
            n.decode() if isinstance(n, bytes) else n for n in h5["xrfmap/scalers/name"][()]
        ]
    da = read_pyxrf_h5(path, position_units="um")
    # channels: the emission lines of xrf_fit_name, in file order
    assert list(da["channel"].values) == [n for n in names if n.endswith("_K")]
    assert list(da["channel"].values) == ["Mn_K", "Co_K", "Ni_K"]
    assert da.dims == ("channel", "y", "x")
    # scan size: (ny, nx) of xrf_fit and of the positions
    assert da.shape[1:] == fit.shape[1:] == pos.shape[1:] == (20, 30)
    assert da.attrs["scan_shape"] == (20, 30)
    # coordinates are the stage positions in um: x from x_pos (row 0), y from y_pos (row 1)
    ix, iy = pos_names.index("x_pos"), pos_names.index("y_pos")
    np.testing.assert_allclose(da["x"].values, pos[ix][0], atol=1e-12)
    np.testing.assert_allclose(da["y"].values, pos[iy][:, 0], atol=1e-12)
    dy, dx = da.attrs["spacing_um"]
    np.testing.assert_allclose((dy, dx), (0.02, 0.01), rtol=1e-9)
    # scan extent (first to last pixel centre) agrees with the positions' own range
    assert (da.sizes["x"] - 1) * dx == pytest.approx(np.ptp(pos[ix]), rel=1e-9)
    assert (da.sizes["y"] - 1) * dy == pytest.approx(np.ptp(pos[iy]), rel=1e-9)
    assert da.attrs["units"] == "counts" and da.attrs["scaler"] is None
    assert da["x"].attrs["units"] == "um"
    for k, name in enumerate(da["channel"].values):
        np.testing.assert_array_equal(da.values[k], fit[names.index(name)])
    # normalization by i0, pixel by pixel
    norm = read_pyxrf_h5(path, position_units="um", scaler="i0", channels=["Ni", "Mn"])
    i0 = scalers[:, :, scaler_names.index("i0")]
    np.testing.assert_allclose(norm.sel(channel="Ni_K").values, fit[names.index("Ni_K")] / i0)
    assert norm.attrs["units"] == "counts per i0" and norm.attrs["n_pixels_bad_scaler"] == 0
    # unit conversion: the same positions read as mm are 1000x larger
    mm = read_pyxrf_h5(path, position_units="mm")
    np.testing.assert_allclose(mm.attrs["spacing_um"], (20.0, 10.0), rtol=1e-9)
    # the file's scan metadata travels along
    assert da.attrs["scan_metadata.file_software"] == "PyXRF"
    assert read_xrf_map(path, position_units="um").equals(da)


def test_real_file_errors(shared_data, tmp_path):
    path = shared_data / REAL
    with pytest.raises(MissingMetadataError, match="position_units"):
        read_pyxrf_h5(path)
    with pytest.raises(XRFChannelError, match="available channels"):
        read_pyxrf_h5(path, position_units="um", channels=["Fe"])
    with pytest.raises(XRFChannelError, match="available scalers"):
        read_pyxrf_h5(path, position_units="um", scaler="sclr_i0")
    with pytest.raises(ParameterError, match="not counts"):
        read_pyxrf_h5(path, position_units="um", scaler="i0", channels=["Ni_K", "r_factor"])
    with pytest.raises(ParameterError, match="position_units"):
        read_pyxrf_h5(path, position_units="inch")
    with pytest.raises(FileFormatError, match="detector group"):
        read_pyxrf_h5(path, position_units="um", detector="det9")
    # truncated copy: the first 40 % of the bytes
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: int(0.4 * path.stat().st_size)])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_pyxrf_h5(cut, position_units="um")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(FileFormatError, match="not a readable HDF5"):
        read_pyxrf_h5(junk, position_units="um")


# -- synthetic PyXRF files ----------------------------------------------------------------------


def _pyxrf(
    tmp_path, *, pos=None, pos_names=(b"x_pos", b"y_pos"), fit=None, names=None, scaler=None
):
    ny, nx = 6, 8
    fit = np.arange(3 * ny * nx, dtype=float).reshape(3, ny, nx) + 1 if fit is None else fit
    names = [b"Ni_K", b"Mn_K", b"r_factor"] if names is None else names
    if pos is None:
        xx, yy = np.meshgrid(np.arange(nx) * 0.1, 5 + np.arange(ny) * 0.1)
        pos = np.stack([xx, yy])
    path = tmp_path / "syn.h5"
    with h5py.File(path, "w") as h5:
        h5["xrfmap/detsum/xrf_fit"] = fit
        h5["xrfmap/detsum/xrf_fit_name"] = np.asarray(names, dtype="S20")
        h5["xrfmap/positions/pos"] = pos
        h5["xrfmap/positions/name"] = np.asarray(pos_names, dtype="S20")
        sc = np.ones((ny, nx, 1)) if scaler is None else scaler
        h5["xrfmap/scalers/val"] = sc
        h5["xrfmap/scalers/name"] = np.asarray([b"i0"])
    return path


def test_pyxrf_units_from_motor_names_and_bad_geometry(tmp_path):
    p = _pyxrf(tmp_path, pos_names=(b"zpssx[um]", b"zpssy[um]"))
    da = read_pyxrf_h5(p)
    assert da.attrs["position_units_in_file"] == "um"
    np.testing.assert_allclose(da.attrs["spacing_um"], (0.1, 0.1))
    with pytest.raises(UnitsError, match="stores positions in 'um'"):
        read_pyxrf_h5(p, position_units="mm")
    # positions of a different scan size than the maps
    xx, yy = np.meshgrid(np.arange(7) * 0.1, np.arange(6) * 0.1)
    p = _pyxrf(tmp_path, pos=np.stack([xx, yy]))
    with pytest.raises(ScanGeometryError, match="positions have shape"):
        read_pyxrf_h5(p, position_units="um")
    # ... which spacing= overrides
    da = read_pyxrf_h5(p, spacing=(0.2, 0.1))
    np.testing.assert_allclose(da["x"].values, np.arange(8) * 0.1)
    np.testing.assert_allclose(da["y"].values, np.arange(6) * 0.2)
    # non-monotonic positions (snake scan not unflipped)
    xx, yy = np.meshgrid(np.arange(8) * 0.1, np.arange(6) * 0.1)
    xx[1::2] = xx[1::2, ::-1]
    xx = np.tile(xx.mean(axis=0) * 0 + np.array([0, 0.1, 0.2, 0.2, 0.4, 0.5, 0.6, 0.7]), (6, 1))
    p = _pyxrf(tmp_path, pos=np.stack([xx, yy]))
    with pytest.raises(ScanGeometryError, match="not monotonic"):
        read_pyxrf_h5(p, position_units="um")


def test_pyxrf_all_nan_channel_and_bad_scaler(tmp_path):
    fit = np.ones((3, 6, 8))
    fit[1] = np.nan
    p = _pyxrf(tmp_path, fit=fit)
    with pytest.raises(EmptyMapError, match=r"'Mn_K' .* all NaN"):
        read_pyxrf_h5(p, position_units="um")
    assert read_pyxrf_h5(p, position_units="um", channels=["Ni"]).shape == (1, 6, 8)
    sc = np.ones((6, 8, 1))
    sc[0, 0, 0] = 0.0
    p = _pyxrf(tmp_path, scaler=sc)
    da = read_pyxrf_h5(p, position_units="um", scaler="i0")
    assert np.isnan(da.values[:, 0, 0]).all() and da.attrs["n_pixels_bad_scaler"] == 1
    p = _pyxrf(tmp_path, scaler=np.zeros((6, 8, 1)))
    with pytest.raises(EmptyMapError, match="zero or invalid at every pixel"):
        read_pyxrf_h5(p, position_units="um", scaler="i0")
    p = _pyxrf(tmp_path, names=[b"Ni_K", b"Mn_K"])
    with pytest.raises(FileFormatError, match="lists 2 maps"):
        read_pyxrf_h5(p, position_units="um")


def test_pyxrf_writer_round_trip(tmp_path, rng):
    maps, _ = core_shell_map((40, 50), spacing=(0.05, 0.04), rng=rng)
    path = write_pyxrf_h5(tmp_path / "cs.h5", maps)
    back = read_pyxrf_h5(path)  # the writer declares units="um"
    assert list(back["channel"].values) == ["Ni_K", "Mn_K", "Co_K"]
    np.testing.assert_array_equal(back.values, maps.values)
    np.testing.assert_allclose(back["x"].values, maps["x"].values)
    np.testing.assert_allclose(back.attrs["spacing_um"], (0.05, 0.04))


# -- MAPS ---------------------------------------------------------------------------------------


def _maps_file(path, *, x_units="mm", nx_axis=None):
    ny, nx = 5, 7
    rng = np.random.default_rng(3)
    fitted = rng.uniform(1, 10, (4, ny, nx))
    nnls = fitted * 2
    with h5py.File(path, "w") as h5:
        for name, data in (("Fitted", fitted), ("NNLS", nnls)):
            h5[f"MAPS/XRF_Analyzed/{name}/Counts_Per_Sec"] = data
            h5[f"MAPS/XRF_Analyzed/{name}/Channel_Names"] = np.asarray(
                [b"Ni", b"Mn", b"Co", b"Num_Iter"]
            )
        x = 10.0 + np.arange(nx if nx_axis is None else nx_axis) * 0.002  # mm
        y = -1.0 - np.arange(ny) * 0.003  # descending stage motion
        h5["MAPS/Scan/x_axis"] = x
        h5["MAPS/Scan/y_axis"] = y
        if x_units:
            h5["MAPS/Scan/x_axis"].attrs["units"] = x_units
            h5["MAPS/Scan/y_axis"].attrs["units"] = x_units
        h5["MAPS/Scalers/Names"] = np.asarray([b"US_IC", b"DS_IC"])
        h5["MAPS/Scalers/Values"] = np.stack([np.full((ny, nx), 4.0), np.full((ny, nx), 2.0)])
    return fitted, x, y


def test_maps_reader(tmp_path):
    path = tmp_path / "maps.h5"
    fitted, x, y = _maps_file(path)
    da = read_maps_h5(path)
    assert list(da["channel"].values) == ["Ni", "Mn", "Co"]  # Num_Iter is not an element
    np.testing.assert_array_equal(da.values, fitted[:3])
    np.testing.assert_allclose(da["x"].values, x * 1000.0)
    np.testing.assert_allclose(da["y"].values, y * 1000.0)
    np.testing.assert_allclose(da.attrs["spacing_um"], (3.0, 2.0))
    assert da.attrs["units"] == "counts/s" and da.attrs["analysis"] == "Fitted"
    nnls = read_maps_h5(path, analysis="NNLS", channels=["Mn"], scaler="US_IC")
    np.testing.assert_allclose(nnls.values[0], fitted[1] * 2 / 4.0)
    assert nnls.attrs["units"] == "counts/s per US_IC"
    assert read_xrf_map(path).equals(da)
    with pytest.raises(FileFormatError, match="no ROI analysis"):
        read_maps_h5(path, analysis="ROI")
    with pytest.raises(ParameterError, match="analysis"):
        read_maps_h5(path, analysis="Gauss")
    with pytest.raises(XRFChannelError, match="'Fe'"):
        read_maps_h5(path, channels=["Fe"])
    with pytest.raises(FileFormatError, match="not a PyXRF file"):
        read_pyxrf_h5(path, position_units="um")


def test_maps_reader_bad_geometry_and_units(tmp_path):
    path = tmp_path / "maps.h5"
    _maps_file(path, nx_axis=9)
    with pytest.raises(ScanGeometryError, match="scan sizes disagree"):
        read_maps_h5(path)
    assert read_maps_h5(path, spacing=0.5).shape == (3, 5, 7)
    path2 = tmp_path / "maps2.h5"
    _maps_file(path2, x_units=None)
    with pytest.raises(MissingMetadataError, match="position_units"):
        read_maps_h5(path2)
    np.testing.assert_allclose(
        read_maps_h5(path2, position_units="mm").attrs["spacing_um"], (3.0, 2.0)
    )


# -- TIFF ---------------------------------------------------------------------------------------


def _tiff(path, data, spacing=None):
    kw = {"photometric": "minisblack"}
    if spacing is not None:
        kw = {
            "imagej": True,
            "resolution": (1 / spacing, 1 / spacing),
            "metadata": {"unit": "um"},
        }
    tifffile.imwrite(path, np.asarray(data, dtype=np.float32), **kw)


def test_tiff_exports(tmp_path, rng):
    data = rng.uniform(0, 100, (3, 12, 15)).astype(np.float32)
    paths = []
    for name, img in zip(("Ni_K", "Mn_K", "Co_K"), data, strict=True):
        p = tmp_path / f"scan2D_2000_{name}_norm.tiff"
        _tiff(p, img, spacing=0.05)
        paths.append(p)
    da = read_xrf_tiffs(paths, units="counts per i0")
    assert list(da["channel"].values) == ["Ni_K", "Mn_K", "Co_K"]
    np.testing.assert_array_equal(da.values, data)
    np.testing.assert_allclose(da.attrs["spacing_um"], (0.05, 0.05), rtol=1e-6)
    assert da.attrs["units"] == "counts per i0"
    sub = read_xrf_tiffs(paths, channels=["Mn"])
    np.testing.assert_array_equal(sub.values[0], data[1])
    # a mapping names the files; spacing= overrides
    da2 = read_xrf_tiffs({"Ni": paths[0], "Mn": paths[1]}, spacing=0.1)
    assert list(da2["channel"].values) == ["Ni", "Mn"]
    np.testing.assert_allclose(da2["x"].values, np.arange(15) * 0.1)
    # a multi-page stack needs names
    stack = tmp_path / "stack.tif"
    _tiff(stack, data)
    with pytest.raises(MissingMetadataError, match="channels="):
        read_xrf_tiffs(stack, spacing=0.05)
    da3 = read_xrf_tiffs(stack, channels=["Ni", "Mn", "Co"], spacing=0.05)
    np.testing.assert_array_equal(da3.values, data)
    with pytest.raises(ScanGeometryError, match="3 images but 2"):
        read_xrf_tiffs(stack, channels=["Ni", "Mn"], spacing=0.05)


def test_tiff_bad_input(tmp_path, rng):
    a, b = tmp_path / "x_Ni_K.tif", tmp_path / "x_Mn_K.tif"
    _tiff(a, rng.uniform(size=(10, 10)))
    _tiff(b, rng.uniform(size=(10, 11)))
    with pytest.raises(ScanGeometryError, match="different sizes"):
        read_xrf_tiffs([a, b], spacing=0.1)
    _tiff(b, rng.uniform(size=(10, 10)))
    with pytest.raises(MissingMetadataError, match="spacing"):
        read_xrf_tiffs([a, b])
    cut = tmp_path / "cut_Co_K.tif"
    full = tmp_path / "full.tif"
    _tiff(full, rng.uniform(size=(64, 64)))
    cut.write_bytes(full.read_bytes()[:300])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_xrf_tiffs([a, cut], spacing=0.1)
    nan = tmp_path / "nan_Fe_K.tif"
    _tiff(nan, np.full((10, 10), np.nan))
    with pytest.raises(EmptyMapError, match="all NaN"):
        read_xrf_tiffs([a, nan], spacing=0.1)


def test_format_detection_and_the_workflow_reader(tmp_path, shared_data):
    from cathodescope.io import detect_xrf_format
    from cathodescope.workflows.xrf import read_map

    maps_path = tmp_path / "maps.h5"
    fitted, _, _ = _maps_file(maps_path)
    assert detect_xrf_format(shared_data / REAL) == "pyxrf"
    assert detect_xrf_format(maps_path) == "maps"
    assert detect_xrf_format(tmp_path / "Ni_K.tiff") == "tiff"  # by name, not opened
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5.create_dataset("exchange/data", data=np.zeros(3))
    with pytest.raises(FileFormatError, match="neither an 'xrfmap' \\(PyXRF\\) nor a 'MAPS'"):
        detect_xrf_format(other)
    # the CLI's reading options, routed by format: MAPS takes analysis, PyXRF the detector
    nnls = read_map(maps_path, {"analysis": "NNLS", "scaler": "US_IC", "detector": "det1"})
    np.testing.assert_allclose(nnls.sel(channel="Mn").values, fitted[1] * 2 / 4.0)
    real = read_map(shared_data / REAL, {"scaler": "i0", "position_units": "um"})
    assert real.equals(read_pyxrf_h5(shared_data / REAL, scaler="i0", position_units="um"))
