"""Our own numpy decoder of the data pages of an Arbin ``.res`` (Jet 4 / Access) table.

Why our own: ``access-parser`` (pure Python, ``construct``) parses every row field by field,
about 220 us per row of ``Channel_Normal_Table`` (2.3 s for the 10,261 rows of the corpus file;
10^6 rows would take minutes), and it parses the header of every data page of the file once
when it opens it (~150 us per 4 KiB page). Here access-parser still reads the catalog, the table
definition (column names, types, offsets) and the small tables (``Global_Table``), but:

* data pages are linked to their tables with one numpy pass over the page headers
  (:class:`_FastAccessParser`) instead of one ``construct`` parse per page;
* the rows of the big table are decoded with array operations: the record offsets at each page
  head give every row's start and end, each fixed-length column is gathered for all rows at once
  and viewed as its little-endian type, and the null bitmap at each row's end gives the NULLs.

Rows come in access-parser's order (pages in file order, records in page-head order), with the
same values (every column as float64, exact for the integer and float32 columns, as
access-parser's Python numbers are; NULL is NaN). The
decoder handles Jet 4 tables of fixed-length numeric columns (the Arbin data tables); for a Jet 3
file, variable-length or other column types in the table, or rows stored on overflow pages, it
returns None and the caller uses another reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.errors import EmptyDataError, FileFormatError, TruncatedFileError

# Jet column types decoded here -> numpy dtype (access-parser's utils.TYPE_* codes)
_JET_NUMERIC = {2: "i1", 3: "<i2", 4: "<i4", 6: "<f4", 7: "<f8"}
_TYPE_BOOLEAN = 1
_DATA_PAGE = b"\x01\x01"
_JET4_HEAD = 14  # magic 2, free space 2, owner 4, unknown 4, record count 2


def _fast_parser_class() -> type:
    """access-parser's AccessParser with a vectorised linking of data pages to tables."""
    from access_parser import AccessParser
    from access_parser.access_parser import TableObj

    class _FastAccessParser(AccessParser):  # type: ignore[misc]
        def _link_tables_to_data(self) -> dict[int, Any]:
            # what AccessParser._link_tables_to_data does (owner of each data page, the pages
            # whose offsets table does not fit left out), as one pass over the page headers
            size = self.page_size
            offsets = np.array(sorted(self._data_pages), dtype=np.int64)
            whole = offsets[offsets + size <= len(self.db_data)]
            buf = np.frombuffer(self.db_data, np.uint8)
            out: dict[int, Any] = {}
            if whole.size == 0 or self.version <= 3:
                return dict(super()._link_tables_to_data())
            head = buf[whole[:, None] + np.arange(_JET4_HEAD)]
            owner = head[:, 4:8].copy().view("<u4")[:, 0].astype(np.int64) * size
            count = head[:, 12:14].copy().view("<u2")[:, 0].astype(np.int64)
            fits = _JET4_HEAD + 2 * count <= size
            for page, own, ok in zip(whole.tolist(), owner.tolist(), fits.tolist(), strict=True):
                if not ok or own not in self._table_defs:
                    continue
                if own not in out:
                    out[own] = TableObj(own, self._table_defs[own])
                    out[own].page_offsets = []  # where each linked page lies in the file
                out[own].linked_pages.append(self._data_pages[page])
                out[own].page_offsets.append(page)
            # pages cut by the end of the file: access-parser's own header parse decides
            for page in offsets[offsets + size > len(self.db_data)].tolist():
                data = self._data_pages[page]
                if len(data) >= 8:
                    own = int.from_bytes(data[4:8], "little") * size
                    n = int.from_bytes(data[12:14], "little") if len(data) >= 14 else -1
                    if own in self._table_defs and 0 <= n and 14 + 2 * n <= len(data):
                        out.setdefault(own, TableObj(own, self._table_defs[own]))
                        out[own].linked_pages.append(data)
                        out[own].page_offsets = None
            return out

    return _FastAccessParser


