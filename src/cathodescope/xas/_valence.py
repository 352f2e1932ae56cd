"""Oxidation states: average valence from LCF fractions, nominal valence from composition, and
the surface charge-balance estimate of the CG-NMC622 paper (SCIENCE.md section 2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope.errors import ParameterError

#: Oxidation states assumed for the spectator elements of layered oxide cathodes.
DEFAULT_FIXED_VALENCES: dict[str, float] = {
    "Li": 1.0,
    "Na": 1.0,
    "O": -2.0,
    "F": -1.0,
    "Co": 3.0,
    "Mn": 4.0,
    "Al": 3.0,
    "Mg": 2.0,
    "Ti": 4.0,
    "Zr": 4.0,
}


def average_valence(
    fractions: Mapping[str, float],
    valences: Mapping[str, float],
    *,
    uncertainties: Mapping[str, float] | None = None,
) -> tuple[float, float]:
    """Average oxidation state ``sum(f_i v_i)`` from LCF fractions, with its uncertainty.

    Parameters
    ----------
    fractions : mapping standard -> fraction
        Must sum to 1 (within 1e-6).
    valences : mapping standard -> float
        Oxidation state of the absorber in each standard.
    uncertainties : mapping standard -> standard error of the fraction, optional
        Propagated as for independent errors (an upper bound: the sum constraint makes the
        fractions anti-correlated, which for two standards gives exactly ``|v1 - v2| s``).

    Returns
    -------
    (valence, stderr) : tuple of float

    Examples
    --------
    >>> average_valence({"NiO": 0.33, "LiNiO2": 0.67}, {"NiO": 2, "LiNiO2": 3})[0]
    2.67
    """
    missing = set(fractions) - set(valences)
    if missing:
        raise ParameterError(f"no valence given for standards {sorted(missing)}.")
    f = np.array([fractions[k] for k in fractions], dtype=float)
    if not np.isclose(f.sum(), 1.0, atol=1e-6) or np.any(f < -1e-12):
        raise ParameterError(f"fractions must be >= 0 and sum to 1, got sum {f.sum():.6g}.")
    v = np.array([valences[k] for k in fractions], dtype=float)
    val = float(np.round(f @ v, 12))
    if not uncertainties:
        return val, float("nan")
    s = np.array([uncertainties.get(k, 0.0) for k in fractions], dtype=float)
    if len(f) == 2:
        return val, float(abs(v[0] - v[1]) * s.max())
    return val, float(np.sqrt(np.sum((s * (v - val)) ** 2)))


def nominal_valence(
    formula: str,
    element: str,
    *,
    fixed: Mapping[str, float] | None = None,
) -> float:
    """Oxidation state of ``element`` that makes ``formula`` charge neutral.

    Every other element takes its value from ``fixed`` (default
    :data:`DEFAULT_FIXED_VALENCES`: Li +1, O -2, Co +3, Mn +4...). For
    ``LiNi0.6Mn0.2Co0.2O2`` and Ni: ``(2*2 - 1 - 0.2*4 - 0.2*3) / 0.6 = 2.667``.

    Parameters
    ----------
    formula : str
        Chemical formula (xraydb syntax).
    element : str
        The element whose oxidation state is solved for.
    fixed : mapping of str to float, optional
        Oxidation states of the other elements.

    Returns
    -------
    float
        Oxidation state of ``element``.

    Examples
    --------
    >>> round(nominal_valence("LiNi0.6Mn0.2Co0.2O2", "Ni"), 3)
    2.667
    """
    from xraydb.chemparser import chemparse

    try:
        comp = chemparse(formula)
    except Exception as exc:
        raise ParameterError(f"cannot parse formula {formula!r}.") from exc
    if element not in comp:
        raise ParameterError(f"{element} is not in {formula}.")
    table = {**DEFAULT_FIXED_VALENCES, **(fixed or {})}
    charge = 0.0
    for el, n in comp.items():
        if el == element:
            continue
        if el not in table:
            raise ParameterError(f"no oxidation state for {el}; pass fixed={{'{el}': value}}.")
        charge += n * table[el]
    return -charge / comp[element]


@dataclass(frozen=True)
class ChargeBalance:
    """Surface charge-balance estimate (electrons gained by Mn vs lost by Ni).

    Parameters
    ----------
    electrons_gained_mn : float
        ``(mn_from - mn_to) * x_mn`` per formula unit (Mn4+ -> Mn2+: ``2 x_Mn``).
    electrons_lost_ni : float
        ``(ni_to - ni_from) * x_ni`` (Ni2+ -> Ni3+: ``1 x_Ni``).
    balance : float
        gained - lost: > 0 means Mn reduction could supply more electrons than Ni oxidation
        consumes.
    explanation : str
        The balance in words, for reports.
    parameters : dict
        The parameters used.
    """

    electrons_gained_mn: float
    electrons_lost_ni: float
    balance: float
    explanation: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self):
        """One row with ``x_mn, x_ni, electrons_gained_mn, electrons_lost_ni, balance``."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "x_mn": self.parameters["x_mn"],
                    "x_ni": self.parameters["x_ni"],
                    "electrons_gained_mn": self.electrons_gained_mn,
                    "electrons_lost_ni": self.electrons_lost_ni,
                    "balance": self.balance,
                }
            ]
        )


