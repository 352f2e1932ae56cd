"""Ground-truth cycling and GITT data in the canonical cycling table.

``cycling_phantom``: galvanostatic cycles whose Q(V) is a sum of known logistic steps (each a
dQ/dV peak of known centre, width and capacity) on a linear background, sampled at constant
current with voltage noise; one peak can shift and fade and vanish at a chosen cycle.

``gitt_phantom``: a GITT titration of spherical particles with a known diffusion coefficient,
solved exactly by the series solution of Fickian diffusion in a sphere under constant surface
flux (Crank, *The Mathematics of Diffusion*, 2nd ed., eq. 6.57 at r = a), superposed over the
pulses, with a known OCV(SOC) curve and an ohmic resistance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from cathodescope._validation import check_positive
from cathodescope.errors import ParameterError
from cathodescope.io import build_cycling_table

_DEFAULT_CHARGE_PEAKS = ((3.45, 0.020, 0.25), (3.75, 0.025, 0.35), (4.05, 0.020, 0.20))


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _q_of_v(v, centres, widths, caps, bg, v_lo, v_hi):
    q = bg * (v - v_lo) / (v_hi - v_lo)
    for c, w, a in zip(centres, widths, caps, strict=True):
        q = q + a * (_logistic((v - c) / w) - _logistic((v_lo - c) / w))
    return q


def _dqdv_of_v(v, centres, widths, caps, bg, v_lo, v_hi):
    d = np.full_like(v, bg / (v_hi - v_lo))
    for c, w, a in zip(centres, widths, caps, strict=True):
        s = _logistic((v - c) / w)
        d = d + a / w * s * (1 - s)
    return d


def _peak_params(
    base: np.ndarray,
    cycle: int,
    direction: str,
    hysteresis_V: float,
    fading_peak: int | None,
    shift_V_per_cycle: float,
    vanish_cycle: int | None,
    fade_to: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centres, widths, capacities and presence of the peaks of one half-cycle."""
    centres = base[:, 0].copy()
    widths = base[:, 1].copy()
    amps = base[:, 2].copy()
    if direction == "discharge":
        centres -= hysteresis_V
    present = np.ones(len(base), dtype=bool)
    if fading_peak is not None:
        sgn = 1.0 if direction == "charge" else -1.0
        centres[fading_peak] += sgn * shift_V_per_cycle * (cycle - 1)
        if vanish_cycle is not None and cycle >= vanish_cycle:
            amps[fading_peak] = 0.0
            present[fading_peak] = False
        elif vanish_cycle is not None and vanish_cycle > 2:
            frac = 1.0 - (1.0 - fade_to) * (cycle - 1) / (vanish_cycle - 2)
            amps[fading_peak] *= frac
    return centres, widths, amps, present


def _truth_rows(
    fine: np.ndarray,
    centres: np.ndarray,
    widths: np.ndarray,
    amps: np.ndarray,
    present: np.ndarray,
    background_mAh: float,
    window: tuple[float, float],
    cycle: int,
    direction: str,
) -> list[dict[str, Any]]:
    """True peak positions (maxima of the exact dQ/dV) of one half-cycle."""
    v_lo, v_hi = window
    rows = []
    dqdv_true = _dqdv_of_v(fine, centres, widths, amps, background_mAh, v_lo, v_hi)
    for k in range(len(centres)):
        near = np.abs(fine - centres[k]) <= 1.5 * widths[k]
        pos = float(fine[near][np.argmax(dqdv_true[near])]) if present[k] else np.nan
        rows.append(
            {
                "cycle": cycle,
                "direction": direction,
                "peak_id": k,
                "centre_V": float(centres[k]),
                "capacity_mAh": float(amps[k]),
                "position_V": pos,
                "present": bool(present[k]),
            }
        )
    return rows


