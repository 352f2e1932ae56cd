"""Neware ``.ndax`` / ``.nda`` files through NewareNDA, into the canonical cycling table.

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

Speed: ``NewareNDA.read`` is called with ``software_cycle_number=False``: its software cycle
numbering is a Python loop over every row (6.5 s of a 9.6 s read of 700k rows with pandas 3),
and we number cycles ourselves; the instrument's counter is kept as ``cycle_instrument``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common.files import check_input_file
from cathodescope.common.schemas import STEP_TYPES
from cathodescope.errors import EmptyDataError, FileFormatError
from cathodescope.io._cycler_table import (
    accumulate_resetting,
    build_cycling_table,
    classify_rows,
    file_label,
)


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


def _status_codes(status: pd.Series, current: np.ndarray) -> np.ndarray:
    """Step-type codes from Neware's status (``CC_Chg``, ``CCCV_DChg``, ``Rest``, ...)."""
    cat = status.astype("category")
    names = np.asarray(cat.cat.categories, dtype=str)
    lut = np.full(names.size, -1, dtype=np.int8)
    for k, name in enumerate(names):
        if "DChg" in name:
            lut[k] = STEP_TYPES.index("discharge")
        elif "Chg" in name:
            lut[k] = STEP_TYPES.index("charge")
        elif name == "Rest":
            lut[k] = STEP_TYPES.index("rest")
    codes = cat.cat.codes.to_numpy()
    from_status = np.where(codes >= 0, lut[np.maximum(codes, 0)], -1)
    return np.where(from_status >= 0, from_status, classify_rows(current)).astype(np.int8)


def read_neware_ndax(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read a Neware ``.ndax`` (or ``.nda``) file through NewareNDA.

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
        the module docstring), ``cycle_instrument`` the instrument's cycle counter.

    Raises
    ------
    FileFormatError
        NewareNDA cannot read the file.
    EmptyDataError
        No rows.
    """
    import NewareNDA

    p = check_input_file(path, "Neware")
    source = file_label(p)
    if p.stat().st_size == 0:
        raise EmptyDataError(f"{source}: the file is empty.")
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
    t, clock = neware_test_time(step, frame["Time"].to_numpy(float))
    current = frame["Current(mA)"].to_numpy(float)
    new_step = np.zeros(len(frame), dtype=bool)
    new_step[1:] = step[1:] != step[:-1]
    chg = np.abs(frame["Charge_Capacity(mAh)"].to_numpy(float))
    dchg = np.abs(frame["Discharge_Capacity(mAh)"].to_numpy(float))
    q = accumulate_resetting(chg - dchg, new_step)
    codes = _status_codes(frame["Status"], current)
    attrs: dict[str, Any] = {
        "instrument": "Neware",
        "format": "ndax" if p.suffix.lower() == ".ndax" else "nda",
        "active_mass_g": active_mass_g,
        "time_clock": clock,
    }
    if "Timestamp" in frame:
        attrs["start_timestamp"] = pd.Timestamp(frame["Timestamp"].iloc[0]).isoformat()
    return build_cycling_table(
        t,
        frame["Voltage"].to_numpy(float),
        current,
        charge_mAh=q,
        instrument_step=step,
        row_class=codes,
        cycle_instrument=frame["Cycle"].to_numpy() if "Cycle" in frame else None,
        attrs=attrs,
        source=source,
    )
