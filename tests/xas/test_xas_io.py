"""Readers: XDI, plain columns, ATHENA projects (Perl and JSON), XANES stacks, bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cathodescope.errors import (
    EmptyDataError,
    EnergyAxisError,
    FileFormatError,
    ShapeMismatchError,
    TruncatedFileError,
    UnitsError,
)
from cathodescope.io import (
    read_athena,
    read_xanes_stack,
    read_xas_columns,
    read_xdi,
    resolve_energy_units,
    write_athena_json,
)


def test_xdi_real_file(shared_data):
    s = read_xdi(shared_data / "xas" / "ni_metal_rt.xdi")
    assert s.sizes["energy"] == 418  # data/README: 418 points
    assert s.attrs["Element.symbol"] == "Ni"
    assert s.energy.attrs["units"] == "eV"
    assert s.energy.values[0] == pytest.approx(8133.0)
    assert "i0" in s.coords


def test_columns_kev_and_ev(shared_data):
    nio = read_xas_columns(shared_data / "xas" / "ref_NiO_Kedge.txt")  # keV, undeclared
    assert nio.energy.values[0] == pytest.approx(8200.0)  # 8.20000 keV
    nca = read_xas_columns(shared_data / "xas" / "NCA_txm_xanes.csv")  # eV
    assert nca.sizes["energy"] == 61  # data/README: 61 energies
    assert nca.energy.values[0] == pytest.approx(8250.0)


def test_columns_declared_units(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("# energy (keV) mu\n0.100 0.1\n0.101 0.2\n0.102 0.3\n")
    s = read_xas_columns(p)
    np.testing.assert_allclose(s.energy.values, [100.0, 101.0, 102.0])


def test_columns_ambiguous_units_raise(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("\n".join(f"{e} {e / 100}" for e in range(80, 120)))
    with pytest.raises(UnitsError, match="energy_units"):
        read_xas_columns(p)
    s = read_xas_columns(p, energy_units="eV")
    assert s.energy.values[0] == 80.0


def test_resolve_units_impossible_declared():
    with pytest.raises(UnitsError, match="outside any X-ray"):
        resolve_energy_units(np.array([8000.0, 8500.0]), "keV")


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("8300 1\n8301 2\n8301 3\n8302 4\n", "duplicated"),
        ("8300 1\n8302 2\n8301 3\n", "not increasing"),
    ],
)
def test_columns_bad_energy_axis(tmp_path, rows, match):
    p = tmp_path / "s.txt"
    p.write_text(rows)
    with pytest.raises(EnergyAxisError, match=match):
        read_xas_columns(p)


def test_columns_too_few_rows(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("# nothing\n8300 1\n")
    with pytest.raises(EmptyDataError, match="fewer than 2"):
        read_xas_columns(p)


def test_athena_perl_real(shared_data):
    groups = read_athena(shared_data / "xas" / "NiO.prj")
    assert len(groups) == 24  # 11 scans + merge, each with its reference, one duplicate pair
    g = groups["NiO.000"]
    assert g.energy.size == g.mu.size == int(g.args["npts"])
    p = g.normalization_parameters()
    assert p["nnorm"] == int(g.args["bkg_nnorm"]) - 1
    assert p["pre1"] == -150.0 and p["norm1"] == 150.0
    assert groups[
        next(k for k, v in groups.items() if v.group_id == g.reference_id)
    ].label.startswith("Ref")
    mn = read_athena(shared_data / "xas" / "Mn.prj")
    assert {"MnO", "Mn3O4", "Pyrolusite"} <= set(mn)  # Mn2+/Mn3+/Mn4+ standards present


def test_athena_json_roundtrip(shared_data, tmp_path):
    groups = read_athena(shared_data / "xas" / "NiO.prj")
    sel = [groups["NiO.000"], groups["Ref NiO.000"]]
    out = write_athena_json(tmp_path / "p.prj", sel)
    back = read_athena(out)
    assert list(back) == ["NiO.000", "Ref NiO.000"]
    np.testing.assert_array_equal(back["NiO.000"].mu, sel[0].mu)
    assert back["NiO.000"].edge_step == sel[0].edge_step
    assert back["NiO.000"].normalization_parameters() == sel[0].normalization_parameters()
    mn = read_athena(shared_data / "xas" / "Mn.prj")["MnO"]
    back_mn = read_athena(write_athena_json(tmp_path / "mn.prj", [mn]))["MnO"]
    assert back_mn.engine == "ifeffit"
    assert back_mn.normalization_parameters() == mn.normalization_parameters()


def test_athena_truncated_and_not_project(shared_data, tmp_path):
    raw = (shared_data / "xas" / "NiO.prj").read_bytes()
    cut = tmp_path / "cut.prj"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_athena(cut)
    text = gzip.decompress(raw)
    cut_text = tmp_path / "cut_text.prj"
    cut_text.write_bytes(gzip.compress(text[: len(text) // 2]))
    with pytest.raises(TruncatedFileError, match=r"truncated|ends|lacks|unterminated"):
        read_athena(cut_text)
    other = tmp_path / "x.prj"
    other.write_bytes(gzip.compress(b"just some text\n1 2 3\n"))
    with pytest.raises(FileFormatError, match="not an ATHENA project"):
        read_athena(other)
    js = tmp_path / "j.prj"
    js.write_bytes(gzip.compress(b'{"_____header1": "# Athena project file", "_____order": ["ab'))
    with pytest.raises(TruncatedFileError, match="JSON"):
        read_athena(js)


def test_stack_tiff_and_h5(tmp_path, rng):
    import h5py
    import tifffile

    data = rng.random((5, 4, 3)).astype(np.float32)
    e_kev = np.array([8.30, 8.31, 8.32, 8.33, 8.34])
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
    s = read_xanes_stack(tmp_path / "s.tif", e_kev, spacing=0.05)
    assert s.dims == ("energy", "y", "x")
    np.testing.assert_allclose(s.energy.values, e_kev * 1000)
    np.testing.assert_allclose(s.x.values, [0, 0.05, 0.1])
    with h5py.File(tmp_path / "s.h5", "w") as fh:
        fh["exchange/data"] = data
    np.savetxt(tmp_path / "e.txt", e_kev * 1000)
    s2 = read_xanes_stack(tmp_path / "s.h5", tmp_path / "e.txt", spacing=(0.05, 0.05))
    np.testing.assert_array_equal(s2.values, data)
    with pytest.raises(ShapeMismatchError, match="one energy per frame"):
        read_xanes_stack(tmp_path / "s.tif", e_kev[:4], spacing=0.05)


def test_xdi_bad_input(tmp_path):
    from cathodescope.errors import MissingMetadataError

    p = tmp_path / "a.xdi"
    p.write_text("# not xdi\n1 2\n")
    with pytest.raises(FileFormatError, match="not an XDI"):
        read_xdi(p)
    p.write_text("# XDI/1.0\n# Column.1: energy\n# Column.2: mutrans\n#----\n80 1\n90 2\n100 3\n")
    with pytest.raises(UnitsError, match="energy_units"):
        read_xdi(p)
    assert read_xdi(p, energy_units="eV").energy.values[0] == 80.0
    p.write_text("# XDI/1.0\n# Column.1: energy eV\n# Column.2: foo\n#----\n8300 1\n8301 2\n")
    with pytest.raises(MissingMetadataError, match="no mu column"):
        read_xdi(p)
