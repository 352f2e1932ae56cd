"""Differential capacity dQ/dV on a common voltage grid, peak detection and peak tracking.

Method. The charge passed by each point (``diff(charge_mAh)``) is binned by the voltage at which
it was passed, per half-cycle (charge or discharge of one cycle), on one voltage grid for all
half-cycles: ``dQ/dV[bin] = charge in bin / bin width``. This is a charge histogram over voltage,
so a non-monotonic voltage (noise, relaxation, pulses) needs no inversion of V(Q): charge is
counted where it was passed, never twice. All half-cycles are binned at once with one
``np.bincount`` (no Python loop over rows). The binned curves are then smoothed along the grid:

* ``"savgol"`` (default): Savitzky-Golay (polynomial order 2) with the window chosen per curve by
  generalised cross-validation, GCV(w) = mean residual^2 / (1 - h0(w))^2, h0 the central kernel
  weight (the hat-matrix diagonal of a linear smoother), over odd windows; vectorised.
* ``"spline"``: cubic smoothing spline with its penalty chosen by GCV
  (``scipy.interpolate.make_smoothing_spline(lam=None)``), one curve at a time.
* ``"none"``: the binned curve.

Points of a constant-voltage (CV) step, which pile charge into one bin, are left out by default
(``exclude_cv``: points within ``cv_tolerance_V`` of their step's end voltage after it was first
reached).

Sign convention: dQ/dV > 0 for charge half-cycles, < 0 for discharge (the usual plot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.signal import savgol_coeffs, savgol_filter

from cathodescope._validation import check_choice, check_positive
from cathodescope.echem._summary import (
    check_cycling_table,
    resolve_active_mass,
    step_table,
)
from cathodescope.errors import NoCyclesError, ParameterError

Smoothing = Literal["savgol", "spline", "none"]
Direction = Literal["charge", "discharge"]


@dataclass(frozen=True)
class DQDV:
    """dQ/dV curves of every half-cycle on one voltage grid.

    Parameters
    ----------
    voltage_V : ndarray, shape (n_grid,)
        Bin centres, V.
    dqdv : ndarray, shape (n_half, n_grid)
        Smoothed dQ/dV (mAh/V, or mAh/g/V when ``specific``); NaN outside the voltage range of
        each half-cycle; positive for charge, negative for discharge.
    raw : ndarray, shape (n_half, n_grid)
        Binned, unsmoothed dQ/dV (same units).
    halfcycles : DataFrame
        One row per curve: ``cycle``, ``direction``, ``n_points``, ``v_min_V``, ``v_max_V``
        (edges of the lowest and highest occupied bins),
        ``capacity`` (mAh or mAh/g), ``window_bins`` (smoothing window), ``noise`` (robust
        standard deviation of raw - smoothed, same units as dqdv).
    parameters : dict
        Every option used.
    """

    voltage_V: np.ndarray
    dqdv: np.ndarray
    raw: np.ndarray
    halfcycles: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def curve(self, cycle: int, direction: Direction = "charge") -> np.ndarray:
        """Smoothed curve of one half-cycle, shape (n_grid,)."""
        hc = self.halfcycles
        rows = np.flatnonzero((hc["cycle"] == cycle) & (hc["direction"] == direction))
        if rows.size == 0:
            raise ParameterError(f"no {direction} half-cycle for cycle {cycle}.")
        return self.dqdv[rows[0]]

    def to_dataframe(self) -> pd.DataFrame:
        """Long table: ``cycle``, ``direction``, ``voltage_V``, ``dqdv``, ``dqdv_raw``."""
        _n_half, _n_grid = self.dqdv.shape
        keep = np.isfinite(self.dqdv)
        rows, cols = np.nonzero(keep)
        return pd.DataFrame(
            {
                "cycle": self.halfcycles["cycle"].to_numpy()[rows],
                "direction": self.halfcycles["direction"].to_numpy()[rows],
                "voltage_V": self.voltage_V[cols],
                "dqdv": self.dqdv[rows, cols],
                "dqdv_raw": self.raw[rows, cols],
            }
        )


def _cv_mask(df: pd.DataFrame, steps: pd.DataFrame, tol: float) -> np.ndarray:
    """True for points of a step that sit at the step's final voltage after reaching it."""
    v = df["voltage_V"].to_numpy(float)
    n = v.size
    lengths = (steps["stop_row"] - steps["start_row"]).to_numpy()
    end_v = np.repeat(steps["end_voltage_V"].to_numpy(float), lengths)
    near = np.abs(v - end_v) <= tol
    # "after first reaching it": cumulative count of near points within each step
    csum = np.cumsum(near)
    base = np.repeat(np.r_[0, csum[steps["start_row"].to_numpy()[1:] - 1]], lengths)
    reached = (csum - base) > 0
    # a CV stretch is long; a CC step merely ending at the cut-off has few such points
    n_near: np.ndarray | list[int] = (
        np.add.reduceat(near.astype(np.int64), steps["start_row"].to_numpy()) if n else []
    )
    long_enough = np.repeat(np.asarray(n_near) >= 5, lengths)
    return reached & near & long_enough


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN, vectorised (np.nanmedian loops over rows)."""
    srt = np.sort(a, axis=1)  # NaN sort last
    n = np.sum(np.isfinite(a), axis=1)
    lo = np.clip((n - 1) // 2, 0, a.shape[1] - 1)
    hi = np.clip(n // 2, 0, a.shape[1] - 1)
    rows = np.arange(a.shape[0])
    med = 0.5 * (srt[rows, lo] + srt[rows, hi])
    return np.where(n > 0, med, np.nan)


def _gcv_savgol(raw: np.ndarray, covered: np.ndarray, windows: np.ndarray, order: int):
    """Per-row GCV choice of the Savitzky-Golay window; returns (smoothed, window per row)."""
    filled = np.where(covered, raw, 0.0)
    n_cov = np.maximum(covered.sum(axis=1), 1)
    cov_w = covered.astype(float)
    best = np.full(raw.shape[0], np.inf)
    best_w = np.full(raw.shape[0], windows[0])
    out = filled.copy()
    for w in windows:
        if w > raw.shape[1]:
            continue
        # mode="mirror": a plain convolution; "interp" refits every edge by least squares,
        # which dominated the run time on thousands of curves
        sm = savgol_filter(filled, int(w), order, axis=1, mode="mirror")
        h0 = savgol_coeffs(int(w), order)[int(w) // 2]
        rss = np.einsum("ij,ij->i", (sm - filled) ** 2, cov_w) / n_cov
        score = rss / (1.0 - h0) ** 2
        better = score < best
        best[better] = score[better]
        best_w[better] = w
        out[better] = sm[better]
    return out, best_w


def _auto_grid_step(v: np.ndarray, active_rows: np.ndarray) -> float:
    """Three times the median voltage step between consecutive active points, 2-20 mV."""
    stride = max(1, v.size // 1_000_000)  # a subsample of point pairs is enough
    i0 = np.arange(0, v.size - 1, stride)
    pair = active_rows[i0] & active_rows[i0 + 1]
    dv = np.abs(v[i0 + 1] - v[i0])[pair]
    step = float(np.median(dv)) if dv.size else 0.0
    return float(np.clip(3.0 * step, 0.002, 0.020))


@dataclass(frozen=True)
class _Binned:
    """Charge histograms of the half-cycles on the grid (see :func:`_bin_halfcycles`)."""

    raw: np.ndarray  # (n_half, n_grid) charge per bin / bin width
    covered: np.ndarray  # (n_half, n_grid) bool: between the lowest and highest occupied bin
    keys: np.ndarray  # (n_half,) cycle * 2 + direction (0 charge, 1 discharge)
    counts: np.ndarray  # (n_half,) points binned
    vmin: np.ndarray
    vmax: np.ndarray


def _bin_halfcycles(
    df: pd.DataFrame,
    steps: pd.DataFrame,
    st_active: np.ndarray,
    edges: np.ndarray,
    step_v: float,
    *,
    clip_range: bool,
    exclude_cv: bool,
    cv_tolerance_V: float,
) -> _Binned:
    """Bin the charge of every active step's points by voltage, one histogram per half-cycle.

    Everything is decided per step (contiguous runs) and broadcast to rows with np.repeat: a
    handful of passes over the rows, no gathers of 1e7-element index arrays, one bincount.
    """
    lengths = (steps["stop_row"] - steps["start_row"]).to_numpy()
    st_type = steps["step_type"].to_numpy()
    st_dir = np.where(st_type == "charge", 0, np.where(st_type == "discharge", 1, -1))
    st_cycle = steps["cycle"].to_numpy().astype(np.int64)
    q = df["charge_mAh"].to_numpy(float)
    dq = np.diff(q, prepend=q[:1])
    v = df["voltage_V"].to_numpy(float)
    active_rows = np.repeat(st_active, lengths)
    lo, n_grid = float(edges[0]), edges.size - 1
    st_key = np.where(st_active, st_cycle * 2 + st_dir, -1)
    present = np.bincount(st_key[st_active]) > 0  # keys are small non-negative ints
    keys = np.flatnonzero(present)
    n_half = keys.size
    lut = np.cumsum(present) - 1
    dummy = n_half * n_grid  # slot for rows that do not count
    st_off = np.where(st_active, lut[np.maximum(st_key, 0)] * n_grid, dummy)
    bins = ((v - lo) * (1.0 / step_v)).astype(np.int64)
    np.clip(bins, 0, n_grid - 1, out=bins)
    flat = np.repeat(st_off, lengths) + bins
    flat[~active_rows] = dummy
    if clip_range:
        flat[(v < lo) | (v > edges[-1])] = dummy
    if exclude_cv:
        flat[_cv_mask(df, steps, cv_tolerance_V)] = dummy
    raw: np.ndarray = np.bincount(flat, weights=dq, minlength=dummy + 1)[:dummy].reshape(
        n_half, n_grid
    )
    raw /= step_v
    hits = np.bincount(flat, minlength=dummy + 1)[:dummy].reshape(n_half, n_grid)
    counts = hits.sum(axis=1)
    # a curve covers the bins between its lowest and highest occupied bin (small 2-D array
    # work instead of row-level minimum/maximum)
    occupied = hits > 0
    first = np.argmax(occupied, axis=1)
    last = n_grid - 1 - np.argmax(occupied[:, ::-1], axis=1)
    idx = np.arange(n_grid)
    covered = (idx[None, :] >= first[:, None]) & (idx[None, :] <= last[:, None])
    covered &= (counts > 0)[:, None]  # a half-cycle whose points were all left out (CV)
    vmin = np.where(counts > 0, edges[first], np.nan)
    vmax = np.where(counts > 0, edges[last + 1], np.nan)
    return _Binned(raw, covered, keys, counts, vmin, vmax)


def _smooth_curves(
    raw: np.ndarray,
    covered: np.ndarray,
    centres: np.ndarray,
    smoothing: str,
    window_bins: int | None,
    polyorder: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed curves and the window (bins) used for each (see module docstring)."""
    n_half = raw.shape[0]
    if smoothing == "savgol":
        if window_bins is not None:
            if window_bins % 2 == 0 or window_bins <= polyorder:
                raise ParameterError(
                    f"window_bins must be odd and > polyorder={polyorder}, got {window_bins}."
                )
            windows = np.array([window_bins])
        else:
            windows = np.array([5, 7, 9, 13, 17, 23, 31, 43, 61])  # ~geometric, odd
            windows = windows[windows > polyorder + 1]
        return _gcv_savgol(raw, covered, windows, polyorder)
    if smoothing == "spline":
        from scipy.interpolate import make_smoothing_spline

        smooth = np.zeros_like(raw)
        for k in range(n_half):
            idx = np.flatnonzero(covered[k])
            if idx.size < 5:
                smooth[k, idx] = raw[k, idx]
                continue
            spl = make_smoothing_spline(centres[idx], raw[k, idx])
            smooth[k, idx] = spl(centres[idx])
        return smooth, np.zeros(n_half)
    return raw.copy(), np.ones(n_half)


