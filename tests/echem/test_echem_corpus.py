"""Every cycler file of ../shared/data/echem: read, and its charge adds up to the current.

For each file the charge booked in ``charge_mAh`` (summed separately over rising and falling
increments) must equal the trapezoid integral of the current over time (an implementation
independent of the readers: the plain trapezoid over every interval) within 0.5 % of the total
charge that flowed; or the file is refused with a specific error that says why.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from cathodescope.errors import CathodescopeError, CathodescopeWarning
from cathodescope.io import read_cycler

# file -> (instrument, rows); a file missing here is still read by the test (new files are
# welcome), these pin what is known
KNOWN = {
    "arbin_cc.res": ("Arbin", 10261),
    "arbin_fastcharge_snippet.csv": ("Arbin", 248),
    "biologic_bcd_ecell.mpr": ("BioLogic", 2550),
    "biologic_bcd_ecell.mpt": ("BioLogic", 2550),
    "biologic_gcpl_7cycles_v3.mpr": ("BioLogic", 46102),
    "biologic_gcpl_lfp_5cycles.mpr": ("BioLogic", 11399),
    "biologic_gcpl_newcols.mpr": ("BioLogic", 19025),
    "biologic_mb_cc_peis.mpr": ("BioLogic", 564),
    "biologic_mb_cc_peis.mpt": ("BioLogic", 564),
    "biologic_modular_gcpl_peis.mpr": ("BioLogic", 23561),
    "maccor_daytime.041": ("Maccor", 74),
    "maccor_diag_3cycles.070": ("Maccor", 11669),
    "maccor_mims_export.txt": ("Maccor", 7446),
    "maccor_truncated_last_cycle.034": ("Maccor", 4061),
    "neware_1cycle.ndax": ("Neware", 1464),
    "neware_700k_rows.ndax": ("Neware", 699677),
    "neware_negative_counter.nda": ("Neware", 15567),
}
# files whose counter the reader must overrule (negative, reset, or missing the PEIS charge)
COUNTER_OVERRULED = {
    "biologic_mb_cc_peis.mpr",
    "biologic_mb_cc_peis.mpt",
    "biologic_modular_gcpl_peis.mpr",
    "neware_negative_counter.nda",
}
_CACHE: dict[str, tuple] = {}


def corpus_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.lower().endswith("_metadata.csv"))


def read_once(path: Path):
    """Read a file once per session; returns (table or None, error or None, warnings)."""
    if path.name not in _CACHE:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CathodescopeWarning)
            try:
                df, err = read_cycler(path), None
            except CathodescopeError as exc:  # a specific refusal is an accepted outcome
                df, err = None, exc
        ours = [w for w in caught if issubclass(w.category, CathodescopeWarning)]
        others = [w for w in caught if not issubclass(w.category, CathodescopeWarning)]
        assert not others, [str(w.message) for w in others]
        _CACHE[path.name] = (df, err, [str(w.message) for w in ours])
    return _CACHE[path.name]


def test_every_corpus_file_is_read_and_its_charge_adds_up(shared_data):
    folder = shared_data / "echem"
    files = corpus_files(folder)
    assert {p.name for p in files} >= set(KNOWN)
    for path in files:
        df, err, warned = read_once(path)
        if df is None:
            # refused: the message must say what is wrong (file name and a reason)
            assert path.name in str(err) and len(str(err)) > 40, (path.name, err)
            continue
        if path.name in KNOWN:
            assert (df.attrs["instrument"], len(df)) == KNOWN[path.name], path.name
        t = df["time_s"].to_numpy()
        i = df["current_mA"].to_numpy()
        assert np.all(np.diff(t) >= 0), path.name
        seg = 0.5 * (i[1:] + i[:-1]) * np.diff(t) / 3600.0
        dq = np.diff(df["charge_mAh"].to_numpy())
        total = np.abs(seg).sum()
        if total == 0:  # a rest-only file: nothing may be booked either
            assert np.abs(dq).sum() == 0, path.name
            continue
        for part in (lambda a: a[a > 0].sum(), lambda a: -a[a < 0].sum()):
            assert abs(part(dq) - part(seg)) <= 0.005 * total, (path.name, part(dq), part(seg))
        overruled = any("charge counter disagrees" in m for m in warned)
        assert overruled == (path.name in COUNTER_OVERRULED), (path.name, warned)


def test_negative_neware_counter_gives_the_integral(shared_data):
    df, _, warned = read_once(shared_data / "echem" / "neware_negative_counter.nda")
    assert any("charge counter disagrees" in m for m in warned)
    q = df["charge_mAh"].to_numpy()
    # the current integrates to ~ -900 mAh (the counter said +299.8); NewareNDA's own current
    assert -905 < q[-1] - q[0] < -895
    assert df.attrs["charge_check"]["charge_source"] == "counter+integral"


def test_cc_peis_loop_keeps_the_charge_across_resets_and_peis(shared_data):
    """(Q-Qo) resets three times and ignores PEIS: the canonical charge never resets."""
    df, _, _ = read_once(shared_data / "echem" / "biologic_mb_cc_peis.mpr")
    q = df["charge_mAh"].to_numpy()
    assert np.all(np.diff(q) >= -1e-12)  # all current is positive here: q never falls
    dt = np.diff(df["time_s"].to_numpy())
    i = df["current_mA"].to_numpy()
    np.testing.assert_allclose(q[-1] - q[0], np.sum(0.5 * (i[1:] + i[:-1]) * dt) / 3600, rtol=5e-3)
    # the .mpt export (decimal commas) agrees with the binary file
    mpt, _, _ = read_once(shared_data / "echem" / "biologic_mb_cc_peis.mpt")
    np.testing.assert_allclose(mpt["voltage_V"], df["voltage_V"], atol=1e-6)
    np.testing.assert_allclose(mpt["charge_mAh"], df["charge_mAh"], atol=1e-6)
    assert mpt.attrs["decimal"] == ","


@pytest.mark.parametrize("name", ["maccor_daytime.041", "maccor_mims_export.txt"])
def test_maccor_test_time_agrees_with_the_wall_clock(shared_data, name):
    """Day-clock and MIMS (minutes) test times against the export's own date-time column."""
    import pandas as pd

    path = shared_data / "echem" / name
    df, _, _ = read_once(path)
    text = path.read_bytes().decode("latin-1").splitlines()
    header = next(k for k, ln in enumerate(text) if ln.split("\t", 1)[0].strip() in ("Rec#", "Rec"))
    cols = [c.strip() for c in text[header].split("\t")]
    rows = [ln.split("\t") for ln in text[header + 1 :] if ln.strip()]
    clock_col = next(k for k, c in enumerate(cols) if c.lower() == "dpt time")
    clock = pd.to_datetime(pd.Series([r[clock_col] for r in rows]), format="mixed")
    elapsed = (clock - clock.iloc[0]).dt.total_seconds().to_numpy()
    t = df["time_s"].to_numpy() - df["time_s"].iloc[0]
    if name == "maccor_daytime.041":
        # the test clock stands still during the FRA (EIS) records that follow row 12
        t, elapsed = t[:12], elapsed[:12]
    # the wall clock is written to whole seconds (and drifts ~1 s over the 63 h MIMS test)
    assert np.max(np.abs(t - elapsed)) <= 2.0, name


