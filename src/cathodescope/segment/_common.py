"""Shared helpers of the segment package: array coercion, crops, distance maps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cathodescope._validation import check_finite
from cathodescope.errors import ParameterError


def as_array(data: Any, name: str) -> np.ndarray:
    """Return the values of a numpy array or ``xarray.DataArray`` (no copy when possible)."""
    values = getattr(data, "values", data)
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be an array, got {type(data).__name__}.") from exc
    if arr.ndim not in (2, 3):
        raise ParameterError(
            f"{name} must be a 2D (y, x) image or a 3D (z, y, x) volume, got shape {arr.shape}."
        )
    if arr.size == 0 or min(arr.shape) == 0:
        from cathodescope.errors import EmptyDataError

        raise EmptyDataError(f"{name} is empty (shape {arr.shape}); pass the loaded image.")
    return arr


def as_labels(labels: Any) -> np.ndarray:
    """Validate a label image: integer (or bool) 2D/3D array of non-negative ids."""
    arr = as_array(labels, "labels")
    if arr.dtype == bool:
        return arr.astype(np.int32)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ParameterError(
                f"labels must be an integer image (0 = background, 1..N particles), got dtype "
                f"{arr.dtype}; use the labels of a Segmentation."
            )
    if arr.dtype.kind == "i" and arr.min() < 0:
        raise ParameterError("labels must be >= 0 (0 = background).")
    return arr


def padded_slice(
    sl: Sequence[slice], shape: Sequence[int], pad: Sequence[int] | int
) -> tuple[slice, ...]:
    """Grow a crop by ``pad`` voxels per axis, clipped to the array."""
    pads = [pad] * len(shape) if isinstance(pad, int) else list(pad)
    return tuple(
        slice(max(s.start - p, 0), min(s.stop + p, n))
        for s, p, n in zip(sl, pads, shape, strict=True)
    )


def distance_inside(mask: np.ndarray, spacing: Sequence[float], *, parallel: int = 1) -> np.ndarray:
    """Exact Euclidean distance (um, float32) from each True voxel to the nearest False voxel.

    Uses the ``edt`` package (exact, anisotropic, several times faster and leaner than
    ``scipy.ndimage.distance_transform_edt``). The array border is *not* treated as background:
    a particle cut by the field of view is not eroded from the cut.
    """
    import edt

    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.all():  # edt returns huge sentinels when there is no background at all
        return np.full(mask.shape, np.inf, dtype=np.float32)
    return edt.edt(mask, anisotropy=tuple(spacing), black_border=False, parallel=parallel)


def voxels_per_um(spacing: Sequence[float], length_um: float) -> list[int]:
    """Half-width in voxels, per axis, of a length in um (at least 1)."""
    return [max(1, math.ceil(length_um / s)) for s in spacing]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed cavities of a binary mask (face-connected background, like scipy).

    Same result as ``scipy.ndimage.binary_fill_holes`` with its default structure, computed by
    labelling the background and keeping the components that reach the array border: one
    labelling pass instead of scipy's iterated dilation (about 10x faster on large crops).
    """
    from scipy import ndimage as ndi

    bg, n = ndi.label(~mask)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    for axis in range(mask.ndim):
        for idx in (0, -1):
            outside[np.unique(np.take(bg, idx, axis=axis))] = True
    outside[0] = True  # the mask itself
    return mask | ~outside[bg]


def check_finite_fast(array: np.ndarray, name: str) -> None:
    """:func:`cathodescope._validation.check_finite` with a fast path for finite float data.

    The float64 sum of float16/float32 values cannot overflow, so it is finite iff every value
    is (NaN and inf propagate); one streaming reduction instead of a full-size boolean
    temporary (~7x faster on 512^3). Anything else (overflow of float64 data, complex) falls
    back to the exact check, which also writes the error message.
    """
    if array.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.sum(array, dtype=np.float64))
        if math.isfinite(total):
            return
    check_finite(array, name)
