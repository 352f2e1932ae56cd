"""Readers: real LiCoO2 files in three formats, pyFAI/GSAS/RAW layouts, bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from cathodescope.errors import (
    FileFormatError,
    FrameLengthMismatchError,
    MissingWavelengthError,
    NonMonotonicAxisError,
    TruncatedFileError,
)
from cathodescope.io import (
    make_pattern,
    make_series,
    read_bruker_raw,
    read_gsas,
    read_pattern,
    read_series,
    read_xy,
)


@pytest.fixture(scope="module")
def licoo2(shared_data):
    folder = shared_data / "xrd"
    return {ext: read_pattern(folder / f"LiCoO2_CuKa.{ext}") for ext in ("dat", "UXD", "RAW")}


def test_three_formats_identical_apart_from_start_offset(licoo2):
    dat, uxd, raw = licoo2["dat"], licoo2["UXD"], licoo2["RAW"]
    assert dat.sizes["two_theta"] == uxd.sizes["two_theta"] == raw.sizes["two_theta"] == 4001
    # counts are bit-identical in all three files
    np.testing.assert_array_equal(dat.values, uxd.values)
    np.testing.assert_array_equal(uxd.values, raw.values)
    # the documented start offset: .dat says 16.000, .UXD/.RAW 15.985 (step 0.03 everywhere)
    assert dat.two_theta.values[0] == pytest.approx(16.000, abs=1e-9)
    assert uxd.two_theta.values[0] == pytest.approx(15.985, abs=1e-9)
    np.testing.assert_allclose(dat.two_theta.values - uxd.two_theta.values, 0.015, atol=1e-9)
    np.testing.assert_allclose(uxd.two_theta.values, raw.two_theta.values, atol=1e-9)
    np.testing.assert_allclose(np.diff(raw.two_theta.values), 0.03, atol=1e-9)
    assert uxd.two_theta.attrs["units"] == "deg" and uxd.attrs["units"] == "counts"


def test_instrument_metadata(licoo2):
    uxd, raw = licoo2["UXD"], licoo2["RAW"]
    assert uxd.attrs["wavelength_A"] == 1.5406 and raw.attrs["wavelength_A"] == 1.5406
    assert uxd.attrs["wavelength2_A"] == 1.54443 and raw.attrs["wavelength2_A"] == 1.54443
    assert uxd.attrs["kalpha2_ratio"] == 0.514
    assert raw.attrs["raw_version"] == 1 and raw.attrs["step_time_s"] == 12.5
    assert "wavelength_A" not in licoo2["dat"].attrs  # the .dat carries no wavelength


def test_truncated_and_foreign_raw(shared_data, tmp_path):
    data = (shared_data / "xrd" / "LiCoO2_CuKa.RAW").read_bytes()
    cut = tmp_path / "cut.raw"
    cut.write_bytes(data[:5000])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_bruker_raw(cut)
    other = tmp_path / "x.raw"
    other.write_bytes(b"RAW9.99" + bytes(100))
    with pytest.raises(FileFormatError, match="magic bytes"):
        read_bruker_raw(other)
    # RAW4 is read since issue 14; a RAW4 magic with no range in it is a truncated file
    other.write_bytes(b"RAW4.00" + bytes(100))
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_bruker_raw(other)


def _write_raw_v2(path, start, step, counts, ka1=1.5406, ka2=1.54443, ratio=0.5):
    head = bytearray(256)
    head[0:4] = b"RAW2"
    struct.pack_into("<H", head, 4, 1)
    struct.pack_into("<fff", head, 190, ka1, ka2, ratio)
    block = bytearray(48)
    struct.pack_into("<HH", block, 0, 48, counts.size)
    struct.pack_into("<fff", block, 8, 1.0, step, start)
    struct.pack_into("<H", block, 46, 298)
    path.write_bytes(bytes(head) + bytes(block) + counts.astype("<f4").tobytes())


def _write_raw_v3(path, start, step, counts, ka1=1.5406, ka2=1.54443, ratio=0.514):
    head = bytearray(712)
    head[0:7] = b"RAW1.01"
    struct.pack_into("<I", head, 12, 1)
    struct.pack_into("<dddd", head, 624, ka1, ka2, 1.39222, ratio)
    rng = bytearray(304)
    struct.pack_into("<II", rng, 0, 304, counts.size)
    struct.pack_into("<d", rng, 16, start)
    struct.pack_into("<d", rng, 176, step)
    struct.pack_into("<f", rng, 192, 2.0)
    struct.pack_into("<d", rng, 240, ka1)
    path.write_bytes(bytes(head) + bytes(rng) + counts.astype("<f4").tobytes())


@pytest.mark.parametrize("writer,version", [(_write_raw_v2, 2), (_write_raw_v3, 3)])
def test_raw_v2_v3_layouts(tmp_path, writer, version, rng):
    # written from the published layout (xylib / DIFFRAC XCH manual): checks our offsets agree
    counts = rng.poisson(500, 301).astype(float)
    path = tmp_path / f"v{version}.raw"
    writer(path, 10.0, 0.02, counts)
    p = read_bruker_raw(path)
    assert p.attrs["raw_version"] == version
    np.testing.assert_array_equal(p.values, counts)
    np.testing.assert_allclose(p.two_theta.values, 10.0 + 0.02 * np.arange(301), atol=1e-6)
    assert p.attrs["wavelength_A"] == pytest.approx(1.5406, abs=1e-6)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(TruncatedFileError):
        read_bruker_raw(path)


def test_pyfai_header_with_broken_column_line(tmp_path):
    tth = np.linspace(2.0, 20.0, 50)
    y = 100 + 10 * np.sin(tth)
    lines = [
        "# == pyFAI calibration ==",
        "# Distance Sample to Detector: 0.2 m",
        "# Wavelength: 4.522e-11 m",
        "# --> /data/frame_0001.edf",
        "       2th_deg             I ",  # pyFAI's column-name line, not commented
    ] + [f"  {a:.6e}  {b:.6e}" for a, b in zip(tth, y, strict=True)]
    path = tmp_path / "frame.dat"
    path.write_text("\n".join(lines) + "\n")
    p = read_xy(path)
    np.testing.assert_allclose(p.two_theta.values, tth, rtol=1e-6)
    np.testing.assert_allclose(p.values, y, rtol=1e-6)
    assert p.attrs["wavelength_A"] == pytest.approx(0.4522)


def test_pyfai_q_needs_wavelength(tmp_path):
    q = np.linspace(1.0, 5.0, 20)  # 1/nm
    body = "\n".join(f"{a} {b} {c}" for a, b, c in zip(q, q * 0 + 5, q * 0 + 1, strict=True))
    path = tmp_path / "q.xy"
    path.write_text("#  q_nm^-1  I  sigma\n" + body)
    with pytest.raises(MissingWavelengthError, match="wavelength"):
        read_xy(path)
    p = read_xy(path, wavelength=1.0)
    # Q = 4 pi sin(theta)/lambda  (q in 1/nm -> /10 for 1/A)
    expect = 2 * np.degrees(np.arcsin(q / 10 * 1.0 / (4 * np.pi)))
    np.testing.assert_allclose(p.two_theta.values, expect, rtol=1e-12)
    np.testing.assert_allclose(p.coords["sigma"].values, 1.0)


def test_non_monotonic_and_ragged_xy(tmp_path):
    path = tmp_path / "bad.xy"
    path.write_text("10 1\n10.1 2\n10.05 3\n")
    with pytest.raises(NonMonotonicAxisError, match="not strictly increasing"):
        read_xy(path)
    path.write_text("10 1\n10.1 2 3\n")
    with pytest.raises(FileFormatError, match="columns"):
        read_xy(path)
    path.write_text("# nothing\n")
    with pytest.raises(FileFormatError, match="no numeric data"):
        read_xy(path)
    step = tmp_path / "short.dat"
    step.write_text("16.0 0.03 16.3\n1 2 3 4 5\n")
    with pytest.raises(TruncatedFileError, match="11 points"):
        read_xy(step)


def test_gsas_formats_round_trip(licoo2, tmp_path):
    ref = licoo2["UXD"].isel(two_theta=slice(0, 103))
    y = ref.values
    n = y.size
    start, step = 1598.5, 3.0  # centidegrees
    # STD: 10 fields of 8 characters per line
    std = "".join(f"{'':2s}{v:6.0f}" for v in y)
    std_lines = [std[i : i + 80] for i in range(0, len(std), 80)]
    (tmp_path / "a.gsa").write_text(
        "LiCoO2 test\n"
        + f"BANK 1 {n} {len(std_lines)} CONST {start} {step} 0 0 STD\n"
        + "\n".join(std_lines)
        + "\n"
    )
    esd = "".join(f"{v:8.1f}{np.sqrt(v):8.2f}" for v in y)
    esd_lines = [esd[i : i + 80] for i in range(0, len(esd), 80)]
    (tmp_path / "a.gss").write_text(
        "LiCoO2 test\n"
        + f"BANK 1 {n} {len(esd_lines)} CONST {start} {step} 0 0 ESD\n"
        + "\n".join(esd_lines)
        + "\n"
    )
    fxye = "\n".join(f"{start + step * i:.4f} {v:.1f} {np.sqrt(v):.4f}" for i, v in enumerate(y))
    (tmp_path / "a.fxye").write_text(
        f"title\nBANK 1 {n} {n} CONS {start} {step} 0 0 FXYE\n{fxye}\n"
    )
    for name in ("a.gsa", "a.gss", "a.fxye"):
        p = read_gsas(tmp_path / name, wavelength=1.5406)
        np.testing.assert_allclose(p.values, y, atol=0.05)
        np.testing.assert_allclose(p.two_theta.values, ref.two_theta.values, atol=1e-6)
    p = read_gsas(tmp_path / "a.gss")
    np.testing.assert_allclose(p.coords["sigma"].values, np.sqrt(y), atol=0.006)
    (tmp_path / "b.gsa").write_text("no bank here\n1 2 3\n")
    with pytest.raises(FileFormatError, match="BANK"):
        read_gsas(tmp_path / "b.gsa")


def test_series_from_files_and_array(tmp_path):
    x = np.linspace(10, 20, 11)
    paths = []
    for i in range(3):
        path = tmp_path / f"f{i}.xy"
        path.write_text("\n".join(f"{a} {i + a}" for a in x))
        paths.append(path)
    s = read_series(paths, wavelength=0.4522, temperature=[25, 30, 35], time=[0, 60, 120])
    assert s.dims == ("frame", "two_theta") and s.shape == (3, 11)
    np.testing.assert_array_equal(s.temperature_C.values, [25, 30, 35])
    np.testing.assert_allclose(s.values[2], 2 + x)
    odd = tmp_path / "odd.xy"
    odd.write_text("\n".join(f"{a} 1" for a in x[:-1]))
    with pytest.raises(FrameLengthMismatchError, match="regrid=True"):
        read_series([*paths, odd])
    s2 = read_series([paths[0], odd], regrid=True)
    assert s2.shape == (2, 10)  # cropped to the common range 10-19 deg
    np.testing.assert_allclose(s2.values[1], 1.0)
    s3 = make_series(np.zeros((2, 11)), x, soc=[0.0, 0.5], time=[0.0, 600.0])
    np.testing.assert_array_equal(s3.soc.values, [0.0, 0.5])
    assert s3.time_s.attrs["units"] == "s"
    with pytest.raises(FrameLengthMismatchError, match="points but the 2theta grid"):
        make_series(np.zeros((2, 5)), x, wavelength=1.0)
    with pytest.raises(FrameLengthMismatchError, match="temperature_C"):
        make_series(np.zeros((2, 11)), x, temperature=[1.0])
    with pytest.raises(NonMonotonicAxisError):
        make_pattern([1.0, 1.0, 2.0], [1, 2, 3])
