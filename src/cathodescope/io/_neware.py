"""Neware ``.ndax`` / ``.nda`` files (our decoder or NewareNDA) into the canonical cycling table.

Two facts of NewareNDA's output decide the time axis and the charge:

* ``Time`` is the step time (restarting at 0 in every step) in most NewareNDA versions and file
  types, but cumulative test time in others. Which one a file has is decided from the data:
  if the time drops at any step start it restarts per step and the steps are chained end to
  start; otherwise it is already the test time and is used as is (chaining a cumulative clock
  made durations several times too long).
* ``Charge_Capacity(mAh)`` / ``Discharge_Capacity(mAh)`` restart per step and have the sign
  the firmware chose (some files store the discharge counter negative). The net counter is
  ``|charge| - |discharge|`` made cumulative, and it is checked against the integral of the
  current by :func:`cathodescope.io.build_cycling_table` (which warns and uses the integral
  where they disagree).

Speed: the layouts listed in :mod:`cathodescope.io._neware_binary` (those of the corpus: ndc
versions 5 and 14, ``.nda`` version 130 from BTS 9.0) are decoded by our own vectorised decoder
(NewareNDA decodes one record per Python call, ~6 us per row); every other file goes through
``NewareNDA.read``, called with ``software_cycle_number=False`` (its software cycle numbering is
a Python loop over every row), and we number cycles ourselves; the instrument's counter is kept
as ``cycle_instrument``. Both paths give the same numbers, float32-rounded as NewareNDA's are
(``attrs['decoder']`` says which path read the file).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common.files import check_input_file
from cathodescope.common.schemas import STEP_TYPES
from cathodescope.errors import EmptyDataError, FileFormatError, IncompleteRowWarning
from cathodescope.io._cycler_table import (
    accumulate_resetting,
    build_cycling_table,
    classify_rows,
    file_label,
)
from cathodescope.io._neware_binary import STATUS_NAMES, NewareColumns, decode_neware


def neware_test_time(step: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, str]:
    """Test time in s from NewareNDA's ``Time``, and which clock it was.

    Parameters
    ----------
    step : ndarray, shape (n,)
        Step number of each row.
    time : ndarray, shape (n,)
        NewareNDA's ``Time`` column, s.

    Returns
    -------
    (ndarray, str)
        Test time (s, starting at the first row's value) and ``"step"`` (restarting per step,
        chained here) or ``"test"`` (already cumulative).

    Examples
    --------
    >>> t, clock = neware_test_time(np.array([1, 1, 2, 2]), np.array([0.0, 5.0, 0.0, 5.0]))
    >>> t.tolist(), clock
    ([0.0, 5.0, 5.0, 10.0], 'step')
    >>> neware_test_time(np.array([1, 1, 2]), np.array([0.0, 5.0, 6.0]))[1]
    'test'
    """
    t = np.asarray(time, dtype=float)
    new_step = np.zeros(t.size, dtype=bool)
    new_step[1:] = step[1:] != step[:-1]
    inc = np.diff(t, prepend=t[:1])
    if not np.any(inc[new_step] < 0):
        return t, "test"
    inc[new_step] = t[new_step]  # a step starts where the previous one ended
    inc[0] = t[0]
    return np.cumsum(inc), "step"


def _step_type_of(name: str) -> int:
    """Step-type code of a Neware status name (``CC_Chg``, ``CCCV_DChg``, ``Rest``...), -1 if none."""
    if "DChg" in name:
        return STEP_TYPES.index("discharge")
    if "Chg" in name:
        return STEP_TYPES.index("charge")
    if name == "Rest":
        return STEP_TYPES.index("rest")
    return -1


def _status_codes(status: pd.Series, current: np.ndarray) -> np.ndarray:
    """Step-type codes from Neware's status names (NewareNDA's ``Status`` column)."""
    cat = status.astype("category")
    names = np.asarray(cat.cat.categories, dtype=str)
    lut = np.array([_step_type_of(str(n)) for n in names] + [-1], dtype=np.int8)
    codes = cat.cat.codes.to_numpy()
    from_status = lut[np.where(codes >= 0, codes, names.size)]
    return np.where(from_status >= 0, from_status, classify_rows(current)).astype(np.int8)


def _status_codes_numeric(status: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Step-type codes from Neware's numeric status (:data:`STATUS_NAMES`)."""
    lut = np.full(256, -1, dtype=np.int8)
    for code, name in STATUS_NAMES.items():
        lut[code] = _step_type_of(name)
    from_status = lut[np.clip(status, 0, 255)]
    return np.where(from_status >= 0, from_status, classify_rows(current)).astype(np.int8)


