"""Checks every reader shares: the input exists and is a readable file, a text table ends in a
complete line, decompression stays bounded, binary values lie in a physical range.

They turn the usual accidents (mistyped path, folder given for a file, interrupted copy,
corrupt bytes, a gzip bomb) into specific :mod:`cathodescope.errors` classes or warnings, so a
reader never hands back a silent short or absurd result.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from cathodescope.errors import (
    CorruptValuesWarning,
    DataTooLargeError,
    IncompleteRowWarning,
    InputIsFolderError,
    InputNotFoundError,
    InputPermissionError,
    TruncatedFileError,
)

#: Largest decompressed size accepted by :func:`read_gzip_bounded` unless told otherwise (bytes).
MAX_DECOMPRESSED_BYTES = 2 * 1024**3


def check_input_file(path: str | os.PathLike[str], what: str = "input") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` after checking it is a readable file.

    Parameters
    ----------
    path : str or path-like
        The file a reader is asked to open.
    what : str
        What the file should be (``"Xradia"``, ``"UXD"``...), used in messages.

    Returns
    -------
    Path
        The same path.

    Raises
    ------
    InputNotFoundError
        If nothing exists at ``path`` (a subclass of ``FileNotFoundError``).
    InputIsFolderError
        If ``path`` is a folder.
    InputPermissionError
        If the file cannot be read with this account's permissions.

    Examples
    --------
    >>> check_input_file("/no/such/file.xrm", "Xradia")
    Traceback (most recent call last):
    ...
    cathodescope.errors.InputNotFoundError: Xradia file /no/such/file.xrm does not exist; check the path.
    """
    p = Path(path)
    if p.is_dir():
        raise InputIsFolderError(f"{what} file {p} is a folder; give a file inside it.")
    if not p.exists():
        raise InputNotFoundError(f"{what} file {p} does not exist; check the path.")
    if not os.access(p, os.R_OK):
        raise InputPermissionError(
            f"{what} file {p} cannot be read with this account's permissions; check them "
            "(ls -l) or copy the file somewhere readable."
        )
    return p


def incomplete_last_line(text: str) -> str | None:
    """The last line of a text table when the file was cut inside it, else None.

    A complete text file ends with a line break; an interrupted copy or acquisition leaves the
    last line without one.

    Parameters
    ----------
    text : str
        The whole file.

    Returns
    -------
    str or None
        The unfinished last line, or None when the text ends with a line break (or is empty).

    Examples
    --------
    >>> incomplete_last_line("1 2\\n3 4\\n") is None
    True
    >>> incomplete_last_line("1 2\\n3 4\\n5 ")
    '5 '
    """
    if not text or text.endswith(("\n", "\r")):
        return None
    return text.rsplit("\n", 1)[-1]


def raise_if_cut(text: str, name: str, *, values_per_line: int | None = None) -> None:
    """Raise :class:`TruncatedFileError` when a text table ends inside a data line.

    Parameters
    ----------
    text : str
        The whole file.
    name : str
        File name for the message.
    values_per_line : int, optional
        How many whitespace-separated values a full data line holds. When given, an unfinished
        last line holding that many values is accepted (a writer that omits the final line
        break); without it every unfinished line is refused.

    Raises
    ------
    TruncatedFileError
        If the last line has no line break (and fewer values than a full line).
    """
    last = incomplete_last_line(text)
    if last is None or not last.strip():
        return
    if values_per_line is not None and len(last.split()) >= values_per_line:
        return
    raise TruncatedFileError(
        f"{name} ends inside a data line ({last.strip()[:40]!r} has no line break): the copy "
        "or the acquisition was interrupted; copy the file again."
    )


def warn_incomplete_row(source: str, n_kept: int, *, stacklevel: int = 3) -> None:
    """Say that the cut last row of a text table was left out (never read silently short).

    Parameters
    ----------
    source : str
        The file, for the message.
    n_kept : int
        Rows kept.
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_incomplete_row("cell.csv", 120)
    >>> str(caught[0].message).startswith("cell.csv ends inside its last row")
    True
    """
    warnings.warn(
        f"{source} ends inside its last row (an interrupted copy or a test still running); "
        f"that row was left out and {n_kept} complete rows were read. Copy the file again if "
        "the test has finished.",
        IncompleteRowWarning,
        stacklevel=stacklevel,
    )


def read_gzip_bounded(
    path: str | os.PathLike[str], *, limit: int = MAX_DECOMPRESSED_BYTES, what: str = "gzip"
) -> bytes:
    """Decompress a gzip file, refusing to inflate it beyond ``limit`` bytes.

    Parameters
    ----------
    path : str or path-like
        The gzip file.
    limit : int
        Largest decompressed size accepted, in bytes.
    what : str
        What the file is, for messages.

    Returns
    -------
    bytes
        The decompressed content.

    Raises
    ------
    DataTooLargeError
        If the content decompresses to more than ``limit`` bytes (a corrupt or hostile file).
    TruncatedFileError
        If the compressed stream ends early.
    """
    import gzip
    import zlib

    p = Path(path)
    chunks: list[bytes] = []
    total = 0
    try:
        with gzip.open(p, "rb") as fh:
            while True:
                chunk = fh.read(1 << 22)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise DataTooLargeError(
                        f"{what} file {p} decompresses to more than {limit / 1024**2:.0f} MiB; "
                        "it is corrupt or not what it claims to be: check the file."
                    )
                chunks.append(chunk)
    except EOFError as exc:
        raise TruncatedFileError(
            f"{what} file {p}: the compressed stream ends early; copy the file again."
        ) from exc
    except (OSError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise TruncatedFileError(
            f"{what} file {p}: the compressed stream is corrupt ({exc}); copy the file again."
        ) from exc
    return b"".join(chunks)


def warn_if_out_of_range(
    values: np.ndarray, *, limit: float, what: str, source: str, stacklevel: int = 3
) -> bool:
    """Warn with :class:`~cathodescope.errors.CorruptValuesWarning` when values are absurd.

    Binary formats give astronomically large numbers (1e24-1e38) when bytes are corrupt;
    those must not reach an analysis silently.

    Parameters
    ----------
    values : numpy.ndarray
        The values read.
    limit : float
        Largest magnitude the format can physically hold (same unit as ``values``).
    what : str
        What the values are (``"counts"``, ``"height (m)"``...), for the message.
    source : str
        The file, for the message.
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        True when a warning was given.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_out_of_range(np.array([1.0, 3e30]), limit=1e12, what="counts", source="a.raw")
    True
    >>> "1 of 2 counts" in str(caught[0].message)
    True
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "fc" or arr.size == 0:
        return False
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(arr) | (np.abs(arr) > limit)
    n_bad = int(np.count_nonzero(bad))
    if not n_bad:
        return False
    warnings.warn(
        f"{source}: {n_bad} of {arr.size} {what} are non-finite or beyond +-{limit:g}, which "
        "the format cannot hold physically: the file is probably corrupt; copy it again "
        "before trusting results.",
        CorruptValuesWarning,
        stacklevel=stacklevel,
    )
    return True
