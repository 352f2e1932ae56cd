"""The one HDF5 opener of the project: missing, truncated and foreign files get specific errors."""

from __future__ import annotations

import os
from typing import Any

from cathodescope.common.files import check_input_file
from cathodescope.errors import FileFormatError, TruncatedFileError


def open_h5(path: str | os.PathLike[str], what: str = "HDF5") -> Any:
    """Open an HDF5 file read-only.

    Parameters
    ----------
    path : str or path-like
        The file.
    what : str
        What the file should be (``"XRF"``, ``"Data Exchange"``...), used in messages.

    Returns
    -------
    h5py.File
        The open file (use it as a context manager).

    Raises
    ------
    InputNotFoundError, InputIsFolderError, InputPermissionError
        If ``path`` does not exist, is a folder or cannot be read.
    TruncatedFileError
        If the file ends early (an interrupted copy or acquisition).
    FileFormatError
        If the file is not HDF5.
    """
    import h5py

    p = check_input_file(path, what)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        text = str(exc)
        if "truncated" in text or "eof" in text.lower():
            raise TruncatedFileError(
                f"{p} is a truncated HDF5 file ({text}); the copy or the acquisition was "
                "interrupted: copy the file again from the beamline storage."
            ) from exc
        raise FileFormatError(
            f"{p} is not a readable HDF5 file ({text}); check that it is {what} and that the "
            "copy is complete."
        ) from exc
