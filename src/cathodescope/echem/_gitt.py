"""GITT: pulse/rest detection, IR drop, dEs and dEt, Weppner-Huggins diffusion coefficients.

Weppner and Huggins (J. Electrochem. Soc. 124, 1569, 1977), for a constant-current pulse of
length tau short enough that the particle behaves as a semi-infinite medium
(tau << L^2 / D), with a linear coulometric titration curve over the pulse:

* mass-based form: ``D = 4 / (pi tau) * (m_B V_M / (M_B S))^2 * (dEs / dEt)^2``, with m_B the
  active mass (g), V_M its molar volume (cm^3/mol), M_B its molar mass (g/mol) and S the
  electrode/electrolyte contact area (cm^2); m_B V_M / M_B is the particle volume, so the bracket
  is volume / area (cm) and D comes out in cm^2/s (converted here to m^2/s);
* particle-radius form for spheres of radius r (volume / area = r / 3):
  ``D = 4 / (pi tau) * (r / 3)^2 * (dEs / dEt)^2``;
* sqrt(t) form: within the pulse E(t) = E0 + IR + k sqrt(t) (semi-infinite diffusion), so dEt is
  replaced by ``k sqrt(tau)`` fitted over the early part of the pulse, which excludes the IR drop
  exactly (it is the intercept) and is less sensitive to the late-time departure from sqrt(t).

dEs: change of the relaxed (end-of-rest) voltage across the pulse; dEt: voltage change during
the pulse without the IR drop. Validity: ``tau * D / L^2 <= max_tau_ratio`` (L = r, or
3 x volume/area), and a good sqrt(t) fit. The finite-size bias of the semi-infinite formula is
about -sqrt(pi tau D) / r on D (e.g. -9 % at tau D / r^2 = 0.0025), which is why the default
limit is strict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cathodescope._validation import check_positive
from cathodescope.echem._summary import check_cycling_table, step_table
from cathodescope.errors import GITTError, ParameterError


def diffusion_length(
    diffusion_m2_s: float | np.ndarray, frequency_hz: float | np.ndarray
) -> float | np.ndarray:
    """Diffusion length per AC cycle, L = sqrt(D / f), in m.

    Parameters
    ----------
    diffusion_m2_s : float or ndarray
        Diffusion coefficient, m^2/s.
    frequency_hz : float or ndarray
        Excitation frequency, Hz.

    Returns
    -------
    float or ndarray
        L in m.

    Examples
    --------
    >>> round(float(diffusion_length(1e-15, 320e3)) * 1e9, 4)  # 1e3 nm^2/s at 320 kHz, in nm
    0.0559
    """
    d = np.asarray(diffusion_m2_s, dtype=float)
    f = np.asarray(frequency_hz, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d < 0):
        raise ParameterError(
            f"diffusion coefficient must be finite and >= 0 m^2/s, got {diffusion_m2_s!r}."
        )
    if np.any(~np.isfinite(f)) or np.any(f <= 0):
        raise ParameterError(f"frequency must be finite and > 0 Hz, got {frequency_hz!r}.")
    out = np.sqrt(d / f)
    return float(out) if out.ndim == 0 else out


def weppner_huggins_radius(
    tau_s: ArrayLike, radius_um: ArrayLike, dEs_V: ArrayLike, dEt_V: ArrayLike
) -> np.ndarray:
    """Particle-radius Weppner-Huggins D = 4/(pi tau) (r/3)^2 (dEs/dEt)^2, in m^2/s.

    Parameters
    ----------
    tau_s : array_like
        Pulse length, s.
    radius_um : array_like
        Particle radius, um (volume/area of a sphere = r/3).
    dEs_V, dEt_V : array_like
        Steady-state and transient voltage changes of the pulse, V.

    Returns
    -------
    ndarray
        D in m^2/s (broadcast shape of the inputs).
    """
    r = np.asarray(radius_um, float) * 1e-6
    return (
        4.0
        / (np.pi * np.asarray(tau_s, float))
        * (r / 3.0) ** 2
        * (np.asarray(dEs_V, float) / np.asarray(dEt_V, float)) ** 2
    )


def weppner_huggins_mass(
    tau_s: ArrayLike,
    mass_g: float,
    molar_volume_cm3_mol: float,
    molar_mass_g_mol: float,
    area_cm2: float,
    dEs_V: ArrayLike,
    dEt_V: ArrayLike,
) -> np.ndarray:
    """Mass-based Weppner-Huggins D = 4/(pi tau) (m V_M/(M S))^2 (dEs/dEt)^2, in m^2/s.

    Parameters
    ----------
    tau_s : array_like
        Pulse length, s.
    mass_g : float
        Active mass m_B, g.
    molar_volume_cm3_mol : float
        Molar volume V_M, cm^3/mol.
    molar_mass_g_mol : float
        Molar mass M_B, g/mol.
    area_cm2 : float
        Electrode/electrolyte contact area S, cm^2.
    dEs_V, dEt_V : array_like
        Steady-state and transient voltage changes of the pulse, V.

    Returns
    -------
    ndarray
        D in m^2/s (computed in cm^2/s, times 1e-4).
    """
    length_cm = mass_g * molar_volume_cm3_mol / (molar_mass_g_mol * area_cm2)
    d_cm2_s = (
        4.0
        / (np.pi * np.asarray(tau_s, float))
        * length_cm**2
        * (np.asarray(dEs_V, float) / np.asarray(dEt_V, float)) ** 2
    )
    return d_cm2_s * 1e-4


@dataclass(frozen=True)
class GITTResult:
    """Per-pulse GITT results.

    Parameters
    ----------
    pulses : DataFrame
        One row per pulse: ``pulse``, ``cycle``, ``direction``, ``start_time_s``, ``tau_s``,
        ``current_mA``, ``soc`` (SOC at the end of the pulse, fraction of ``capacity_mAh``),
        ``soc_mid``, ``E_before_V`` / ``E_after_V`` (relaxed voltages), ``dEs_V``, ``dEt_V``
        (end-of-pulse voltage minus the sqrt(t) intercept), ``dEt_simple_V`` (end minus first
        pulse point), ``slope_V_sqrt_s`` and its standard error ``slope_err_V_sqrt_s``,
        ``fit_r2``, ``relaxation`` (the step types after the pulse, e.g. ``eis+rest``), ``ir_drop_V`` (sqrt(t) intercept minus
        the relaxed voltage before: the ohmic step at t = 0), ``ir_drop_end_V`` (last pulse point
        minus first rest point: IR plus whatever relaxed before that point), ``resistance_ohm``
        (``ir_drop_V`` / I), ``D_m2_s`` (Weppner-Huggins with dEt),
        ``D_sqrt_m2_s`` (sqrt(t) form) and ``D_sqrt_err_m2_s`` (its standard error from the
        fit), ``tau_ratio`` (tau D / L^2), ``valid``.
    length_um : float
        Diffusion length L used (r, or 3 x volume/area), um.
    parameters : dict
        The parameters used.
    """

    pulses: pd.DataFrame
    length_um: float
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-pulse table."""
        return self.pulses