def test_day_clock_times_and_mims_layout(tmp_path):
    """A day-clock Maccor export, written here: '2d 02:52:21.57' is 2 days 2 h 52 min 21.57 s."""
    from cathodescope.io import read_maccor

    lines = ["Today's Date 03/07/2018  Date of Test:\t11/02/2016\t Filename:\tx.041"]
    lines.append("Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tWatt-hr\tAmps\tVolts\tState")
    times = ["  0d 00:00:00.0000", "  0d 23:59:59.5000", "  2d 02:52:21.57"]
    seconds = [0.0, 86399.5, 2 * 86400 + 2 * 3600 + 52 * 60 + 21.57]
    for k, (tt, ts) in enumerate(zip(times, seconds, strict=True)):
        ah = 0.001 * ts / 3600  # 1 mA
        lines.append(f"{k + 1}\t0\t1\t{tt}\t{tt}\t{ah:.10f}\t0\t0.001\t{3.5 + 0.1 * k}\tC")
    f = tmp_path / "daytime.041"
    f.write_text("\r\n".join(lines) + "\r\n", encoding="latin-1")
    df = read_maccor(f)
    np.testing.assert_allclose(df["time_s"], seconds, rtol=0, atol=1e-9)
    assert df.attrs["variant"] == "day-clock"


def test_arbin_res_reads_like_the_instrument(shared_data):
    df, _, warned = read_once(shared_data / "echem" / "arbin_cc.res")
    assert not warned
    assert df.attrs["format"] == "arbin-res"
    assert df.attrs["metadata"]["Test_Name"] == "20160805_sic006_45_cc_01-01-003"
    assert df.attrs["charge_check"]["n_replaced"] == 0  # Arbin's counters agree with the current
    assert 0 < df["voltage_V"].min() and df["voltage_V"].max() < 5


def test_arbin_res_without_an_access_reader_says_what_to_install(shared_data, monkeypatch):
    import builtins

    from cathodescope.errors import FileFormatError
    from cathodescope.io import read_arbin_res

    real_import = builtins.__import__

    def no_access_parser(name, *args, **kwargs):
        if name == "access_parser":
            raise ImportError("not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_access_parser)
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(FileFormatError, match=r"access-parser.*mdbtools"):
        read_arbin_res(shared_data / "echem" / "arbin_cc.res")
    # and --format arbin on the .res file reaches the .res reader, not a text decoder
    with pytest.raises(FileFormatError, match="Microsoft Access"):
        read_cycler(shared_data / "echem" / "arbin_cc.res", format="arbin")


def test_neware_clock_matches_the_timestamps(shared_data):
    """Step-time files are chained, test-time files are not: both end at the timestamp span."""
    import NewareNDA

    for name in ("neware_1cycle.ndax", "neware_700k_rows.ndax"):
        path = shared_data / "echem" / name
        df, _, _ = read_once(path)
        stamps = NewareNDA.read(str(path), software_cycle_number=False, log_level="WARNING")
        span = (stamps["Timestamp"].iloc[-1] - stamps["Timestamp"].iloc[0]).total_seconds()
        t = df["time_s"].to_numpy()
        assert abs((t[-1] - t[0]) - span) <= 0.001 * span + 2.0, (name, t[-1] - t[0], span)
        np.testing.assert_array_equal(df["voltage_V"], stamps["Voltage"].to_numpy(float))
