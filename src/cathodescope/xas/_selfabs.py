"""Self-absorption of fluorescence-yield XANES: forward model, finite-thickness and thick-limit
corrections.

Model (Troger et al. 1992; Booth & Bridges 2005, for a flat sample of thickness ``d``, incidence
angle ``phi`` and exit angle ``theta`` to the surface)::

    I_f(E) ~ mu_a(E) / (mu_t(E) + g mu_t(E_f)) * (1 - exp(-d (mu_t(E)/sin phi + mu_t(E_f)/sin theta)))

with ``g = sin(phi) / sin(theta)``, ``mu_a(E) = n(E) * jump(E)`` the absorber's edge part
(``n`` the normalized XANES we want), ``mu_t = mu_a + mu_b`` and ``mu_b`` everything else. The
attenuation coefficients come from xraydb for the stated composition and density; ``jump(E)``
and ``mu_b(E)`` are the smooth above-edge and below-edge tabulated curves (log-log fits of
xraydb's ``material_mu`` on either side of the edge, extrapolated across it).

A low-Z diluent mixed into the sample (ground with BN or cellulose and pressed, a binder) adds
its attenuation to ``mu_b`` and to ``mu_t(E_f)`` (``diluent_ratio`` of :func:`absorption_model`:
its transmission absorbance at the edge over the edge step, measured with
:func:`cathodescope.xas.diluent_from_transmission`); it lowers the self-absorption at the same
edge step. Thicknesses stay those of the dense compound.

The measured spectrum is taken as *flattened-normalized*: ``N(E) = I_f(n(E), E) / I_f(1, E)``,
so ``N = 1`` wherever ``n = 1``. :func:`correct_self_absorption` inverts this exactly for ``n`` at
each energy (monotonic 1-D root); :func:`correct_self_absorption_thick` uses the closed form of
the thick limit (``d -> infinity``), the usual "Fluo"-type correction, for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope._validation import check_positive
from cathodescope.errors import ParameterError
from cathodescope.xas._calibrate import tabulated_edge
from cathodescope.xas._spectrum import as_spectrum


@dataclass(frozen=True)
class AbsorptionModel:
    """Attenuation curves of a sample for the self-absorption model (all in 1/cm).

    Parameters
    ----------
    energy : ndarray
        eV.
    jump : ndarray
        Absorber edge part of mu for n = 1 (1/cm).
    mu_background : ndarray
        Everything else (1/cm).
    mu_fluor : float
        Total mu at the fluorescence energy (1/cm).
    parameters : dict
        formula, density, element, edge, line, fluorescence energy, angles, thickness.
    """

    energy: np.ndarray
    jump: np.ndarray
    mu_background: np.ndarray
    mu_fluor: float
    parameters: dict[str, Any] = field(default_factory=dict)


def _tabulated_parts(
    energy: np.ndarray, formula: str, density: float, element: str, edge: str
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Edge jump and below-edge attenuation (1/cm) on ``energy``, the jump at the edge, e_edge.

    Log-log fits of xraydb's ``material_mu`` 30-300 eV below and 30-400 eV above the tabulated
    edge, extrapolated across it (the tables have no fine structure to follow).
    """
    import xraydb

    e_edge = tabulated_edge(element, edge)

    def mu_tot(en: np.ndarray) -> np.ndarray:
        return np.asarray(xraydb.material_mu(formula, en, density=density), dtype=float)

    below = np.linspace(e_edge - 300.0, e_edge - 30.0, 12)
    above = np.linspace(e_edge + 30.0, e_edge + 400.0, 12)
    cb = np.polyfit(np.log(below), np.log(mu_tot(below)), 1)
    mu_b = np.exp(np.polyval(cb, np.log(energy)))
    jump_above = mu_tot(above) - np.exp(np.polyval(cb, np.log(above)))
    cj = np.polyfit(np.log(above), np.log(jump_above), 1)
    jump = np.exp(np.polyval(cj, np.log(energy)))
    return jump, mu_b, float(np.exp(np.polyval(cj, np.log(e_edge)))), e_edge


