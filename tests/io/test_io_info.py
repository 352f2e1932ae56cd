"""``cathodescope info``: what each real file holds, as JSON, with the files' own numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cathodescope.cli import main
from cathodescope.errors import FileFormatError, InputNotFoundError
from cathodescope.io import describe_file

KEYS = {
    "format",
    "kind",
    "shape",
    "channels",
    "spacing_um",
    "energy_eV",
    "wavelength_A",
    "warnings",
}


def _info(capsys, *files):
    assert main(["info", "--json", *map(str, files)]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_corpus_file_is_described(shared_data, capsys):
    files = sorted(
        p
        for p in shared_data.rglob("*")
        if p.is_file()
        and p.suffix not in (".md", ".cif", ".json")
        and not p.name.endswith("_metadata.csv")
        and p.stat().st_size < 3_000_000
    )
    described = _info(capsys, *files)
    assert len(described) == len(files)
    for d in described:
        assert KEYS <= set(d), d["file"]
        assert d["energy_eV"] != 0 and d["kind"], d["file"]
        for channel in d["channels"]:
            assert set(channel) == {"name", "units"}


def test_txm_energies_and_geometry(shared_data, capsys):
    chip = _info(capsys, shared_data / "txm/xradia_chip/txrm_test_chip_tomo.txrm")
    assert chip["kind"] == "projections" and chip["shape"] == [7, 256, 256]
    assert chip["energy_eV"] == pytest.approx(9200.017, abs=1e-3)
    assert chip["angles_deg"]["n"] == 7 and chip["warnings"] == []
    ssrl = sorted((shared_data / "txm/ssrl_ni_edge_pair").glob("rep01_2016*.xrm"))
    energies = [_info(capsys, p) for p in ssrl]
    assert [d["energy_eV"] for d in energies] == [8324.0, 8354.0]
    assert all(any("file name" in w for w in d["warnings"]) for d in energies)


def test_spm_curves_cubes_and_images(shared_data, capsys):
    curve = _info(capsys, shared_data / "spm/asylum_force_curve.ibw")
    assert curve["kind"] == "curve" and curve["shape"][0] == 1261
    cube = _info(capsys, shared_data / "spm/stm_cits_cube.ibw")
    assert cube["kind"] == "cube" and cube["shape"] == [256, 8, 64] and cube["dims"][0] == "bias"
    force = _info(capsys, shared_data / "spm/bruker_force_curve.001")
    assert force["kind"] == "curve" and "force curve" in force["warnings"][0]
    image = _info(capsys, shared_data / "spm/bruker_nanoscope_height.002")
    assert image["kind"] == "image" and image["spacing_um"] == pytest.approx([15 / 256] * 2)


def test_xrd_and_xas_files(shared_data, capsys):
    gsas = _info(capsys, shared_data / "xrd/gsas_std_garnet.raw")
    assert (gsas["format"], gsas["shape"]) == ("gsas", [2679])
    assert _info(capsys, shared_data / "xrd/fit2d_34IDE.chi")["shape"] == [2000]
    assert _info(capsys, shared_data / "xrd/stoe.raw")["shape"] == [5404]
    raw = _info(capsys, shared_data / "xrd/LiCoO2_CuKa.RAW")
    assert raw["wavelength_A"] == pytest.approx(1.5406, abs=1e-4)
    nca = _info(capsys, shared_data / "xas/NCA_txm_xanes.csv")
    assert nca["kind"] == "spectrum" and nca["energy_eV"]["n_points"] == 61
    prj = _info(capsys, shared_data / "xas/Mn.prj")
    assert prj["kind"] == "spectra" and prj["shape"] == [14]
    eight = _info(capsys, shared_data / "xas/fe_xanes_8ch.xdi")
    assert eight["shape"] == [39] and "--channels" in eight["warnings"][0]
    ambiguous = _info(capsys, shared_data / "xas/ref_NiO_Kedge.txt")
    assert "keV" in ambiguous["warnings"][0]  # no header: the ambiguity is said, not guessed


def test_arrays_without_shared_data(tmp_path, capsys):
    np.save(tmp_path / "ni.npy", np.zeros((4, 5, 6), np.float32))
    d = describe_file(tmp_path / "ni.npy")
    assert (d["kind"], d["shape"], d["energy_eV"], d["spacing_um"]) == (
        "volume",
        [4, 5, 6],
        None,
        None,
    )
    with pytest.raises(InputNotFoundError):
        describe_file(tmp_path / "missing.tif")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01" * 100)
    with pytest.raises(FileFormatError, match="no cathodescope reader"):
        describe_file(tmp_path / "junk.bin")
    assert main(["info", str(tmp_path / "ni.npy")]) == 0
    assert "volume" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "junk.bin")]) == 2
