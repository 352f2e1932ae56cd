"""Writers of big binary cycler files for the read benchmark, from the real corpus files.

* :func:`write_big_ndax`: the 700k-row Neware ``.ndax`` (ndc version 14) with its records
  replicated: the data pages repeated, the ``data_runInfo.ndc`` records copied with their row
  index, raw step number and time stamp shifted, the ``data_step.ndc`` records copied with the
  cycle shifted. Step times restart per step, so they are kept. NewareNDA reads the result
  (the benchmark can check that both readers agree on it).
* :func:`write_big_res`: the Arbin ``.res`` with copies of the data pages of
  ``Channel_Normal_Table`` appended at the end of the file, ``Data_Point``, ``Test_Time``,
  ``DateTime`` and ``Cycle_Index`` shifted in each copy, and the row count of the table
  definition updated. Readers that find a table's pages by their owner (access-parser, ours)
  read it; Microsoft Access and mdbtools, which follow the table's usage map (not updated
  here), would not see the appended rows.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

PAGE = 4096


def _pack(records: np.ndarray, template: bytes, head: int, tail: int) -> bytes:
    """Records (n, itemsize) uint8 into whole pages after the template's first page."""
    size = records.shape[1]
    per_page = (PAGE - head - tail) // size
    n_pages = -(-records.shape[0] // per_page)
    body = np.zeros((n_pages * per_page, size), np.uint8)
    body[: records.shape[0]] = records
    pages = np.zeros((n_pages, PAGE), np.uint8)
    pages[:, :head] = np.frombuffer(template, np.uint8, count=head, offset=PAGE)
    counts = np.minimum(per_page, records.shape[0] - per_page * np.arange(n_pages))
    pages[:, 2:4] = counts.astype("<u2")[:, None].view(np.uint8)
    pages[:, head : head + per_page * size] = body.reshape(n_pages, -1)
    return template[:PAGE] + pages.tobytes()


def _raw(buf: bytes, head: int, tail: int, size: int) -> np.ndarray:
    pages = np.frombuffer(buf, np.uint8, offset=PAGE).reshape(-1, PAGE)
    per = (PAGE - head - tail) // size
    return pages[:, head : head + per * size].reshape(-1, size).copy()


def _field(raw: np.ndarray, offset: int, dtype: str) -> np.ndarray:
    """A writable view of one little-endian field of every raw record."""
    n = np.dtype(dtype).itemsize
    return raw[:, offset : offset + n].view(dtype)[:, 0]


def write_big_ndax(src: Path, dst: Path, rows: int = 1_000_000) -> int:
    """Write an ndc-14 ``.ndax`` of ``rows`` data rows (replicated records); returns ``rows``."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    data_b, run_b, step_b = (members[n] for n in ("data.ndc", "data_runInfo.ndc", "data_step.ndc"))
    data = _raw(data_b, 132, 4, 8)
    run = _raw(run_b, 132, 4, 55)
    step = _raw(step_b, 132, 5, 37)
    data_valid = int((data[:, :4].view("<f4")[:, 0] != 0).sum())
    run = run[_field(run, 41, "<i4") != 0]
    step = step[_field(step, 4, "<i4") != 0]
    reps = -(-rows // data_valid)
    slots = data.shape[0]
    n_steps = int(_field(run, 37, "<i4").max())
    span = int(_field(run, 33, "<i4").max() - _field(run, 33, "<i4").min()) + 1
    cycles = int(_field(step, 0, "<i4").max()) + 1
    runs, steps = [], []
    for r in range(reps):
        rc, sc = run.copy(), step.copy()
        _field(rc, 41, "<i4")[:] += r * slots
        _field(rc, 37, "<i4")[:] += r * n_steps
        _field(rc, 33, "<i4")[:] += r * span
        _field(sc, 0, "<i4")[:] += r * cycles
        runs.append(rc)
        steps.append(sc)
    tiled = np.tile(data, (reps, 1))
    # cut after the rows-th data row (and the run records beyond it)
    keep = int(np.searchsorted(np.cumsum(tiled[:, :4].view("<f4")[:, 0] != 0), rows)) + 1
    run_all = np.concatenate(runs)
    members["data.ndc"] = _pack(tiled[:keep], data_b, 132, 4)
    members["data_runInfo.ndc"] = _pack(run_all[_field(run_all, 41, "<i4") <= keep], run_b, 132, 4)
    members["data_step.ndc"] = _pack(np.concatenate(steps), step_b, 132, 5)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    return rows


def _record_starts(pages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(page, start byte) of every live record of Jet-4 data pages."""
    count = pages[:, 12:14].copy().view("<u2")[:, 0].astype(np.int64)
    width = int(count.max())
    heads = pages[:, 14 : 14 + 2 * width].copy().view("<u2").astype(np.int64)
    live = (np.arange(width)[None, :] < count[:, None]) & ((heads & 0xC000) == 0)
    page_of = np.broadcast_to(np.arange(pages.shape[0])[:, None], heads.shape)[live]
    return page_of, heads[live]


def write_big_res(src: Path, dst: Path, rows: int = 1_000_000) -> int:
    """Write an Arbin ``.res`` of at least ``rows`` rows; returns the row count."""
    from access_parser import AccessParser

    db = AccessParser(str(src))
    tdef = db.catalog["Channel_Normal_Table"]
    data = db.parse_table("Channel_Normal_Table")
    raw = bytearray(src.read_bytes())
    pages = np.frombuffer(bytes(raw), np.uint8).reshape(-1, PAGE)
    owner = pages[:, 4:8].copy().view("<u4")[:, 0]
    mine = np.flatnonzero((pages[:, 0] == 1) & (pages[:, 1] == 1) & (owner == tdef))
    table = pages[mine].copy()
    page_of, start = _record_starts(table)
    n = page_of.size
    cols = {c.col_name_str: c for c in db.get_table("Channel_Normal_Table").columns.values()}
    reps = -(-rows // n)
    span_t = float(max(data["Test_Time"])) + 1.0
    span_p = int(max(data["Data_Point"]))
    span_c = int(max(data["Cycle_Index"]))
    copies = []
    for r in range(1, reps):
        t = table.copy()
        flat = t.reshape(-1)
        base = page_of * PAGE + start + 2
        for name, dtype, shift in (
            ("Data_Point", "<i4", r * span_p),
            ("Test_Time", "<f8", r * span_t),
            ("DateTime", "<f8", r * span_t / 86400.0),
            ("Cycle_Index", "<i2", r * span_c),
        ):
            at = base + cols[name].fixed_offset
            idx = at[:, None] + np.arange(np.dtype(dtype).itemsize)
            values = flat[idx].copy().view(dtype)[:, 0] + np.array(shift).astype(dtype)
            flat[idx] = values.astype(dtype).view(np.uint8).reshape(-1, idx.shape[1])
        copies.append(t.tobytes())
    total = reps * n
    at = tdef * PAGE + 16  # TDEF header (8) + definition length (4) + unknown (4)
    assert int.from_bytes(raw[at : at + 4], "little") == n, "unexpected table definition"
    raw[at : at + 4] = total.to_bytes(4, "little")
    dst.write_bytes(bytes(raw) + b"".join(copies))
    return total
