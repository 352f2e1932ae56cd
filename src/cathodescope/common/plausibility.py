"""Plausibility checks where a unit mistake is likely: they warn, naming the likely mistake.

A spacing typed in nm where um are expected, an energy in keV where eV are expected, a current
in A where mA are expected all give numbers that run to the end and mean nothing. These checks
do not refuse the value (an unusual instrument may need it); they give a
:class:`~cathodescope.errors.UnitPlausibilityWarning` that the command line prints as it happens
and the run folder records.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from cathodescope.errors import UnitPlausibilityWarning

#: Imaging spacings outside this range (um) are almost certainly in the wrong unit.
SPACING_RANGE_UM = (1e-3, 10.0)
#: Photon energies (eV) below this look like keV: no hard X-ray edge lies below 100 eV.
MIN_PLAUSIBLE_EV = 100.0


def _fmt(values: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def check_spacing_plausible(spacing: float | Sequence[float], *, stacklevel: int = 3) -> bool:
    """Warn when an imaging pixel/voxel spacing in um looks like a unit mistake.

    Above 10 um is more likely nm typed for um (``--spacing 49`` for 49 nm); below 1 nm is more
    likely m or mm typed for um (``--spacing 4.9e-8``).

    Parameters
    ----------
    spacing : float or sequence of float
        Spacing in um, one value or one per axis.
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        True when a warning was given.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_spacing_plausible(49)
    True
    >>> str(caught[0].message).split(":")[0]
    '--spacing 49 (spacing=49 um)'
    >>> check_spacing_plausible((0.0735, 0.049, 0.049))
    False
    """
    values = [float(v) for v in np.atleast_1d(np.asarray(spacing, dtype=float))]
    if len(set(values)) == 1:
        values = values[:1]  # isotropic: say it as the user typed it
    lo, hi = SPACING_RANGE_UM
    shown = _fmt(values)
    if any(v > hi for v in values):
        hint = _fmt([v / 1000.0 for v in values])
        message = (
            f"--spacing {shown} (spacing={shown} um): did you give nm? A pixel above {hi:g} um "
            f"is coarser than any X-ray or TXM image; spacing is in um, so {shown} nm is "
            f"--spacing {hint}. Results with this spacing have physical lengths 1000x too large."
        )
    elif any(0 < v < lo for v in values):
        hint_mm = _fmt([v * 1e3 for v in values])
        message = (
            f"--spacing {shown} (spacing={shown} um): did you give mm or m? A pixel below "
            f"{lo * 1000:g} nm is finer than any X-ray image; spacing is in um (0.049 um = 49 "
            f"nm; {shown} mm would be --spacing {hint_mm})."
        )
    else:
        return False
    warnings.warn(message, UnitPlausibilityWarning, stacklevel=stacklevel)
    return True


def check_energy_ev_plausible(
    energy: float | Sequence[float] | np.ndarray, *, name: str = "energy", stacklevel: int = 3
) -> bool:
    """Warn when photon energies that must be in eV look like keV (all below 100).

    Parameters
    ----------
    energy : float or array-like
        Energies in eV.
    name : str
        What the energies are, as the user gave them (``"--energy"``, ``"energy_ev"``).
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        True when a warning was given.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_energy_ev_plausible(8.333, name="--energy")
    True
    >>> "did you give keV?" in str(caught[0].message)
    True
    >>> check_energy_ev_plausible([8250.0, 8353.0])
    False
    """
    e = np.asarray(energy, dtype=float).ravel()
    e = e[np.isfinite(e) & (e > 0)]
    if not e.size or e.max() >= MIN_PLAUSIBLE_EV:
        return False
    shown = _fmt(e[:3].tolist()) + (",..." if e.size > 3 else "")
    warnings.warn(
        f"{name} {shown} eV: did you give keV? Photon energies are in eV here and no X-ray "
        f"absorption edge in use lies below {MIN_PLAUSIBLE_EV:g} eV; {e[0]:g} keV is "
        f"{e[0] * 1000:g} eV.",
        UnitPlausibilityWarning,
        stacklevel=stacklevel,
    )
    return True


def check_current_ma_plausible(
    current_ma: np.ndarray,
    time_s: np.ndarray,
    capacity_mah: np.ndarray | None = None,
    *,
    name: str = "current",
    stacklevel: int = 3,
) -> bool:
    """Warn when a current column in mA looks like it holds A (or uA).

    With a capacity column, the charge integrated from the current must match it; a ratio near
    1/1000 or 1000 means the current is in A or uA. Without one, a current whose largest
    magnitude is below 1 uA (0.001 mA) over a cycling test looks like A.

    Parameters
    ----------
    current_ma : numpy.ndarray
        Current in mA (as labelled), positive or negative.
    time_s : numpy.ndarray
        Test time in s, same length.
    capacity_mah : numpy.ndarray, optional
        A capacity column of the same file in mAh (cumulative or per step).
    name : str
        Name of the column or file, for the message.
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        True when a warning was given.

    Examples
    --------
    >>> import warnings
    >>> t = np.arange(0.0, 3600.0, 10.0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_current_ma_plausible(np.full(t.size, 0.0005), t, np.arange(t.size) * 0.0014)
    True
    >>> "did you give A?" in str(caught[0].message)
    True
    """
    i = np.asarray(current_ma, dtype=float)
    t = np.asarray(time_s, dtype=float)
    good = np.isfinite(i) & np.isfinite(t)
    if good.sum() < 3:
        return False
    i, t = i[good], t[good]
    peak = float(np.max(np.abs(i)))
    if peak == 0.0:
        return False
    ratio = None
    if capacity_mah is not None:
        q = np.asarray(capacity_mah, dtype=float)[good]
        dq = np.abs(np.diff(q))
        dq = dq[np.isfinite(dq) & (dq > 0)]
        # a per-step capacity resets to 0: leave those jumps out of the sum
        reported = float(np.sum(dq[dq <= 50 * np.median(dq)])) if dq.size else 0.0
        integrated = float(np.sum(np.abs(i[:-1]) * np.diff(t))) / 3600.0
        if reported > 0 and integrated > 0:
            ratio = integrated / reported
    if ratio is not None and 0.3e-3 < ratio < 3e-3:
        unit = "A"
    elif ratio is not None and 0.3e3 < ratio < 3e3:
        unit = "uA"
    elif ratio is None and peak < 1e-3 and t[-1] - t[0] > 600:
        unit = "A"
    else:
        return False
    factor = {"A": 1000.0, "uA": 1e-3}[unit]
    warnings.warn(
        f"{name}: the current (largest |I| {peak:g}, labelled mA) looks like it is in {unit}: "
        f"did you give {unit}? "
        + (
            f"Integrated, it gives {ratio:.3g} x the capacity the file reports. "
            if ratio is not None
            else ""
        )
        + f"Multiply it by {factor:g} to get mA (or declare its unit) before per-gram values.",
        UnitPlausibilityWarning,
        stacklevel=stacklevel,
    )
    return True
