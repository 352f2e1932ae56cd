"""Memory limits and the slab plan of the streaming multi-energy chain (:mod:`._stream`).

The plan counts the bytes each pass of :func:`cathodescope.tomo.stream_energies` allocates per
detector row, per reconstructed ``z`` slice and per projection angle, and picks the largest
slabs that fit under the limit; an impossible limit is refused with the minimum.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cathodescope.errors import DataTooLargeError, ParameterError

_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
#: What the interpreter, numpy/scipy/numba/dask/zarr and the bookkeeping take before any slab.
BASELINE_BYTES = 640 * 2**20
#: Share of the remaining memory given to slabs: the rest absorbs allocator fragmentation.
SAFETY = 0.8


def parse_memory_limit(limit: int | float | str) -> int:
    """A memory size in bytes from ``6GiB``, ``512MiB``, ``8GB``, ``6G`` (binary) or a number.

    Parameters
    ----------
    limit : int, float or str
        Bytes, or a number with a unit: ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 1024),
        ``kB``/``MB``/``GB``/``TB`` (powers of 1000); a bare ``K``/``M``/``G``/``T`` is binary.

    Returns
    -------
    int
        Bytes.

    Raises
    ------
    ParameterError
        If the text is not a positive size.

    Examples
    --------
    >>> parse_memory_limit("6GiB")
    6442450944
    >>> parse_memory_limit("1.5 GB")
    1500000000
    """
    if isinstance(limit, int | float) and not isinstance(limit, bool):
        value = float(limit)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?i?)b?\s*", str(limit), re.IGNORECASE)
        if match is None:
            raise ParameterError(
                f"memory limit {limit!r} is not a size; write it as e.g. '6GiB', '512MiB' or "
                "'8GB' (--memory-limit)."
            )
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit in ("k", "m", "g", "t") and not str(limit).strip().lower().endswith("b"):
            unit += "i"  # '6G' means GiB, as in most tools
        value = number * (_BINARY.get(unit) or _UNITS[unit])
    if not value >= 1:
        raise ParameterError(f"memory limit {limit!r} must be a positive size (--memory-limit).")
    return int(value)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


@dataclass(frozen=True)
class StreamPlan:
    """How :func:`stream_energies` cuts the data to stay under a memory limit.

    Parameters
    ----------
    memory_limit : int
        Bytes allowed for the whole process.
    row_slab : int
        Detector rows per slab (normalisation, reconstruction) = ``z`` slices per chunk of the
        stored volumes (differences, decomposition).
    angle_block : int
        Projections per block of the alignment pass.
    minimum : int
        Smallest limit (bytes) with which these data can be streamed (one row, one angle).
    estimated_peak : int
        Estimated peak memory (bytes) with the chosen slab sizes.
    """

    memory_limit: int
    row_slab: int
    angle_block: int
    minimum: int
    estimated_peak: int

    def summary(self) -> dict[str, Any]:
        """The plan as plain numbers (GiB) for manifests."""
        return {
            "memory_limit_gib": self.memory_limit / 2**30,
            "row_slab": self.row_slab,
            "angle_block": self.angle_block,
            "minimum_gib": self.minimum / 2**30,
            "estimated_peak_gib": self.estimated_peak / 2**30,
        }


def _costs(
    shape: tuple[int, int, int], n_energies: int, n_unknowns: int, size: int, n_flats: int
) -> tuple[int, int, int, int]:
    """Bytes of one detector row (normalise/reconstruct), one ``z`` slice (decompose), one angle
    (align), and the fixed part (flats, one registration's FFTs)."""
    n_ang, ny, nx = shape
    n_pad = max(64, 2 ** math.ceil(math.log2(2 * nx)))  # the FBP filter's padded length
    per_row = max(
        8 * n_ang * nx * 4,  # raw block (and its dask copy), median filter, mask, T, -log, rings
        # FBP: input, transposed copy, padded, spectrum (complex64), filtered, output (x 3)
        4 * n_ang * nx * 4 + n_ang * n_pad * (4 + 8 + 4) + 3 * size * size * 4,
    )
    # least squares in float64 (inputs, stack, solution, residual, model) + float32 blocks
    per_slice = ((4 * n_energies + 4 * n_unknowns) * 8 + 3 * n_energies * 4) * size * size
    per_angle = 6 * ny * nx * 4  # reference, moving, magnified, shifted, read buffers
    fixed = 3 * max(1, n_flats) * ny * nx * 4 + 24 * ny * nx * 16
    return per_row, per_slice, per_angle, fixed


def _baseline() -> int:
    """:data:`BASELINE_BYTES`, or what this process already holds (plus 128 MiB) if more."""
    try:
        with open("/proc/self/statm") as fh:
            resident = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the fixed allowance
        return BASELINE_BYTES
    return max(BASELINE_BYTES, resident + 128 * 2**20)


def plan_stream(
    shape: Sequence[int],
    memory_limit: int | str,
    *,
    n_energies: int,
    n_unknowns: int,
    size: int | None = None,
    n_flats: int = 10,
    max_row_slab: int | None = None,
    max_angle_block: int | None = None,
) -> StreamPlan:
    """Slab and block sizes that keep :func:`stream_energies` under ``memory_limit``.

    The estimate counts the arrays each pass allocates (inputs, the temporaries of the
    median filters, FFTs and least squares, outputs) plus :data:`BASELINE_BYTES` for the
    interpreter and libraries (or what the process already holds, if more), and gives the slabs
    :data:`SAFETY` of what remains; the benchmark checks it against the measured peak RSS.

    Parameters
    ----------
    shape : (n_angles, n_rows, n_det)
        Projections of one energy.
    memory_limit : int or str
        Bytes or a size such as ``"6GiB"`` (:func:`parse_memory_limit`).
    n_energies : int
        Number of energies.
    n_unknowns : int
        Unknowns of the decomposition (elements plus matrix elements).
    size : int, optional
        Reconstructed slice side in pixels (default ``n_det``).
    n_flats : int
        Flat (or dark) frames per energy.
    max_row_slab, max_angle_block : int, optional
        Caps on the slab and block sizes (e.g. to match a store's chunks).

    Returns
    -------
    StreamPlan

    Raises
    ------
    DataTooLargeError
        If even one row and one angle at a time do not fit; the message gives the minimum.

    Examples
    --------
    >>> plan = plan_stream((181, 64, 80), "2GiB", n_energies=6, n_unknowns=4)
    >>> plan.row_slab, plan.angle_block
    (64, 181)
    """
    limit = parse_memory_limit(memory_limit)
    n_ang, ny, nx = (int(s) for s in shape)
    n = int(size or nx)
    per_row, per_slice, per_angle, fixed = _costs(
        (n_ang, ny, nx), n_energies, n_unknowns, n, n_flats
    )
    per_z = max(per_row, per_slice)
    baseline = _baseline()
    minimum = baseline + fixed + math.ceil(max(per_z, per_angle) / SAFETY)
    if limit < minimum:
        raise DataTooLargeError(
            f"--memory-limit {_gib(limit)} is below the minimum of {_gib(minimum)} needed to "
            f"stream {n_energies} energies of {n_ang} x {ny} x {nx} projections ({n} px slices) "
            f"one detector row and one angle at a time; give --memory-limit {_gib(minimum)} or "
            "more, or bin the detector."
        )
    budget = SAFETY * (limit - baseline - fixed)
    row_slab = int(min(ny, budget // per_z, max_row_slab or ny))
    angle_block = int(min(n_ang, budget // per_angle, max_angle_block or n_ang))
    if row_slab < 1 or angle_block < 1:
        raise ParameterError("max_row_slab and max_angle_block must be at least 1.")
    peak = baseline + fixed + max(row_slab * per_z, angle_block * per_angle)
    return StreamPlan(limit, row_slab, angle_block, minimum, peak)