def dqdv(
    df: pd.DataFrame,
    *,
    grid_step_V: float | Literal["auto"] = "auto",
    voltage_range: tuple[float, float] | None = None,
    smoothing: Smoothing = "savgol",
    window_bins: int | None = None,
    polyorder: int = 2,
    exclude_cv: bool = True,
    cv_tolerance_V: float = 0.002,
    cycles: list[int] | None = None,
    specific: bool = False,
    active_mass_g: float | None = None,
) -> DQDV:
    """dQ/dV of every half-cycle on a common voltage grid (see module docstring for the method).

    Parameters
    ----------
    df : DataFrame
        Canonical cycling table.
    grid_step_V : float or "auto"
        Bin width in V. ``"auto"``: three times the median point-to-point voltage step of the
        charge/discharge points, clipped to 2-20 mV (2 mV for densely sampled data; coarser for
        sparse exports, so bins are not empty).
    voltage_range : (float, float), optional
        Grid limits in V; default the range of all charge/discharge points.
    smoothing : {"savgol", "spline", "none"}
        Smoother along voltage; the default chooses its window by GCV.
    window_bins : int, optional
        Fixed Savitzky-Golay window (odd, in bins) instead of the GCV choice.
    polyorder : int
        Savitzky-Golay polynomial order.
    exclude_cv : bool
        Leave out constant-voltage points (see module docstring).
    cv_tolerance_V : float
        Voltage tolerance of the CV detection, V.
    cycles : list of int, optional
        Only these cycles.
    specific : bool
        Divide by the active mass (mAh/g/V); raises ActiveMassError without a mass.
    active_mass_g : float, optional
        Active mass in g (default ``df.attrs['active_mass_g']``).

    Returns
    -------
    DQDV
    """
    check_cycling_table(df)
    check_choice(smoothing, ("savgol", "spline", "none"), "smoothing")
    if grid_step_V != "auto":
        grid_step_V = check_positive(grid_step_V, "grid_step_V")
    mass = resolve_active_mass(df, active_mass_g, required=specific) if specific else None
    steps = step_table(df)
    lengths = (steps["stop_row"] - steps["start_row"]).to_numpy()
    st_type = steps["step_type"].to_numpy()
    st_active = (st_type == "charge") | (st_type == "discharge")
    if cycles is not None:
        st_active &= np.isin(steps["cycle"].to_numpy(), np.asarray(cycles))
    if not st_active.any():
        raise NoCyclesError(
            "no charge or discharge points to compute dQ/dV from (only rest/EIS, or the chosen "
            "cycles are absent)."
        )
    if grid_step_V == "auto":
        v = df["voltage_V"].to_numpy(float)
        grid_step_V = _auto_grid_step(v, np.repeat(st_active, lengths))
    if voltage_range is None:
        lo = float(steps["min_voltage_V"].to_numpy()[st_active].min())
        hi = float(steps["max_voltage_V"].to_numpy()[st_active].max())
    else:
        lo, hi = map(float, voltage_range)
        if not hi > lo:
            raise ParameterError(
                f"voltage_range must be (low, high) with high > low, got {voltage_range}."
            )
    n_grid = max(int(np.ceil((hi - lo) / grid_step_V)), 1)
    edges = lo + grid_step_V * np.arange(n_grid + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    b = _bin_halfcycles(
        df,
        steps,
        st_active,
        edges,
        grid_step_V,
        clip_range=voltage_range is not None,
        exclude_cv=exclude_cv,
        cv_tolerance_V=cv_tolerance_V,
    )
    raw = b.raw
    capacity = np.abs(raw.sum(axis=1)) * grid_step_V
    if mass is not None:
        raw /= mass
        capacity /= mass
    smooth, used_w = _smooth_curves(raw, b.covered, centres, smoothing, window_bins, polyorder)
    resid = np.where(b.covered, raw - smooth, np.nan)
    noise = 1.4826 * _row_nanmedian(np.abs(resid - _row_nanmedian(resid)[:, None]))
    raw = np.where(b.covered, raw, np.nan)
    smooth = np.where(b.covered, smooth, np.nan)
    halfcycles = pd.DataFrame(
        {
            "cycle": (b.keys // 2).astype(np.int64),
            "direction": np.where(b.keys % 2 == 0, "charge", "discharge"),
            "n_points": b.counts,
            "v_min_V": b.vmin,
            "v_max_V": b.vmax,
            "capacity": capacity,
            "window_bins": used_w,
            "noise": noise,
        }
    )
    params = {
        "grid_step_V": grid_step_V,
        "voltage_range": (lo, float(edges[-1])),
        "smoothing": smoothing,
        "window_bins": window_bins,
        "polyorder": polyorder,
        "exclude_cv": exclude_cv,
        "cv_tolerance_V": cv_tolerance_V,
        "specific": specific,
        "active_mass_g": mass,
        "units": "mAh/g/V" if mass is not None else "mAh/V",
    }
    return DQDV(centres, smooth, raw, halfcycles, params)
