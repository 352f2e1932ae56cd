"""Intermittent current interruption (ICI): resistance and diffusion from short interruptions.

Chien et al. (Nat. Commun. 14, 2289, 2023; J. Phys. Chem. Lett. 2024): a constant-current
charge or discharge is interrupted for a few seconds at regular intervals. During an
interruption that is short against the diffusion time (semi-infinite diffusion), the voltage
relaxes as

    E(t) = E_on - I R - I k sqrt(t),

t measured from the last point with current on, E_on that point's voltage: the intercept gives
the internal resistance R (ohm), the slope the diffusion resistance coefficient k
(ohm s^-1/2). The interruption is the current step -I, so by superposition the slope is the
Weppner-Huggins transient of a pulse: with the quasi-equilibrium slope dE/dt of the constant-
current segment before it (the coulometric titration curve traversed at current I),

    D = 4 / pi * (V / S)^2 * ((dE/dt) / (dE/dsqrt(t)))^2,

V/S the particle volume over its surface (r/3 for spheres, m V_M / (M S) in the mass form): the
same relation as the particle-radius Weppner-Huggins formula with dEs = (dE/dt) tau and
dEt = slope sqrt(tau). Uncertainties are the linear fits' standard errors, propagated.
Validity: enough points, a good sqrt(t) fit, the interruption short against the diffusion time
(``duration D / L^2 <= max_tau_ratio``) and a dE/dt of the current's sign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cathodescope._validation import check_positive
from cathodescope.echem._summary import check_cycling_table, step_table
from cathodescope.errors import GITTError, ParameterError


@dataclass(frozen=True)
class ICIResult:
    """Per-interruption ICI results.

    Parameters
    ----------
    interruptions : DataFrame
        One row per interruption: ``interruption``, ``cycle``, ``direction``,
        ``start_time_s``, ``duration_s``, ``current_mA`` (just before), ``E_on_V``,
        ``R_ohm`` / ``R_err_ohm`` (internal resistance), ``k_ohm_sqrt_s`` / ``k_err_ohm_sqrt_s``
        (diffusion resistance coefficient), ``dEdt_V_s`` / ``dEdt_err_V_s`` (slope of the
        constant-current segment before), ``D_m2_s`` / ``D_err_m2_s``, ``tau_ratio``
        (duration D / L^2), ``fit_r2``, ``n_points``, ``valid``.
    length_um : float
        V/S used, um (r/3 for spheres).
    parameters : dict
        The parameters used.
    """

    interruptions: pd.DataFrame
    length_um: float
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-interruption table."""
        return self.interruptions


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float]:
    """Least-squares line: slope, intercept, their standard errors, and R^2."""
    (slope, icpt), cov = np.polyfit(x, y, 1, cov="unscaled")
    resid = y - (slope * x + icpt)
    dof = max(x.size - 2, 1)
    s2 = float(resid @ resid) / dof
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 0.0
    return (
        float(slope),
        float(icpt),
        float(np.sqrt(max(cov[0, 0] * s2, 0.0))),
        float(np.sqrt(max(cov[1, 1] * s2, 0.0))),
        r2,
    )


def _volume_over_area_um(
    radius_um: float | None,
    mass_g: float | None,
    molar_volume_cm3_mol: float | None,
    molar_mass_g_mol: float | None,
    area_cm2: float | None,
) -> float:
    """V/S in um: r/3 for spheres, or m V_M / (M S) in the mass form."""
    if (
        mass_g is not None
        and molar_volume_cm3_mol is not None
        and molar_mass_g_mol is not None
        and area_cm2 is not None
    ):
        mass = (mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2)
        for name, val in zip(
            ("mass_g", "molar_volume_cm3_mol", "molar_mass_g_mol", "area_cm2"), mass, strict=True
        ):
            check_positive(val, name)
        return mass_g * molar_volume_cm3_mol / (molar_mass_g_mol * area_cm2) * 1e4
    if radius_um is not None:
        return check_positive(radius_um, "radius_um") / 3.0
    raise ParameterError(
        "ICI needs V/S: give radius_um (particle radius) or all of mass_g, "
        "molar_volume_cm3_mol, molar_mass_g_mol and area_cm2 for the mass-based form."
    )


def _one_interruption(
    t: np.ndarray,
    v: np.ndarray,
    cur: np.ndarray,
    before: tuple[int, int],
    rest: tuple[int, int],
    dedt_window_s: float,
) -> dict[str, Any] | None:
    """Fits of one interruption: rows ``before`` = (start, stop) of the current-on segment."""
    b0, b1 = before
    r0, r1 = rest
    on = b1 - 1  # last point with current on
    i_on = float(cur[on]) * 1e-3  # A
    if i_on == 0 or r1 - r0 < 3:
        return None
    elapsed = t[r0:r1] - t[on]
    ok = elapsed > 0
    if ok.sum() < 3:
        return None
    slope, icpt, slope_err, icpt_err, r2 = _line_fit(np.sqrt(elapsed[ok]), v[r0:r1][ok])
    seg = np.arange(b0, b1)
    seg = seg[t[seg] >= t[on] - dedt_window_s]
    if seg.size < 3:
        return None
    dedt, _, dedt_err, _, _ = _line_fit(t[seg] - t[on], v[seg])
    return {
        "start_time_s": float(t[on]),
        "duration_s": float(t[r1 - 1] - t[on]),
        "current_mA": i_on * 1e3,
        "E_on_V": float(v[on]),
        "R_ohm": (float(v[on]) - icpt) / i_on,
        "R_err_ohm": icpt_err / abs(i_on),
        "k_ohm_sqrt_s": -slope / i_on,
        "k_err_ohm_sqrt_s": slope_err / abs(i_on),
        "dEdt_V_s": dedt,
        "dEdt_err_V_s": dedt_err,
        "slope_V_sqrt_s": slope,
        "slope_err_V_sqrt_s": slope_err,
        "fit_r2": r2,
        "n_points": int(ok.sum()),
    }


