"""Text-table helpers shared by the cycler readers (CSV checks, interrupted last rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cathodescope.common.files import check_input_file, warn_incomplete_row
from cathodescope.errors import EmptyDataError, FileFormatError
from cathodescope.io._cycler_table import file_label


def read_csv_checked(path: Path, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` with empty and unreadable files mapped to our errors."""
    source = file_label(path)
    check_input_file(path, "cycler")
    if path.stat().st_size == 0:
        raise EmptyDataError(f"{source}: the file is empty.")
    try:
        frame = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise EmptyDataError(f"{source}: the file holds no table.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FileFormatError(
            f"{source}: not a readable CSV table ({type(exc).__name__}: {exc}); if it is a "
            "binary export, name its format with format=... (e.g. 'arbin' for .res files)."
        ) from exc
    if len(frame) == 0:
        raise EmptyDataError(f"{source}: the header is complete but there are no data rows.")
    return frame


def drop_incomplete_last_row(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Drop the last row of an interrupted export (never read a cut number as a value).

    The last row is dropped, with an :class:`~cathodescope.errors.IncompleteRowWarning`, when
    the file does not end with a newline (cut mid-line) or when it has more missing fields than
    the row before it.
    """
    if len(frame) == 0:
        return frame
    with open(path, "rb") as fh:
        fh.seek(max(path.stat().st_size - 1, 0))
        ends_with_newline = fh.read(1) in (b"\n", b"\r")
    last_missing = int(frame.iloc[-1].isna().sum())
    prev_missing = int(frame.iloc[-2].isna().sum()) if len(frame) > 1 else 0
    if not ends_with_newline or last_missing > prev_missing:
        warn_incomplete_row(file_label(path), len(frame) - 1, stacklevel=3)
        return frame.iloc[:-1]
    return frame
