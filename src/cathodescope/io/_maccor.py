"""Maccor raw text exports (``.0NN`` files such as ``*.070``) into the canonical cycling table.

Our own reader rather than a third-party one: exports are latin-1 (not UTF-8), start with a
free-text header line of variable length, and give the direction of current through the
``State`` code (C charge, D discharge, R rest, anything else "other") and a per-step
``Amp-hr`` counter that restarts at every step.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cathodescope.errors import (
    CyclerColumnError,
    EmptyDataError,
    FileFormatError,
    TruncatedFileError,
)
from cathodescope.io._cycler_table import (
    STEP_TYPES,
    _run_starts,
    accumulate_resetting,
    build_cycling_table,
    file_label,
)

_STATE_CLASS = {"C": "charge", "D": "discharge", "R": "rest"}


def read_maccor(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read a Maccor text export into the canonical cycling table.

    Parameters
    ----------
    path : path-like
        Tab-separated Maccor export with a ``Rec#`` column line somewhere in its first 30 lines.
    active_mass_g : float, optional
        Active mass in g for ``attrs['active_mass_g']``.

    Returns
    -------
    pandas.DataFrame
        Canonical table; ``instrument_step`` is Maccor's ``Step``, ``cycle_instrument`` its
        ``Cyc#`` (procedure loops do not always increment it, so it can differ from ``cycle``).
        Current is converted from A to mA with the sign of the state (C +, D -); charge comes
        from ``Amp-hr`` made cumulative and signed.

    Raises
    ------
    EmptyDataError, TruncatedFileError, FileFormatError, CyclerColumnError
    """
    p = Path(path)
    source = file_label(p)
    raw = p.read_bytes()
    if not raw.strip():
        raise EmptyDataError(f"{source}: the file is empty.")
    text = raw.decode("latin-1")
    lines = text.splitlines()
    header_row = next(
        (k for k, ln in enumerate(lines[:30]) if ln.split("\t", 1)[0].strip() == "Rec#"), None
    )
    if header_row is None:
        raise FileFormatError(
            f"{source}: no 'Rec#' column line in the first 30 lines; not a Maccor text export."
        )
    body = lines[header_row + 1 :]
    while body and not body[-1].strip():
        body.pop()
    if not body:
        raise EmptyDataError(f"{source}: the header is complete but there are no data rows.")
    n_cols = len(lines[header_row].split("\t"))
    cut_mid_line = not text.endswith(("\n", "\r"))
    if cut_mid_line or len(body[-1].split("\t")) < n_cols:
        body = body[:-1]  # interrupted last line
        if not body:
            raise TruncatedFileError(f"{source}: the only data row is incomplete.")
    frame = pd.read_csv(
        io.StringIO("\n".join([lines[header_row], *body])), sep="\t", low_memory=False
    )
    frame.columns = [c.strip() for c in frame.columns]
    tcol = next((c for c in ("Test (Sec)", "TestTime", "Test Time (sec)") if c in frame), None)
    need = {"time": tcol, "Volts": "Volts" if "Volts" in frame else None}
    icol = next((c for c in ("Amps", "Current", "Current (A)") if c in frame), None)
    need["current"] = icol
    missing = [k for k, v in need.items() if v is None]
    if missing:
        raise CyclerColumnError(
            f"{source}: Maccor export lacks {missing} columns (found {list(frame.columns)[:12]}"
            "...); re-export with Test time, Volts and Amps."
        )
    t = pd.to_numeric(frame[tcol], errors="coerce").to_numpy(float)
    amps = pd.to_numeric(frame[icol], errors="coerce").to_numpy(float)
    volts = pd.to_numeric(frame["Volts"], errors="coerce").to_numpy(float)
    state = frame["State"].astype(str).str.strip().to_numpy() if "State" in frame else None
    if state is not None:
        classes = pd.Series(state).map(_STATE_CLASS).fillna("other").to_numpy()
        sign = np.where(classes == "discharge", -1.0, np.where(classes == "charge", 1.0, 0.0))
        # Some exports give |I|, others signed I: impose the state's sign either way.
        current = np.abs(amps) * 1000.0 * sign
        lut = {n: i for i, n in enumerate(STEP_TYPES)}
        codes = pd.Series(classes).map(lut).to_numpy(np.int8)
    else:
        current = amps * 1000.0
        sign = np.sign(current)
        codes = None
    step = frame["Step"].to_numpy() if "Step" in frame else None
    q = None
    if "Amp-hr" in frame and step is not None:
        ah = pd.to_numeric(frame["Amp-hr"], errors="coerce").to_numpy(float)
        keys = [step] if codes is None else [step, codes]
        resets = _run_starts(*keys)
        q = accumulate_resetting(np.abs(ah) * 1000.0 * sign, resets)
    cyc = frame["Cyc#"].to_numpy() if "Cyc#" in frame else None
    attrs = {
        "instrument": "Maccor",
        "format": "maccor-text",
        "active_mass_g": active_mass_g,
        "header": lines[0].strip() if header_row > 0 else "",
    }
    return build_cycling_table(
        t,
        volts,
        current,
        charge_mAh=q,
        instrument_step=step,
        row_class=codes,
        cycle_instrument=cyc,
        attrs=attrs,
        source=source,
    )
