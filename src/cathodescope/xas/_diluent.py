"""A low-Z diluent measured from transmission: the excess pre-edge absorbance over a baseline scan.

Why it matters for self-absorption: a compound ground with a diluent (BN, cellulose) and
pressed, or mixed with a binder, is less self-absorbed in fluorescence than a film of the pure
compound with the same edge step: the diluent adds to the background attenuation at the incident
and at the fluorescence energy (Troger et al. 1992; Booth & Bridges 2005), so the probing depth
changes less across the edge. The transmission edge step says how much absorber the beam crossed,
not how much diluent came with it.

The diluent is measured, not guessed. Two transmission scans taken with the same detectors (the
sample and a *baseline*: a sample of the same compound without diluent, e.g. a sedimented film)
differ below the edge by the instrument-free quantity::

    mu(E) - mu_base(E) = c + (step - step_base) * mu_b(E) / J(e_edge) + A * shape(E)

with ``mu_b / J`` the compound's tabulated below-edge attenuation per unit edge jump (xraydb),
``shape`` the tabulated energy dependence of the diluent (1 at the edge) and ``c`` a constant (the
ratio of the two scans' detector gains). ``A`` (the diluent's absorbance at the edge energy) is
the least-squares solution; with ``c`` free it is fixed by the slope alone, and a ``c`` close to
0 says the level agrees with the slope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope.errors import ParameterError
from cathodescope.xas._selfabs import _tabulated_parts, diluent_shape


@dataclass(frozen=True)
class DiluentEstimate:
    """Diluent absorbance of a transmission sample from its excess pre-edge absorbance.

    Parameters
    ----------
    absorbance : float
        Diluent absorbance at the absorber's edge energy, ``ln(I0/I)`` units.
    absorbance_error : float
        Its standard error from the fit residuals (``ln`` units).
    offset : float
        Constant difference of the two scans (``ln`` of the gain ratio), ``ln`` units.
    ratio : float
        ``absorbance / edge_step`` (dimensionless): :func:`absorption_model`'s ``diluent_ratio``.
    rms : float
        Residual RMS of the fit, ``ln`` units.
    n_points : int
        Pre-edge points used.
    parameters : dict
        Diluent formula, window (eV absolute), edge steps, edge energy (eV).
    """

    absorbance: float
    absorbance_error: float
    offset: float
    ratio: float
    rms: float
    n_points: int
    parameters: dict[str, Any] = field(default_factory=dict)


def diluent_from_transmission(
    energy: Any,
    mu: Any,
    baseline_energy: Any,
    baseline_mu: Any,
    *,
    edge_step: float,
    baseline_edge_step: float,
    formula: str,
    element: str,
    edge: str = "K",
    window_eV: tuple[float, float],
    diluent: str = "C6H10O5",
) -> DiluentEstimate:
    """Measure a diluent from the excess pre-edge absorbance of a sample over a baseline scan.

    Parameters
    ----------
    energy, mu : array-like, shape (n,)
        Transmission spectrum ``ln(I0/I)`` of the sample; energies in eV.
    baseline_energy, baseline_mu : array-like, shape (m,)
        Transmission spectrum of the baseline: the same compound without diluent, recorded
        with the same detectors (eV, ``ln`` units).
    edge_step, baseline_edge_step : float
        Edge steps of the two spectra (``ln`` units, e.g. ATHENA's ``bkg_step``).
    formula : str
        The absorbing compound, e.g. ``"MnO"`` (its own pre-edge absorbance is removed).
    element, edge : str
        Absorber and edge.
    window_eV : (float, float)
        Pre-edge window, absolute energies in eV (e.g. the sample's ``e0 + pre1, e0 + pre2``).
    diluent : str
        Diluent formula for the energy dependence (low-Z diluents differ by < 1 % in shape).

    Returns
    -------
    DiluentEstimate
        Absorbance at the edge energy, its error, the gain offset and the ratio to the edge step.

    Raises
    ------
    ParameterError
        If the window holds fewer than 5 points inside both spectra, or a step is not positive.

    Examples
    --------
    Two scans built from xraydb: 10 um MnO with 40 um BN, and 3 um MnO alone, through the same
    detectors (a sloping instrument background) with a different gain:

    >>> import numpy as np, xraydb
    >>> from cathodescope.xas import absorption_model
    >>> e = np.linspace(6340.0, 6510.0, 60)
    >>> mno, bn = xraydb.material_mu("MnO", e, density=5.37), xraydb.material_mu("BN", e, density=2.1)
    >>> instrument = 0.3 + 1e-3 * (6500.0 - e)
    >>> sample = instrument + mno * 10e-4 + bn * 40e-4 - 0.1
    >>> base = instrument + mno * 3e-4
    >>> j = absorption_model(np.array([6539.0]), formula="MnO", density=5.37, element="Mn").jump[0]
    >>> est = diluent_from_transmission(e, sample, e, base, edge_step=j * 10e-4,
    ...     baseline_edge_step=j * 3e-4, formula="MnO", element="Mn", window_eV=(6340, 6510),
    ...     diluent="BN")
    >>> bn_edge = float(xraydb.material_mu("BN", 6539.0, density=2.1)) * 40e-4
    >>> round(est.absorbance / bn_edge, 2), round(est.offset, 2)
    (1.0, -0.1)
    """
    e = np.asarray(energy, dtype=float)
    y = np.asarray(mu, dtype=float)
    eb = np.asarray(baseline_energy, dtype=float)
    yb = np.asarray(baseline_mu, dtype=float)
    for v, name in ((edge_step, "edge_step"), (baseline_edge_step, "baseline_edge_step")):
        if not np.isfinite(v) or v <= 0:
            raise ParameterError(f"{name} must be > 0 (ln units), got {v}.")
    lo, hi = sorted(float(x) for x in window_eV)
    order = np.argsort(eb)
    eb, yb = eb[order], yb[order]
    sel = (e >= lo) & (e <= hi) & (e >= eb[0]) & (e <= eb[-1]) & np.isfinite(y)
    if sel.sum() < 5:
        raise ParameterError(
            f"the pre-edge window {lo:g}..{hi:g} eV holds {int(sel.sum())} points inside both "
            "transmission spectra (need 5): give a baseline scan that covers the sample's "
            "pre-edge region."
        )
    es = e[sel]
    _, mu_b, jump_edge, e_edge = _tabulated_parts(es, formula, 1.0, element, edge)
    excess = y[sel] - np.interp(es, eb, yb) - (edge_step - baseline_edge_step) * mu_b / jump_edge
    shape = diluent_shape(diluent, es, e_edge)
    x = np.column_stack([np.ones_like(es), shape])
    coef, *_ = np.linalg.lstsq(x, excess, rcond=None)
    resid = excess - x @ coef
    dof = max(es.size - 2, 1)
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(x.T @ x)
    offset, absorbance = float(coef[0]), float(coef[1])
    return DiluentEstimate(
        absorbance=absorbance,
        absorbance_error=float(np.sqrt(cov[1, 1])),
        offset=offset,
        ratio=absorbance / float(edge_step),
        rms=float(np.sqrt(np.mean(resid**2))),
        n_points=int(es.size),
        parameters={
            "diluent": diluent,
            "window_eV": (lo, hi),
            "edge_step": float(edge_step),
            "baseline_edge_step": float(baseline_edge_step),
            "edge_eV": e_edge,
        },
    )


__all__ = ["DiluentEstimate", "diluent_from_transmission"]
