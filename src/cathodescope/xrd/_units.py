"""Scattering-axis units (2theta, d, Q), wavelength conversion and the Ka1/Ka2 doublet.

Conventions: 2theta in degrees, d in Angstrom, Q = 4 pi sin(theta) / lambda in 1/Angstrom,
wavelengths in Angstrom.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import xarray as xr

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import CathodescopeWarning, MissingWavelengthError, UnreachableAngleError

__all__ = [
    "CU_KA1_A",
    "CU_KA2_A",
    "KA2_KA1_RATIO",
    "convert_wavelength",
    "d_to_two_theta",
    "kalpha2_position",
    "kalpha_wavelengths",
    "pattern_wavelength",
    "q_to_two_theta",
    "two_theta_to_d",
    "two_theta_to_q",
]

#: Cu Ka1 and Ka2 wavelengths (Angstrom) as used by Bruker DIFFRAC and most lab software.
CU_KA1_A = 1.5406
CU_KA2_A = 1.54443
#: Default Ka2/Ka1 intensity ratio (the LiCoO2 test file states 0.514).
KA2_KA1_RATIO = 0.5

_HC_EV_A = 12398.419843320026  # h c in eV Angstrom (CODATA 2018)


def kalpha_wavelengths(element: str = "Cu") -> tuple[float, float, float]:
    """Ka1 and Ka2 wavelengths (Angstrom) and the Ka2/Ka1 intensity ratio of an anode.

    Taken from xraydb's emission-line table (energies in eV -> lambda = hc/E). xraydb's line
    energies are rounded to ~0.1-1 eV, so these wavelengths are good to ~2e-4 relative; for
    lattice parameters use the wavelength stated by the instrument file (or :data:`CU_KA1_A`).

    Parameters
    ----------
    element : str
        Anode element symbol, e.g. ``"Cu"``, ``"Co"``, ``"Mo"``.

    Returns
    -------
    tuple of float
        ``(lambda_ka1, lambda_ka2, I_ka2 / I_ka1)``.

    Examples
    --------
    >>> ka1, ka2, ratio = kalpha_wavelengths("Cu")
    >>> round(ka1, 2), round(ka2, 2)
    (1.54, 1.54)
    """
    import xraydb

    lines = xraydb.xray_lines(element, "K")
    ka1, ka2 = lines["Ka1"], lines["Ka2"]
    return _HC_EV_A / ka1.energy, _HC_EV_A / ka2.energy, ka2.intensity / ka1.intensity


def _wl(wavelength: float | None, what: str) -> float:
    if wavelength is None:
        raise MissingWavelengthError(
            f"{what} needs the wavelength; pass wavelength= in Angstrom (Cu Ka1 = 1.5406; "
            "--wavelength 1.5406 on the command line) or set pattern.attrs['wavelength_A']."
        )
    return check_positive(wavelength, "wavelength (Angstrom)")


def pattern_wavelength(pattern: xr.DataArray, wavelength: float | None = None) -> float:
    """Return ``wavelength`` or the pattern's ``attrs['wavelength_A']``.

    Parameters
    ----------
    pattern : xarray.DataArray
        A diffraction pattern (its ``attrs['wavelength_A']`` is used when ``wavelength`` is None).
    wavelength : float, optional
        Wavelength in Angstrom; overrides the pattern's.

    Returns
    -------
    float
        Wavelength in Angstrom (> 0).

    Raises
    ------
    MissingWavelengthError
        If neither is given.
    """
    if wavelength is None:
        wavelength = pattern.attrs.get("wavelength_A")
    return _wl(wavelength, "this operation")


def two_theta_to_d(two_theta: np.ndarray | float, wavelength: float) -> np.ndarray:
    """Bragg: d = lambda / (2 sin theta).

    Parameters
    ----------
    two_theta : array_like
        2theta in degrees (0 < 2theta <= 180).
    wavelength : float
        Wavelength in Angstrom.

    Returns
    -------
    numpy.ndarray
        d-spacing in Angstrom.

    Examples
    --------
    >>> round(float(two_theta_to_d(18.731, 1.54056)), 4)
    4.7334
    """
    wl = _wl(wavelength, "2theta -> d")
    theta = np.radians(np.asarray(two_theta, dtype=float) / 2)
    return wl / (2 * np.sin(theta))


def d_to_two_theta(
    d: np.ndarray | float, wavelength: float, *, unreachable: Literal["raise", "nan"] = "raise"
) -> np.ndarray:
    """2theta (degrees) of a d-spacing (Angstrom) at ``wavelength`` (Angstrom).

    Parameters
    ----------
    d : array_like
        d-spacing(s) in Angstrom.
    wavelength : float
        Wavelength in Angstrom.
    unreachable : {"raise", "nan"}
        What to do with a d-spacing no angle reaches (lambda / (2 d) > 1).

    Returns
    -------
    numpy.ndarray
        2theta in degrees.

    Raises
    ------
    UnreachableAngleError
        If lambda / (2 d) > 1 and ``unreachable="raise"`` (else NaN is returned there).
    """
    check_choice(unreachable, ("raise", "nan"), "unreachable")
    wl = _wl(wavelength, "d -> 2theta")
    s = wl / (2 * np.asarray(d, dtype=float))
    return _asin_deg(s, unreachable, f"d-spacing at lambda={wl} A")


def two_theta_to_q(two_theta: np.ndarray | float, wavelength: float) -> np.ndarray:
    """Q = 4 pi sin(theta) / lambda in 1/Angstrom (2theta in degrees, lambda in Angstrom).

    Parameters
    ----------
    two_theta : array_like
        2theta in degrees.
    wavelength : float
        Wavelength in Angstrom.

    Returns
    -------
    numpy.ndarray
        Q in 1/Angstrom.
    """
    wl = _wl(wavelength, "2theta -> Q")
    return 4 * np.pi * np.sin(np.radians(np.asarray(two_theta, dtype=float) / 2)) / wl


def q_to_two_theta(
    q: np.ndarray | float, wavelength: float, *, unreachable: Literal["raise", "nan"] = "raise"
) -> np.ndarray:
    """2theta in degrees of Q (1/Angstrom) at ``wavelength`` (Angstrom).

    Parameters
    ----------
    q : array_like
        Q in 1/Angstrom.
    wavelength : float
        Wavelength in Angstrom.
    unreachable : {"raise", "nan"}
        What to do with a Q no angle reaches (Q lambda / (4 pi) > 1): raise
        :class:`~cathodescope.errors.UnreachableAngleError` or return NaN there.

    Returns
    -------
    numpy.ndarray
        2theta in degrees.
    """
    check_choice(unreachable, ("raise", "nan"), "unreachable")
    wl = _wl(wavelength, "Q -> 2theta")
    return _asin_deg(np.asarray(q, dtype=float) * wl / (4 * np.pi), unreachable, "Q")


def _asin_deg(s: np.ndarray, unreachable: str, what: str) -> np.ndarray:
    s = np.asarray(s, dtype=float)
    bad = (s > 1) | (s < 0)
    if np.any(bad):
        if unreachable == "raise":
            raise UnreachableAngleError(
                f"{int(np.count_nonzero(bad))} {what} value(s) cannot be reached (sin(theta) would "
                "be outside 0..1); use a shorter wavelength or unreachable='nan'/'drop'."
            )
        s = np.where(bad, np.nan, s)
    return 2 * np.degrees(np.arcsin(s))


def convert_wavelength(
    pattern: xr.DataArray,
    target_wavelength: float = CU_KA1_A,
    *,
    wavelength: float | None = None,
    unreachable: Literal["drop", "raise"] = "drop",
) -> xr.DataArray:
    """Re-express a pattern's 2theta axis at another wavelength (same d-spacings).

    ``sin(theta_new) = (lambda_new / lambda_old) sin(theta_old)``. Intensities are carried over
    unchanged (no Lorentz-polarisation re-weighting); the new 2theta grid is not uniform.

    Parameters
    ----------
    pattern : xarray.DataArray
        Pattern or series with dimension ``two_theta`` in degrees.
    target_wavelength : float
        New wavelength in Angstrom (default Cu Ka1 1.5406).
    wavelength : float, optional
        Wavelength of ``pattern`` in Angstrom; default ``pattern.attrs['wavelength_A']``.
    unreachable : {"drop", "raise"}
        Points whose d-spacing is smaller than lambda_new / 2 have no 2theta at the new
        wavelength: drop them (a :class:`CathodescopeWarning` says how many) or raise.

    Returns
    -------
    xarray.DataArray
        Same data on the converted axis; ``attrs['wavelength_A']`` is the target and
        ``attrs['converted_from_wavelength_A']`` the original.

    Raises
    ------
    MissingWavelengthError
        If the pattern's wavelength is unknown and not given.
    UnreachableAngleError
        If points are unreachable and ``unreachable="raise"``, or none is reachable.

    Examples
    --------
    >>> from cathodescope.io import make_pattern
    >>> p = make_pattern([5.0, 10.0], [1.0, 2.0], wavelength=0.4522)
    >>> q = convert_wavelength(p, 1.5406)
    >>> [round(float(v), 3) for v in q.two_theta.values]
    [17.092, 34.547]
    """
    check_choice(unreachable, ("drop", "raise"), "unreachable")
    old = pattern_wavelength(pattern, wavelength)
    new = check_positive(target_wavelength, "target_wavelength (Angstrom)")
    s = np.sin(np.radians(pattern.two_theta.values / 2)) * new / old
    ok = s <= 1
    n_bad = int(np.count_nonzero(~ok))
    if n_bad and unreachable == "raise":
        raise UnreachableAngleError(
            f"{n_bad} point(s) above 2theta = {pattern.two_theta.values[~ok][0]:.3f} deg cannot be "
            f"reached at {new} A; use unreachable='drop' or a shorter target wavelength."
        )
    if not np.any(ok):
        raise UnreachableAngleError(f"no point of the pattern is reachable at {new} A.")
    out = pattern.isel(two_theta=np.flatnonzero(ok))
    new_tth = 2 * np.degrees(np.arcsin(s[ok]))
    out = out.assign_coords(two_theta=xr.Variable("two_theta", new_tth, attrs={"units": "deg"}))
    attrs = dict(pattern.attrs)
    attrs.update(wavelength_A=new, converted_from_wavelength_A=old)
    attrs.pop("wavelength2_A", None)  # a converted synchrotron pattern has no Ka2 component
    out.attrs = attrs
    if n_bad:
        warnings.warn(
            f"convert_wavelength dropped {n_bad} point(s) beyond the reachable 2theta range at "
            f"{new} A.",
            CathodescopeWarning,
            stacklevel=2,
        )
    return out


def kalpha2_position(
    two_theta_ka1: np.ndarray | float,
    wavelength_ka1: float = CU_KA1_A,
    wavelength_ka2: float = CU_KA2_A,
) -> np.ndarray:
    """2theta (deg) of the Ka2 reflection of a Ka1 reflection at ``two_theta_ka1`` (deg).

    Parameters
    ----------
    two_theta_ka1 : array_like
        2theta of the Ka1 reflection, degrees.
    wavelength_ka1, wavelength_ka2 : float
        Ka1 and Ka2 wavelengths in Angstrom (default Cu).

    Returns
    -------
    numpy.ndarray
        2theta of the Ka2 reflection, degrees (clipped at 180 where sin(theta) would exceed 1).
    """
    s = (
        np.sin(np.radians(np.asarray(two_theta_ka1, dtype=float) / 2))
        * wavelength_ka2
        / wavelength_ka1
    )
    return 2 * np.degrees(np.arcsin(np.clip(s, 0.0, 1.0)))
