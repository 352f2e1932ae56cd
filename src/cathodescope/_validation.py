"""The one place where shared arguments (spacing, finite data, choices) are checked."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from cathodescope.errors import NonFiniteDataError, ParameterError, SpacingError


def normalize_spacing(spacing: float | Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Return the physical sampling of an ``ndim``-dimensional array as a tuple, one per axis.

    Parameters
    ----------
    spacing : float or sequence of float
        Pixel/voxel size in um, either one value for all axes or one per axis in array
        order (``z, y, x`` for volumes, ``y, x`` for images).
    ndim : int
        Number of spatial dimensions of the array it describes.

    Returns
    -------
    tuple of float
        ``ndim`` positive, finite spacings in um.

    Raises
    ------
    SpacingError
        If the spacing is missing, not a number, non-finite, <= 0 or of the wrong length.

    Examples
    --------
    >>> normalize_spacing(0.049, 3)
    (0.049, 0.049, 0.049)
    >>> normalize_spacing((0.0735, 0.049, 0.049), 3)
    (0.0735, 0.049, 0.049)
    """
    if spacing is None:
        raise SpacingError(
            "spacing is required: give the pixel/voxel size in um, e.g. spacing=0.049 or "
            "spacing=(0.0735, 0.049, 0.049) in (z, y, x) order."
        )
    try:
        values = np.atleast_1d(np.asarray(spacing, dtype=float))
    except (TypeError, ValueError) as exc:
        raise SpacingError(f"spacing must be numbers in um, got {spacing!r}.") from exc
    if values.ndim != 1:
        raise SpacingError(f"spacing must be a number or a flat sequence, got {spacing!r}.")
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.size != ndim:
        raise SpacingError(
            f"spacing has {values.size} values but the data have {ndim} spatial dimensions; "
            f"give one value or {ndim} values in array axis order."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise SpacingError(
            f"spacing must be finite and > 0 um, got {tuple(values.tolist())}; check the "
            "pixel size in the instrument metadata."
        )
    return tuple(float(v) for v in values)


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise :class:`NonFiniteDataError` if ``array`` holds NaN or inf, saying how many."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "fc":
        return
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        raise NonFiniteDataError(
            f"{name} contains {bad} NaN/inf values out of {arr.size}; replace them (e.g. "
            "np.nan_to_num) or mask them out before the analysis."
        )


def check_choice(value: Any, choices: Iterable[Any], name: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ParameterError listing them."""
    options = tuple(choices)
    if value not in options:
        raise ParameterError(f"{name}={value!r} is not valid; expected one of {options}.")
    return value


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is finite and > 0 (>= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a number, got {value!r}.") from exc
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be finite and {bound}, got {value!r}.")
    return v
