"""Memory limits: parse ``1.5GiB``-style sizes and plan workers and chunk sizes within them."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from cathodescope.errors import DataTooLargeError, ParameterError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")

#: resident memory of one dask worker process (interpreter, numpy/scipy/dask/distributed
#: imports, nanny), measured ~0.2 GiB on Linux; the driver process costs about the same.
PROCESS_OVERHEAD = 200 * 2**20
#: bytes held per voxel of a chunk while it is processed: three float32 channel reads, the
#: float32 sum, the bool mask, int32/int64 labels and dask's copies of them (measured x2 margin)
BYTES_PER_CHUNK_VOXEL = 64
#: bytes held per voxel of a particle crop during the engine's per-particle work: float32
#: channels, labels, bool masks, the hull fill, the float32 depth map, float64 value gathers
BYTES_PER_CROP_VOXEL = 96
#: bytes held per voxel of a connected component's crop while the split task runs the watershed
#: on it (int32 labels read, bool mask, float32 image and EDT, markers, watershed labels):
#: measured 21.7 B at 7.1e6 and 18.6 B at 2.4e7 voxels with scikit-image's watershed, 17.6 B at
#: 4.1e6 with ours (peak RSS above a warmed-up worker, two touching spheres), x2 margin. Smaller than the per-particle cost: components were
#: refused on the per-particle constant although their split fits (1024^3, 2 workers, 4 GiB).
BYTES_PER_SPLIT_VOXEL = 48
_MIN_CHUNK = 32


def parse_memory_limit(text: str | int | float) -> int:
    """Parse a memory size such as ``"1.5GiB"``, ``"800MB"`` or ``4e9`` into bytes.

    Parameters
    ----------
    text : str or number
        A number of bytes, or a number with a unit: ``B``, ``kB``/``MB``/``GB``/``TB``
        (powers of 1000) or ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 1024), case-insensitive.

    Returns
    -------
    int
        The size in bytes.

    Raises
    ------
    ParameterError
        If the text is not a size or the size is not positive.

    Examples
    --------
    >>> parse_memory_limit("1.5GiB")
    1610612736
    >>> parse_memory_limit("800MB")
    800000000
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = _SIZE.match(str(text))
        if match is None:
            raise ParameterError(
                f"memory limit {text!r} is not a size; write e.g. 1.5GiB, 800MB or 4e9 (bytes)."
            )
        value, unit = float(match.group(1)), match.group(2).lower()
    if unit not in _UNITS:
        raise ParameterError(
            f"memory limit {text!r} has an unknown unit {unit!r}; use one of B, kB, MB, GB, TB, "
            "KiB, MiB, GiB, TiB."
        )
    size = value * _UNITS[unit]
    if not math.isfinite(size) or size <= 0:
        raise ParameterError(f"memory limit {text!r} must be a positive size.")
    return int(size)


