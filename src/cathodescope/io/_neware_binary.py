"""Our own vectorised decoder of Neware ``.ndax`` / ``.nda`` record areas.

Why our own: NewareNDA decodes one record per Python call (``struct.unpack`` + a list per row,
then a DataFrame), about 6 us per row: 4.2 s for the 700k-row corpus file. Here every record
area is one ``np.frombuffer`` view with a structured dtype, so a file costs its unzip plus a
few array passes. The layouts are NewareNDA's (NewareNDA 2026.6.11, ``NewareNDA.py`` and
``NewareNDAx.py``), and so are the conversions (same order of float operations, then the same
rounding to float32 as NewareNDA's output, so that both paths give the same numbers); the merge of the ``.ndax`` side files and the
gap filling of BTS Server 8 files (``_data_interpolation``) are done with array operations.

Decoded here (the layouts of the corpus files):

* ``.ndax`` whose ``data.ndc`` is ndc version 5, file type 1 (all data in ``data.ndc``);
* ``.ndax`` with ndc version 14: ``data.ndc`` (type 1: voltage, current), ``data_runInfo.ndc``
  (type 18: time, capacities, step) and ``data_step.ndc`` (type 7: cycle, step, status);
* ``.nda`` version 130 written by BTS 9.0 (88-byte records; not the BTS 9.1 variable layout).

Anything else (ndc versions 2, 11, 16, 17, ``.nda`` version 29 or BTS 9.1, an unknown status
or current-range code, data rows without a time, step numbers missing from the step table...)
makes :func:`decode_neware` return None, and the caller reads the file with NewareNDA: the
numbers never change silently, only the speed does.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cathodescope.errors import FileFormatError

PAGE = 4096

#: Neware's status codes (NewareNDA ``dicts.state_dict``).
STATUS_NAMES: dict[int, str] = {
    1: "CC_Chg",
    2: "CC_DChg",
    3: "CV_Chg",
    4: "Rest",
    5: "Cycle",
    7: "CCCV_Chg",
    8: "CP_DChg",
    9: "CP_Chg",
    10: "CR_DChg",
    13: "Pause",
    16: "Pulse",
    17: "SIM",
    19: "CV_DChg",
    20: "CCCV_DChg",
    21: "Control",
    22: "OCV",
    26: "CPCV_DChg",
    27: "CPCV_Chg",
}

#: Current-range code -> scale of the integer current and capacities (NewareNDA
#: ``dicts.multiplier_dict``).
_RANGE_SCALE: dict[int, float] = {
    -100000000: 10,
    -200000: 1e-2,
    -100000: 1e-2,
    -60000: 1e-2,
    -30000: 1e-2,
    -50000: 1e-2,
    -40000: 1e-2,
    -20000: 1e-2,
    -12000: 1e-2,
    -10000: 1e-2,
    -6000: 1e-2,
    -5000: 1e-2,
    -3000: 1e-2,
    -2000: 1e-2,
    -1000: 1e-2,
    -500: 1e-3,
    -100: 1e-3,
    -50: 1e-4,
    -25: 1e-4,
    -20: 1e-4,
    -10: 1e-4,
    -5: 1e-5,
    -2: 1e-5,
    -1: 1e-5,
    0: 0,
    1: 1e-4,
    2: 1e-4,
    5: 1e-4,
    10: 1e-3,
    20: 1e-3,
    25: 1e-3,
    50: 1e-3,
    100: 1e-2,
    200: 1e-2,
    250: 1e-2,
    500: 1e-2,
    1000: 1e-1,
    6000: 1e-1,
    10000: 1e-1,
    12000: 1e-1,
    20000: 1e-1,
    30000: 1e-1,
    40000: 1e-1,
    50000: 1e-1,
    60000: 1e-1,
    100000: 1e-1,
    200000: 1e-1,
}


@dataclass(frozen=True)
class NewareColumns:
    """The columns the cycling table needs, one value per data row.

    Attributes
    ----------
    step_index : ndarray of int64
        The schedule's step number (NewareNDA ``Step_Index``).
    cycle : ndarray of int64
        The instrument's cycle counter (NewareNDA ``Cycle``).
    status : ndarray of int64
        Neware's status code (:data:`STATUS_NAMES`).
    time_s : ndarray of float64
        NewareNDA's ``Time``, s.
    voltage_V, current_mA : ndarray of float64
        Potential (V) and current (mA).
    charge_mAh, discharge_mAh : ndarray of float64
        The charge and discharge counters, mAh (per step, sign as the firmware wrote it).
    start : datetime or None
        Time stamp of the first row (as NewareNDA gives it: naive local for ndc version 5,
        local-zone aware otherwise).
    layout : str
        Which layout was decoded, e.g. ``"ndc14"``.
    """

    step_index: np.ndarray
    cycle: np.ndarray
    status: np.ndarray
    time_s: np.ndarray
    voltage_V: np.ndarray
    current_mA: np.ndarray
    charge_mAh: np.ndarray
    discharge_mAh: np.ndarray
    start: datetime | None
    layout: str


def _records(buf: bytes, head: int, tail: int, dtype: np.dtype) -> np.ndarray:
    """Records of the 4096-byte pages after the first page: ``page[head:PAGE - tail]`` each.

    Raises FileFormatError when the file is not a whole number of pages (a cut file).
    """
    if len(buf) < PAGE or len(buf) % PAGE:
        raise FileFormatError(
            f"an ndc record file is {len(buf)} bytes, not a whole number of {PAGE}-byte pages"
        )
    pages = np.frombuffer(buf, np.uint8, offset=PAGE).reshape(-1, PAGE)
    per_page = (PAGE - head - tail) // dtype.itemsize
    area = np.ascontiguousarray(pages[:, head : head + per_page * dtype.itemsize])
    return area.reshape(-1).view(dtype)


def _struct(fields: list[tuple[str, str, int]], itemsize: int) -> np.dtype:
    return np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": itemsize,
        }
    )


# ndc v5 type 1: 87-byte records in page[125:-56] (NewareNDA _read_ndc_5_filetype_1 and
# _bytes_to_list_ndc)
_NDC5 = _struct(
    [
        ("tag", "u1", 7),
        ("index", "<u4", 8),
        ("cycle", "<u4", 12),
        ("step_index", "u1", 16),
        ("status", "u1", 17),
        ("time", "<u8", 23),
        ("voltage", "<i4", 31),
        ("current", "<i4", 35),
        ("cc", "<i8", 43),
        ("dc", "<i8", 51),
        ("year", "<u2", 75),
        ("month", "u1", 77),
        ("day", "u1", 78),
        ("hour", "u1", 79),
        ("minute", "u1", 80),
        ("second", "u1", 81),
        ("range", "<i4", 82),
    ],
    87,
)
# ndc v14: type 1 '<ff' in page[132:-4]; type 18 '<ixffff8xiiiih8s' in page[132:-4]; type 7
# '<ii16sb12s' in page[132:-5]
_NDC14_DATA = _struct([("voltage", "<f4", 0), ("current", "<f4", 4)], 8)
_NDC14_RUN = _struct(
    [
        ("time", "<i4", 0),
        ("cc", "<f4", 5),
        ("dc", "<f4", 9),
        ("dt", "<i4", 29),
        ("stamp", "<i4", 33),
        ("step", "<i4", 37),
        ("index", "<i4", 41),
        ("msec", "<i2", 45),
    ],
    55,
)
_NDC14_STEP = _struct(
    [("cycle", "<i4", 0), ("step_index", "<i4", 4), ("status", "i1", 24)],
    37,
)
# .nda v130 (BTS 9.0): 88-byte records from byte 1024; offsets are NewareNDA's
# _bytes_to_list_BTS9 ones plus the 4 bytes it strips
_NDA130 = _struct(
    [
        ("step_index", "u1", 9),
        ("status", "u1", 10),
        ("index", "<u4", 16),
        ("time", "<u8", 28),
        ("voltage", "<f4", 36),
        ("current", "<f4", 40),
        ("cc", "<f4", 52),
        ("dc", "<f4", 60),
        ("date", "<u8", 68),
    ],
    88,
)


def _known_status(status: np.ndarray) -> bool:
    return bool(np.isin(status, np.fromiter(STATUS_NAMES, dtype=np.int64)).all())


def _count_changes(x: np.ndarray) -> np.ndarray:
    """1, 1, 2, 2, 3...: a new number wherever the value changes (NewareNDA _count_changes)."""
    change = np.ones(x.size, dtype=np.int64)
    change[1:] = x[1:] != x[:-1]
    return np.cumsum(change)


def _local(ts: float, *, offset_now: bool = False) -> datetime:
    """A Unix time as local time, as NewareNDA gives it.

    NewareNDA's ``.nda`` path converts with the local zone's rules (``astimezone()``); its ndc
    path with the zone's offset of today (``datetime.now().astimezone().tzinfo``), which
    differs by the summer-time hour for stamps of the other season. Both are kept as they are.
    """
    utc = datetime.fromtimestamp(ts, UTC)
    if offset_now:
        return utc.astimezone(datetime.now().astimezone().tzinfo)
    return utc.astimezone()


def _ndc5(data: bytes) -> NewareColumns | None:
    rec = _records(data, 125, 56, _NDC5)
    rec = rec[rec["tag"] == 0x55]
    if rec.size == 0 or not _known_status(rec["status"].astype(np.int64)):
        return None
    ranges = rec["range"].astype(np.int64)
    codes, inverse = np.unique(ranges, return_inverse=True)
    if any(int(c) not in _RANGE_SCALE for c in codes):
        return None
    scale = np.array([_RANGE_SCALE[int(c)] for c in codes], dtype=float)[inverse]
    r0 = rec[0]
    try:
        start: datetime | None = datetime(
            int(r0["year"]),
            int(r0["month"]),
            int(r0["day"]),
            int(r0["hour"]),
            int(r0["minute"]),
            int(r0["second"]),
        )
    except ValueError:
        return None  # NewareNDA fails on such a date: let it say so
    return NewareColumns(
        step_index=rec["step_index"].astype(np.int64),
        cycle=rec["cycle"].astype(np.int64) + 1,
        status=rec["status"].astype(np.int64),
        time_s=rec["time"] / 1000,
        voltage_V=rec["voltage"] / 10000,
        current_mA=rec["current"] * scale,
        charge_mAh=rec["cc"] * scale / 3600,
        discharge_mAh=rec["dc"] * scale / 3600,
        start=start,
        layout="ndc5",
    )


def _fill_gaps(
    valid: np.ndarray, values: np.ndarray, increments: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Carry ``values`` over invalid rows and sum ``increments`` along each run of them.

    Returns (carried values, summed increments; 0 on valid rows): NewareNDA's
    ``_data_interpolation`` (``ffill`` + ``groupby(...).cumsum()``). The sums are sequential
    within each run, as pandas' are, so they round the same way: one vectorised pass per
    position in a run (a loop over the longest run's length, not over rows).
    """
    rows = np.arange(valid.size)
    last = np.maximum.accumulate(np.where(valid, rows, 0))
    k = rows - last  # position in the run of invalid rows; 0 on valid rows
    total = np.zeros(valid.size)
    order = np.argsort(k, kind="stable")
    bounds = np.cumsum(np.bincount(k))
    for j in range(1, bounds.size):
        r = order[bounds[j - 1] : bounds[j]]
        total[r] = total[r - 1] + increments[r]
    return values[last], total


