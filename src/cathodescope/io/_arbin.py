"""Arbin exports: CSV (``Test_Time``, ``Current`` in A, ...) and ``.res`` files, which are
Microsoft Access (Jet) databases holding the same columns in ``Channel_Normal_Table``.

``.res`` files are read with our own numpy decoder of the Jet data pages
(:mod:`cathodescope.io._arbin_jet`; the pure-Python ``access-parser`` package, a dependency,
reads the catalog and the table definition, and its own row parser, ~220 us per row, is kept
for table layouts our decoder does not handle) or, when access-parser is missing, with
mdbtools' ``mdb-export`` command when present.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common.files import check_input_file
from cathodescope.errors import (
    CathodescopeError,
    CyclerColumnError,
    EmptyDataError,
    FileFormatError,
)
from cathodescope.io._arbin_jet import read_res_tables
from cathodescope.io._cycler_table import accumulate_resetting, build_cycling_table, file_label
from cathodescope.io._text_tables import drop_incomplete_last_row, read_csv_checked

_OLE_EPOCH = pd.Timestamp("1899-12-30")


def find_companion(path: Path, suffix: str) -> Path | None:
    """The file ``<stem><suffix>`` beside ``path``, matched case-insensitively (or None)."""
    want = (path.stem + suffix).lower()
    try:
        for entry in path.parent.iterdir():
            if entry.name.lower() == want and entry.is_file():
                return entry
    except OSError:
        return None
    return None


def _step_column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """An Arbin index column, or None when it is absent or empty (forward-filled if gappy)."""
    if name not in frame:
        return None
    col = pd.to_numeric(frame[name], errors="coerce")
    if col.isna().all():
        return None
    return col.ffill().bfill().to_numpy(np.int64)


def _arbin_table(frame: pd.DataFrame, source: str, attrs: dict[str, Any]) -> pd.DataFrame:
    """Canonical table from Arbin's columns (CSV or ``Channel_Normal_Table``)."""
    need = ["Test_Time", "Current", "Voltage"]
    missing = [c for c in need if c not in frame]
    if missing:
        raise CyclerColumnError(
            f"{source}: Arbin data lack column(s) {missing}; found {list(frame.columns)}."
        )
    q = None
    if "Charge_Capacity" in frame and "Discharge_Capacity" in frame:
        ch = pd.to_numeric(frame["Charge_Capacity"], errors="coerce").to_numpy(float)
        dis = pd.to_numeric(frame["Discharge_Capacity"], errors="coerce").to_numpy(float)
        reset = np.zeros(len(frame), dtype=bool)
        reset[1:] = (np.diff(ch) < 0) | (np.diff(dis) < 0)
        q = accumulate_resetting((ch - dis) * 1000.0, reset)
    return build_cycling_table(
        pd.to_numeric(frame["Test_Time"], errors="coerce").to_numpy(float),
        pd.to_numeric(frame["Voltage"], errors="coerce").to_numpy(float),
        pd.to_numeric(frame["Current"], errors="coerce").to_numpy(float) * 1000.0,
        charge_mAh=q,
        instrument_step=_step_column(frame, "Step_Index"),
        cycle_instrument=_step_column(frame, "Cycle_Index"),
        attrs=attrs,
        source=source,
    )