def cycling_phantom(
    *,
    n_cycles: int = 10,
    charge_peaks: Sequence[tuple[float, float, float]] = _DEFAULT_CHARGE_PEAKS,
    hysteresis_V: float = 0.05,
    background_mAh: float = 0.2,
    voltage_window: tuple[float, float] = (3.0, 4.3),
    current_mA: float = 0.5,
    points_per_halfcycle: int = 3000,
    noise_V: float = 5e-4,
    fading_peak: int | None = 1,
    vanish_cycle: int | None = 7,
    fade_to: float = 0.5,
    shift_V_per_cycle: float = 0.004,
    rest_points: int = 10,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Synthetic galvanostatic cycling with known dQ/dV peaks.

    Parameters
    ----------
    n_cycles : int
        Cycles (each: charge, rest, discharge, rest), numbered 1..n_cycles.
    charge_peaks : sequence of (centre_V, width_V, capacity_mAh)
        Oxidation peaks (logistic steps of Q(V); FWHM = 3.53 x width).
    hysteresis_V : float
        Reduction peaks sit this much below the oxidation ones.
    background_mAh : float
        Capacity spread linearly over the voltage window.
    voltage_window : (float, float)
        Cut-off voltages, V.
    current_mA : float
        Current magnitude, mA.
    points_per_halfcycle : int
        Samples per charge or discharge (uniform in time).
    noise_V : float
        Gaussian voltage noise (V, standard deviation): the measured voltage is not monotonic.
    fading_peak : int, optional
        Index in ``charge_peaks`` of the peak that shifts and fades (and its reduction partner).
    vanish_cycle : int, optional
        First cycle where the fading peak has zero capacity (None: never vanishes).
    fade_to : float
        Capacity fraction left in the cycle before ``vanish_cycle`` (linear fade from 1).
    shift_V_per_cycle : float
        Upward shift per cycle of the fading oxidation peak (and downward of its reduction one).
    rest_points : int
        Rest points (zero current) after every half-cycle, 10 s apart.
    seed : int
        Random seed of the noise.

    Returns
    -------
    df : DataFrame
        Canonical cycling table (no active mass).
    truth : dict
        ``peaks``: DataFrame (cycle, direction, peak_id, centre_V, capacity_mAh,
        position_V = the true maximum of the analytic dQ/dV near the centre, present),
        ``vanish_cycle``, ``fading_peak``, ``capacities``: DataFrame (cycle,
        charge_capacity_mAh, discharge_capacity_mAh) and ``dqdv``: callable
        (cycle, direction, V) -> analytic dQ/dV in mAh/V (negative on discharge).
    """
    if n_cycles < 1:
        raise ParameterError(f"n_cycles must be >= 1, got {n_cycles}.")
    check_positive(current_mA, "current_mA")
    rng = np.random.default_rng(seed)
    v_lo, v_hi = map(float, voltage_window)
    base = np.asarray(charge_peaks, dtype=float)
    t_now = 0.0
    parts_t: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    parts_i: list[np.ndarray] = []
    parts_q: list[np.ndarray] = []
    q_now = 0.0
    truth_rows = []
    caps = []

    def params(cycle: int, direction: str):
        return _peak_params(
            base,
            cycle,
            direction,
            hysteresis_V,
            fading_peak,
            shift_V_per_cycle,
            vanish_cycle,
            fade_to,
        )

    fine = np.linspace(v_lo, v_hi, 40001)
    for cycle in range(1, n_cycles + 1):
        row_caps: dict[str, Any] = {"cycle": cycle}
        for direction in ("charge", "discharge"):
            centres, widths, amps, present = params(cycle, direction)
            qv = _q_of_v(fine, centres, widths, amps, background_mAh, v_lo, v_hi)
            q_total = float(qv[-1])
            duration = q_total / current_mA * 3600.0
            tt = np.linspace(0.0, duration, points_per_halfcycle)
            q_pass = current_mA * tt / 3600.0
            if direction == "charge":
                v_true = np.interp(q_pass, qv, fine)
                cur = np.full(tt.size, current_mA)
            else:
                v_true = np.interp(q_total - q_pass, qv, fine)
                cur = np.full(tt.size, -current_mA)
            v_meas = v_true + rng.normal(0.0, noise_V, tt.size)
            parts_t.append(t_now + tt[1:] if parts_t else tt)
            parts_v.append(v_meas[1:] if len(parts_t) > 1 else v_meas)
            parts_i.append(cur[1:] if len(parts_t) > 1 else cur)
            # exact charge counter, as a cycler reports it (charge since the previous point)
            dq = np.sign(cur[0]) * q_pass
            parts_q.append(q_now + (dq[1:] if len(parts_t) > 1 else dq))
            q_now = float(parts_q[-1][-1])
            t_now = float(parts_t[-1][-1])
            # rest
            tr = t_now + 10.0 * np.arange(1, rest_points + 1)
            parts_t.append(tr)
            parts_v.append(np.full(tr.size, v_true[-1]) + rng.normal(0.0, noise_V, tr.size))
            parts_i.append(np.zeros(tr.size))
            parts_q.append(np.full(tr.size, q_now))
            t_now = float(tr[-1])
            row_caps[f"{direction}_capacity_mAh"] = q_total
            truth_rows += _truth_rows(
                fine, centres, widths, amps, present, background_mAh, (v_lo, v_hi), cycle, direction
            )
        caps.append(row_caps)
    t = np.concatenate(parts_t)
    v = np.concatenate(parts_v)
    i = np.concatenate(parts_i)
    df = build_cycling_table(
        t,
        v,
        i,
        charge_mAh=np.concatenate(parts_q),
        attrs={"instrument": "phantom", "format": "phantom"},
        source="cycling_phantom",
    )

    def dqdv_true(cycle: int, direction: str, volts: np.ndarray) -> np.ndarray:
        c, w, a, _ = params(cycle, direction)
        d = _dqdv_of_v(np.asarray(volts, float), c, w, a, background_mAh, v_lo, v_hi)
        return d if direction == "charge" else -d

    truth = {
        "peaks": pd.DataFrame(truth_rows),
        "vanish_cycle": vanish_cycle,
        "fading_peak": fading_peak,
        "capacities": pd.DataFrame(caps),
        "dqdv": dqdv_true,
        "noise_V": noise_V,
    }
    return df, truth


# -- GITT -------------------------------------------------------------------------------------


def _sphere_roots(n_terms: int) -> np.ndarray:
    """Positive roots of tan(a) = a (a_n in (n pi, n pi + pi/2))."""
    roots = np.empty(n_terms)
    for n in range(1, n_terms + 1):
        lo = n * np.pi + 1e-12
        hi = n * np.pi + np.pi / 2 - 1e-12
        roots[n - 1] = brentq(lambda a: np.sin(a) - a * np.cos(a), lo, hi)
    return roots


def sphere_surface_response(theta: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Dimensionless surface excess of a sphere under unit constant flux.

    For surface flux F into a sphere of radius a, diffusivity D: c(a, t) - c0 = (F a / D) g(theta),
    theta = D t / a^2, g = 3 theta + 1/5 - 2 sum_n exp(-a_n^2 theta) / a_n^2 (tan a_n = a_n);
    g(0) = 0 since sum 1/a_n^2 = 1/10. Zero for theta <= 0.
    """
    th = np.asarray(theta, dtype=float)
    out = np.zeros(th.shape)
    pos = th > 0
    if np.any(pos):
        tp = th[pos]
        series = np.exp(-np.outer(tp, roots**2)) @ (1.0 / roots**2)
        tail = 0.1 - np.sum(1.0 / roots**2)  # missing part of the sum at theta -> 0
        # short times: the truncated series misses fast terms; their contribution is
        # ~ tail at theta = 0 and vanishes quickly; use the exact sum identity at theta=0
        out[pos] = 3 * tp + 0.2 - 2 * (series + tail * np.exp(-(roots[-1] ** 2) * tp))
    return out


def default_ocv(soc: np.ndarray) -> np.ndarray:
    """A smooth, increasing OCV(SOC) curve of a layered oxide, V (SOC in 0..1)."""
    s = np.clip(np.asarray(soc, dtype=float), 1e-6, 1 - 1e-6)
    return 3.55 + 0.75 * s + 0.04 * np.log(s / (1 - s)) + 0.05 * np.sin(3 * s)


def gitt_phantom(
    *,
    diffusion_m2_s: float = 1e-15,
    radius_um: float = 5.0,
    capacity_mAh: float = 1.0,
    current_mA: float = 0.1,
    pulse_s: float = 60.0,
    rest_s: float = 8000.0,
    n_pulses: int = 30,
    soc0: float = 0.05,
    resistance_ohm: float = 20.0,
    ocv: Callable[[np.ndarray], np.ndarray] = default_ocv,
    pulse_dt_s: float = 1.0,
    rest_points: int = 60,
    noise_V: float = 0.0,
    n_terms: int = 300,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Synthetic GITT charge titration of spheres with a known diffusion coefficient.

    Each pulse applies ``current_mA`` for ``pulse_s`` (SOC rises by I tau / capacity), then the
    cell rests for ``rest_s``. The surface SOC is the exact superposed series solution (see
    :func:`sphere_surface_response`); the voltage is OCV(surface SOC) + I R during pulses.

    Parameters
    ----------
    diffusion_m2_s : float
        Chemical diffusion coefficient, m^2/s.
    radius_um : float
        Particle radius, um.
    capacity_mAh : float
        Capacity between SOC 0 and 1, mAh.
    current_mA, pulse_s, rest_s, n_pulses : float, float, float, int
        Pulse current (mA; > 0 charge titration, < 0 discharge titration), pulse length and rest
        length (s), number of pulses.
    soc0 : float
        Initial (uniform) SOC.
    resistance_ohm : float
        Ohmic resistance: IR drop = I R.
    ocv : callable
        OCV(SOC) in V.
    pulse_dt_s : float
        Sampling interval during pulses, s (rests are sampled geometrically).
    rest_points : int
        Samples per rest.
    noise_V : float
        Gaussian voltage noise, V.
    n_terms : int
        Series terms.
    seed : int
        Random seed.

    Returns
    -------
    df : DataFrame
        Canonical cycling table.
    truth : dict
        ``diffusion_m2_s``, ``radius_um``, ``pulses``: DataFrame (pulse, soc_start, soc_end,
        dEs_V = OCV(soc_end) - OCV(soc_start)), ``tau_s``, ``resistance_ohm``, ``ocv``.
    """
    check_positive(diffusion_m2_s, "diffusion_m2_s")
    check_positive(radius_um, "radius_um")
    rng = np.random.default_rng(seed)
    a = radius_um * 1e-6
    scale = diffusion_m2_s / a**2  # 1/s
    rate = current_mA / capacity_mAh / 3600.0  # SOC per s during a pulse
    if current_mA == 0:
        raise ParameterError("current_mA must be non-zero (> 0 charge, < 0 discharge).")
    soc_final = soc0 + n_pulses * rate * pulse_s
    if not 0.0 < soc_final < 1.0:
        raise ParameterError(
            f"the titration would end at SOC {soc_final:.3f}, outside (0, 1); use fewer or "
            "shorter pulses, a smaller current or another soc0."
        )
    roots = _sphere_roots(n_terms)
    times: list[np.ndarray] = []
    currents: list[np.ndarray] = []
    starts = []
    t0 = 0.0
    # initial rest: a few points
    times.append(np.linspace(0.0, 60.0, 7))
    currents.append(np.zeros(7))
    t0 = 60.0
    for _ in range(n_pulses):
        starts.append(t0)
        tp = t0 + np.arange(1, round(pulse_s / pulse_dt_s) + 1) * pulse_dt_s
        times.append(tp)
        currents.append(np.full(tp.size, current_mA))
        t_end = t0 + pulse_s
        tr = t_end + np.geomspace(1.0, rest_s, rest_points)
        times.append(tr)
        currents.append(np.zeros(tr.size))
        t0 = t_end + rest_s
    t = np.concatenate(times)
    i = np.concatenate(currents)
    starts_arr = np.asarray(starts)
    # surface SOC: flux F = rate a / 3 (SOC . m / s) -> excess = (F a / D) g = rate/(3 scale) g
    amp = rate / (3.0 * scale)
    soc_s = np.full(t.size, soc0)
    for s in starts_arr:
        e = s + pulse_s
        m = t > s
        soc_s[m] += amp * (
            sphere_surface_response((t[m] - s) * scale, roots)
            - sphere_surface_response((t[m] - e) * scale, roots)
        )
    v = ocv(soc_s) + i * 1e-3 * resistance_ohm + rng.normal(0.0, noise_V, t.size) * (noise_V > 0)
    df = build_cycling_table(
        t, v, i, attrs={"instrument": "phantom", "format": "phantom"}, source="gitt_phantom"
    )
    soc_start = soc0 + rate * pulse_s * np.arange(n_pulses)
    soc_end = soc_start + rate * pulse_s
    truth = {
        "diffusion_m2_s": diffusion_m2_s,
        "radius_um": radius_um,
        "tau_s": pulse_s,
        "resistance_ohm": resistance_ohm,
        "ocv": ocv,
        "pulses": pd.DataFrame(
            {
                "pulse": np.arange(n_pulses),
                "soc_start": soc_start,
                "soc_end": soc_end,
                "dEs_V": ocv(soc_end) - ocv(soc_start),
            }
        ),
    }
    return df, truth