def _ndc14(zf: zipfile.ZipFile, names: set[str]) -> NewareColumns | None:
    if not {"data_runInfo.ndc", "data_step.ndc"} <= names:
        return None
    run_b, step_b = zf.read("data_runInfo.ndc"), zf.read("data_step.ndc")
    if run_b[:3] != b"\x12\x00\x0e" or step_b[:3] != b"\x07\x00\x0e":
        return None
    data = _records(zf.read("data.ndc"), 132, 4, _NDC14_DATA)
    run = _records(run_b, 132, 4, _NDC14_RUN)
    steps = _records(step_b, 132, 5, _NDC14_STEP)
    index = np.flatnonzero(data["voltage"] != 0) + 1
    data = data[index - 1]
    run = run[run["index"] != 0]
    steps = steps[steps["step_index"] != 0]
    if index.size == 0 or run.size == 0 or steps.size == 0:
        return None
    run_step = _count_changes(run["step"])
    uniq, first = np.unique(run["index"], return_index=True)  # drop_duplicates(keep="first")
    where = np.minimum(np.searchsorted(uniq, index), uniq.size - 1)
    valid = uniq[where] == index
    if not valid[0]:
        return None  # leading rows without a time: NewareNDA leaves them NaN
    src = first[where]
    voltage = data["voltage"].astype(float)
    current = 1000 * data["current"].astype(float)
    step = run_step[src]
    dt = run["dt"][src] / 1000
    if valid.all():
        time_s = run["time"][src] / 1000
        cc = 1000 * run["cc"][src].astype(float)
        dc = 1000 * run["dc"][src].astype(float)
        gap_t = np.zeros(index.size)
    else:
        # BTS Server 8 files log time and capacity for a few rows only: NewareNDA's
        # _data_interpolation carries the last logged row on with its dt and integrates the
        # current (abs of the carried counters plus the clipped integral)
        last = np.maximum.accumulate(np.where(valid, np.arange(index.size), 0))
        step = step[last]
        dt = dt[last]
        t0, gap_t = _fill_gaps(valid, run["time"][src] / 1000, dt)
        time_s = t0 + gap_t
        cc0, gap_q = _fill_gaps(valid, 1000 * run["cc"][src].astype(float), dt * current / 3600)
        dc0 = (1000 * run["dc"][src].astype(float))[last]
        cc = np.abs(cc0) + np.abs(np.clip(gap_q, 0, None))
        dc = np.abs(dc0) + np.abs(np.clip(gap_q, None, 0))
    if step.max() > steps.size:
        return None  # a step the step table lacks: NewareNDA gives NaN and fails
    st = steps[step - 1]
    status = st["status"].astype(np.int64)
    if not _known_status(status):
        return None
    r0 = run[first[where[0]]]
    start = _local(float(r0["stamp"]) + float(r0["msec"]) / 1000 + float(gap_t[0]), offset_now=True)
    return NewareColumns(
        step_index=st["step_index"].astype(np.int64),
        cycle=st["cycle"].astype(np.int64) + 1,
        status=status,
        time_s=time_s,
        voltage_V=voltage,
        current_mA=current,
        charge_mAh=cc,
        discharge_mAh=dc,
        start=start,
        layout="ndc14",
    )


