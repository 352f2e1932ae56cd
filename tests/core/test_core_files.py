"""Input checks shared by readers (cathodescope.common.files) and their use in the readers."""

from __future__ import annotations

import gzip
import os
import warnings

import numpy as np
import pytest

from cathodescope.common import (
    check_input_file,
    incomplete_last_line,
    raise_if_cut,
    read_gzip_bounded,
    warn_if_out_of_range,
)
from cathodescope.errors import (
    CorruptValuesWarning,
    DataTooLargeError,
    FileFormatError,
    InputIsFolderError,
    InputNotFoundError,
    InputPermissionError,
    TruncatedFileError,
)


def test_check_input_file_names_the_mistake(tmp_path):
    with pytest.raises(InputNotFoundError, match=r"missing\.xrm does not exist"):
        check_input_file(tmp_path / "missing.xrm", "Xradia")
    with pytest.raises(InputIsFolderError, match="is a folder"):
        check_input_file(tmp_path, "Xradia")
    # the classes stay the built-ins a Python user catches
    with pytest.raises(FileNotFoundError):
        check_input_file(tmp_path / "missing.xrm")
    f = tmp_path / "a.txt"
    f.write_text("x\n")
    assert check_input_file(f) == f


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_check_input_file_unreadable(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x\n")
    f.chmod(0)
    try:
        with pytest.raises(InputPermissionError, match="permissions"):
            check_input_file(f)
    finally:
        f.chmod(0o600)


def test_incomplete_last_line_and_raise_if_cut():
    assert incomplete_last_line("1 2\r\n3 4\r\n") is None
    assert incomplete_last_line("") is None
    assert incomplete_last_line("1 2\n3 4") == "3 4"
    raise_if_cut("1 2\n3 4\n", "a.xy")
    # a writer that omits the final line break on a full line is accepted when told the width
    raise_if_cut("1 2\n3 4", "a.xy", values_per_line=2)
    with pytest.raises(TruncatedFileError, match="ends inside a data line"):
        raise_if_cut("1 2\n3 4", "a.xy")
    with pytest.raises(TruncatedFileError, match=r"a\.xy"):
        raise_if_cut("1 2\n3", "a.xy", values_per_line=2)


def test_read_gzip_bounded(tmp_path):
    f = tmp_path / "a.gz"
    f.write_bytes(gzip.compress(b"a" * 10_000))
    assert read_gzip_bounded(f) == b"a" * 10_000
    with pytest.raises(DataTooLargeError, match="decompresses to more than"):
        read_gzip_bounded(f, limit=1000)
    # DataTooLargeError is a MemoryError for callers who catch that
    assert issubclass(DataTooLargeError, MemoryError)
    f.write_bytes(gzip.compress(b"a" * 10_000)[:-20])
    with pytest.raises(TruncatedFileError):
        read_gzip_bounded(f)


def test_warn_if_out_of_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_out_of_range(np.arange(5.0), limit=10, what="counts", source="f")
        assert not warn_if_out_of_range(np.arange(5), limit=1, what="counts", source="f")
    with pytest.warns(CorruptValuesWarning, match="2 of 3 counts"):
        assert warn_if_out_of_range(
            np.array([1.0, np.inf, -1e30]), limit=1e12, what="counts", source="f"
        )


UXD = """; (Data for Range number 1)
_STEPSIZE=0.030000
_START=15.985000
_COUNTS
      649       609       622       618
      608       634       648       643
      611       613
"""


def test_uxd_cut_inside_the_last_line_is_truncated(tmp_path):
    from cathodescope.io import read_uxd

    f = tmp_path / "a.UXD"
    f.write_text(UXD)
    assert read_uxd(f).size == 10
    # no final line break but a full line: a writer's habit, not a cut
    f.write_text(UXD.rsplit("\n      611", 1)[0])
    assert read_uxd(f).size == 8
    f.write_text(UXD[: UXD.index("643") - 3])
    with pytest.raises(TruncatedFileError, match="ends inside a data line"):
        read_uxd(f)


def test_gsas_bad_record_is_a_format_error(tmp_path):
    from cathodescope.io import read_gsas

    f = tmp_path / "a.raw"
    f.write_text("title\nBANK 1 3 1 CONST 2400 5 0 0\n 1   162 1   178 1   155\n")
    assert read_gsas(f).size == 3
    f.write_text("title\nBANK 1 3 1 CONST 2400 5 0 0\n 1   162\xd34   178 1   155\n")
    with pytest.raises(FileFormatError, match="not a number"):
        read_gsas(f)


@pytest.mark.parametrize("reader", ["read_xradia", "read_pattern", "read_channel"])
def test_readers_say_missing_and_folder(reader, tmp_path):
    from cathodescope import io

    read = getattr(io, reader)
    with pytest.raises(InputNotFoundError, match="does not exist"):
        read(tmp_path / "nothing.xrm")
    with pytest.raises(InputIsFolderError):
        read(tmp_path)