def diluent_shape(diluent: str, energy: Any, reference_eV: float) -> np.ndarray:
    """Attenuation of a diluent relative to its value at ``reference_eV`` (xraydb).

    Parameters
    ----------
    diluent : str
        Chemical formula of the diluent or binder, e.g. ``"C6H10O5"`` (cellulose) or ``"BN"``.
    energy : array-like
        Energies, eV.
    reference_eV : float
        Energy (eV) where the shape is 1.

    Returns
    -------
    ndarray
        ``mu(E) / mu(reference_eV)`` (dimensionless).
    """
    import xraydb

    try:
        mu = np.asarray(xraydb.material_mu(diluent, np.atleast_1d(energy), density=1.0), float)
        ref = float(np.asarray(xraydb.material_mu(diluent, reference_eV, density=1.0)))
    except (ValueError, KeyError, ZeroDivisionError) as exc:  # xraydb: unknown or empty
        raise ParameterError(
            f"diluent {diluent!r} is not a formula xraydb can read "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); give one such as "
            "'C6H10O5' (cellulose) or 'BN'."
        ) from exc
    return mu / ref


def absorption_model(
    energy: np.ndarray,
    *,
    formula: str,
    density: float,
    element: str,
    edge: str = "K",
    line: str = "Ka1",
    diluent: str = "C6H10O5",
    diluent_ratio: float = 0.0,
) -> AbsorptionModel:
    """Build :class:`AbsorptionModel` from xraydb for a compound, optionally diluted.

    Parameters
    ----------
    energy : ndarray
        Energies (eV) of the spectrum.
    formula : str
        Chemical formula of the absorbing compound, e.g. ``"LiNi0.6Mn0.2Co0.2O2"``.
    density : float
        g/cm^3 of the dense compound.
    element, edge : str
        Absorber and edge.
    line : str
        Fluorescence line (xraydb name, ``"Ka1"``, ``"La1"``...).
    diluent : str
        Formula of a low-Z diluent or binder mixed homogeneously with the compound (BN,
        cellulose... as in a ground-and-pressed pellet); only its energy dependence matters.
    diluent_ratio : float
        Transmission absorbance of the diluent at the edge energy divided by the absorber's
        transmission edge step (dimensionless, both ``ln(I0/I)`` through the same sample).
        0 (the default): no diluent. See :func:`cathodescope.xas.diluent_from_transmission`
        to measure it. The diluent adds ``diluent_ratio * J(e_edge) * shape(E)`` to the
        background attenuation at the incident and at the fluorescence energy, per unit
        thickness of the dense compound, so thicknesses keep meaning "dense compound".

    Returns
    -------
    AbsorptionModel
        Edge jump and background attenuation (1/cm) on ``energy``, attenuation at the
        fluorescence energy.
    """
    import xraydb

    e = np.asarray(energy, dtype=float)
    density = check_positive(density, "density")
    if not np.isfinite(diluent_ratio) or diluent_ratio < 0:
        raise ParameterError(
            f"diluent_ratio must be >= 0 (diluent absorbance / edge step), got {diluent_ratio}."
        )
    lines = xraydb.xray_lines(element)
    if line not in lines:
        raise ParameterError(f"no {line!r} line for {element} in xraydb; options: {sorted(lines)}.")
    e_f = float(lines[line].energy)
    jump, mu_b, jump_edge, e_edge = _tabulated_parts(e, formula, density, element, edge)
    mu_f = float(xraydb.material_mu(formula, e_f, density=density))
    if diluent_ratio > 0:
        shape = diluent_shape(diluent, np.append(e, e_f), e_edge)
        mu_dil = diluent_ratio * jump_edge * shape
        mu_b = mu_b + mu_dil[:-1]
        mu_f += float(mu_dil[-1])
    return AbsorptionModel(
        energy=e,
        jump=jump,
        mu_background=mu_b,
        mu_fluor=mu_f,
        parameters={
            "formula": formula,
            "density_g_cm3": density,
            "element": element,
            "edge": edge,
            "line": line,
            "fluorescence_eV": e_f,
            "edge_eV": e_edge,
            "diluent": diluent if diluent_ratio > 0 else None,
            "diluent_ratio": float(diluent_ratio),
        },
    )


