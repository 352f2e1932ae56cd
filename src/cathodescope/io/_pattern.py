"""The diffraction data model: one pattern (``two_theta``) or a series (``frame, two_theta``).

Every pattern reader of :mod:`cathodescope.io` returns what :func:`make_pattern` builds: a 1D
:class:`xarray.DataArray` with dimension ``two_theta`` (coordinate in degrees,
``attrs["units"] == "deg"``), ``attrs["units"] == "counts"`` and, when the file says it,
``attrs["wavelength_A"]`` (and ``wavelength2_A``, ``kalpha2_ratio``). A coordinate ``sigma``
(same units as the counts) is present when the file gives uncertainties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
    FileFormatError,
    FrameLengthMismatchError,
    MissingWavelengthError,
    NonFiniteDataError,
    NonMonotonicAxisError,
)

__all__ = ["make_pattern", "make_series"]


def make_pattern(
    two_theta: Sequence[float] | np.ndarray,
    intensity: Sequence[float] | np.ndarray,
    *,
    wavelength: float | None = None,
    sigma: Sequence[float] | np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Build a validated diffraction pattern.

    Parameters
    ----------
    two_theta : array_like, shape (n,)
        Scattering angle 2theta in degrees, strictly increasing.
    intensity : array_like, shape (n,)
        Intensity (counts or counts per second).
    wavelength : float, optional
        Wavelength in Angstrom (Ka1 for a lab doublet). Stored as ``attrs["wavelength_A"]``.
    sigma : array_like, shape (n,), optional
        Standard uncertainty of each intensity, stored as coordinate ``sigma``.
    attrs : mapping, optional
        Extra metadata.

    Returns
    -------
    xarray.DataArray
        Dimension ``two_theta`` (degrees), ``attrs["units"] = "counts"`` unless given.

    Raises
    ------
    NonMonotonicAxisError
        If 2theta is not strictly increasing (sort or split the scan first).
    FileFormatError
        If the arrays are empty or of different lengths.
    NonFiniteDataError
        If 2theta holds NaN/inf.

    Examples
    --------
    >>> p = make_pattern([10.0, 10.1, 10.2], [5.0, 7.0, 6.0], wavelength=1.5406)
    >>> p.dims, p.attrs["wavelength_A"]
    (('two_theta',), 1.5406)
    """
    tth = np.asarray(two_theta, dtype=float).ravel()
    y = np.asarray(intensity, dtype=float).ravel()
    if tth.size == 0:
        raise FileFormatError("the pattern is empty: no 2theta/intensity pairs were found.")
    if tth.size != y.size:
        raise FileFormatError(
            f"2theta has {tth.size} values but the intensity has {y.size}; they must match."
        )
    if not np.all(np.isfinite(tth)):
        raise NonFiniteDataError("2theta contains NaN/inf; the angle axis must be finite.")
    _check_increasing(tth, "2theta")
    meta: dict[str, Any] = {"units": "counts"}
    if attrs:
        meta.update({k: v for k, v in attrs.items() if v is not None})
    if wavelength is not None:
        wl = float(wavelength)
        if not np.isfinite(wl) or wl <= 0:
            raise MissingWavelengthError(
                f"wavelength must be a positive number in Angstrom, got {wavelength!r}."
            )
        meta["wavelength_A"] = wl
    coords: dict[str, Any] = {
        "two_theta": xr.Variable("two_theta", tth, attrs={"units": "deg"}),
    }
    if sigma is not None:
        s = np.asarray(sigma, dtype=float).ravel()
        if s.size != tth.size:
            raise FileFormatError(f"sigma has {s.size} values, 2theta has {tth.size}.")
        coords["sigma"] = xr.Variable("two_theta", s, attrs={"units": meta["units"]})
    return xr.DataArray(y, dims=("two_theta",), coords=coords, attrs=meta, name="intensity")


def _check_increasing(values: np.ndarray, name: str) -> None:
    diffs = np.diff(values)
    if np.any(diffs <= 0):
        i = int(np.argmax(diffs <= 0))
        raise NonMonotonicAxisError(
            f"{name} is not strictly increasing (value {values[i + 1]!r} at index {i + 1} follows "
            f"{values[i]!r}); sort the points or split the file into separate scans."
        )


def _frame_coord(
    values: Sequence[float] | np.ndarray | None, n: int, name: str
) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != n:
        raise FrameLengthMismatchError(f"{name} has {arr.size} values for {n} frames.")
    return arr


def make_series(
    intensities: np.ndarray,
    two_theta: Sequence[float] | np.ndarray,
    *,
    wavelength: float | None = None,
    temperature: Sequence[float] | np.ndarray | None = None,
    time: Sequence[float] | np.ndarray | None = None,
    soc: Sequence[float] | np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Build a series of patterns from one 2D array of frames.

    Parameters
    ----------
    intensities : array_like, shape (n_frames, n_points)
        One pattern per row.
    two_theta : array_like, shape (n_points,)
        Common 2theta grid in degrees, strictly increasing.
    wavelength : float, optional
        Wavelength in Angstrom.
    temperature, time, soc : array_like, shape (n_frames,), optional
        Per-frame temperature (C), time (s) and state of charge (0-1 or %), stored as
        coordinates ``temperature_C``, ``time_s`` and ``soc`` along ``frame``.
    attrs : mapping, optional
        Extra metadata.

    Returns
    -------
    xarray.DataArray
        Dimensions ``("frame", "two_theta")``.

    Raises
    ------
    FrameLengthMismatchError
        If the array's second axis does not match the 2theta grid, or a per-frame coordinate
        has the wrong length.
    NonMonotonicAxisError
        If 2theta is not strictly increasing.
    """
    data = np.asarray(intensities, dtype=float)
    if data.ndim != 2:
        raise FrameLengthMismatchError(
            f"a series needs a 2D (frames, points) array, got shape {data.shape}."
        )
    tth = np.asarray(two_theta, dtype=float).ravel()
    if data.shape[1] != tth.size:
        raise FrameLengthMismatchError(
            f"frames have {data.shape[1]} points but the 2theta grid has {tth.size}."
        )
    first = make_pattern(
        tth, data[0] if data.shape[0] else np.zeros(tth.size), wavelength=wavelength, attrs=attrs
    )
    n = data.shape[0]
    coords: dict[str, Any] = {
        "two_theta": first.two_theta.variable,
        "frame": np.arange(n),
    }
    for name, values, unit in (
        ("temperature_C", temperature, "C"),
        ("time_s", time, "s"),
        ("soc", soc, "1"),
    ):
        arr = _frame_coord(values, n, name)
        if arr is not None:
            coords[name] = xr.Variable("frame", arr, attrs={"units": unit})
    return xr.DataArray(
        data, dims=("frame", "two_theta"), coords=coords, attrs=dict(first.attrs), name="intensity"
    )