def _ndax(path: Path) -> NewareColumns | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "data.ndc" not in names:
                return None
            with zf.open("data.ndc") as f:
                head = f.read(3)
            if head == b"\x01\x00\x05":
                return _ndc5(zf.read("data.ndc"))
            if head == b"\x01\x00\x0e":
                return _ndc14(zf, names)
            return None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise FileFormatError(
            f"the .ndax file is not a readable zip archive ({type(exc).__name__}: {exc}); "
            "it is corrupt or was cut short: copy it again from the instrument computer, or "
            "export it again with Neware's BTSDA."
        ) from exc


def _nda(path: Path) -> tuple[NewareColumns | None, bool]:
    """Decode a ``.nda``; the flag says whether the end-of-data record (0x81) was found."""
    buf = path.read_bytes()
    if buf[:6] != b"NEWARE" or len(buf) < 1024 + 88 or buf[14] != 130 or buf[1024] == 0x55:
        return None, True
    n = (len(buf) - 1024) // 88
    raw = np.frombuffer(buf, np.uint8, count=n * 88, offset=1024).reshape(n, 88)
    end = np.flatnonzero(raw[:, 0] == 0x81)
    complete = end.size > 0
    if complete:
        raw = raw[: end[0]]
    if np.any(raw[:, 0] == 0x55):
        return None, complete  # a BTS 9.1 record: NewareNDA's other branch
    ident = np.frombuffer(buf, np.uint8, count=6, offset=1024)
    is_data = (raw[:, :6] == ident).all(axis=1)
    rec = np.ascontiguousarray(raw[is_data]).reshape(-1).view(_NDA130)
    if rec.size == 0:
        return None, complete
    # NewareNDA: drop_duplicates(subset="Index") then sort by Index if not increasing
    _, first = np.unique(rec["index"], return_index=True)
    if first.size != rec.size or np.any(np.diff(rec["index"].astype(np.int64)) < 0):
        keep = np.sort(first)
        rec = rec[keep]
        rec = rec[np.argsort(rec["index"], kind="stable")]
    status = rec["status"].astype(np.int64)
    if not _known_status(status):
        return None, complete
    return (
        NewareColumns(
            step_index=rec["step_index"].astype(np.int64),
            cycle=np.zeros(rec.size, dtype=np.int64),
            status=status,
            time_s=rec["time"] / 1e6,
            voltage_V=rec["voltage"].astype(float),
            current_mA=rec["current"].astype(float),
            charge_mAh=rec["cc"] / 3600,
            discharge_mAh=rec["dc"] / 3600,
            start=_local(float(rec["date"][0]) / 1e6),
            layout="nda130",
        ),
        complete,
    )