def _intensity(
    n: np.ndarray, model: AbsorptionModel, phi: float, theta: float, thickness_cm: float | None
) -> np.ndarray:
    mu_a = n * model.jump
    mu_t = mu_a + model.mu_background
    total = mu_t / np.sin(phi) + model.mu_fluor / np.sin(theta)
    base = mu_a / np.sin(phi) / total
    if thickness_cm is None:
        return base
    return base * (-np.expm1(-thickness_cm * total))


def _angles(phi_deg: float, theta_deg: float) -> tuple[float, float]:
    for v, name in ((phi_deg, "incidence_deg"), (theta_deg, "exit_deg")):
        if not 0 < v <= 90:
            raise ParameterError(f"{name} must be in (0, 90] degrees, got {v}.")
    return np.radians(phi_deg), np.radians(theta_deg)


def fluorescence_forward(
    norm: Any,
    model: AbsorptionModel,
    *,
    incidence_deg: float = 45.0,
    exit_deg: float = 45.0,
    thickness_um: float | None = None,
) -> np.ndarray:
    """Self-absorbed, flattened-normalized fluorescence spectrum ``N(E)`` for a true ``n(E)``.

    Parameters
    ----------
    norm : array-like, shape (n,)
        True normalized absorption n(E) on ``model.energy``.
    model : AbsorptionModel
        Absorption of the sample (from :func:`absorption_model`).
    incidence_deg, exit_deg : float
        Angles to the sample surface, degrees.
    thickness_um : float, optional
        Sample thickness in um; None = infinitely thick.

    Returns
    -------
    ndarray, shape (n,)
        ``I_f(n) / I_f(1)``.
    """
    phi, theta = _angles(incidence_deg, exit_deg)
    n = np.asarray(getattr(norm, "values", norm), dtype=float)
    d = None if thickness_um is None else check_positive(thickness_um, "thickness_um") * 1e-4
    return _intensity(n, model, phi, theta, d) / _intensity(np.ones_like(n), model, phi, theta, d)


def correct_self_absorption(
    spectrum: Any,
    model: AbsorptionModel,
    *,
    incidence_deg: float = 45.0,
    exit_deg: float = 45.0,
    thickness_um: float | None = None,
    energy: Any = None,
) -> np.ndarray:
    """Invert the finite-thickness (Booth/Troger) model: measured ``N(E)`` -> true ``n(E)``.

    Parameters
    ----------
    spectrum : xarray.DataArray or array-like, shape (n,)
        Flattened-normalized fluorescence spectrum on ``model.energy``.
    model : AbsorptionModel
        From :func:`absorption_model` on the same energies.
    incidence_deg, exit_deg : float
        Angles to the surface in degrees.
    thickness_um : float, optional
        Thickness in um (None: thick limit, same as :func:`correct_self_absorption_thick`).
    energy : array-like, optional
        Energies when ``spectrum`` is a plain array (must equal ``model.energy``).

    Returns
    -------
    ndarray, shape (n,)
        Corrected normalized absorption.

    Raises
    ------
    ParameterError
        If a measured value cannot be produced by the model (above its saturation limit).
    """
    from scipy.optimize import brentq

    e, y = as_spectrum(spectrum, model.energy if energy is None else energy, name="spectrum")
    if e.shape != model.energy.shape or not np.allclose(e, model.energy):
        raise ParameterError("the absorption model must be built on the spectrum's energies.")
    phi, theta = _angles(incidence_deg, exit_deg)
    d = None if thickness_um is None else check_positive(thickness_um, "thickness_um") * 1e-4
    ref = _intensity(np.ones_like(y), model, phi, theta, d)
    g_sin = np.sin(phi) / np.sin(theta)
    out = np.empty_like(y)
    for i in range(y.size):
        sub = AbsorptionModel(
            energy=e[i : i + 1],
            jump=model.jump[i : i + 1],
            mu_background=model.mu_background[i : i + 1],
            mu_fluor=model.mu_fluor,
        )
        target = y[i] * ref[i]

        def f(n: float, sub: AbsorptionModel = sub, target: float = target) -> float:
            return float(_intensity(np.array([n]), sub, phi, theta, d)[0]) - target

        # mu_t must stay > 0: below n_min the model's denominator changes sign (for a
        # concentrated absorber n_min is close to 0, e.g. -0.38 for MnO at 45/45 degrees)
        n_min = -(model.mu_background[i] + g_sin * model.mu_fluor) / model.jump[i]
        lo, hi = max(-0.5, n_min * (1.0 - 1e-9)), 2.0
        if f(lo) > 0:
            lo = n_min * (1.0 - 1e-12)
        while f(hi) < 0 and hi < 1e6:
            hi *= 4.0
        if f(lo) > 0 or f(hi) < 0:
            raise ParameterError(
                f"measured value {y[i]:.4g} at {e[i]:g} eV is outside what the self-absorption "
                "model can produce; check composition, density, angles and thickness."
            )
        out[i] = brentq(f, lo, hi, xtol=1e-12)
    return out