def _gather_rows(flat: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """Bytes ``flat[at[i] : at[i] + width]`` of every row, as one (n, width) array.

    One fancy index over a strided window view: a single copy of n * width bytes (per-column
    gathers of 2-8 bytes cost ~70 ns per row each).
    """
    return np.lib.stride_tricks.sliding_window_view(flat, width)[at]


def decode_fixed_table(
    table: Any,
    version: int,
    page_size: int,
    name: str,
    *,
    only: Sequence[str] | None = None,
    file_bytes: bytes | None = None,
) -> pd.DataFrame | None:
    """Rows of an access-parser ``AccessTable`` whose columns are all fixed-length numbers.

    Parameters
    ----------
    table : access_parser.access_parser.AccessTable
        The table (its definition and linked data pages).
    version : int
        Jet version (access-parser's ``AccessParser.version``).
    page_size : int
        Page size, bytes.
    name : str
        Table name, for messages.
    only : sequence of str, optional
        Decode only these columns (those present); all numeric columns by default.
    file_bytes : bytes, optional
        The whole database file: with the page offsets our parser records, rows are read
        from it directly (else from a copy of the linked pages).

    Returns
    -------
    pandas.DataFrame or None
        One float64 column per numeric column (integers and float32 values are exact in
        float64; NULL is NaN), in access-parser's row order, as one block (no per-column
        copies); None for layouts not decoded here (see module docstring).

    Raises
    ------
    FileFormatError
        Record offsets or row lengths that do not fit their page (a corrupt database).
    """
    columns = list(table.columns.values())
    if version <= 3 or table.table_header.variable_columns:
        return None
    if any(not c.column_flags.fixed_length for c in columns):
        return None
    numeric = [c for c in columns if c.type in _JET_NUMERIC]
    if any(c.type not in _JET_NUMERIC and c.type != _TYPE_BOOLEAN for c in columns):
        return None
    pages_list = table.table.linked_pages
    if not pages_list:
        return pd.DataFrame({c.col_name_str: np.zeros(0) for c in numeric})
    if any(len(p) != page_size for p in pages_list):
        return None  # a page cut by the end of the file: the caller has refused the file
    n_cols = table.table_header.column_count
    null_len = (n_cols + 7) // 8
    if any(c.column_id >= 8 * null_len for c in columns):
        return None
    offsets = getattr(table.table, "page_offsets", None)
    if file_bytes is not None and offsets is not None and len(offsets) == len(pages_list):
        # rows are gathered from the file's own buffer: no copy of the table's pages
        flat = np.frombuffer(file_bytes, np.uint8)
        page_base = np.asarray(offsets, dtype=np.int64)
    else:
        flat = np.frombuffer(b"".join(pages_list), np.uint8)
        page_base = np.arange(len(pages_list), dtype=np.int64) * page_size
    count = _gather_rows(flat, page_base + 12, 2).copy().view("<u2")[:, 0].astype(np.int64)
    width = int(count.max())
    if width == 0:
        return pd.DataFrame({c.col_name_str: np.zeros(0) for c in numeric})
    j = np.arange(width)
    heads = _gather_rows(flat, page_base + _JET4_HEAD, 2 * width).copy().view("<u2")
    heads = heads.astype(np.int64)
    used = j[None, :] < count[:, None]
    if np.any(heads[used] & 0x4000):
        return None  # rows on overflow pages: access-parser follows those pointers
    if np.any(heads[used] & 0x3000):
        raise FileFormatError(
            f"table {name}: a row offset beyond the page end; the database is corrupt. Open it "
            "in Arbin's software (MITS Pro / Data Watcher) and export the test as CSV, then "
            "read that."
        )
    start = heads & 0x0FFF
    end = np.empty_like(start)
    end[:, 0] = page_size
    end[:, 1:] = start[:, :-1]
    # access-parser: a record whose previous offset is 0 runs to the page end
    end[:, 1:][start[:, :-1] == 0] = page_size
    keep = used & ~(heads & 0x8000).astype(bool)  # deleted rows are skipped
    page_of = np.broadcast_to(np.arange(page_base.size)[:, None], start.shape)[keep]
    s, e = start[keep], end[keep]
    fixed_end = max(
        (c.fixed_offset + np.dtype(_JET_NUMERIC[c.type]).itemsize for c in numeric), default=0
    )
    low = _JET4_HEAD + 2 * count[page_of]
    if np.any(s < low) or np.any(e > page_size) or np.any(e - s < 2 + fixed_end + null_len):
        first = page_of[(s < low) | (e > page_size) | (e - s < 2 + fixed_end + null_len)][0]
        bad = int(page_base[first]) // page_size if offsets is not None else int(first)
        raise FileFormatError(
            f"table {name}: data page {bad} holds a row that does not fit the page or is shorter "
            "than the table's columns; the database is corrupt. Open it in Arbin's software "
            "(MITS Pro / Data Watcher) and export the test as CSV, then read that."
        )
    at = page_base[page_of]
    # the fixed data follow the 2-byte column count; the null bitmap ends the row
    length = e - s
    if np.all(length == length[0]):  # the usual case: one gather covers data and bitmap
        block = _gather_rows(flat, at + s, int(length[0]))
        nulls = block[:, -null_len:]
    else:
        block = _gather_rows(flat, at + s, 2 + fixed_end)
        nulls = _gather_rows(flat, at + e - null_len, null_len)
    wanted = [c for c in numeric if only is None or c.col_name_str in only]
    fields = np.dtype(
        {
            "names": [c.col_name_str for c in wanted],
            "formats": [_JET_NUMERIC[c.type] for c in wanted],
            "offsets": [2 + c.fixed_offset for c in wanted],
            "itemsize": block.shape[1],
        }
    )
    rows = block.view(fields)[:, 0]
    out = np.empty((len(wanted), rows.size))
    for k, c in enumerate(wanted):
        out[k] = rows[c.col_name_str]
        present = (nulls[:, c.column_id // 8] >> (c.column_id % 8)) & 1
        if not present.all():
            out[k][present == 0] = np.nan
    return pd.DataFrame(out.T, columns=[c.col_name_str for c in wanted], copy=False)


def read_res_tables(
    p: Path, label: str, *, only: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """``Channel_Normal_Table`` and ``Global_Table`` of an Arbin ``.res``; which decoder.

    Parameters
    ----------
    p : Path
        The ``.res`` file.
    label : str
        File name for messages.
    only : sequence of str, optional
        The columns wanted (our decoder reads only those; access-parser reads all).

    Returns
    -------
    (DataFrame, dict, str)
        The data rows, the first row of ``Global_Table`` and ``"cathodescope"`` (our decoder)
        or ``"access_parser"`` (its own row parser, for layouts ours does not decode).

    Raises
    ------
    EmptyDataError
        The file is empty.
    TruncatedFileError
        The file ends inside a page, or the table holds fewer rows than its definition says.
    FileFormatError
        Not an Arbin database, or a corrupt one.
    """
    size = p.stat().st_size
    if size == 0:
        raise EmptyDataError(f"{label}: the file is empty.")
    if size < 2 * 4096:
        raise FileFormatError(
            f"{label}: {size} bytes is too small for an Access database (an Arbin .res file); "
            "it is not one, or was cut short: copy it again from the Arbin computer."
        )
    if size % 2048:
        raise TruncatedFileError(
            f"{label}: {size} bytes is not a whole number of database pages; the file was cut "
            "short (interrupted copy). Copy it again from the Arbin computer."
        )
    db = _fast_parser_class()(os.fspath(p))
    if size % db.page_size:
        raise TruncatedFileError(
            f"{label}: {size} bytes is not a whole number of {db.page_size}-byte pages; the file "
            "was cut short (interrupted copy). Copy it again from the Arbin computer."
        )
    if "Channel_Normal_Table" not in db.catalog:
        raise FileFormatError(
            f"{label}: the Access database has no Channel_Normal_Table; not an Arbin .res file."
        )
    table = db.get_table("Channel_Normal_Table")
    data = decode_fixed_table(
        table, db.version, db.page_size, "Channel_Normal_Table", only=only, file_bytes=db.db_data
    )
    decoder = "cathodescope"
    if data is None:
        data = pd.DataFrame(table.parse())
        decoder = "access_parser"
    expected = int(table.table_header.number_of_rows)
    if len(data) < expected:
        raise TruncatedFileError(
            f"{label}: Channel_Normal_Table holds {len(data)} rows but its definition says "
            f"{expected}; data pages are missing (file cut short or damaged). Copy it again "
            "from the Arbin computer, or export the test as CSV from Arbin's software."
        )
    glob: dict[str, Any] = {}
    if "Global_Table" in db.catalog:
        g = db.parse_table("Global_Table")
        glob = {k: v[0] for k, v in g.items() if len(v)}
    return data, glob, decoder
