"""What every X-ray absorption reader shares: energy units, the energy-axis check, the spectrum.

Every reader returns energies in eV. Units are never guessed silently: a file either declares
them (XDI ``Column.N: energy eV``, a header word ``eV``/``keV``, the ``energy_units=`` argument) or
its values admit only one reading (see :func:`resolve_energy_units`); otherwise
:class:`~cathodescope.errors.UnitsError` is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from cathodescope.errors import (
    EmptyDataError,
    EnergyAxisError,
    UnitsError,
)

EnergyUnits = Literal["eV", "keV", "auto"]
_UNIT_CHOICES = ("eV", "keV", "auto")

# Lowest absorption edge used in practice is Li K (~55 eV); the highest tabulated K edges are
# ~116 keV (U). A value below 30 cannot be eV, a value above 200 cannot be keV.
_MIN_EV = 30.0
_MAX_KEV = 200.0


def resolve_energy_units(
    energy: np.ndarray, declared: str | None, *, source: str = "energy"
) -> float:
    """Return the factor converting ``energy`` to eV (1.0 or 1000.0).

    Parameters
    ----------
    energy : ndarray
        Energy values as read from the file (any unit).
    declared : {"eV", "keV"} or None
        Units declared by the file or the caller; ``None`` means undeclared.
    source : str
        Name used in error messages.

    Returns
    -------
    float
        Multiply ``energy`` by this to get eV.

    Raises
    ------
    UnitsError
        If the units are undeclared and the values could be both eV and keV (between 30 and
        200), or if declared units are impossible for the values.

    Examples
    --------
    >>> resolve_energy_units(np.array([8.2, 8.6]), None)
    1000.0
    >>> resolve_energy_units(np.array([8200.0, 8600.0]), None)
    1.0
    """
    e = np.asarray(energy, dtype=float)
    lo, hi = float(np.nanmin(e)), float(np.nanmax(e))
    if declared is not None:
        unit = {"ev": "eV", "kev": "keV"}.get(str(declared).strip().lower())
        if unit is None:
            raise UnitsError(f"{source}: unknown energy unit {declared!r}; use 'eV' or 'keV'.")
        factor = 1.0 if unit == "eV" else 1000.0
        if hi * factor > _MAX_KEV * 1000 or lo * factor < 1.0:
            raise UnitsError(
                f"{source}: energies {lo:g}-{hi:g} declared in {unit} give {lo * factor:g}-"
                f"{hi * factor:g} eV, outside any X-ray absorption edge; check the units."
            )
        return factor
    could_be_ev = lo >= _MIN_EV
    could_be_kev = hi <= _MAX_KEV and lo * 1000.0 >= _MIN_EV
    if could_be_ev and not could_be_kev:
        return 1.0
    if could_be_kev and not could_be_ev:
        return 1000.0
    raise UnitsError(
        f"{source}: energy units are not declared and the values {lo:g}-{hi:g} could be eV "
        "or keV; pass energy_units='eV' or 'keV' (--energy-units eV on the command line), or "
        "add the unit to the column header."
    )


def _check_energy_axis(energy: np.ndarray, source: str) -> None:
    if energy.size < 2:
        raise EmptyDataError(f"{source}: fewer than 2 energy points; the file holds no spectrum.")
    if not np.all(np.isfinite(energy)):
        raise EnergyAxisError(f"{source}: the energy column contains NaN/inf; fix the file.")
    d = np.diff(energy)
    if np.any(d == 0):
        i = int(np.flatnonzero(d == 0)[0])
        raise EnergyAxisError(
            f"{source}: duplicated energy {energy[i]:g} eV at points {i} and {i + 1}; remove "
            "repeated points (or average them) before the analysis."
        )
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise EnergyAxisError(
            f"{source}: energies are not increasing ({energy[i]:g} then {energy[i + 1]:g} eV at "
            f"point {i}); sort the scan or split it into monotonic segments."
        )


def _spectrum(
    energy: np.ndarray,
    mu: np.ndarray,
    *,
    name: str,
    attrs: Mapping[str, Any],
    extra: Mapping[str, np.ndarray] | None = None,
):
    import xarray as xr

    coords: dict[str, Any] = {"energy": ("energy", energy, {"units": "eV"})}
    for key, values in (extra or {}).items():
        coords[key] = ("energy", np.asarray(values, dtype=float))
    return xr.DataArray(
        np.asarray(mu, dtype=float),
        dims=("energy",),
        coords=coords,
        name=name,
        attrs={"units": "a.u.", **attrs},
    )
