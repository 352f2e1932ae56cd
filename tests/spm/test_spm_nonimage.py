"""SPM files that are not images (issue 14): force curves, spectroscopy cubes, Gwyddion 1.x,
NanoScope force files; checked against igor2's arrays and the files' own headers."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main
from cathodescope.errors import NotAnImageError
from cathodescope.io import read_ibw_cube, read_ibw_curve, read_spm, spm_kind


@pytest.fixture
def spm_file(shared_data):
    def get(name):
        path = shared_data / "spm" / name
        if not path.is_file():
            pytest.skip(f"{name} not in the shared data")
        return path

    return get


def _igor(path):
    from igor2 import binarywave

    wave = binarywave.load(str(path))["wave"]
    return np.asarray(wave["wData"]), wave["wave_header"], wave["note"].decode("latin-1")


def test_force_curve_is_a_table_not_an_image(spm_file):
    path = spm_file("asylum_force_curve.ibw")
    assert spm_kind(path) == "force curve"
    with pytest.raises(NotAnImageError, match=r"force curve \(1,261 points.*read_ibw_curve"):
        read_spm(path)
    curve = read_ibw_curve(path)
    data, header, note = _igor(path)
    assert list(curve.columns) == ["time_s", "Raw_m", "Defl_m", "ZSnsr_m", "segment", "direction"]
    assert len(curve) == 1261
    # the arrays are igor2's, the time axis the wave scaling (0.5 ms per point)
    for j, name in enumerate(("Raw_m", "Defl_m", "ZSnsr_m")):
        np.testing.assert_array_equal(curve[name].to_numpy(), data[:, j].astype(np.float64))
    np.testing.assert_allclose(np.diff(curve["time_s"]), header["sfA"][0], rtol=1e-12)
    assert curve.attrs["units"]["Defl_m"] == "m"
    # segments from the note: Indexes 0,224,1232,1260 with directions 1,-1,0
    indexes = [int(v) for v in re.search(r"Indexes:([\d,]+)", note).group(1).strip(",").split(",")]
    sizes = curve.groupby("segment").size().to_dict()
    assert sizes == {1: indexes[1] + 1, 2: indexes[2] - indexes[1], 3: indexes[3] - indexes[2]}
    assert curve.groupby("segment")["direction"].first().tolist() == [
        "extend",
        "retract",
        "dwell",
    ]


def test_spectroscopy_cube_is_bias_y_x(spm_file):
    path = spm_file("stm_cits_cube.ibw")
    assert spm_kind(path) == "spectroscopy cube"
    with pytest.raises(NotAnImageError, match=r"spectroscopy cube.*read_ibw_cube"):
        read_spm(path)
    cube = read_ibw_cube(path)
    data, header, note = _igor(path)
    assert cube.dims == ("bias", "y", "x") and cube.shape == (256, 8, 64)
    # units from the wave header, as the note also says ("Channel name and data unit: ... [V]")
    assert cube.attrs["units"] == "V" and "[V]" in note
    # pixel size: the note's 15 nm width over its 64 points per line
    width_m = float(re.search(r"Width = ([\d.eE+-]+) \[m\]", note).group(1))
    assert cube.attrs["spacing_um"][1] == pytest.approx(width_m * 1e6 / 64, rel=1e-9)
    # bias from the note's axis start, in steps of the wave scaling
    start = float(re.search(r"axis start = ([-\d.]+)", note).group(1))
    assert float(cube.bias[0]) == pytest.approx(start, abs=1e-6)
    np.testing.assert_allclose(np.diff(cube.bias.values), header["sfA"][2], rtol=1e-9)
    # values: igor2's array, (x, y, bias) -> (bias, y, x) with the top row first
    np.testing.assert_array_equal(cube.values[:, ::-1, :], np.transpose(data, (2, 1, 0)))


def test_spm_info_on_the_cube_and_the_curve_caps_figures(spm_file, tmp_path, capsys):
    from cathodescope.report import MAX_INFO_PANELS, cube_figure

    cube = read_ibw_cube(spm_file("stm_cits_cube.ibw"))
    fig = cube_figure(cube)
    assert len([ax for ax in fig.axes if ax.images]) == MAX_INFO_PANELS
    out = tmp_path / "info"
    files = [str(spm_file("stm_cits_cube.ibw")), str(spm_file("asylum_force_curve.ibw"))]
    assert main(["spm", "info", *files, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "spectroscopy cube 256 bias x 8 x 64 px" in printed and "force curve" in printed
    table = pd.read_csv(out / "channels.csv")
    assert table.set_index("kind").loc["spectroscopy cube", "units"] == "V"
    assert set(table[table.kind == "force curve"].channel) == {
        "time_s",
        "Raw_m",
        "Defl_m",
        "ZSnsr_m",
    }
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert {"stm_cits_cube_ibw_channels.png", "asylum_force_curve_ibw_channels.png"} <= set(
        manifest["outputs"]
    )


def _gwyo_field(raw: bytes):
    """Independent minimal reading of the one data field of a Gwyddion 1.x file."""
    xres = struct.unpack_from("<i", raw, raw.index(b"xres\x00i") + 6)[0]
    yres = struct.unpack_from("<i", raw, raw.index(b"yres\x00i") + 6)[0]
    xreal = struct.unpack_from("<d", raw, raw.index(b"xreal\x00d") + 7)[0]
    at = raw.index(b"data\x00D") + 6
    n = struct.unpack_from("<I", raw, at)[0]
    data = np.frombuffer(raw, "<f8", count=n, offset=at + 4).reshape(yres, xres)
    return xres, xreal, data


def test_gwyddion_1x_file_is_read(spm_file):
    path = spm_file("gwyddion1_chip.gwy")
    raw = path.read_bytes()
    assert raw[:4] == b"GWYO"
    scan = read_spm(path)
    xres, xreal, data = _gwyo_field(raw)
    (name,) = scan.names
    assert scan.shape == data.shape == (300, 300)
    np.testing.assert_array_equal(scan[name].values, data)
    assert scan.spacing == pytest.approx((xreal * 1e6 / xres,) * 2, rel=1e-12)
    assert scan.metadata["format"] == "Gwyddion 1.x .gwy"
    assert scan[name].attrs["units"] == "m"  # 'nm' unit string, values in base SI units
    assert 10e-6 < np.median(data) < 30e-6  # a chip surface some 18 um above the reference


def test_nanoscope_force_file_is_named_in_the_error(spm_file, tmp_path):
    path = spm_file("bruker_force_curve.001")
    assert spm_kind(path) == "force curve"
    with pytest.raises(NotAnImageError, match=r"NanoScope force-curve file \('\\\*Force file"):
        read_spm(path)
    out = tmp_path / "p"
    assert main(["spm", "particles", str(path), "--out", str(out)]) == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "force-curve" in manifest["error"]


def write_ibw(path, data, *, units=b"", dim_units=(b"m", b"m"), sfa=(1e-9, 1e-9), name=b"w"):
    """A minimal Igor binary wave v5 (float32, no note/labels), checksum as Igor writes it."""
    data = np.asarray(data, dtype="<f4")  # Igor order: (x, y) or (points, columns)
    wh = bytearray(320)
    struct.pack_into("<i", wh, 12, data.size)  # npnts
    struct.pack_into("<h", wh, 16, 2)  # NT_FP32
    struct.pack_into("<h", wh, 26, 5)  # whVersion
    wh[28 : 28 + len(name)] = name  # bname
    struct.pack_into("<4i", wh, 68, *data.shape, 0, 0)  # nDim
    struct.pack_into("<4d", wh, 84, *sfa, 1.0, 1.0)  # sfA
    wh[148 : 148 + len(units)] = units  # dataUnits
    for d, u in enumerate(dim_units):
        wh[152 + 4 * d : 152 + 4 * d + len(u)] = u  # dimUnits
    body = data.tobytes(order="F")
    bh = bytearray(64)
    struct.pack_into("<h", bh, 0, 5)
    struct.pack_into("<i", bh, 4, 320 + len(body))  # wfmSize
    total = sum(struct.unpack("<192h", bytes(bh) + bytes(wh)))
    struct.pack_into("<h", bh, 2, (-total + 2**15) % 2**16 - 2**15)
    path.write_bytes(bytes(bh) + bytes(wh) + body)
    return path


def test_single_wave_units_come_from_the_header(tmp_path, rng):
    current = rng.normal(5e-12, 1e-12, (40, 30))  # Igor (x, y)
    path = write_ibw(tmp_path / "stm.ibw", current, units=b"A", sfa=(2e-9, 2e-9))
    scan = read_spm(path)
    (name,) = scan.names
    assert scan[name].attrs["units"] == "A"
    assert scan[name].attrs["units_from"] == "wave header data units"
    assert scan.spacing == pytest.approx((2e-3, 2e-3), rel=1e-12)
    np.testing.assert_array_equal(scan[name].values, current.astype("<f4").T[::-1])
    # a curve without Asylum force settings: 2-D, points x 2 columns, axis in seconds
    curve_path = write_ibw(
        tmp_path / "iv.ibw",
        rng.normal(size=(500, 2)),
        units=b"A",
        dim_units=(b"s", b""),
        sfa=(1e-3, 1.0),
    )
    assert spm_kind(curve_path) == "curve"
    curve = read_ibw_curve(curve_path)
    assert list(curve.columns) == ["time_s", "column1_A", "column2_A"]
    np.testing.assert_allclose(curve["time_s"].iloc[-1], 0.499, rtol=1e-12)
    with pytest.raises(NotAnImageError, match="is an Igor curve"):
        read_spm(curve_path)


def test_truncated_gwyddion_1x_file(spm_file, tmp_path):
    from cathodescope.errors import TruncatedFileError

    cut = tmp_path / "cut.gwy"
    cut.write_bytes(spm_file("gwyddion1_chip.gwy").read_bytes()[:200_000])
    with pytest.raises(TruncatedFileError, match=r"Gwyddion 1\.x data"):
        read_spm(cut)


def test_maps_figure_caps_many_channels(rng):
    import matplotlib

    from cathodescope.report import maps_figure

    backend = matplotlib.get_backend()
    maps = {f"c{i}": rng.normal(size=(6, 5)) for i in range(40)}
    fig = maps_figure(maps, title="many", max_panels=12)
    assert len([ax for ax in fig.axes if ax.images]) == 12
    assert "first 12 of 40 channels" in fig._suptitle.get_text()
    assert matplotlib.get_backend() == backend  # the object API never switches the backend


def test_gwyp_cut_short_is_refused_before_gwyfile_loops(shared_data, tmp_path):
    """gwyfile loops forever on a .gwy cut by one byte: the size is checked first."""
    from cathodescope.errors import TruncatedFileError
    from cathodescope.io import read_gwy

    data = (shared_data / "spm/gwyddion_pfm_4ch.gwy").read_bytes()
    cut = tmp_path / "cut.gwy"
    cut.write_bytes(data[:-1])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_gwy(cut)