def decode_neware(path: Path) -> tuple[NewareColumns | None, bool]:
    """Decode a Neware file with our vectorised decoder.

    Parameters
    ----------
    path : Path
        An ``.ndax`` or ``.nda`` file.

    Returns
    -------
    (NewareColumns or None, bool)
        The columns, or None when the layout is not one decoded here (read it with
        NewareNDA then); the flag is False for an ``.nda`` without its end-of-data record
        (cut short).

    Raises
    ------
    FileFormatError
        The ``.ndax`` is not a readable zip archive, or a record file is not whole pages.
    """
    if path.suffix.lower() == ".ndax":
        cols, complete = _ndax(path), True
    else:
        cols, complete = _nda(path)
    return (None if cols is None else _as_newarenda(cols)), complete


def _as_newarenda(cols: NewareColumns) -> NewareColumns:
    """Round the float columns through float32, as NewareNDA's output is.

    Keeps the canonical table the same whichever path read the file (the float32 rounding
    costs precision: e.g. a time of 10^6 s is kept to 0.06 s; changing that is a decision for
    both paths together, not for one of them).
    """

    def f32(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32).astype(np.float64)

    return replace(
        cols,
        time_s=f32(cols.time_s),
        voltage_V=f32(cols.voltage_V),
        current_mA=f32(cols.current_mA),
        charge_mAh=f32(cols.charge_mAh),
        discharge_mAh=f32(cols.discharge_mAh),
    )