def surface_charge_balance(
    x_mn: float,
    x_ni: float,
    *,
    mn_from: float = 4.0,
    mn_to: float = 2.0,
    ni_from: float = 2.0,
    ni_to: float = 3.0,
) -> ChargeBalance:
    """The paper's surface charge-balance estimate.

    When surface Mn is reduced from ``mn_from`` to ``mn_to`` it gains
    ``(mn_from - mn_to) x_Mn`` electrons per formula unit; the Ni that could compensate by
    going from ``ni_from`` to ``ni_to`` gives at most ``(ni_to - ni_from) x_Ni``. Conventional
    NMC622 (x_Mn = 0.2, x_Ni = 0.6): 0.4 vs 0.6 -- Ni can take up the charge; concentration-
    gradient surface NMC442 (x_Mn = 0.4, x_Ni = 0.4): 0.8 vs 0.4 -- it cannot, so the Mn-rich
    shell resists the surface reduction seen in conventional material.

    Parameters
    ----------
    x_mn, x_ni : float
        Mn and Ni site fractions per formula unit (0-1).
    mn_from, mn_to : float
        Mn oxidation states before and after the surface reduction.
    ni_from, ni_to : float
        Ni oxidation states before and after the compensating oxidation.

    Returns
    -------
    ChargeBalance
        Electrons gained by Mn, electrons Ni can give, and a sentence saying which wins.

    Examples
    --------
    >>> cb = surface_charge_balance(0.4, 0.4)
    >>> round(cb.electrons_gained_mn, 3), round(cb.electrons_lost_ni, 3)
    (0.8, 0.4)
    """
    for v, n in ((x_mn, "x_mn"), (x_ni, "x_ni")):
        if not 0 <= v <= 1:
            raise ParameterError(f"{n} must be a site fraction in [0, 1], got {v}.")
    gained = (mn_from - mn_to) * x_mn
    lost = (ni_to - ni_from) * x_ni
    text = (
        f"Mn{mn_from:+g} -> Mn{mn_to:+g} on {x_mn:g} Mn per formula unit gains {gained:.3g} e-; "
        f"Ni{ni_from:+g} -> Ni{ni_to:+g} on {x_ni:g} Ni loses at most {lost:.3g} e-. "
        + (
            "Ni oxidation can compensate the Mn reduction."
            if lost >= gained
            else "Ni oxidation cannot compensate it: the Mn reduction is charge-limited."
        )
    )
    return ChargeBalance(
        electrons_gained_mn=float(gained),
        electrons_lost_ni=float(lost),
        balance=float(gained - lost),
        explanation=text,
        parameters={
            "x_mn": x_mn,
            "x_ni": x_ni,
            "mn_from": mn_from,
            "mn_to": mn_to,
            "ni_from": ni_from,
            "ni_to": ni_to,
        },
    )
