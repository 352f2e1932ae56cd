"""Williamson-Hall analysis: crystallite size and microstrain from peak breadths.

``beta cos(theta) = K lambda / L + 4 epsilon sin(theta)`` (Williamson & Hall, Acta Metall. 1,
22 (1953)); ``beta`` is the instrument-corrected integral breadth (here the FWHM) in radians.
A negative slope (strain) or a non-positive intercept (size) is not physical: it means the
breadths do not follow the model (anisotropic broadening, stacking faults, an instrumental
breadth that is wrong, peaks that overlap); the result says so with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import CathodescopeWarning, InsufficientPeaksError, ParameterError

__all__ = ["WilliamsonHallResult", "williamson_hall"]


@dataclass(frozen=True)
class WilliamsonHallResult:
    """Crystallite size and microstrain from a Williamson-Hall plot.

    ``beta cos(theta) = K lambda / L + 4 epsilon sin(theta)`` with beta the (instrument-
    corrected) breadth in radians.

    Parameters
    ----------
    size_nm, size_err_nm : float
        Crystallite size L (nm) and its standard error (inf when the intercept is <= 0).
    strain, strain_err : float
        Microstrain epsilon (dimensionless) and its standard error.
    intercept, slope : float
        Fitted line (radians).
    points : pandas.DataFrame
        ``peak``, ``two_theta_deg``, ``beta_rad``, ``x_4sin_theta``, ``y_beta_cos_theta``.
    parameters : dict
        Wavelength, K, instrumental breadth, subtraction rule.
    warnings : tuple of str
        Why the fit is not physical (negative strain, non-positive size intercept); empty when
        it is. The same texts are issued as :class:`~cathodescope.errors.CathodescopeWarning`.
    """

    size_nm: float
    size_err_nm: float
    strain: float
    strain_err: float
    intercept: float
    slope: float
    points: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def physical(self) -> bool:
        """True when strain >= 0 and the size intercept is > 0."""
        return not self.warnings

    def to_dataframe(self) -> pd.DataFrame:
        """One-row summary table."""
        return pd.DataFrame(
            [
                {
                    "size_nm": self.size_nm,
                    "size_err_nm": self.size_err_nm,
                    "strain": self.strain,
                    "strain_err": self.strain_err,
                    "intercept": self.intercept,
                    "slope": self.slope,
                }
            ]
        )


def williamson_hall(
    two_theta: Sequence[float] | np.ndarray,
    fwhm: Sequence[float] | np.ndarray,
    wavelength: float,
    *,
    fwhm_err: Sequence[float] | np.ndarray | None = None,
    instrumental_fwhm: float | Sequence[float] | np.ndarray = 0.0,
    subtraction: Literal["quadratic", "linear"] = "quadratic",
    k: float = 0.9,
    names: Sequence[str] | None = None,
) -> WilliamsonHallResult:
    """Williamson-Hall analysis: crystallite size and microstrain from peak widths.

    Parameters
    ----------
    two_theta, fwhm : array_like, shape (n,)
        Peak positions and FWHM in degrees.
    wavelength : float
        Wavelength in Angstrom.
    fwhm_err : array_like, optional
        FWHM standard errors (deg); weights of the line fit (else unweighted).
    instrumental_fwhm : float or array_like
        Instrumental FWHM (deg) at each peak (e.g. from a LaB6 standard), subtracted first.
    subtraction : {"quadratic", "linear"}
        ``beta^2 = B^2 - b^2`` (Gaussian profiles) or ``beta = B - b`` (Lorentzian).
    k : float
        Scherrer constant.
    names : sequence of str, optional
        Peak labels for the points table.

    Returns
    -------
    WilliamsonHallResult

    Raises
    ------
    InsufficientPeaksError
        Fewer than 3 peaks (a line through 2 points has no uncertainty).
    ParameterError
        A peak narrower than the instrumental breadth.

    Warns
    -----
    CathodescopeWarning
        The fit is not physical: negative strain (slope < 0) or a size intercept <= 0 (size
        reported as inf). The numbers are still returned, and listed in ``result.warnings``.

    Examples
    --------
    >>> tth = np.array([20.0, 40.0, 60.0, 80.0])
    >>> th = np.radians(tth / 2)
    >>> beta = (0.9 * 0.15406 / 50 + 4 * 1e-3 * np.sin(th)) / np.cos(th)  # L = 50 nm, e = 1e-3
    >>> r = williamson_hall(tth, np.degrees(beta), 1.5406)
    >>> round(r.size_nm, 6), round(r.strain, 9), r.physical
    (50.0, 0.001, True)
    """
    check_choice(subtraction, ("quadratic", "linear"), "subtraction")
    wl = check_positive(wavelength, "wavelength (Angstrom)")
    tth = np.asarray(two_theta, dtype=float)
    b_obs = np.asarray(fwhm, dtype=float)
    if tth.size < 3 or tth.size != b_obs.size:
        raise InsufficientPeaksError(
            f"Williamson-Hall needs >= 3 peaks with one width each, got {tth.size} positions and "
            f"{b_obs.size} widths."
        )
    b_inst = np.broadcast_to(np.asarray(instrumental_fwhm, dtype=float), tth.shape)
    if np.any(b_obs <= b_inst):
        raise ParameterError(
            "a peak is narrower than the instrumental FWHM; check instrumental_fwhm (deg)."
        )
    if subtraction == "quadratic":
        beta_deg = np.sqrt(b_obs**2 - b_inst**2)
        dbeta = b_obs / beta_deg
    else:
        beta_deg = b_obs - b_inst
        dbeta = np.ones_like(b_obs)
    beta = np.radians(beta_deg)
    theta = np.radians(tth / 2)
    xv = 4 * np.sin(theta)
    yv = beta * np.cos(theta)
    if fwhm_err is not None:
        sy = np.radians(np.asarray(fwhm_err, dtype=float)) * dbeta * np.cos(theta)
        wts = 1 / np.maximum(sy, 1e-300) ** 2
    else:
        wts = np.ones_like(yv)
    design = np.column_stack([np.ones_like(xv), xv])
    ata = design.T @ (design * wts[:, None])
    coef = np.linalg.solve(ata, design.T @ (wts * yv))
    resid = yv - design @ coef
    dof = tth.size - 2
    s2 = float(np.sum(wts * resid**2) / dof)
    cov = np.linalg.inv(ata) * s2  # scaled by the reduced chi-square, as lmfit does
    intercept, slope = float(coef[0]), float(coef[1])
    lam_nm = wl / 10.0
    if intercept > 0:
        size = k * lam_nm / intercept
        size_err = size * np.sqrt(cov[0, 0]) / intercept
    else:
        size, size_err = np.inf, np.inf
    problems = _unphysical(intercept, slope, float(np.sqrt(cov[1, 1])))
    for text in problems:
        warnings.warn(text, CathodescopeWarning, stacklevel=2)
    points = pd.DataFrame(
        {
            "peak": list(names) if names is not None else [f"{t:.3f}" for t in tth],
            "two_theta_deg": tth,
            "beta_rad": beta,
            "x_4sin_theta": xv,
            "y_beta_cos_theta": yv,
        }
    )
    return WilliamsonHallResult(
        size_nm=float(size),
        size_err_nm=float(size_err),
        strain=slope,
        strain_err=float(np.sqrt(cov[1, 1])),
        intercept=intercept,
        slope=slope,
        points=points,
        parameters={
            "wavelength_A": wl,
            "k": k,
            "instrumental_fwhm_deg": b_inst.tolist(),
            "subtraction": subtraction,
        },
        warnings=tuple(problems),
    )


def _unphysical(intercept: float, slope: float, slope_err: float) -> list[str]:
    """Messages for a Williamson-Hall line that no size/strain can produce."""
    out = []
    if slope < 0:
        out.append(
            f"Williamson-Hall strain is negative ({slope:.3g} +/- {slope_err:.2g}): not physical; "
            "the peak breadths do not follow beta cos(theta) = K lambda / L + 4 e sin(theta) "
            "(anisotropic broadening, overlapping or unconverged peaks, or a wrong instrumental "
            "FWHM); do not report this strain."
        )
    if intercept <= 0:
        out.append(
            f"Williamson-Hall intercept is {intercept:.3g} <= 0: no finite crystallite size "
            "(reported as inf); the breadths are instrument-limited or the instrumental FWHM is "
            "overestimated."
        )
    return out