def correct_self_absorption_thick(
    spectrum: Any,
    model: AbsorptionModel,
    *,
    incidence_deg: float = 45.0,
    exit_deg: float = 45.0,
    energy: Any = None,
) -> np.ndarray:
    """Closed-form thick-limit correction: ``n = N a / (J + a - N J)``.

    With ``a = mu_b + g mu_f`` (``g = sin phi / sin theta``) and ``J`` the edge jump, the thick
    limit ``N = n (J + a) / (n J + a)`` inverts exactly. Applied to a thin sample it
    over-corrects (the thin sample is less saturated than assumed).

    Parameters
    ----------
    spectrum : xarray.DataArray or array-like, shape (n,)
        Flattened-normalized fluorescence spectrum on ``model.energy``.
    model : AbsorptionModel
        From :func:`absorption_model` on the same energies.
    incidence_deg, exit_deg : float
        Angles to the surface in degrees.
    energy : array-like, optional
        Energies when ``spectrum`` is a plain array (must equal ``model.energy``).

    Returns
    -------
    ndarray, shape (n,)
    """
    e, y = as_spectrum(spectrum, model.energy if energy is None else energy, name="spectrum")
    if e.shape != model.energy.shape or not np.allclose(e, model.energy):
        raise ParameterError("the absorption model must be built on the spectrum's energies.")
    phi, theta = _angles(incidence_deg, exit_deg)
    g = np.sin(phi) / np.sin(theta)
    a = model.mu_background + g * model.mu_fluor
    j = model.jump
    denom = j + a - y * j
    if np.any(denom <= 0):
        raise ParameterError(
            "the thick-limit correction diverges (measured value too high for the model's "
            "saturation); check composition and angles."
        )
    return y * a / denom


def thickness_from_edge_step(
    edge_step: float, model: AbsorptionModel, *, incidence_deg: float = 90.0
) -> float:
    """Sample thickness (um) from the edge step of its transmission spectrum.

    A transmission spectrum ``ln(I0 / I)`` of the same sample jumps at the edge by
    ``J(e0) * d / sin(incidence)``, with ``J`` the absorber's edge jump of ``model`` (1/cm, for
    the stated composition and density) and ``incidence`` the angle between the beam and the
    sample surface during the transmission scan (90 degrees: normal incidence). For a powder
    film, ``d`` is the thickness of the equivalent dense layer, which is what the
    self-absorption model needs (voids change neither the edge step nor the distortion).

    Parameters
    ----------
    edge_step : float
        Edge step of the transmission spectrum (ln units, e.g. ATHENA's ``bkg_step``).
    model : AbsorptionModel
        From :func:`absorption_model` (its ``edge_eV`` parameter locates e0).
    incidence_deg : float
        Beam-to-surface angle of the transmission measurement, degrees.

    Returns
    -------
    float
        Thickness in um.

    Examples
    --------
    >>> import numpy as np
    >>> m = AbsorptionModel(np.array([6500.0, 6600.0]), np.array([1600.0, 1600.0]),
    ...                     np.array([270.0, 260.0]), 355.0, {"edge_eV": 6539.0})
    >>> round(thickness_from_edge_step(0.48, m), 3)
    3.0
    """
    step = check_positive(edge_step, "edge_step")
    if not 0 < incidence_deg <= 90:
        raise ParameterError(f"incidence_deg must be in (0, 90] degrees, got {incidence_deg}.")
    e_edge = float(model.parameters.get("edge_eV", model.energy[model.energy.size // 2]))
    jump = float(np.interp(e_edge, model.energy, model.jump))
    return float(step * np.sin(np.radians(incidence_deg)) / jump * 1e4)
