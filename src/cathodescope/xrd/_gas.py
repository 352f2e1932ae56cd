"""Gas release on heating: mass-spectrometry traces (m/z 32 = O2, 44 = CO2, ...) vs temperature.

For each trace: a linear baseline fitted to the ends of the temperature range, the baseline-
subtracted release curve, its peak temperature (parabolic refinement of the maximum), FWHM
(interpolated half-maximum crossings), onset temperature (extrapolated onset: the tangent at the
steepest point of the leading edge meets the baseline; or the first crossing of a fraction of
the peak height), integrated amount, and a sharp/broad classification by FWHM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_finite, check_positive
from cathodescope.errors import (
    EmptyDataError,
    NonMonotonicAxisError,
    NoReleasePeakError,
    ParameterError,
    ShapeMismatchError,
)

__all__ = ["GasReleaseResult", "analyze_gas_release", "join_on_temperature"]


@dataclass(frozen=True)
class GasReleaseResult:
    """Release metrics of one or several MS channels.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per channel: ``channel``, ``onset_C``, ``peak_C``, ``fwhm_C``, ``amount``
        (signal x C), ``amount_time`` (signal x s, when times are given), ``peak_height``
        (signal above baseline), ``noise`` (baseline residual std), ``snr``,
        ``classification`` ("sharp" or "broad").
    curves : pandas.DataFrame
        ``temperature_C``, and per channel ``<channel>`` (raw), ``<channel>_baseline``,
        ``<channel>_net`` (baseline subtracted) and ``<channel>_cumulative`` (signal x C).
    parameters : dict
        Options used.
    """

    summary: pd.DataFrame
    curves: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The summary table (a copy)."""
        return self.summary.copy()


def _smooth(y: np.ndarray, t: np.ndarray, smooth_c: float) -> np.ndarray:
    if smooth_c <= 0:
        return y
    from scipy.signal import savgol_filter

    dt = float(np.median(np.diff(t)))
    n = round(smooth_c / dt) | 1
    if n < 5:
        return y
    n = min(n, y.size - 1 if (y.size - 1) % 2 else y.size - 2)
    if n < 5:
        return y
    return savgol_filter(y, n, 3)


