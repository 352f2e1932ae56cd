"""Pattern readers chosen by content (issue 14 item 4), on the real files of shared/data/xrd.

Every check is against what the file itself states (header point counts, start/step/end), an
independent parse of its bytes or text in the test, or published reference values (NIST SRM
676a corundum lattice parameters).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pandas as pd
import pytest

from cathodescope.errors import CathodescopeWarning, FileFormatError, TruncatedFileError
from cathodescope.io import (
    detect_pattern_format,
    read_bruker_raw,
    read_chi,
    read_pattern,
    read_stoe_raw,
    read_xy,
)
from cathodescope.xrd import (
    PeakWindow,
    d_spacing_hexagonal,
    d_to_two_theta,
    fit_hexagonal_lattice,
    fit_peaks,
)

#: NIST SRM 676a (alumina, corundum) certified lattice parameters, Angstrom, and the Cu Ka1/Ka2
#: wavelengths NIST states for its certification (Angstrom).
NIST_676A_A, NIST_676A_C = 4.759397, 12.992371
CU_KA1_NIST, CU_KA2_NIST = 1.5405929, 1.5444274


@pytest.fixture(scope="module")
def xrd_dir(shared_data):
    return shared_data / "xrd"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("gsas_std_garnet.raw", "gsas"),
        ("fit2d_34IDE.chi", "fit2d_chi"),
        ("stoe.raw", "stoe_raw"),
        ("corundum.xye", "xy"),
        ("LiCoO2_CuKa.RAW", "bruker_raw"),
        ("LiCoO2_CuKa.UXD", "uxd"),
        ("LiCoO2_CuKa.dat", "xy"),
    ],
)
def test_format_from_content(xrd_dir, name, fmt):
    assert detect_pattern_format(xrd_dir / name) == fmt


def test_gsas_std_named_raw(xrd_dir):
    path = xrd_dir / "gsas_std_garnet.raw"
    p = read_pattern(path)
    # the BANK line: "BANK 1 2679 268 CONST 2400 5 0 0" (start and step in centidegrees)
    lines = path.read_text().splitlines()
    bank = lines[1].split()
    n, start, step = int(bank[2]), float(bank[5]) / 100, float(bank[6]) / 100
    assert p.attrs["format"] == "gsas_std" and p.sizes["two_theta"] == n == 2679
    x = p.two_theta.values
    assert x[0] == pytest.approx(start) and x[-1] == pytest.approx(start + (n - 1) * step)
    assert x[-1] == pytest.approx(157.9, abs=1e-9)
    # independent parse: 10 fields of 8 characters (I2 counters, F6 intensity) per record
    fields = [ln[i : i + 8] for ln in lines[2:] for i in range(0, 80, 8) if ln[i : i + 8].strip()]
    expected = np.array([float(f[2:]) for f in fields[:n]])
    np.testing.assert_array_equal(p.values, expected)
    # GSAS STD: esd = sqrt(I / number of counters); this file has records with 1 to several counters
    ncount = np.array([int(f[:2]) for f in fields[:n]])
    assert ncount.min() == 1 and ncount.max() > 1
    np.testing.assert_allclose(p.coords["sigma"].values, np.sqrt(expected / ncount), rtol=1e-12)
    assert p.attrs["title"].startswith("Y3FE2(ALO4)3")
    assert "wavelength_A" not in p.attrs  # GSAS data files do not carry it


def test_fit2d_chi(xrd_dir):
    path = xrd_dir / "fit2d_34IDE.chi"
    p = read_pattern(path, wavelength=0.1)
    lines = path.read_text().splitlines()
    table = np.loadtxt(path, skiprows=4)
    assert int(lines[3]) == 2000 == p.sizes["two_theta"] == table.shape[0]
    np.testing.assert_array_equal(p.two_theta.values, table[:, 0])
    np.testing.assert_array_equal(p.values, table[:, 1])
    assert p.attrs["format"] == "fit2d_chi" and p.attrs["wavelength_A"] == 0.1
    assert p.attrs["x_label"] == "2-Theta Angle (Degrees)"
    assert p.attrs["title"].endswith("Data_0073.tif")


def test_fit2d_chi_truncated_and_wrong_axis(xrd_dir, tmp_path):
    text = (xrd_dir / "fit2d_34IDE.chi").read_text().splitlines()
    cut = tmp_path / "cut.chi"
    cut.write_text("\n".join(text[:1000]) + "\n")
    with pytest.raises(TruncatedFileError, match="2000 points but 996 follow"):
        read_chi(cut)
    radial = tmp_path / "radial.chi"
    radial.write_text("\n".join([text[0], "Radial distance (mm)", *text[2:]]) + "\n")
    with pytest.raises(FileFormatError, match="Radial distance"):
        read_pattern(radial)


def test_stoe_raw(xrd_dir):
    path = xrd_dir / "stoe.raw"
    with pytest.warns(CathodescopeWarning, match="no known K-alpha1 line"):
        p = read_pattern(path)
    buf = path.read_bytes()
    # the range header at 2048 states the point count (+34), start (+44), end (+52), step (+60)
    (n,) = struct.unpack_from("<i", buf, 2048 + 34)
    start, end, step = (struct.unpack_from("<f", buf, 2048 + o)[0] for o in (44, 52, 60))
    assert p.attrs["format"] == "stoe_raw" and p.attrs["stoe_version"] == "1.06"
    assert p.sizes["two_theta"] == n == 5404
    x = p.two_theta.values
    assert x[0] == pytest.approx(start, abs=1e-6) == 10.0
    assert x[-1] == pytest.approx(end, abs=1e-4) and x[-1] == pytest.approx(91.045, abs=1e-6)
    assert np.diff(x) == pytest.approx(step, abs=1e-6)
    counts = np.frombuffer(buf, "<i4", offset=2560)
    # the point count is right: the last stated point is measured, what follows is padding
    assert counts[n - 1] > 0 and not counts[n:].any()
    np.testing.assert_array_equal(p.values, counts[:n])
    assert "wavelength_A" not in p.attrs and p.attrs["header_lambda_A"] == pytest.approx(1.20839)
    q = read_stoe_raw(path, wavelength=1.5406)  # an explicit wavelength: no warning
    assert q.attrs["wavelength_A"] == 1.5406
    with pytest.raises(FileFormatError, match="Stoe RAW"):
        read_bruker_raw(path)


def test_corundum_against_nist_676a(xrd_dir):
    p = read_pattern(xrd_dir / "corundum.xye", wavelength=CU_KA1_NIST)
    table = np.loadtxt(xrd_dir / "corundum.xye", comments="'")
    assert p.sizes["two_theta"] == table.shape[0] == 6851
    assert p.two_theta.values[0] == pytest.approx(10.0001, abs=1e-4)
    assert p.two_theta.values[-1] == pytest.approx(80.0061, abs=1e-4)
    np.testing.assert_array_equal(p.coords["sigma"].values, table[:, 2])
    assert p.attrs["anode"] == "Cu"
    hkl = {
        "012": (0, 1, 2),
        "104": (1, 0, 4),
        "110": (1, 1, 0),
        "113": (1, 1, 3),
        "024": (0, 2, 4),
        "116": (1, 1, 6),
        "214": (2, 1, 4),
        "300": (3, 0, 0),
    }
    ref = d_to_two_theta(
        d_spacing_hexagonal(list(hkl.values()), NIST_676A_A, NIST_676A_C), 1.5405929
    )
    windows = [
        PeakWindow(t - 0.5, t + 0.6, (t,), (name,)) for name, t in zip(hkl, ref, strict=True)
    ]
    fit = fit_peaks(p, windows, doublet=True, ka2_ratio=0.5, wavelength2=CU_KA2_NIST)
    got = fit.table.set_index("peak").loc[list(hkl)]
    assert got["converged"].all()
    # lab instrument: the positions of NIST 676a within 0.01 deg 2theta
    np.testing.assert_allclose(got["center_deg"].to_numpy(), ref, atol=0.01)
    lat = fit_hexagonal_lattice(
        list(hkl.values()), got["center_deg"].to_numpy(), got["center_err_deg"].to_numpy(),
        CU_KA1_NIST, correction="zero",
    )  # fmt: skip
    assert lat["a"][0] == pytest.approx(NIST_676A_A, abs=2e-3)
    assert lat["c"][0] == pytest.approx(NIST_676A_C, abs=5e-3)


def test_xye_with_gsas2_block_and_lambda_header(tmp_path):
    path = tmp_path / "export.xye"
    path.write_text(
        "/*\n# Lambda: 0.45220\n# GSAS-II export of histogram PWDR sample\n*/\n"
        "5.00 10 3.1\n5.01 12 3.4\n5.02 11 3.3\n"
    )
    p = read_pattern(path)
    assert p.attrs["wavelength_A"] == pytest.approx(0.4522)
    np.testing.assert_allclose(p.coords["sigma"].values, [3.1, 3.4, 3.3])
    p2 = read_xy(path, wavelength=1.5406)
    assert p2.attrs["wavelength_A"] == 1.5406


def _write_raw_v4(path, start, step, counts, *, ka1=1.5406, ka2=1.54443, ratio=0.5, datum=8):
    """A RAW4.00 file laid out as the reader's module notes describe."""
    pre = b"RAW4.00".ljust(61, b"\0")
    source = bytearray(120)
    struct.pack_into("<II", source, 0, 30, 120)
    struct.pack_into("<5d", source, 72, 0.5 * (ka1 + ka2), ka1, ka2, 1.39222, ratio)
    source[116:118] = b"Cu"
    drive = bytearray(64)
    struct.pack_into("<III", drive, 0, 50, 64, 1)
    drive[12:18] = b"2Theta"
    struct.pack_into("<d", drive, 56, start)
    head = bytearray(160)
    struct.pack_into("<I", head, 0, 0)
    head[32:46] = b"Locked Coupled"
    struct.pack_into("<ddIf", head, 72, start, step, len(counts), 1500.0)
    struct.pack_into("<d", head, 112, ka1)
    struct.pack_into("<II", head, 136, datum, len(drive))
    records = np.zeros((len(counts), datum // 4), "<f4")
    records[:, 0] = counts
    if datum > 4:
        records[:, 1:] = 7.0  # other per-point fields the reader must step over
    path.write_bytes(pre + bytes(source) + bytes(head) + bytes(drive) + records.tobytes())


@pytest.mark.parametrize("datum", [4, 8])
def test_raw_v4_layout(tmp_path, rng, datum):
    counts = rng.poisson(200, 300).astype(np.float32)
    path = tmp_path / "v4.raw"
    _write_raw_v4(path, 12.5, 0.02, counts, datum=datum)
    p = read_pattern(path)
    assert p.attrs["raw_version"] == 4 and p.attrs["scan_type"] == "Locked Coupled"
    np.testing.assert_array_equal(p.values, counts)
    np.testing.assert_allclose(p.two_theta.values, 12.5 + 0.02 * np.arange(300), atol=1e-12)
    assert p.attrs["wavelength_A"] == 1.5406 and p.attrs["wavelength2_A"] == 1.54443
    assert p.attrs["kalpha2_ratio"] == 0.5 and p.attrs["step_time_s"] == 1.5
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_pattern(path)


def test_unknown_binary_is_refused(tmp_path):
    path = tmp_path / "image.raw"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(FileFormatError, match="no known pattern format"):
        read_pattern(path)


def test_cli_peaks_on_content_detected_files(xrd_dir, tmp_path, capsys):
    from cathodescope.cli import main

    out = tmp_path / "corundum"
    args = ["xrd", "peaks", str(xrd_dir / "corundum.xye"), "--wavelength", str(CU_KA1_NIST)]
    args += ["--window", "34.6:35.75:35.15:104", "--doublet", "--ka2-ratio", "0.5"]
    assert main([*args, "--out", str(out)]) == 0
    assert "1 peaks fitted" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and "peak_fits.png" in manifest["outputs"]
    row = pd.read_csv(out / "peaks.csv").iloc[0]
    ref = d_to_two_theta(d_spacing_hexagonal([(1, 0, 4)], NIST_676A_A, NIST_676A_C), CU_KA1_NIST)
    assert row["center_deg"] == pytest.approx(float(ref[0]), abs=0.01)
    # the GSAS standard file named .raw goes to the GSAS reader, not the Bruker one
    out2 = tmp_path / "garnet"
    assert (
        main(
            ["xrd", "peaks", str(xrd_dir / "gsas_std_garnet.raw"), "--window", "30:32",
             "--out", str(out2)]
        )
        == 0
    )  # fmt: skip
    assert json.loads((out2 / "manifest.json").read_text())["inputs"][0]["sha256"]
