"""Shared helpers: turn user input into a checked (energy, mu) pair."""

from __future__ import annotations

from typing import Any

import numpy as np

from cathodescope.errors import (
    EnergyAxisError,
    NonFiniteDataError,
    ShapeMismatchError,
    TooFewPointsError,
)


def as_spectrum(
    spectrum: Any, energy: Any = None, *, name: str = "spectrum", min_points: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Return checked float64 ``(energy_eV, mu)`` arrays from a DataArray or arrays.

    Parameters
    ----------
    spectrum : xarray.DataArray or array-like
        A 1-D spectrum. A DataArray must have an ``energy`` coordinate in eV.
    energy : array-like, optional
        Energies in eV when ``spectrum`` is a plain array.
    name : str
        Used in error messages.
    min_points : int
        Minimum number of points.

    Raises
    ------
    EnergyAxisError
        Energies not strictly increasing (duplicates or out of order).
    NonFiniteDataError
        NaN/inf in energy or mu.
    TooFewPointsError
        Fewer than ``min_points`` points.
    ShapeMismatchError
        Energy and mu of different lengths, or a spectrum that is not 1-D.
    """
    if energy is None:
        coords = getattr(spectrum, "coords", None)
        if coords is None or "energy" not in coords:
            raise ShapeMismatchError(
                f"{name}: give a DataArray with an 'energy' coordinate (eV) or pass energy=."
            )
        units = coords["energy"].attrs.get("units", "eV")
        if units != "eV":
            from cathodescope.errors import UnitsError

            raise UnitsError(f"{name}: energy coordinate is in {units!r}; convert it to eV.")
        energy = np.asarray(coords["energy"].values, dtype=float)
    e = np.asarray(energy, dtype=float)
    mu = np.asarray(getattr(spectrum, "values", spectrum), dtype=float)
    if mu.ndim != 1 or e.ndim != 1:
        raise ShapeMismatchError(f"{name}: expected a 1-D spectrum, got shape {mu.shape}.")
    if e.shape != mu.shape:
        raise ShapeMismatchError(
            f"{name}: {e.size} energies but {mu.size} values; they must match one to one."
        )
    if e.size < min_points:
        raise TooFewPointsError(
            f"{name}: {e.size} points, at least {min_points} are needed; measure a longer scan."
        )
    if not np.all(np.isfinite(e)):
        raise NonFiniteDataError(f"{name}: the energy axis contains NaN/inf values.")
    if not np.all(np.isfinite(mu)):
        bad = int(np.count_nonzero(~np.isfinite(mu)))
        raise NonFiniteDataError(
            f"{name}: {bad} NaN/inf values in mu; remove those points (e.g. "
            "spectrum.dropna('energy')) before the analysis."
        )
    d = np.diff(e)
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        what = "duplicated" if d[i] == 0 else "decreasing"
        raise EnergyAxisError(
            f"{name}: {what} energies at points {i}-{i + 1} ({e[i]:g}, {e[i + 1]:g} eV); the "
            "axis must be strictly increasing: sort it and merge repeated points."
        )
    return e, mu