def _baseline(
    t: np.ndarray, y: np.ndarray, edge_fraction: float, baseline: str
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline through the first and last ``edge_fraction`` of the points, and their indices."""
    n_edge = max(3, round(edge_fraction * t.size))
    edges = np.r_[0:n_edge, t.size - n_edge : t.size]
    if baseline == "linear":
        coef = np.polyfit(t[edges], y[edges], 1)
        return np.polyval(coef, t), edges
    return np.zeros_like(y), edges


def _parabolic_max(sm: np.ndarray, t: np.ndarray, i_pk: int) -> tuple[float, float]:
    """Temperature and height of the maximum from a parabola through it and its neighbours."""
    if 0 < i_pk < t.size - 1:
        y0, y1, y2 = sm[i_pk - 1 : i_pk + 2]
        den = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / den if den < 0 else 0.0
        dt = t[i_pk + 1] - t[i_pk]
        return float(t[i_pk] + np.clip(shift, -0.5, 0.5) * dt), float(y1 - 0.25 * (y0 - y2) * shift)
    return float(t[i_pk]), float(sm[i_pk])


def _crossing(sm: np.ndarray, t: np.ndarray, i_pk: int, level: float, side: str) -> float:
    """Temperature where the smoothed curve crosses ``level`` left or right of the maximum."""
    if side == "left":
        idx = np.flatnonzero(sm[: i_pk + 1] < level)
        if idx.size == 0:
            return np.nan
        j = idx[-1]
        return float(np.interp(level, [sm[j], sm[j + 1]], [t[j], t[j + 1]]))
    idx = np.flatnonzero(sm[i_pk:] < level)
    if idx.size == 0:
        return np.nan
    j = i_pk + idx[0]
    return float(np.interp(level, [sm[j], sm[j - 1]], [t[j], t[j - 1]]))


def _tangent_onset(
    t: np.ndarray,
    net: np.ndarray,
    sm: np.ndarray,
    i_pk: int,
    height: float,
    fwhm: float,
    smooth_c: float,
) -> tuple[float, float | None]:
    """Extrapolated onset (steepest tangent to zero) and the re-located peak temperature."""
    from scipy.signal import savgol_filter

    start = np.flatnonzero(sm[: i_pk + 1] < 0.05 * height)
    j0 = int(start[-1]) if start.size else 0
    # slope and level from a cubic Savitzky-Golay fit over half the FWHM: a derivative of
    # noisy data needs a window scaled to the peak, not to the sampling
    dt = float(np.median(np.diff(t)))
    width = max(smooth_c, 0.5 * fwhm) if np.isfinite(fwhm) else smooth_c
    n_w = max(5, round(width / dt) | 1)
    n_w = min(n_w, t.size - 1 if (t.size - 1) % 2 else t.size - 2)
    level = savgol_filter(net, n_w, 3)
    slope = savgol_filter(net, n_w, 3, deriv=1, delta=dt)
    # re-locate the maximum on the peak-scaled smoothing (noise moves it on broad peaks)
    k_pk = int(np.argmax(level))
    peak_t = _parabolic_max(level, t, k_pk)[0] if 0 < k_pk < t.size - 1 else None
    seg = slice(j0, i_pk + 1)
    j = j0 + int(np.argmax(slope[seg]))
    s = slope[j]
    return (float(t[j] - level[j] / s) if s > 0 else np.nan), peak_t


def _one_channel(
    t: np.ndarray,
    y: np.ndarray,
    time: np.ndarray | None,
    *,
    name: str,
    baseline: str,
    edge_fraction: float,
    onset: str,
    onset_fraction: float,
    smooth_c: float,
    min_snr: float,
    sharp_fwhm_c: float,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    base, edges = _baseline(t, y, edge_fraction, baseline)
    net = y - base
    noise = float(np.std(net[edges], ddof=1))
    sm = _smooth(net, t, smooth_c)
    i_pk = int(np.argmax(sm))
    height = float(sm[i_pk])
    if not height > min_snr * max(noise, 1e-300):
        raise NoReleasePeakError(
            f"channel {name!r}: highest point is {height:.3g} above the baseline, below {min_snr} "
            f"x noise ({noise:.3g}); no release peak (lower min_snr or check the channel)."
        )
    peak_t, height = _parabolic_max(sm, t, i_pk)
    half = 0.5 * height
    fwhm = _crossing(sm, t, i_pk, half, "right") - _crossing(sm, t, i_pk, half, "left")
    if onset == "tangent":
        onset_t, moved = _tangent_onset(t, net, sm, i_pk, height, fwhm, smooth_c)
        peak_t = peak_t if moved is None else moved
    else:
        onset_t = _crossing(sm, t, i_pk, onset_fraction * height, "left")
    amount = float(np.trapezoid(net, t))
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (net[1:] + net[:-1]) * np.diff(t))])
    row = {
        "channel": name,
        "onset_C": onset_t,
        "peak_C": peak_t,
        "fwhm_C": float(fwhm),
        "amount": amount,
        "amount_time": float(np.trapezoid(net, time)) if time is not None else np.nan,
        "peak_height": height,
        "noise": noise,
        "snr": height / noise if noise > 0 else np.inf,
        "classification": "sharp" if fwhm < sharp_fwhm_c else "broad",
    }
    curves = {
        name: y,
        f"{name}_baseline": base,
        f"{name}_net": net,
        f"{name}_cumulative": cumulative,
    }
    return row, curves


def analyze_gas_release(
    temperature: Sequence[float] | np.ndarray,
    signals: Any,
    *,
    time: Sequence[float] | np.ndarray | None = None,
    baseline: Literal["linear", "none"] = "linear",
    edge_fraction: float = 0.1,
    onset: Literal["tangent", "threshold"] = "tangent",
    onset_fraction: float = 0.05,
    smooth_c: float = 3.0,
    min_snr: float = 5.0,
    sharp_fwhm_c: float = 30.0,
) -> GasReleaseResult:
    """Onset, peak, FWHM, amount and shape of gas-release peaks in MS traces.

    Parameters
    ----------
    temperature : array_like, shape (n,)
        Sample temperature in C, strictly increasing (a heating ramp).
    signals : array_like (n,), mapping name -> array (n,), or DataFrame
        Ion currents / intensities per channel (e.g. ``{"m/z 32": ..., "m/z 44": ...}``).
    time : array_like, shape (n,), optional
        Time in s, for ``amount_time`` (integral over time, the amount when the signal is a
        calibrated flow).
    baseline : {"linear", "none"}
        Straight line fitted to the first and last ``edge_fraction`` of the points.
    edge_fraction : float
        Fraction of the points at each end used for the baseline and the noise estimate.
    onset : {"tangent", "threshold"}
        Extrapolated onset (tangent at the steepest point of the leading edge meets the
        baseline; = peak - 2 sigma for a Gaussian), or first crossing of ``onset_fraction`` x
        peak height.
    onset_fraction : float
        Fraction of the peak height for ``onset="threshold"``.
    smooth_c : float
        Savitzky-Golay (cubic) smoothing window in C before locating the peak and slopes
        (0 = none).
    min_snr : float
        Minimum peak height / baseline noise; below it NoReleasePeakError.
    sharp_fwhm_c : float
        Peaks narrower than this FWHM (C) are "sharp" (conventional NMC622: sharp O2 peak near
        190 C), wider ones "broad" (concentration-gradient NMC622). A heuristic threshold,
        recorded in the parameters.

    Returns
    -------
    GasReleaseResult

    Raises
    ------
    NonMonotonicAxisError
        Temperature not strictly increasing (cut the cooling part first).
    ShapeMismatchError
        A channel of a different length than the temperature.
    NoReleasePeakError
        No peak above ``min_snr`` x noise.
    EmptyDataError
        Fewer than 20 points.

    Examples
    --------
    >>> from cathodescope.phantom import gas_release_trace
    >>> trace, truth = gas_release_trace(peak_c=190.0, sigma_c=6.0)
    >>> r = analyze_gas_release(trace.temperature_C, {"m/z 32": trace.signal})
    >>> bool(abs(r.summary.peak_C[0] - 190.0) < 0.5), r.summary.classification[0]
    (True, 'sharp')
    """
    check_choice(baseline, ("linear", "none"), "baseline")
    check_choice(onset, ("tangent", "threshold"), "onset")
    check_positive(sharp_fwhm_c, "sharp_fwhm_c")
    check_positive(smooth_c, "smooth_c", allow_zero=True)
    if not 0 < edge_fraction < 0.5:
        raise ParameterError(f"edge_fraction must be in (0, 0.5), got {edge_fraction}.")
    if not 0 < onset_fraction < 1:
        raise ParameterError(f"onset_fraction must be in (0, 1), got {onset_fraction}.")
    t = np.asarray(temperature, dtype=float).ravel()
    if t.size < 20:
        raise EmptyDataError(f"need at least 20 temperature points, got {t.size}.")
    check_finite(t, "temperature")
    if np.any(np.diff(t) <= 0):
        raise NonMonotonicAxisError(
            "temperature must increase strictly; analyse the heating ramp only (drop the "
            "isothermal hold and the cooling part, or sort by temperature)."
        )
    if isinstance(signals, pd.DataFrame):
        channels = {str(k): signals[k].to_numpy(dtype=float) for k in signals.columns}
    elif isinstance(signals, dict):
        channels = {str(k): np.asarray(v, dtype=float).ravel() for k, v in signals.items()}
    else:
        channels = {"signal": np.asarray(signals, dtype=float).ravel()}
    if not channels:
        raise EmptyDataError("no signal channel given.")
    tm = None if time is None else np.asarray(time, dtype=float).ravel()
    if tm is not None and tm.size != t.size:
        raise ShapeMismatchError(f"time has {tm.size} values, temperature {t.size}.")
    rows, curves = [], {"temperature_C": t}
    for name, y in channels.items():
        if y.size != t.size:
            raise ShapeMismatchError(
                f"channel {name!r} has {y.size} points but the temperature has {t.size}."
            )
        check_finite(y, f"channel {name!r}")
        row, cur = _one_channel(
            t,
            y,
            tm,
            name=name,
            baseline=baseline,
            edge_fraction=edge_fraction,
            onset=onset,
            onset_fraction=onset_fraction,
            smooth_c=smooth_c,
            min_snr=min_snr,
            sharp_fwhm_c=sharp_fwhm_c,
        )
        rows.append(row)
        curves.update(cur)
    params = {
        "baseline": baseline,
        "edge_fraction": edge_fraction,
        "onset": onset,
        "onset_fraction": onset_fraction,
        "smooth_c": smooth_c,
        "min_snr": min_snr,
        "sharp_fwhm_c": sharp_fwhm_c,
    }
    return GasReleaseResult(pd.DataFrame(rows), pd.DataFrame(curves), params)


def join_on_temperature(
    xrd_table: pd.DataFrame,
    gas_curves: pd.DataFrame,
    *,
    tolerance_c: float = 2.5,
    on: str = "temperature_C",
) -> pd.DataFrame:
    """Attach to each XRD frame the nearest gas-release sample in temperature.

    Parameters
    ----------
    xrd_table : DataFrame
        Per-frame table with a ``temperature_C`` column (e.g. a lattice or transition table).
    gas_curves : DataFrame
        ``GasReleaseResult.curves`` (or any table with ``temperature_C``).
    tolerance_c : float
        Largest allowed temperature difference (C); frames without a sample that close get NaN.
    on : str
        Temperature column name in both tables.

    Returns
    -------
    pandas.DataFrame
        ``xrd_table`` rows (original order) with the gas columns appended and
        ``gas_temperature_C``.

    Raises
    ------
    ParameterError
        If a table lacks the temperature column.
    """
    for name, tab in (("xrd_table", xrd_table), ("gas_curves", gas_curves)):
        if on not in tab.columns:
            raise ParameterError(
                f"{name} has no {on!r} column; it is needed to join on temperature."
            )
    check_positive(tolerance_c, "tolerance_c")
    left = xrd_table.reset_index(drop=True).assign(_order=lambda d: np.arange(len(d)))
    left = left.sort_values(on)
    right = gas_curves.sort_values(on).rename(columns={on: "gas_temperature_C"})
    right[on] = right["gas_temperature_C"]
    merged = pd.merge_asof(left, right, on=on, direction="nearest", tolerance=tolerance_c)
    return merged.sort_values("_order").drop(columns="_order").reset_index(drop=True)
