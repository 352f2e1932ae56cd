"""Issue 13, readers: files real users have (line endings, comment commas, 8-channel XDI,
fixed-step ATHENA groups). Numbers come from the files themselves or from ATHENA's stored values.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cathodescope.errors import MissingMetadataError, UnitsError
from cathodescope.io import (
    read_athena,
    read_xas_columns,
    read_xas_file,
    read_xas_spectrum,
    read_xdi,
    split_group,
)
from cathodescope.xas import normalize_athena_group


def test_athena_crlf_project_reads_like_the_original(shared_data, tmp_path):
    src = shared_data / "xas" / "Mn.prj"
    text = gzip.decompress(src.read_bytes()).decode("utf-8", errors="replace")
    crlf = tmp_path / "Mn_windows.prj"
    crlf.write_bytes(gzip.compress(text.replace("\n", "\r\n").encode()))
    a, b = read_athena(src), read_athena(crlf)
    assert list(a) == list(b) and len(a) == 14
    for k in a:
        np.testing.assert_array_equal(a[k].energy, b[k].energy)
        np.testing.assert_array_equal(a[k].mu, b[k].mu)
        assert a[k].args == b[k].args


def test_columns_comment_commas_and_both_units(shared_data):
    # comments say "6.340 KeV, STOP AT(KeV OR -1/A)" and "(eV OR 1/A)"; data are in eV
    p = shared_data / "xas" / "mn_cpmnco3.dat"
    s = read_xas_columns(p)
    raw = np.loadtxt(p, comments="#")  # independent reader
    assert s.sizes["energy"] == raw.shape[0] == 409  # header: "# OF DATA POINTS COLLECTED : 409"
    np.testing.assert_array_equal(s.energy.values, raw[:, 0])
    np.testing.assert_array_equal(s.values, raw[:, 1])


def test_columns_unit_rules(tmp_path):
    p = tmp_path / "a.txt"
    # name line declares keV: values 6.5-6.6 become eV
    p.write_text("# scan\r\n# energy(keV), mu\r\n6.500, 1\r\n6.501, 2\r\n6.502, 3\r\n")
    np.testing.assert_allclose(read_xas_columns(p).energy.values, [6500.0, 6501.0, 6502.0])
    # ambiguous values (80-119) and comments naming both units: refuse, say how to declare
    p.write_text(
        "# step 1 eV, edge 0.1 keV\n" + "\n".join(f"{e} {e / 100}" for e in range(80, 120))
    )
    with pytest.raises(UnitsError, match="energy_units"):
        read_xas_columns(p)
    # ambiguous values settled by the comments' only unit
    p.write_text("# measured in keV\n" + "\n".join(f"{e} {e / 100}" for e in range(80, 120)))
    assert read_xas_columns(p).energy.values[0] == pytest.approx(80_000.0)


def test_xdi_eight_channels(shared_data):
    p = shared_data / "xas" / "fe_xanes_8ch.xdi"
    with pytest.raises(MissingMetadataError, match=r"fe_ka_mca\*"):
        read_xdi(p)
    raw = np.loadtxt(p, comments="#")  # columns: 5 = I0, 16-23 = Fe_Ka_mca1..8, 32-39 = DTFactor
    i0, roi, dtf = raw[:, 4], raw[:, 15:23], raw[:, 31:39]
    s = read_xdi(p, channels="fe_ka_mca*")
    np.testing.assert_allclose(s.values, roi.sum(axis=1) / i0, rtol=1e-12)
    d = read_xdi(p, channels=["Fe_Ka_mca1", "fe_ka_mca2"], dead_time=True)
    np.testing.assert_allclose(d.values, (roi[:, :2] * dtf[:, :2]).sum(axis=1) / i0, rtol=1e-12)
    assert s.attrs["signal"] == "mufluor" and s.sizes["energy"] == 100
    with pytest.raises(MissingMetadataError, match="dtfactor_t"):
        read_xdi(p, channels="t", dead_time=True)  # no such column


def test_fixed_step_groups_keep_their_step(shared_data):
    groups = read_athena(shared_data / "xas" / "Fe_fixed_step.prj")
    fixed = [g for g in groups.values() if g.fixed_step]
    assert len(fixed) == 4  # Ferrihydrite, Goerthite, Hematite, Lepidocrocite
    for g in fixed:
        r = normalize_athena_group(g)
        assert r.edge_step == g.edge_step == 1.0  # not renormalised to a fitted step
        assert r.parameters["step_given"]
    foil = groups["Fe foil"]
    assert not foil.fixed_step
    assert normalize_athena_group(foil).edge_step == pytest.approx(foil.edge_step, rel=1e-6)


def test_project_groups_are_never_guessed(shared_data):
    prj = shared_data / "xas" / "Mn.prj"
    with pytest.raises(MissingMetadataError, match=r"holds 14 groups.*'Mn2O3x'"):
        read_xas_spectrum(prj)
    with pytest.raises(MissingMetadataError, match=r"no group 'Mn2O3'.*'Mn2O3x'"):
        read_xas_spectrum(f"{prj}:Mn2O3")
    name, g = read_xas_spectrum(f"{prj}:mn3o4")  # unique case-insensitive match
    assert name == "Mn3O4" and g.energy.size == 373
    assert split_group(prj) == (prj, None)  # an existing file is never split
    assert len(read_xas_file(prj)) == 14