def _sqrt_fit(elapsed: np.ndarray, volts: np.ndarray) -> tuple[float, float, float, float]:
    """Line E = icpt + slope sqrt(elapsed): (slope, intercept, R^2, slope standard error)."""
    if elapsed.size < 3:
        return np.nan, np.nan, np.nan, np.nan
    x = np.sqrt(elapsed)
    (slope, icpt), cov = np.polyfit(x, volts, 1, cov="unscaled")
    pred = slope * x + icpt
    ss_res = float(np.sum((volts - pred) ** 2))
    ss_tot = float(np.sum((volts - volts.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    dof = max(elapsed.size - 2, 1)
    slope_err = float(np.sqrt(max(cov[0, 0], 0.0) * ss_res / dof))
    return float(slope), float(icpt), r2, slope_err


def _diffusion_length_um(
    radius_um: float | None,
    mass_g: float | None,
    molar_volume_cm3_mol: float | None,
    molar_mass_g_mol: float | None,
    area_cm2: float | None,
) -> tuple[bool, float]:
    """Whether the mass form applies, and the diffusion length L in um (r, or 3 V/S)."""
    if (
        mass_g is not None
        and molar_volume_cm3_mol is not None
        and molar_mass_g_mol is not None
        and area_cm2 is not None
    ):
        for name, val in (
            ("mass_g", mass_g),
            ("molar_volume_cm3_mol", molar_volume_cm3_mol),
            ("molar_mass_g_mol", molar_mass_g_mol),
            ("area_cm2", area_cm2),
        ):
            check_positive(val, name)
        length_cm = mass_g * molar_volume_cm3_mol / (molar_mass_g_mol * area_cm2)
        return True, 3.0 * length_cm * 1e4
    elif radius_um is not None:
        return False, check_positive(radius_um, "radius_um")
    else:
        raise ParameterError(
            "GITT needs a diffusion length: give radius_um (particle radius) or all of mass_g, "
            "molar_volume_cm3_mol, molar_mass_g_mol and area_cm2 for the mass-based form (on the "
            "command line: --radius-um, or --active-mass-g, --molar-volume, --molar-mass and "
            "--area-cm2)."
        )


def _pulse_rows(
    df: pd.DataFrame, lo: float, hi: float, min_pulse_points: int
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One record per pulse (see :func:`gitt_analysis`), and the charge of each direction."""
    steps = step_table(df)
    types = steps["step_type"].to_numpy()
    t = df["time_s"].to_numpy(float)
    v = df["voltage_V"].to_numpy(float)
    cur = df["current_mA"].to_numpy(float)
    rows = []
    q_dir = {"charge": 0.0, "discharge": 0.0}
    relax = np.isin(types, ("rest", "eis"))
    for k in range(1, len(steps) - 1):
        kind = types[k]
        if kind not in ("charge", "discharge") or not relax[k + 1] or not relax[k - 1]:
            continue
        s0, s1 = int(steps["start_row"].iloc[k]), int(steps["stop_row"].iloc[k])
        if s1 - s0 < min_pulse_points:
            continue
        r_prev_end = int(steps["stop_row"].iloc[k - 1]) - 1
        # the relaxation may be recorded as several consecutive steps (EC-Lab sequences, a PEIS
        # between pulse and rest): the relaxed voltage is the last point of the last rest of the
        # run of rest/EIS steps that follows
        last = k + 1
        while last + 1 < len(steps) and relax[last + 1]:
            last += 1
        rests = [j for j in range(k + 1, last + 1) if types[j] == "rest"]
        if not rests:
            continue
        r_next0 = int(steps["start_row"].iloc[rests[0]])
        r_next1 = int(steps["stop_row"].iloc[rests[-1]])
        t_start = t[r_prev_end]  # the pulse starts when the rest's last point was taken
        tau = t[s1 - 1] - t_start
        if tau <= 0:
            continue
        i_mean = float(np.mean(cur[s0:s1]))
        q_dir[kind] += abs(float(steps["charge_mAh"].iloc[k]))
        e_before = v[r_prev_end]
        e_after = v[r_next1 - 1]
        e_end = v[s1 - 1]
        elapsed = t[s0:s1] - t_start
        m = (elapsed > lo * tau) & (elapsed <= hi * tau)
        m[0] = False
        slope, icpt, r2, slope_err = _sqrt_fit(elapsed[m], v[s0:s1][m])
        rows.append(
            {
                "cycle": int(steps["cycle"].iloc[k]),
                "direction": kind,
                "start_time_s": t_start,
                "tau_s": tau,
                "current_mA": i_mean,
                "charge_mAh": float(steps["charge_mAh"].iloc[k]),
                "q_cum_mAh": q_dir[kind],
                "E_before_V": e_before,
                "E_after_V": e_after,
                "dEs_V": e_after - e_before,
                "dEt_V": e_end - icpt,
                "dEt_simple_V": e_end - v[s0],
                "slope_V_sqrt_s": slope,
                "slope_err_V_sqrt_s": slope_err,
                "fit_r2": r2,
                "ir_drop_V": icpt - e_before,
                "ir_drop_end_V": e_end - v[r_next0],
                "relaxation": "+".join(str(types[j]) for j in range(k + 1, last + 1)),
            }
        )
    return rows, q_dir


def _add_soc(
    out: pd.DataFrame, q_dir: dict[str, float], capacity_mAh: float | None
) -> dict[str, float]:
    """Add ``soc`` and ``soc_mid`` (in place); returns the capacity used per direction."""
    cap_used = {}
    for kind in ("charge", "discharge"):
        m = out["direction"] == kind
        total = capacity_mAh if capacity_mAh is not None else q_dir[kind]
        cap_used[kind] = total
        if m.any() and total:
            out.loc[m, "soc"] = out.loc[m, "q_cum_mAh"] / total
            out.loc[m, "soc_mid"] = (
                out.loc[m, "q_cum_mAh"] - out.loc[m, "charge_mAh"].abs() / 2
            ) / total
            if kind == "discharge":
                out.loc[m, "soc"] = 1.0 - out.loc[m, "soc"]
                out.loc[m, "soc_mid"] = 1.0 - out.loc[m, "soc_mid"]
    return cap_used


def _add_diffusion(
    out: pd.DataFrame, mass_form: bool, length_um: float, mass_args: tuple[Any, ...]
) -> None:
    """Add ``resistance_ohm``, ``D_m2_s``, ``D_sqrt_m2_s`` and ``D_sqrt_err_m2_s`` (in place)."""
    mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2 = mass_args
    with np.errstate(divide="ignore", invalid="ignore"):
        out["resistance_ohm"] = out["ir_drop_V"] / (out["current_mA"] * 1e-3)
        if mass_form:
            d = weppner_huggins_mass(
                out["tau_s"],
                mass_g,
                molar_volume_cm3_mol,
                molar_mass_g_mol,
                area_cm2,
                out["dEs_V"],
                out["dEt_V"],
            )
            d_sqrt = weppner_huggins_mass(
                out["tau_s"],
                mass_g,
                molar_volume_cm3_mol,
                molar_mass_g_mol,
                area_cm2,
                out["dEs_V"],
                out["slope_V_sqrt_s"] * np.sqrt(out["tau_s"]),
            )
        else:
            d = weppner_huggins_radius(out["tau_s"], length_um, out["dEs_V"], out["dEt_V"])
            d_sqrt = weppner_huggins_radius(
                out["tau_s"], length_um, out["dEs_V"], out["slope_V_sqrt_s"] * np.sqrt(out["tau_s"])
            )
    out["D_m2_s"] = d
    out["D_sqrt_m2_s"] = d_sqrt
    # D ~ slope^-2: its relative standard error is twice the slope's (the fit's covariance)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["D_sqrt_err_m2_s"] = (
            d_sqrt * 2.0 * np.abs(out["slope_err_V_sqrt_s"] / out["slope_V_sqrt_s"])
        )


def gitt_analysis(
    df: pd.DataFrame,
    *,
    radius_um: float | None = None,
    mass_g: float | None = None,
    molar_volume_cm3_mol: float | None = None,
    molar_mass_g_mol: float | None = None,
    area_cm2: float | None = None,
    capacity_mAh: float | None = None,
    sqrt_window: tuple[float, float] = (0.0, 0.5),
    max_tau_ratio: float = 0.01,
    min_fit_r2: float = 0.98,
    min_pulse_points: int = 5,
) -> GITTResult:
    """Weppner-Huggins diffusion coefficients from a GITT experiment.

    A pulse is a charge or discharge step preceded by a rest (or EIS) step and followed by a run
    of rest and EIS steps that holds at least one rest: pulse -> rest, pulse -> OCV,
    pulse -> PEIS -> rest. The relaxed voltage before it is the last point of the preceding
    step, after it the last point of the last rest of that run.

    Parameters
    ----------
    df : DataFrame
        Canonical cycling table.
    radius_um : float, optional
        Particle radius (um) for the radius form.
    mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2 : float, optional
        All four for the mass-based form (used when given; otherwise ``radius_um`` is needed).
    capacity_mAh : float, optional
        Capacity for the SOC axis; default the total charge of the pulses of each direction.
    sqrt_window : (float, float)
        Fraction of tau over which E is fitted against sqrt(t - t_start) (the first point of the
        pulse is always excluded: it carries the IR step).
    max_tau_ratio : float
        Validity limit on tau D / L^2.
    min_fit_r2 : float
        Validity limit on the sqrt(t) fit's R^2.
    min_pulse_points : int
        Pulses with fewer points are skipped.

    Returns
    -------
    GITTResult

    Raises
    ------
    ParameterError
        Neither a radius nor the four mass-form quantities.
    GITTError
        No pulse followed by a rest.
    """
    check_cycling_table(df)
    mass_form, length_um = _diffusion_length_um(
        radius_um, mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2
    )
    lo, hi = map(float, sqrt_window)
    if not 0.0 <= lo < hi <= 1.0:
        raise ParameterError(f"sqrt_window must satisfy 0 <= low < high <= 1, got {sqrt_window}.")
    rows, q_dir = _pulse_rows(df, lo, hi, min_pulse_points)
    if not rows:
        raise GITTError(
            "no GITT pulse found: a pulse is a charge or discharge step between two rest steps "
            f"with at least {min_pulse_points} points; check the step types of the table."
        )
    out = pd.DataFrame(rows)
    out.insert(0, "pulse", np.arange(len(out)))
    cap_used = _add_soc(out, q_dir, capacity_mAh)
    _add_diffusion(
        out, mass_form, length_um, (mass_g, molar_volume_cm3_mol, molar_mass_g_mol, area_cm2)
    )
    out["tau_ratio"] = out["tau_s"] * out["D_sqrt_m2_s"] / (length_um * 1e-6) ** 2
    same_sign = np.sign(out["dEs_V"]) == np.sign(out["dEt_V"])
    out["valid"] = (
        (out["tau_ratio"] <= max_tau_ratio)
        & (out["fit_r2"] >= min_fit_r2)
        & same_sign
        & np.isfinite(out["D_sqrt_m2_s"])
    )
    params = {
        "radius_um": radius_um,
        "mass_g": mass_g,
        "molar_volume_cm3_mol": molar_volume_cm3_mol,
        "molar_mass_g_mol": molar_mass_g_mol,
        "area_cm2": area_cm2,
        "form": "mass" if mass_form else "radius",
        "capacity_mAh": cap_used,
        "sqrt_window": (lo, hi),
        "max_tau_ratio": max_tau_ratio,
        "min_fit_r2": min_fit_r2,
    }
    return GITTResult(out, float(length_um), params)
