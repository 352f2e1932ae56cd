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


# Coordinate units that mean "array index", not a length: such coordinates carry no spacing.
_INDEX_UNITS = frozenset({"pixel", "pixels", "px", "voxel", "voxels", "index"})


def spacing_from_coords(data: Any, ndim: int | None = None) -> tuple[float, ...] | None:
    """Read the pixel/voxel spacing in um from the coordinates of a DataArray.

    Parameters
    ----------
    data : xarray.DataArray or array-like
        Data whose last ``ndim`` dimensions are spatial. Plain arrays have no coordinates.
    ndim : int, optional
        Number of trailing spatial dimensions; default all dimensions except ``channel`` and
        ``energy``.

    Returns
    -------
    tuple of float or None
        One spacing in um per spatial axis (array order) taken from evenly spaced 1-D
        coordinates, or None when ``data`` carries no coordinate on any spatial axis.
        Coordinates whose ``units`` attribute says ``"pixel"`` (array indices) are ignored.

    Raises
    ------
    SpacingError
        If a spatial coordinate is not evenly spaced, or only some spatial axes have
        coordinates.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> img = xr.DataArray(np.zeros((3, 4)), dims=("y", "x"),
    ...                    coords={"y": np.arange(3) * 0.05, "x": np.arange(4) * 0.05})
    >>> spacing_from_coords(img)
    (0.05, 0.05)
    """
    dims = getattr(data, "dims", None)
    coords = getattr(data, "coords", None)
    if dims is None or coords is None:
        return None
    spatial = [d for d in dims if d not in ("channel", "energy", "element")]
    if ndim is not None:
        spatial = list(dims[-ndim:])
    found: list[float | None] = []
    for dim in spatial:
        if dim not in coords or coords[dim].ndim != 1 or coords[dim].size < 2:
            found.append(None)
            continue
        if str(coords[dim].attrs.get("units", "um")).lower() in _INDEX_UNITS:
            found.append(None)  # pixel indices, not a physical length
            continue
        values = np.asarray(coords[dim].values, dtype=float)
        steps = np.diff(values)
        step = float(np.median(np.abs(steps)))
        if not np.isfinite(step) or step <= 0 or np.max(np.abs(np.abs(steps) - step)) > 1e-3 * step:
            raise SpacingError(
                f"the {dim!r} coordinate is not evenly spaced (steps {steps.min():g} to "
                f"{steps.max():g} um); resample the data onto a regular grid first."
            )
        # (last - first) / (n - 1), rounded to 12 significant digits: 0.049, not 0.04899999...
        found.append(float(f"{abs(values[-1] - values[0]) / (values.size - 1):.12g}"))
    if all(v is None for v in found):
        return None
    if any(v is None for v in found):
        missing = [d for d, v in zip(spatial, found, strict=True) if v is None]
        raise SpacingError(
            f"the data have coordinates on some spatial axes but not on {missing}; give "
            "coordinates on every spatial axis or none (and pass spacing=)."
        )
    return tuple(float(v) for v in found if v is not None)


def resolve_spacing(
    data: Any,
    spacing: float | Sequence[float] | None,
    ndim: int | None = None,
    *,
    rtol: float = 1e-3,
) -> tuple[float, ...]:
    """Return the one trustworthy spacing (um per axis) of ``data``: the single validator.

    The spacing comes from the DataArray coordinates when they carry it; an explicit
    ``spacing`` is checked against them. Plain arrays need an explicit ``spacing``.

    Parameters
    ----------
    data : xarray.DataArray or array-like
        The image or volume (spatial dimensions last).
    spacing : float or sequence of float or None
        Explicit pixel/voxel size in um, one value or one per axis in array order.
    ndim : int, optional
        Number of spatial dimensions; default ``data.ndim`` for plain arrays.
    rtol : float
        Relative tolerance for the explicit spacing to agree with the coordinates.

    Returns
    -------
    tuple of float
        ``ndim`` positive, finite spacings in um.

    Raises
    ------
    SpacingError
        If there is no spacing at all, if it is invalid, or if an explicit spacing disagrees
        with the coordinates (the message names both).

    Examples
    --------
    >>> import numpy as np
    >>> resolve_spacing(np.zeros((4, 4)), 0.05)
    (0.05, 0.05)
    """
    from_coords = spacing_from_coords(data, ndim)
    if ndim is None:
        ndim = len(from_coords) if from_coords is not None else int(np.ndim(data))
    if from_coords is None:
        return normalize_spacing(spacing, ndim)
    from_coords = normalize_spacing(from_coords, ndim)
    if spacing is None:
        return from_coords
    explicit = normalize_spacing(spacing, ndim)
    if not np.allclose(explicit, from_coords, rtol=rtol, atol=0.0):
        raise SpacingError(
            f"spacing={explicit} um contradicts the data's coordinates, which say "
            f"{from_coords} um; drop the explicit spacing to use the coordinates, or fix the "
            "coordinates."
        )
    return explicit  # agrees with the coordinates; the value as the caller wrote it


def resolve_spacing_all(
    items: Iterable[tuple[str, Any]],
    spacing: float | Sequence[float] | None,
    ndim: int,
    *,
    rtol: float = 1e-3,
) -> tuple[float, ...]:
    """:func:`resolve_spacing` for several arrays on one grid (labels and channels).

    Every item that carries coordinates is read; they must agree with each other and with an
    explicit ``spacing``. Items without coordinates (plain arrays) are not consulted.

    Parameters
    ----------
    items : iterable of (str, array-like)
        ``(name, data)`` pairs, the name used in error messages (e.g. ``"channel 'Ni'"``).
    spacing : float or sequence of float or None
        Explicit pixel/voxel size in um, one value or one per axis in array order.
    ndim : int
        Number of spatial dimensions (the trailing dimensions of every item).
    rtol : float
        Relative tolerance of the agreement.

    Returns
    -------
    tuple of float
        ``ndim`` positive, finite spacings in um.

    Raises
    ------
    SpacingError
        If there is no spacing at all, if it is invalid, or if two sources disagree (the
        message names both).

    Examples
    --------
    >>> import numpy as np
    >>> resolve_spacing_all([("labels", np.zeros((2, 2), int))], 0.1, 2)
    (0.1, 0.1)
    """
    found: tuple[float, ...] | None = None
    source = ""
    for name, data in items:
        coords = spacing_from_coords(data, ndim)
        if coords is None:
            continue
        coords = normalize_spacing(coords, ndim)
        if found is None:
            found, source = coords, name
        elif not np.allclose(coords, found, rtol=rtol, atol=0.0):
            raise SpacingError(
                f"the coordinates of {name} say a spacing of {coords} um but those of {source} "
                f"say {found} um; put every array on one grid (same coordinates)."
            )
    if found is None:
        return normalize_spacing(spacing, ndim)
    if spacing is None:
        return found
    explicit = normalize_spacing(spacing, ndim)
    if not np.allclose(explicit, found, rtol=rtol, atol=0.0):
        raise SpacingError(
            f"spacing={explicit} um contradicts the coordinates of {source}, which say "
            f"{found} um; drop the explicit spacing to use the coordinates, or fix the "
            "coordinates."
        )
    return explicit  # agrees with the coordinates; the value as the caller wrote it