def format_bytes(n: float) -> str:
    """A byte count in binary units, for messages.

    Parameters
    ----------
    n : float
        Size in bytes.

    Returns
    -------
    str
        E.g. ``'1.50 GiB'`` for 1610612736.
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


@dataclass(frozen=True)
class MemoryPlan:
    """Workers, per-worker memory and chunk shape that keep a run within a memory limit.

    Parameters
    ----------
    limit : int
        Memory limit of the whole process tree (driver and workers), bytes.
    n_workers : int
        Number of dask worker processes (one thread each).
    worker_limit : int
        Memory limit of one worker (dask ``memory_limit``), bytes.
    chunks : tuple of int
        Chunk shape (voxels per axis, array order) for the chunked passes.
    max_crop_voxels : int
        Largest particle crop (voxels) one worker can hold during the per-particle work.
    """

    limit: int
    n_workers: int
    worker_limit: int
    chunks: tuple[int, ...]
    max_crop_voxels: int

    def check_crop(self, n_voxels: int, what: str, *, split: bool = False) -> None:
        """Raise :class:`DataTooLargeError` when a crop of ``n_voxels`` cannot fit a worker.

        ``split=True`` checks a connected component's crop for the split task
        (:data:`BYTES_PER_SPLIT_VOXEL`), otherwise a particle's crop for the per-particle
        work (:data:`BYTES_PER_CROP_VOXEL`).
        """
        per_voxel = BYTES_PER_SPLIT_VOXEL if split else BYTES_PER_CROP_VOXEL
        if n_voxels * per_voxel > self.max_crop_voxels * BYTES_PER_CROP_VOXEL:
            need = n_voxels * per_voxel + PROCESS_OVERHEAD
            raise DataTooLargeError(
                f"{what} spans {n_voxels} voxels and needs about {format_bytes(need)} in one "
                f"worker, but --memory-limit {format_bytes(self.limit)} over {self.n_workers} "
                f"worker(s) leaves {format_bytes(self.worker_limit)} each; raise --memory-limit "
                "or lower --workers."
            )


def plan_memory(
    shape: tuple[int, ...],
    limit: int | str | None = None,
    *,
    n_workers: int | None = None,
) -> MemoryPlan:
    """Size workers and chunks so that the whole process tree stays within ``limit``.

    The driver keeps one process overhead; each worker gets an equal share of the rest. Chunks
    are cubes (clipped to the shape) holding at most a quarter of a worker's share, at
    :data:`BYTES_PER_CHUNK_VOXEL` bytes per voxel.

    Parameters
    ----------
    shape : tuple of int
        Volume shape (voxels, array order).
    limit : int or str, optional
        Memory limit in bytes or as text (``"4GiB"``); default: 3/4 of the machine's memory.
    n_workers : int, optional
        Worker processes; default: the CPU count, reduced until each worker has at least
        ``4 x`` the overhead of a process.

    Returns
    -------
    MemoryPlan

    Raises
    ------
    ParameterError
        For an impossible limit: below what the driver and one worker need to start, or too
        small for the smallest chunk (32 voxels per axis).

    Examples
    --------
    >>> plan = plan_memory((1024, 1024, 1024), "4GiB", n_workers=2)
    >>> plan.n_workers, plan.chunks
    (2, (128, 128, 128))
    """
    total = _total_memory()
    lim = int(0.75 * total) if limit is None else parse_memory_limit(limit)
    if n_workers is not None and (int(n_workers) != n_workers or n_workers < 1):
        raise ParameterError(
            f"workers (--workers) must be a positive whole number, got {n_workers!r}."
        )
    floor = 2 * PROCESS_OVERHEAD + _MIN_CHUNK**3 * BYTES_PER_CHUNK_VOXEL * 4
    if lim < floor:
        raise ParameterError(
            f"memory limit {format_bytes(lim)} is too small: the driver and one worker need "
            f"at least {format_bytes(floor)}; raise --memory-limit."
        )
    if n_workers is None:
        n_workers = max(1, os.cpu_count() or 1)
        while n_workers > 1 and (lim - PROCESS_OVERHEAD) / n_workers < 4 * PROCESS_OVERHEAD:
            n_workers -= 1
    worker = (lim - PROCESS_OVERHEAD) // n_workers
    room = worker - PROCESS_OVERHEAD
    if room < _MIN_CHUNK**3 * BYTES_PER_CHUNK_VOXEL * 4:
        raise ParameterError(
            f"memory limit {format_bytes(lim)} shared by {n_workers} workers leaves "
            f"{format_bytes(max(room, 0))} of working memory each, too little for one chunk; "
            "raise --memory-limit or lower --workers."
        )
    edge = int((room / 4 / BYTES_PER_CHUNK_VOXEL) ** (1 / len(shape)))
    edge = max(_MIN_CHUNK, 2 ** int(math.log2(edge)))  # powers of two: aligned zarr chunks
    chunks = tuple(min(edge, int(n)) for n in shape)
    return MemoryPlan(
        limit=lim,
        n_workers=int(n_workers),
        worker_limit=int(worker),
        chunks=chunks,
        max_crop_voxels=int(room // BYTES_PER_CROP_VOXEL),
    )
