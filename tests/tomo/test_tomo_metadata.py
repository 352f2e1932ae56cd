"""Issue 14 item 2: photon energy of real Xradia files (never 0), energy from a file name only
with a warning, unknown energy refused with a message naming --energy, and the undersampling
warning of the reconstruction."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cathodescope.errors import (
    EnergyFromFileNameWarning,
    MissingMetadataError,
    UndersamplingWarning,
)
from cathodescope.io import energy_from_file_name, make_projections, read_projections, read_xradia
from cathodescope.tomo import angular_sampling_problems, preprocess, process_energies, reconstruct

SSRL_BELOW = "rep01_20161456_ssrl-test-data_08324.0_eV_001of003.xrm"
SSRL_ABOVE = "rep01_20161456_ssrl-test-data_08354.0_eV_001of003.xrm"
SSRL_REF = "rep01_000051_ref_20161456_ssrl-test-data_08324.0_eV_001of010.xrm"


def test_txrm_energy_from_nonzero_entries(shared_data):
    # ImageInfo/Energy holds 9200.017 eV followed by zero padding (the mean gave 1314.29 eV)
    raw = read_xradia(shared_data / "txm" / "xradia_chip" / "txrm_test_chip_tomo.txrm")
    assert raw.energy_ev == pytest.approx(9200.017, abs=1e-3)
    assert raw.metadata["energy_source"] == "ImageInfo/Energy"
    assert raw.data.attrs["energy_ev"] == raw.energy_ev
    assert raw.data.shape[0] == 7
    np.testing.assert_allclose(raw.angles[[0, -1]], [-45, 45], atol=0.5)
    single = read_xradia(shared_data / "txm" / "xradia_chip" / "test_chip00.xrm")
    assert single.energy_ev == pytest.approx(7191.046, abs=1e-3)


def test_ssrl_energy_only_from_the_file_name_with_a_warning(shared_data):
    folder = shared_data / "txm" / "ssrl_ni_edge_pair"
    for name, expected in ((SSRL_BELOW, 8324.0), (SSRL_ABOVE, 8354.0)):
        with pytest.warns(EnergyFromFileNameWarning, match="file name"):
            raw = read_xradia(folder / name)
        assert raw.energy_ev == expected
        assert raw.metadata["energy_source"] == "file name"
    # an explicit energy replaces the guess, silently
    raw = read_projections(folder / SSRL_BELOW, energy_ev=8324.5)
    assert raw.energy_ev == 8324.5


def test_unknown_energy_is_none_and_refused_naming_energy(shared_data, tmp_path):
    # the same SSRL frame under a name without an energy: nothing says what the energy is
    plain = tmp_path / "frame.xrm"
    shutil.copy(shared_data / "txm" / "ssrl_ni_edge_pair" / SSRL_BELOW, plain)
    ref = tmp_path / "ref.xrm"
    shutil.copy(shared_data / "txm" / "ssrl_ni_edge_pair" / SSRL_REF, ref)
    raw = read_xradia(plain, reference=ref)
    assert raw.energy_ev is None and raw.data.attrs["energy_ev"] is None
    with pytest.warns(EnergyFromFileNameWarning):
        other = read_xradia(shared_data / "txm" / "ssrl_ni_edge_pair" / SSRL_ABOVE)
    with pytest.raises(MissingMetadataError, match="--energy"):
        process_energies([raw, other], elements=("Ni",))
    # a file that stores 0 never reports 0 eV
    assert make_projections(np.ones((2, 3, 3)), [0, 90], energy_ev=0.0).energy_ev is None


def test_energy_from_file_name_patterns():
    assert energy_from_file_name(SSRL_REF) == 8324.0
    assert energy_from_file_name("fov07_xanessoc01_8353_0eV.xrm") == 8353.0
    assert energy_from_file_name("scan_8350.5eV_b.xrm") == 8350.5
    assert energy_from_file_name("txrm_test_chip_tomo.txrm") is None


def test_undersampled_chip_scan_warns(shared_data):
    raw = read_xradia(shared_data / "txm" / "xradia_chip" / "txrm_test_chip_tomo.txrm")
    rows = raw.select_rows(slice(120, 124))
    # the file has no reference frame: a flat at the brightest count stands in for it
    flat = np.full(rows.data.shape[1:], float(rows.data.max()) * 1.01)
    lines = preprocess(rows.with_flats(flat), zinger_threshold=None)
    with pytest.warns(UndersamplingWarning) as record:
        volume = reconstruct(lines)
    text = " ".join(str(w.message) for w in record)
    # 7 angles for 256 columns (pi/2 * 256 = 402 needed) over 90 of 180 degrees
    assert "7 projection angles" in text and "402" in text and "cover only 90" in text
    assert volume.shape == (4, 256, 256)


@pytest.mark.parametrize(
    ("n_angles", "span", "n_det", "expected"),
    [
        (400, 180.0, 256, 0),  # Nyquist: fine
        (181, 180.0, 640, 0),  # the tooth: 5x below, within the tolerance
        (30, 180.0, 256, 1),  # 13x below
        (400, 120.0, 256, 1),  # missing wedge of 60 degrees
        (7, 90.0, 256, 2),
    ],
)
def test_angular_sampling_rules(n_angles, span, n_det, expected):
    angles = np.linspace(0.0, span, n_angles, endpoint=span < 180.0)
    assert len(angular_sampling_problems(angles, n_det)) == expected
