"""Energy calibration with a reference foil and spectrum-to-reference alignment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope.errors import ParameterError, StandardRangeError
from cathodescope.xas._normalize import find_e0
from cathodescope.xas._spectrum import as_spectrum


def tabulated_edge(element: str, edge: str = "K") -> float:
    """Tabulated absorption-edge energy in eV from xraydb (never typed by hand).

    Parameters
    ----------
    element : str
        Element symbol, e.g. ``"Ni"``.
    edge : str
        Edge name (``"K"``, ``"L3"``...).

    Returns
    -------
    float
        Edge energy in eV.

    Examples
    --------
    >>> tabulated_edge("Ni", "K")
    8333.0
    """
    import xraydb

    try:
        return float(xraydb.xray_edge(element, edge).energy)
    except Exception as exc:  # xraydb raises ValueError/KeyError/AttributeError for bad input
        raise ParameterError(
            f"no tabulated {edge} edge for element {element!r} in xraydb; check the symbol."
        ) from exc


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`.

    Parameters
    ----------
    shift : float
        eV to add to the measured energy axis (reference and sample alike).
    measured_e0 : float
        First inflection point of the reference foil as measured, eV.
    tabulated_e0 : float
        xraydb edge energy, eV.
    element, edge : str
        Element symbol and edge name (``"Ni"``, ``"K"``) of the tabulated edge.
    parameters : dict
        The parameters used.
    """

    shift: float
    measured_e0: float
    tabulated_e0: float
    element: str
    edge: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def apply(self, spectrum: Any):
        """Return a copy of a spectrum DataArray with ``shift`` added to its energy axis."""
        out = spectrum.assign_coords(energy=spectrum.energy.values + self.shift)
        out.energy.attrs["units"] = "eV"
        out.attrs = {**spectrum.attrs, "calibration_shift_eV": self.shift}
        return out

    def to_dataframe(self):
        """One row: element, edge, measured_e0_eV, tabulated_e0_eV, shift_eV."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "element": self.element,
                    "edge": self.edge,
                    "measured_e0_eV": self.measured_e0,
                    "tabulated_e0_eV": self.tabulated_e0,
                    "shift_eV": self.shift,
                }
            ]
        )


def calibrate(
    reference: Any,
    *,
    element: str,
    edge: str = "K",
    energy: Any = None,
    smooth_ev: float | None = None,
    inflection_fraction: float = 0.5,
) -> Calibration:
    """Energy shift that puts a reference foil's first inflection on the tabulated edge.

    Parameters
    ----------
    reference : xarray.DataArray or array-like
        mu(E) of the metal foil measured simultaneously with the sample (reference channel).
    element, edge : str
        Absorber and edge (``"Ni"``, ``"K"``); the target energy comes from xraydb.
    energy : array-like, optional
        Energies in eV when ``reference`` is a plain array.
    smooth_ev, inflection_fraction
        As for :func:`~cathodescope.xas.find_e0` with ``method="first_inflection"``.

    Returns
    -------
    Calibration
        ``shift = tabulated - measured``; apply it to the sample channel with
        :meth:`Calibration.apply` (the sample was measured on the same monochromator axis).
    """
    e, mu = as_spectrum(reference, energy, name="reference")
    target = tabulated_edge(element, edge)
    measured = find_e0(
        mu,
        e,
        method="first_inflection",
        smooth_ev=smooth_ev,
        inflection_fraction=inflection_fraction,
    )
    return Calibration(
        shift=target - measured,
        measured_e0=measured,
        tabulated_e0=target,
        element=element,
        edge=edge,
        parameters={"smooth_ev": smooth_ev, "inflection_fraction": inflection_fraction},
    )


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align`.

    Parameters
    ----------
    shift : float
        eV to add to the spectrum's energies to align it on the reference.
    rms_residual : float
        RMS of the aligned difference over the window (units of the compared quantity).
    fit_range : (float, float)
        Alignment window on the reference's axis, eV.
    parameters : dict
        ``max_shift``, ``fit_scale``, ``use_derivative``.
    """

    shift: float
    rms_residual: float
    fit_range: tuple[float, float]
    parameters: dict[str, Any] = field(default_factory=dict)


def align(
    spectrum: Any,
    reference: Any,
    *,
    fit_range: tuple[float, float],
    max_shift: float = 10.0,
    fit_scale: bool = True,
    use_derivative: bool = True,
) -> Alignment:
    """Fit the energy shift that best aligns ``spectrum`` onto ``reference``.

    Minimises ``sum((a * f(E - shift) + b - g(E))^2)`` over ``fit_range`` (``f`` = spectrum,
    ``g`` = reference, both as their derivatives when ``use_derivative``, ATHENA's default
    alignment), with ``a, b`` solved linearly for every trial shift when ``fit_scale``.

    Parameters
    ----------
    spectrum, reference : xarray.DataArray
        Spectra with ``energy`` in eV.
    fit_range : (float, float)
        Window on the reference's axis (eV).
    max_shift : float
        Search bound in eV (a coarse grid search then a bounded refinement).
    fit_scale : bool
        Fit a linear scale and offset as well.
    use_derivative : bool
        Align derivatives (insensitive to normalization) instead of spectra.

    Returns
    -------
    Alignment
    """
    from scipy.optimize import minimize_scalar

    es, ms = as_spectrum(spectrum, name="spectrum")
    er, mr = as_spectrum(reference, name="reference")
    lo, hi = sorted(float(v) for v in fit_range)
    if es[0] > lo - max_shift or es[-1] < hi + max_shift:
        raise StandardRangeError(
            f"spectrum covers {es[0]:g}-{es[-1]:g} eV; aligning over {lo:g}-{hi:g} with "
            f"max_shift={max_shift:g} needs {lo - max_shift:g}-{hi + max_shift:g} eV."
        )
    if er[0] > lo or er[-1] < hi:
        raise StandardRangeError(f"reference does not cover {lo:g}-{hi:g} eV.")
    sel = (er >= lo) & (er <= hi)
    x = er[sel]
    fs = np.gradient(ms, es) if use_derivative else ms
    gr = (np.gradient(mr, er) if use_derivative else mr)[sel]

    def cost(shift: float) -> float:
        f = np.interp(x - shift, es, fs)
        if fit_scale:
            v = np.stack([f, np.ones_like(f)], axis=1)
            coef, *_ = np.linalg.lstsq(v, gr, rcond=None)
            r = v @ coef - gr
        else:
            r = f - gr
        return float(np.mean(r**2))

    grid = np.linspace(-max_shift, max_shift, int(8 * max_shift) + 1)
    costs = np.array([cost(s) for s in grid])
    i = int(np.argmin(costs))
    step = grid[1] - grid[0]
    res = minimize_scalar(
        cost,
        bounds=(max(-max_shift, grid[i] - step), min(max_shift, grid[i] + step)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return Alignment(
        shift=float(res.x),
        rms_residual=float(np.sqrt(res.fun)),
        fit_range=(lo, hi),
        parameters={
            "max_shift": max_shift,
            "fit_scale": fit_scale,
            "use_derivative": use_derivative,
        },
    )