def ici_analysis(
    df: pd.DataFrame,
    *,
    radius_um: float | None = None,
    mass_g: float | None = None,
    molar_volume_cm3_mol: float | None = None,
    molar_mass_g_mol: float | None = None,
    area_cm2: float | None = None,
    max_interruption_s: float = 30.0,
    dedt_window_s: float | None = None,
    max_tau_ratio: float = 0.01,
    min_fit_r2: float = 0.95,
) -> ICIResult:
    """Internal resistance and diffusion coefficients from current interruptions (ICI).

    An interruption is a rest step no longer than ``max_interruption_s`` between two charge
    steps or two discharge steps. See the module docstring for the method.

    Parameters
    ----------
    df : DataFrame
        Canonical cycling table.
    radius_um : float, optional
        Particle radius, um (V/S = r/3).
    mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2 : float, optional
        All four for the mass-based V/S = m V_M / (M S) (used when given).
    max_interruption_s : float
        Longest rest counted as an interruption, s.
    dedt_window_s : float, optional
        Time before the interruption over which dE/dt is fitted, s; default 10 times the
        interruption's duration.
    max_tau_ratio : float
        Validity limit on duration D / L^2 (L = 3 V/S).
    min_fit_r2 : float
        Validity limit on the sqrt(t) fit's R^2.

    Returns
    -------
    ICIResult

    Raises
    ------
    ParameterError
        No V/S can be formed from the arguments.
    GITTError
        No interruption in the table.
    """
    check_cycling_table(df)
    vs_um = _volume_over_area_um(
        radius_um, mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2
    )
    check_positive(max_interruption_s, "max_interruption_s")
    steps = step_table(df)
    types = steps["step_type"].to_numpy()
    start, stop = steps["start_row"].to_numpy(), steps["stop_row"].to_numpy()
    dur = steps["duration_s"].to_numpy(float)
    t = df["time_s"].to_numpy(float)
    v = df["voltage_V"].to_numpy(float)
    cur = df["current_mA"].to_numpy(float)
    rows = []
    for k in range(1, len(steps) - 1):
        kind = types[k - 1]
        if types[k] != "rest" or kind not in ("charge", "discharge") or types[k + 1] != kind:
            continue
        if dur[k] > max_interruption_s:
            continue
        window = 10.0 * dur[k] if dedt_window_s is None else float(dedt_window_s)
        rec = _one_interruption(
            t, v, cur, (int(start[k - 1]), int(stop[k - 1])), (int(start[k]), int(stop[k])), window
        )
        if rec is not None:
            rows.append({"cycle": int(steps["cycle"].iloc[k]), "direction": kind, **rec})
    if not rows:
        raise GITTError(
            "no current interruption found: ICI needs rest steps of at most "
            f"{max_interruption_s:g} s between two charge (or two discharge) steps; raise "
            "max_interruption_s if the interruptions are longer."
        )
    out = pd.DataFrame(rows)
    out.insert(0, "interruption", np.arange(len(out)))
    vs_m = vs_um * 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["dEdt_V_s"] / out["slope_V_sqrt_s"]
        out["D_m2_s"] = 4.0 / np.pi * vs_m**2 * ratio**2
        rel = np.hypot(
            out["dEdt_err_V_s"] / out["dEdt_V_s"], out["slope_err_V_sqrt_s"] / out["slope_V_sqrt_s"]
        )
        out["D_err_m2_s"] = out["D_m2_s"] * 2.0 * np.abs(rel)
    length_m = 3.0 * vs_m
    out["tau_ratio"] = out["duration_s"] * out["D_m2_s"] / length_m**2
    sign = np.where(out["direction"] == "charge", 1.0, -1.0)
    out["valid"] = (
        (out["fit_r2"] >= min_fit_r2)
        & (out["tau_ratio"] <= max_tau_ratio)
        & (np.sign(out["dEdt_V_s"]) == sign)
        & (np.sign(out["slope_V_sqrt_s"]) == -sign)
        & np.isfinite(out["D_m2_s"])
    )
    out = out.drop(columns=["slope_V_sqrt_s", "slope_err_V_sqrt_s"])
    params = {
        "radius_um": radius_um,
        "mass_g": mass_g,
        "molar_volume_cm3_mol": molar_volume_cm3_mol,
        "molar_mass_g_mol": molar_mass_g_mol,
        "area_cm2": area_cm2,
        "max_interruption_s": max_interruption_s,
        "dedt_window_s": dedt_window_s,
        "max_tau_ratio": max_tau_ratio,
        "min_fit_r2": min_fit_r2,
    }
    return ICIResult(out, float(vs_um), params)
