"""Atomic file output: write to a temporary file beside the target, then rename.

A crash, a full disk or an exception half-way through never leaves a half-written file under
the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    The temporary file keeps the target's suffix so that writers which choose their format by
    extension (matplotlib, pandas, tifffile) behave as for the target. On any exception the
    temporary file is removed and the target is left untouched. The file gets the permissions
    the umask allows (not mkstemp's 0600).

    Parameters
    ----------
    target : str or path-like
        The file to write.

    Yields
    ------
    Path
        The temporary file to write instead.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (folder / "a.txt").read_text()
    'hello'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f"{target.suffix}.part{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; outputs on shared beamline disks must honour the umask
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def current_umask() -> int:
    """Return the process umask (read without changing it for longer than one call).

    Returns
    -------
    int
        The umask, e.g. ``0o022``.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically.

    Parameters
    ----------
    target : str or path-like
        The file to write.
    data : bytes
        Its content.

    Returns
    -------
    Path
        The target path.
    """
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically.

    Parameters
    ----------
    target : str or path-like
        The file to write.
    text : str
        Its content.
    encoding : str
        Text encoding.

    Returns
    -------
    Path
        The target path.
    """
    return atomic_write_bytes(target, text.encode(encoding))


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file, read in chunks (works for files bigger than RAM).

    Parameters
    ----------
    path : str or path-like
        The file.
    chunk_size : int
        Bytes read at a time.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()
