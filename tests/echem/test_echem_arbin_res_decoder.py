"""Our numpy decoder of Arbin .res data pages against access-parser's row parser.

access-parser (an independent, field-by-field implementation) is the reference: the rows of
``Channel_Normal_Table`` must be identical (same order, every numeric column, exact equality;
NULL as NaN), and the canonical table read either way must be the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.errors import FileFormatError, TruncatedFileError
from cathodescope.io import read_arbin_res

pytest.importorskip("access_parser")

PAGE = 4096
TABLE = "Channel_Normal_Table"


def _res(shared_data):
    return shared_data / "echem" / "arbin_cc.res"


def _table_pages(raw: bytes) -> np.ndarray:
    """Page numbers of the data pages of Channel_Normal_Table (the owner of most pages)."""
    pages = np.frombuffer(raw, np.uint8).reshape(-1, PAGE)
    owner = pages[:, 4:8].copy().view("<u4")[:, 0]
    is_data = (pages[:, 0] == 1) & (pages[:, 1] == 1)
    counts = np.bincount(owner[is_data])
    return np.flatnonzero(is_data & (owner == np.argmax(counts)))


def test_rows_equal_access_parsers(shared_data):
    from access_parser import AccessParser

    from cathodescope.io._arbin_jet import read_res_tables

    path = _res(shared_data)
    ours, glob, decoder = read_res_tables(path, path.name)
    assert decoder == "cathodescope"
    db = AccessParser(str(path))
    ref = pd.DataFrame(db.parse_table(TABLE))
    assert len(ours) == len(ref) == 10261
    assert list(ours.columns) == list(ref.columns)
    for col in ref.columns:
        np.testing.assert_array_equal(
            ours[col].to_numpy(float), pd.to_numeric(ref[col]).to_numpy(float), err_msg=col
        )
    g = db.parse_table("Global_Table")
    assert glob == {k: v[0] for k, v in g.items() if len(v)}


def test_canonical_table_is_the_same_through_access_parser(shared_data, monkeypatch):
    from cathodescope.io import _arbin_jet

    ours = read_arbin_res(_res(shared_data))
    monkeypatch.setattr(_arbin_jet, "decode_fixed_table", lambda *a, **k: None)
    theirs = read_arbin_res(_res(shared_data))
    assert (ours.attrs["decoder"], theirs.attrs["decoder"]) == ("cathodescope", "access_parser")
    assert list(ours.columns) == list(theirs.columns)
    for col in ours.columns:
        np.testing.assert_array_equal(ours[col].to_numpy(), theirs[col].to_numpy(), col)
    for key in ("metadata", "start_timestamp", "charge_check"):
        assert ours.attrs[key] == theirs.attrs[key], key


def test_cut_or_damaged_database_is_refused(shared_data, tmp_path):
    raw = _res(shared_data).read_bytes()
    cut = tmp_path / "cut.res"
    cut.write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(TruncatedFileError, match="not a whole number of database pages"):
        read_arbin_res(cut)
    # a data page of the table lost (its page magic zeroed): fewer rows than the definition says
    lost = bytearray(raw)
    page = int(_table_pages(raw)[3])
    lost[page * PAGE : page * PAGE + 2] = b"\0\0"
    damaged = tmp_path / "damaged.res"
    damaged.write_bytes(bytes(lost))
    with pytest.raises(TruncatedFileError, match="its definition says 10261"):
        read_arbin_res(damaged)
    # a row offset pointing into the page head: corrupt, not silently misread
    bad = bytearray(raw)
    bad[page * PAGE + 14 + 2 * 5 : page * PAGE + 14 + 2 * 5 + 2] = (6).to_bytes(2, "little")
    corrupt = tmp_path / "corrupt.res"
    corrupt.write_bytes(bytes(bad))
    with pytest.raises(FileFormatError, match="does not fit the page"):
        read_arbin_res(corrupt)
    tiny = tmp_path / "tiny.res"
    tiny.write_bytes(raw[:4096])
    with pytest.raises(FileFormatError, match="too small for an Access database"):
        read_arbin_res(tiny)
