"""Real SPM files load with the right units and scan sizes (checked against their own metadata)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cathodescope.errors import (
    FileFormatError,
    ScanSizeMismatchError,
    SPMChannelMissingError,
    TruncatedFileError,
)
from cathodescope.io import read_gwy, read_ibw, read_nanoscope, read_spm


@pytest.fixture
def spm_dir(shared_data):
    folder = shared_data / "spm"
    if not folder.is_dir():
        pytest.skip(f"no SPM test files in {folder}")
    return folder


def test_ibw_channels_units_and_scan_size(spm_dir):
    scan = read_ibw(spm_dir / "asylum_dart_pfm_6ch.ibw")
    assert scan.names == ["Height", "Amplitude1", "Amplitude2", "Phase1", "Phase2", "Frequency"]
    units = {n: scan[n].attrs["units"] for n in scan}
    assert units == {
        "Height": "m",
        "Amplitude1": "m",
        "Amplitude2": "m",
        "Phase1": "deg",
        "Phase2": "deg",
        "Frequency": "Hz",
    }
    assert all(scan[n].attrs["direction"] == "Retrace" for n in scan)
    assert scan.shape == (256, 256)
    raw = scan.metadata["raw"]
    # Asylum wave scaling: ScanSize spans N-1 pixel steps
    dy, dx = scan.spacing
    assert dx * 255 == pytest.approx(float(raw["ScanSize"]) * 1e6, rel=1e-6)
    assert dy * 255 == pytest.approx(float(raw["SlowScanSize"]) * 1e6, rel=1e-6)
    assert scan["Height"].x.values[-1] == pytest.approx(5.0, rel=1e-6)
    assert scan.metadata["scan_size_um"] == pytest.approx(5.0)
    # values as stored, never rescaled to "nm" (the wrapper bug): phases stay in degrees
    # within ARC's (-90, 270) window, frequency near the note's drive frequencies, heights
    # and amplitudes at nm scale in metres.
    for ph in ("Phase1", "Phase2"):
        v = scan[ph].values
        assert v.min() >= -90.0 - 1e-3 and v.max() <= 270.0 + 1e-3
    f = scan["Frequency"].values
    assert (
        0.8 * scan.metadata["drive_frequency_Hz"]
        < np.median(f)
        < 1.2 * scan.metadata["drive_frequency2_Hz"]
    )
    assert 1e-9 < np.ptp(scan["Height"].values) < 1e-6
    assert 1e-11 < np.median(scan["Amplitude1"].values) < 1e-8
    # ARC's own display offsets in the note (channel means) match what we read, per channel
    for i, name in enumerate(scan.names[1:], start=1):
        offset = float(raw[f"Planefit Offset {i}"])
        assert scan[name].values.mean() == pytest.approx(offset, rel=1e-3)
    m = scan.metadata
    assert m["dual_ac_mode"] is True
    assert m["drive_amplitude_V"] == pytest.approx(3.0)
    assert m["dart_frequency_width_Hz"] == pytest.approx(
        m["drive_frequency2_Hz"] - m["drive_frequency_Hz"]
    )
    assert m["tune_q"] == pytest.approx(139.75)


def test_ibw_stacking_keeps_per_channel_units(spm_dir):
    da = read_spm(spm_dir / "asylum_dart_pfm_6ch.ibw").to_dataarray(["Height", "Phase1"])
    assert da.dims == ("channel", "y", "x")
    assert da.attrs["units"] == ["m", "deg"]


def test_nanoscope_height_scaling_and_scan_size(spm_dir):
    path = spm_dir / "bruker_nanoscope_height.002"
    scan = read_nanoscope(path)
    assert scan.names == ["Height"]
    h = scan["Height"]
    assert h.attrs["units"] == "m"
    assert h.shape == (256, 256)
    header = scan.metadata["raw"]
    assert header["Scan size"] == "15000 nm"
    assert scan.metadata["scan_size_um"] == pytest.approx(15.0)
    assert scan.spacing == pytest.approx((15.0 / 256, 15.0 / 256))
    # Z scale: raw counts x (Z scale hard value / 2^16) x Sens. Zscan, recomputed from the
    # header text itself
    raw = path.read_bytes()
    counts = np.frombuffer(raw, "<i2", count=256 * 256, offset=40960).astype(float)
    factor = 439.9866 / 65536 * 15.068e-9
    assert h.attrs["z_scale_per_lsb"] == pytest.approx(factor, rel=1e-12)
    assert np.sort(h.values.ravel()) == pytest.approx(np.sort(counts) * factor, rel=1e-12)
    # independent implementation (pySPM, values published in fermiviewer's tests of this very
    # file, TopoStats' old_bruker.002): ptp 704.79 nm, std 135.53 nm, mean 379.62 nm
    assert np.ptp(h.values) * 1e9 == pytest.approx(704.79, rel=2e-4)
    assert h.values.std() * 1e9 == pytest.approx(135.53, rel=2e-4)
    assert h.values.mean() * 1e9 == pytest.approx(379.62, abs=0.05)


def test_gwy_channels_units_and_real_size(spm_dir):
    scan = read_gwy(spm_dir / "gwyddion_pfm_4ch.gwy")
    assert scan.names == ["Height", "Amplitude", "Deflection", "Phase"]
    assert [scan[n].attrs["units"] for n in scan] == ["m", "m", "m", "deg"]
    assert scan.shape == (128, 128)
    import gwyfile

    obj = gwyfile.load(str(spm_dir / "gwyddion_pfm_4ch.gwy"))
    xreal = obj["/0/data"]["xreal"] * 1e6
    _dy, dx = scan.spacing
    assert dx * 128 == pytest.approx(xreal, rel=1e-12)
    # the Asylum scan size kept in the .gwy meta equals (N-1) pixels (ARC convention)
    assert dx * 127 == pytest.approx(scan.metadata["scan_size_um"], rel=1e-9)
    assert scan.metadata["drive_amplitude_V"] == pytest.approx(4.0)
    assert scan.metadata["dual_ac_mode"] is False
    np.testing.assert_array_equal(scan["Phase"].values, obj["/3/data"].data)


def test_missing_channel_is_specific(spm_dir):
    scan = read_spm(spm_dir / "gwyddion_pfm_4ch.gwy")
    with pytest.raises(SPMChannelMissingError, match=r"Current.*available channels"):
        scan["Current"]


@pytest.mark.parametrize(
    ("name", "keep"),
    [
        ("asylum_dart_pfm_6ch.ibw", 200_000),
        ("bruker_nanoscope_height.002", 100_000),
        ("bruker_nanoscope_height.002", 20_000),
        ("gwyddion_pfm_4ch.gwy", 300_000),
    ],
)
def test_truncated_files_raise(spm_dir, tmp_path, name, keep):
    src = spm_dir / name
    dst = tmp_path / name
    dst.write_bytes(src.read_bytes()[:keep])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_spm(dst)


def test_empty_and_foreign_files(spm_dir, tmp_path):
    empty = tmp_path / "empty.ibw"
    empty.write_bytes(b"")
    with pytest.raises(TruncatedFileError, match="empty"):
        read_spm(empty)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(FileFormatError, match="not recognised"):
        read_spm(other)
    fake_gwy = tmp_path / "x.gwy"
    shutil.copy(spm_dir / "bruker_nanoscope_height.002", fake_gwy)
    with pytest.raises(FileFormatError, match="GWYP"):
        read_gwy(fake_gwy)


def test_inconsistent_channel_grids_raise(tmp_path, gwy_writer, rng):
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    c = GwyContainer()
    for i, (n, real) in enumerate([(32, 5e-6), (32, 10e-6)]):  # same pixels, two scan sizes
        c[f"/{i}/data"] = GwyDataField(
            rng.normal(size=(n, n)),
            xreal=real,
            yreal=real,
            si_unit_xy=GwySIUnit(unitstr="m"),
            si_unit_z=GwySIUnit(unitstr="m"),
        )
        c[f"/{i}/data/title"] = f"Height{i}Retrace"
    c.tofile(str(tmp_path / "mixed.gwy"))
    with pytest.raises(ScanSizeMismatchError, match="one grid"):
        read_gwy(tmp_path / "mixed.gwy")
    gwy_writer(
        tmp_path / "shapes.gwy",
        {"HeightRetrace": (np.zeros((16, 16)), "m"), "PhaseRetrace": (np.zeros((16, 20)), "deg")},
    )
    with pytest.raises(ScanSizeMismatchError, match="one grid"):
        read_gwy(tmp_path / "shapes.gwy")