def _columns_newarenda(p: Path, source: str) -> tuple[NewareColumns, pd.Series]:
    """NewareNDA's reading of a file, as our columns (plus its status names)."""
    import NewareNDA

    try:
        with warnings.catch_warnings():
            # NewareNDA's .nda path uses DataFrame.drop_duplicates(inplace=True), deprecated
            # in pandas 3.1: not the user's concern (and harmless)
            warnings.filterwarnings("ignore", message="The inplace keyword", module="NewareNDA")
            frame = NewareNDA.read(os.fspath(p), software_cycle_number=False, log_level="WARNING")
    except Exception as exc:  # NewareNDA raises bare Exceptions / zipfile errors on bad files
        raise FileFormatError(
            f"{source}: NewareNDA could not read it ({type(exc).__name__}: {exc}); the file is "
            "corrupt, truncated or of an unsupported Neware version."
        ) from exc
    if len(frame) == 0:
        raise EmptyDataError(f"{source}: no data rows.")
    step = frame["Step_Index"].to_numpy() if "Step_Index" in frame else frame["Step"].to_numpy()
    n = len(frame)
    start = pd.Timestamp(frame["Timestamp"].iloc[0]) if "Timestamp" in frame else None
    cols = NewareColumns(
        step_index=np.asarray(step),
        cycle=frame["Cycle"].to_numpy() if "Cycle" in frame else np.zeros(n, dtype=np.int64),
        status=np.zeros(n, dtype=np.int64),  # unused: the names below decide
        time_s=frame["Time"].to_numpy(float),
        voltage_V=frame["Voltage"].to_numpy(float),
        current_mA=frame["Current(mA)"].to_numpy(float),
        charge_mAh=frame["Charge_Capacity(mAh)"].to_numpy(float),
        discharge_mAh=frame["Discharge_Capacity(mAh)"].to_numpy(float),
        start=None if start is None else start.to_pydatetime(),
        layout="NewareNDA",
    )
    return cols, frame["Status"]


def read_neware_ndax(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read a Neware ``.ndax`` (or ``.nda``) file (our decoder, else NewareNDA).

    Parameters
    ----------
    path : path-like
        The file.
    active_mass_g : float, optional
        Active mass in g.

    Returns
    -------
    pandas.DataFrame
        The canonical cycling table; ``attrs['time_clock']`` is ``"step"`` or ``"test"`` (see
        the module docstring), ``cycle_instrument`` the instrument's cycle counter,
        ``attrs['decoder']`` ``"cathodescope (ndc5 | ndc14 | nda130)"`` or ``"NewareNDA"``.

    Raises
    ------
    FileFormatError
        The file is not a readable zip archive (``.ndax``), or NewareNDA cannot read it.
    EmptyDataError
        No rows.

    Warns
    -----
    IncompleteRowWarning
        An ``.nda`` that ends without its end-of-data record (cut short).

    Notes
    -----
    Decoded by our own vectorised decoder: ``.ndax`` with ndc version 5 (data in ``data.ndc``)
    or 14 (``data.ndc`` + ``data_runInfo.ndc`` + ``data_step.ndc``), ``.nda`` version 130 of
    BTS 9.0. Read through NewareNDA: ndc versions 2, 11, 16, 17, ``.nda`` version 29 and
    BTS 9.1, and any file with a status or current-range code our decoder does not know.
    Auxiliary channels (temperature...) are not read by either path.
    """
    p = check_input_file(path, "Neware")
    source = file_label(p)
    if p.stat().st_size == 0:
        raise EmptyDataError(f"{source}: the file is empty.")
    try:
        ours, complete = decode_neware(p)
    except FileFormatError as exc:
        raise FileFormatError(f"{source}: {exc}") from exc
    if ours is None:
        cols, names = _columns_newarenda(p, source)
        codes = _status_codes(names, cols.current_mA)
    else:
        cols = ours
        codes = _status_codes_numeric(cols.status, cols.current_mA)
        if not complete:
            warnings.warn(
                f"{source}: the file ends without Neware's end-of-data record, so it was cut "
                f"short (interrupted copy?); the {cols.time_s.size} complete records were read. "
                "Copy the file again from the instrument computer for the whole test.",
                IncompleteRowWarning,
                stacklevel=2,
            )
    if cols.time_s.size == 0:
        raise EmptyDataError(f"{source}: no data rows.")
    step = cols.step_index
    t, clock = neware_test_time(step, cols.time_s)
    new_step = np.zeros(step.size, dtype=bool)
    new_step[1:] = step[1:] != step[:-1]
    q = accumulate_resetting(np.abs(cols.charge_mAh) - np.abs(cols.discharge_mAh), new_step)
    attrs: dict[str, Any] = {
        "instrument": "Neware",
        "format": "ndax" if p.suffix.lower() == ".ndax" else "nda",
        "active_mass_g": active_mass_g,
        "time_clock": clock,
        "decoder": "NewareNDA" if ours is None else f"cathodescope ({cols.layout})",
    }
    if cols.start is not None:
        attrs["start_timestamp"] = pd.Timestamp(cols.start).isoformat()
    return build_cycling_table(
        t,
        cols.voltage_V,
        cols.current_mA,
        charge_mAh=q,
        instrument_step=step,
        row_class=codes,
        cycle_instrument=cols.cycle,
        attrs=attrs,
        source=source,
    )