def read_arbin_csv(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read an Arbin CSV export (``Test_Time`` s, ``Current`` A, ``Voltage`` V, ...).

    The cumulative ``Charge_Capacity`` and ``Discharge_Capacity`` (Ah) give the net charge;
    wherever either counter restarts the previous total is carried over. An empty
    ``Step_Index`` column is ignored (steps then follow the current sign). A
    ``<stem>_Metadata.csv`` file beside it (any letter case), if present, fills
    ``attrs['metadata']``.

    Parameters
    ----------
    path : path-like
        The CSV file.
    active_mass_g : float, optional
        Active mass in g.

    Returns
    -------
    pandas.DataFrame
        The canonical cycling table (:mod:`cathodescope.common.schemas`).
    """
    p = Path(path)
    source = file_label(p)
    frame = read_csv_checked(p)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = drop_incomplete_last_row(frame, p)
    if len(frame) == 0:
        raise EmptyDataError(f"{source}: no complete data row.")
    attrs: dict[str, Any] = {"instrument": "Arbin", "format": "arbin-csv"}
    attrs["active_mass_g"] = active_mass_g
    meta = find_companion(p, "_metadata.csv")
    if meta is not None:
        m = pd.read_csv(meta)
        if len(m):
            attrs["metadata"] = {
                k: (v.item() if hasattr(v, "item") else v)
                for k, v in m.iloc[0].items()
                if not str(k).startswith("Unnamed")
            }
    if "DateTime" in frame and "Test_Time" in frame:
        attrs["start_timestamp"] = pd.Timestamp(
            float(frame["DateTime"].iloc[0]) - float(frame["Test_Time"].iloc[0]), unit="s"
        ).isoformat()
    return _arbin_table(frame, source, attrs)


_RES_COLUMNS = (
    "Test_ID",
    "Data_Point",
    "Test_Time",
    "Step_Index",
    "Cycle_Index",
    "Current",
    "Voltage",
    "Charge_Capacity",
    "Discharge_Capacity",
)  # what _arbin_table and the row order use


def _res_tables_ours(p: Path) -> tuple[pd.DataFrame, dict[str, Any], str]:
    return read_res_tables(p, file_label(p), only=_RES_COLUMNS)


def _res_tables_mdbtools(p: Path) -> tuple[pd.DataFrame, dict[str, Any], str]:
    def export(table: str) -> pd.DataFrame:
        out = subprocess.run(
            ["mdb-export", os.fspath(p), table], capture_output=True, check=True, timeout=600
        ).stdout
        return pd.read_csv(io.BytesIO(out))

    data = export("Channel_Normal_Table")
    try:
        g = export("Global_Table")
        glob = g.iloc[0].to_dict() if len(g) else {}
    except (subprocess.CalledProcessError, pd.errors.EmptyDataError):
        glob = {}
    return data, glob, "mdbtools"


def _in_order(data: pd.DataFrame, keys: list[str]) -> bool:
    """Whether the rows are already sorted by ``keys`` (a sort of 10^6 rows costs ~0.2 s)."""
    cols = [pd.to_numeric(data[k], errors="coerce").to_numpy(float) for k in keys]
    if any(np.isnan(c).any() for c in cols):
        return False
    ahead = np.zeros(len(data) - 1, dtype=bool)  # row i+1 strictly after row i on earlier keys
    for c in cols:
        d = np.diff(c)
        if np.any((d < 0) & ~ahead):
            return False
        ahead |= d > 0
    return True


def read_arbin_res(
    path: str | os.PathLike[str], *, active_mass_g: float | None = None
) -> pd.DataFrame:
    """Read an Arbin ``.res`` file (a Microsoft Access database) into the canonical table.

    Parameters
    ----------
    path : path-like
        The ``.res`` file.
    active_mass_g : float, optional
        Active mass in g (the file's own ``MASS`` entry is kept in ``attrs['metadata']``).

    Returns
    -------
    pandas.DataFrame
        The canonical cycling table, from ``Channel_Normal_Table``; ``attrs['metadata']``
        holds ``Global_Table`` (test name, schedule, mass...); ``attrs['decoder']`` is
        ``"cathodescope"`` (our numpy decoder of the Jet 4 data pages), ``"access_parser"``
        (its row parser: Jet 3 files, tables with variable-length columns or overflow rows)
        or ``"mdbtools"`` (access-parser not installed).

    Raises
    ------
    TruncatedFileError
        The file is not a whole number of database pages, or holds fewer rows than the table
        definition says (cut short).
    FileFormatError
        Neither ``access-parser`` nor mdbtools is available, or the database cannot be read.
    EmptyDataError
        The data table holds no rows.
    """
    p = check_input_file(path, "Arbin")
    source = file_label(p)
    try:
        import access_parser  # noqa: F401

        reader = _res_tables_ours
    except ImportError:
        if shutil.which("mdb-export") is None:
            raise FileFormatError(
                f"{source}: Arbin .res files are Microsoft Access databases; reading them needs "
                "the 'access-parser' package (pip install access-parser) or mdbtools "
                "(mdb-export on PATH). Alternatively export the test as CSV from Arbin's "
                "software and read that."
            ) from None
        reader = _res_tables_mdbtools
    try:
        data, glob, decoder = reader(p)
    except CathodescopeError:
        raise
    except Exception as exc:  # the Access readers raise many kinds of errors on bad files
        raise FileFormatError(
            f"{source}: the Access database could not be read ({type(exc).__name__}: {exc}); "
            "the file is corrupt or not an Arbin .res file."
        ) from exc
    if len(data) == 0:
        raise EmptyDataError(f"{source}: Channel_Normal_Table holds no rows.")
    sort_cols = [c for c in ("Test_ID", "Data_Point") if c in data]
    if sort_cols and not _in_order(data, sort_cols):
        data = data.sort_values(sort_cols, kind="stable").reset_index(drop=True)
    attrs: dict[str, Any] = {
        "instrument": "Arbin",
        "format": "arbin-res",
        "active_mass_g": active_mass_g,
        "metadata": {k: (v.item() if hasattr(v, "item") else v) for k, v in glob.items()},
        "decoder": decoder,
    }
    if "Start_DateTime" in glob:
        attrs["start_timestamp"] = (
            _OLE_EPOCH + pd.to_timedelta(float(glob["Start_DateTime"]), unit="D")
        ).isoformat()
    return _arbin_table(data, source, attrs)
