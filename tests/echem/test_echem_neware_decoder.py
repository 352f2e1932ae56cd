"""Our vectorised Neware decoder against NewareNDA (an independent implementation).

On every Neware file of ../shared/data/echem the two must give the same voltage, current, time,
charge and discharge counters, step, cycle and status. Tolerance: none. Both round to float32
(NewareNDA's output type) after the same float64 operations, so the values are compared for
exact equality; a difference of one float32 step would fail.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cathodescope.errors import CathodescopeWarning, FileFormatError, IncompleteRowWarning
from cathodescope.io import read_cycler
from cathodescope.io._neware_binary import STATUS_NAMES, decode_neware

NewareNDA = pytest.importorskip("NewareNDA")

COLUMNS = {
    "time_s": "Time",
    "voltage_V": "Voltage",
    "current_mA": "Current(mA)",
    "charge_mAh": "Charge_Capacity(mAh)",
    "discharge_mAh": "Discharge_Capacity(mAh)",
    "step_index": "Step_Index",
    "cycle": "Cycle",
}


def _newarenda(path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The inplace keyword")
        return NewareNDA.read(str(path), software_cycle_number=False, log_level="WARNING")


def _neware_files(shared_data):
    files = sorted(
        p for p in (shared_data / "echem").iterdir() if p.suffix.lower() in (".nda", ".ndax")
    )
    assert files, "no Neware file in the corpus"
    return files


def test_decoder_equals_newarenda_on_every_corpus_file(shared_data):
    for path in _neware_files(shared_data):
        ours, complete = decode_neware(path)
        assert ours is not None, f"{path.name}: a corpus layout our decoder should know"
        assert complete
        ref = _newarenda(path)
        assert ours.time_s.size == len(ref), path.name
        for field, column in COLUMNS.items():
            np.testing.assert_array_equal(
                getattr(ours, field), ref[column].to_numpy(), err_msg=f"{path.name}: {column}"
            )
        names = np.array([STATUS_NAMES[int(c)] for c in ours.status])
        np.testing.assert_array_equal(names, ref["Status"].astype(str).to_numpy())
        assert ours.start is not None
        assert ours.start == ref["Timestamp"].iloc[0].to_pydatetime(), path.name


def test_canonical_table_is_the_same_through_either_path(shared_data, monkeypatch):
    """The table read by our decoder equals the one read through NewareNDA."""
    from cathodescope.io import _neware

    for path in _neware_files(shared_data):
        if path.stat().st_size > 2_000_000:
            continue  # the 700k-row file: its columns are compared above
        with warnings.catch_warnings():
            # the negative-counter file warns (counter vs integral) on both paths alike
            warnings.simplefilter("ignore", CathodescopeWarning)
            ours = read_cycler(path)
            with monkeypatch.context() as m:
                m.setattr(_neware, "decode_neware", lambda p: (None, True))
                theirs = read_cycler(path)
        assert ours.attrs["decoder"].startswith("cathodescope")
        assert theirs.attrs["decoder"] == "NewareNDA"
        assert list(ours.columns) == list(theirs.columns)
        for col in ours.columns:
            np.testing.assert_array_equal(ours[col].to_numpy(), theirs[col].to_numpy(), col)
        for key in ("start_timestamp", "time_clock", "charge_check"):
            assert ours.attrs.get(key) == theirs.attrs.get(key), key


def test_unknown_status_goes_to_newarenda_not_to_a_guess(shared_data, tmp_path):
    """A status code outside Neware's table: our decoder declines, NewareNDA refuses."""
    src = shared_data / "echem" / "neware_negative_counter.nda"
    raw = bytearray(src.read_bytes())
    assert raw[1024 + 10] in STATUS_NAMES
    raw[1024 + 88 * 5 + 10] = 99  # status byte of the sixth record
    bad = tmp_path / src.name
    bad.write_bytes(bytes(raw))
    assert decode_neware(bad)[0] is None
    with pytest.raises(FileFormatError, match="NewareNDA could not read"):
        read_cycler(bad)


def test_cut_nda_warns_and_keeps_the_whole_records(shared_data, tmp_path):
    src = shared_data / "echem" / "neware_negative_counter.nda"
    raw = src.read_bytes()
    cut = tmp_path / src.name
    cut.write_bytes(raw[: 1024 + 88 * 1000 + 40])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_cycler(cut)
    cut_warnings = [w for w in caught if issubclass(w.category, IncompleteRowWarning)]
    assert len(cut_warnings) == 1 and "end-of-data record" in str(cut_warnings[0].message)
    # (this file's counter also warns, as the whole file does: see test_echem_corpus)
    assert len(df) == 1000


def test_ndc_file_not_whole_pages_is_refused(shared_data, tmp_path):
    import zipfile

    src = shared_data / "echem" / "neware_1cycle.ndax"
    bad = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, data[:-100] if name == "data.ndc" else data)
    with pytest.raises(FileFormatError, match="whole number of 4096-byte pages"):
        read_cycler(bad)
