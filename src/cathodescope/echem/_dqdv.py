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
from scipy.signal import find_peaks, peak_widths, savgol_coeffs, savgol_filter

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

    Attributes
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
    n_near = np.add.reduceat(near.astype(np.int64), steps["start_row"].to_numpy()) if n else []
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
    # Everything is decided per step (contiguous runs) and broadcast to rows with np.repeat:
    # a handful of passes over the rows, no gathers of 1e7-element index arrays.
    lengths = (steps["stop_row"] - steps["start_row"]).to_numpy()
    st_type = steps["step_type"].to_numpy()
    st_dir = np.where(st_type == "charge", 0, np.where(st_type == "discharge", 1, -1))
    st_cycle = steps["cycle"].to_numpy().astype(np.int64)
    st_active = st_dir >= 0
    if cycles is not None:
        st_active &= np.isin(st_cycle, np.asarray(cycles))
    if not st_active.any():
        raise NoCyclesError(
            "no charge or discharge points to compute dQ/dV from (only rest/EIS, or the chosen "
            "cycles are absent)."
        )
    q = df["charge_mAh"].to_numpy(float)
    dq = np.diff(q, prepend=q[:1])
    v = df["voltage_V"].to_numpy(float)
    active_rows = np.repeat(st_active, lengths)
    if grid_step_V == "auto":
        stride = max(1, v.size // 1_000_000)  # a subsample of point pairs is enough
        i0 = np.arange(0, v.size - 1, stride)
        pair = active_rows[i0] & active_rows[i0 + 1]
        dv = np.abs(v[i0 + 1] - v[i0])[pair]
        step = float(np.median(dv)) if dv.size else 0.0
        grid_step_V = float(np.clip(3.0 * step, 0.002, 0.020))
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
    st_key = np.where(st_active, st_cycle * 2 + st_dir, -1)
    present = np.bincount(st_key[st_active]) > 0  # keys are small non-negative ints
    keys = np.flatnonzero(present)
    n_half = keys.size
    lut = np.cumsum(present) - 1
    dummy = n_half * n_grid  # slot for rows that do not count
    st_off = np.where(st_active, lut[np.maximum(st_key, 0)] * n_grid, dummy)
    bins = ((v - lo) * (1.0 / grid_step_V)).astype(np.int64)
    np.clip(bins, 0, n_grid - 1, out=bins)
    flat = np.repeat(st_off, lengths) + bins
    flat[~active_rows] = dummy
    if voltage_range is not None:
        flat[(v < lo) | (v > edges[-1])] = dummy
    if exclude_cv:
        flat[_cv_mask(df, steps, cv_tolerance_V)] = dummy
    raw = np.bincount(flat, weights=dq, minlength=dummy + 1)[:dummy].reshape(n_half, n_grid)
    raw /= grid_step_V
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
    capacity = np.abs(raw.sum(axis=1)) * grid_step_V
    if mass is not None:
        raw /= mass
        capacity /= mass
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
        smooth, used_w = _gcv_savgol(raw, covered, windows, polyorder)
    elif smoothing == "spline":
        from scipy.interpolate import make_smoothing_spline

        smooth = np.zeros_like(raw)
        used_w = np.zeros(n_half)
        for k in range(n_half):
            idx = np.flatnonzero(covered[k])
            if idx.size < 5:
                smooth[k, idx] = raw[k, idx]
                continue
            spl = make_smoothing_spline(centres[idx], raw[k, idx])
            smooth[k, idx] = spl(centres[idx])
    else:
        smooth = raw.copy()
        used_w = np.ones(n_half)
    resid = np.where(covered, raw - smooth, np.nan)
    noise = 1.4826 * _row_nanmedian(np.abs(resid - _row_nanmedian(resid)[:, None]))
    raw = np.where(covered, raw, np.nan)
    smooth = np.where(covered, smooth, np.nan)
    halfcycles = pd.DataFrame(
        {
            "cycle": (keys // 2).astype(np.int64),
            "direction": np.where(keys % 2 == 0, "charge", "discharge"),
            "n_points": counts,
            "v_min_V": vmin,
            "v_max_V": vmax,
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


# -- peaks ------------------------------------------------------------------------------------


def _batched_gauss_lm(
    xw: np.ndarray,
    yw: np.ndarray,
    mw: np.ndarray,
    p0: np.ndarray,
    n_iter: int = 40,
    shape: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt fit of ``a P((x - mu) / s) + b0 + b1 (x - mu)`` to many peaks.

    ``P(z) = exp(-z^2 / 2)`` for ``shape="gaussian"``; ``P(z) = sech^2(z / 2)`` for
    ``"sech2"`` (the derivative of a logistic step, i.e. the dQ/dV of an ideal lattice-gas
    intercalation reaction; s is then its width w, FWHM = 3.525 w, area = 4 a w).

    Written here rather than calling ``scipy.optimize.curve_fit`` once per peak: a benchmark
    with 3e4 peaks took minutes in curve_fit (Python overhead per call); the batched normal
    equations (stacked 5x5 solves) take well under a second.

    Parameters
    ----------
    xw, yw, mw : ndarray, shape (n_peaks, width)
        Abscissae, data and 0/1 weights (padding has weight 0).
    p0 : ndarray, shape (n_peaks, 5)
        Start values (a, mu, s, b0, b1).

    Returns
    -------
    params, cov, dof : ndarrays of shapes (n, 5), (n, 5, 5), (n,)
        Best parameters, covariance scaled by the residual variance, degrees of freedom.
    """
    p = p0.astype(float).copy()
    lam = np.full(p.shape[0], 1e-3)
    eye = np.eye(5)

    def model_jac(par):
        a, mu, sg, b0, b1 = (par[:, k : k + 1] for k in range(5))
        sg = np.where(np.abs(sg) < 1e-12, 1e-12, sg)
        d = xw - mu
        z = d / sg
        if shape == "sech2":
            th = np.tanh(0.5 * z)
            g = 1.0 - th * th
            dg = a * g * th / sg  # d(a g)/d mu; times z for d/d s
        else:
            g = np.exp(-0.5 * z * z)
            dg = a * g * z / sg
        f = a * g + b0 + b1 * d
        jac = np.stack([g, dg - b1, dg * z, np.ones_like(g), d], axis=-1)
        return f, jac

    f, jac = model_jac(p)
    cost = np.sum(mw * (yw - f) ** 2, axis=1)
    for _ in range(n_iter):
        r = mw * (yw - f)
        jw = jac * mw[..., None]
        a_mat = np.einsum("nwi,nwj->nij", jw, jac)
        grad = np.einsum("nwi,nw->ni", jw, r)
        diag = np.einsum("nii->ni", a_mat)
        lhs = a_mat + lam[:, None, None] * (diag[:, :, None] * eye + 1e-30 * eye)
        try:
            step = np.linalg.solve(lhs, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular stack: least squares for every peak
            step = np.stack(
                [np.linalg.lstsq(lhs[k], grad[k], rcond=None)[0] for k in range(lhs.shape[0])]
            )
        trial = p + step
        f_new, jac_new = model_jac(trial)
        cost_new = np.sum(mw * (yw - f_new) ** 2, axis=1)
        better = np.isfinite(cost_new) & (cost_new < cost)
        p[better] = trial[better]
        f[better] = f_new[better]
        jac[better] = jac_new[better]
        cost[better] = cost_new[better]
        lam = np.where(better, lam / 3.0, lam * 4.0)
    dof = np.sum(mw, axis=1) - 5
    jw = jac * mw[..., None]
    a_mat = np.einsum("nwi,nwj->nij", jw, jac)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = cost / np.maximum(dof, 1)
        cov = np.linalg.pinv(a_mat) * s2[:, None, None]
    return p, cov, dof


def find_dqdv_peaks(
    result: DQDV,
    *,
    min_prominence_frac: float = 0.05,
    min_snr: float = 5.0,
    fit: bool = True,
    shape: Literal["gaussian", "sech2"] = "gaussian",
) -> pd.DataFrame:
    """Peaks of every dQ/dV curve with position, height, area and width and their uncertainties.

    Candidates are maxima of |smoothed dQ/dV| (``scipy.signal.find_peaks``) whose prominence is
    at least ``min_prominence_frac`` of the curve's maximum and ``min_snr`` times the noise of
    the smoothed curve (raw-residual noise x sqrt of the smoother's central weight). Each is then
    fitted on the *raw* binned data within +-1.5 FWHM by a Gaussian (or sech^2) on a linear
    background (batched Levenberg-Marquardt, covariance scaled by the residual variance), giving
    standard errors. The Gaussian area of a peak with heavier tails (e.g. the sech^2 of a
    lattice-gas/Nernstian step) is smaller than its charge (by ~11 % for sech^2); choose
    ``shape="sech2"`` for such peaks.

    Parameters
    ----------
    result : DQDV
        Output of :func:`dqdv`.
    min_prominence_frac : float
        Smallest prominence as a fraction of the curve's maximum.
    min_snr : float
        Smallest prominence in units of the smoothed curve's noise.
    fit : bool
        Fit each peak (else: parabola through the top three bins, no uncertainties).
    shape : {"gaussian", "sech2"}
        Peak model: Gaussian, or sech^2 (derivative of a logistic step: the dQ/dV of an ideal
        intercalation reaction, whose area is then the reaction's full charge).

    Returns
    -------
    DataFrame
        ``cycle``, ``direction``, ``position_V``, ``position_err_V``, ``height`` (|dQ/dV| above
        background, mAh/V or mAh/g/V), ``height_err``, ``fwhm_V``, ``fwhm_err_V``, ``area``
        (mAh or mAh/g under the fitted peak), ``area_err``, ``prominence``, ``snr``, ``fitted``.
        Without ``fit`` (or when the fit fails) the position comes from a parabola through the
        three top bins and the errors are NaN.
    """
    check_choice(shape, ("gaussian", "sech2"), "shape")
    # model width parameter per FWHM, and area per (height x width parameter)
    fwhm_per_s, area_per_as = (3.5255, 4.0) if shape == "sech2" else (2.3548, np.sqrt(2 * np.pi))
    x = result.voltage_V
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    rows: list[dict[str, Any]] = []
    windows: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[float], float]] = []
    hc = result.halfcycles
    hc_dir = hc["direction"].to_numpy().astype(str)
    hc_cycle = hc["cycle"].to_numpy()
    hc_window = hc["window_bins"].to_numpy()
    hc_noise = hc["noise"].to_numpy()
    order = result.parameters.get("polyorder", 2)
    for k in range(result.dqdv.shape[0]):
        sign = 1.0 if hc_dir[k] == "charge" else -1.0
        y = sign * result.dqdv[k]
        ok = np.isfinite(y)
        if ok.sum() < 5:
            continue
        yf = np.where(ok, y, 0.0)
        raw = np.where(ok, sign * result.raw[k], 0.0)
        w = int(hc_window[k])
        h0 = savgol_coeffs(w, order)[w // 2] if w > order + 1 else 1.0
        noise_s = float(hc_noise[k]) * np.sqrt(abs(h0))
        thresh = max(min_prominence_frac * float(np.nanmax(yf)), min_snr * noise_s, 1e-300)
        peaks, props = find_peaks(yf, prominence=thresh)
        if peaks.size == 0:
            continue
        widths = peak_widths(yf, peaks, rel_height=0.5)[0] * dx
        for j, p in enumerate(peaks):
            if 0 < p < yf.size - 1:
                a, b, c = yf[p - 1], yf[p], yf[p + 1]
                den = a - 2 * b + c
                off = 0.5 * (a - c) / den if den != 0 else 0.0
            else:
                off = 0.0
            pos0 = float(x[p] + off * dx)
            fw0 = float(widths[j])
            rows.append(
                {
                    "cycle": int(hc_cycle[k]),
                    "direction": hc_dir[k],
                    "position_V": pos0,
                    "position_err_V": np.nan,
                    "height": float(yf[p]),
                    "height_err": np.nan,
                    "fwhm_V": fw0,
                    "fwhm_err_V": np.nan,
                    "area": float(yf[p]) * fw0 * 1.0645,
                    "area_err": np.nan,
                    "prominence": float(props["prominences"][j]),
                    "snr": float(props["prominences"][j] / noise_s) if noise_s > 0 else np.inf,
                    "fitted": False,
                }
            )
            half = max(1.5 * fw0, 3 * dx)
            idx = np.flatnonzero(ok & (np.abs(x - pos0) <= half))
            base = float(np.min(yf[idx])) if idx.size else 0.0
            p0 = [max(yf[p] - base, 1e-12), pos0, max(fw0 / fwhm_per_s, dx), base, 0.0]
            windows.append((x[idx], raw[idx], idx, p0, half))
    cols = [
        "cycle",
        "direction",
        "position_V",
        "position_err_V",
        "height",
        "height_err",
        "fwhm_V",
        "fwhm_err_V",
        "area",
        "area_err",
        "prominence",
        "snr",
        "fitted",
    ]
    table = pd.DataFrame(rows, columns=cols)
    if not fit or not rows:
        return table
    sizes = np.array([wd[2].size for wd in windows])
    fit_rows = np.flatnonzero(sizes >= 7)
    if fit_rows.size == 0:
        return table
    n_fit = fit_rows.size
    p0 = np.array([windows[k][3] for k in fit_rows], dtype=float)
    par = np.zeros((n_fit, 5))
    cov = np.zeros((n_fit, 5, 5))
    # fit in buckets of similar window size (powers of two): padding stays small, so memory
    # and time scale with the data, not with the widest window times the number of peaks
    bucket = np.ceil(np.log2(sizes[fit_rows])).astype(int)
    for b in np.unique(bucket):
        members = np.flatnonzero(bucket == b)
        width = int(sizes[fit_rows[members]].max())
        xw = np.zeros((members.size, width))
        yw = np.zeros((members.size, width))
        mw = np.zeros((members.size, width))
        for r, k in enumerate(fit_rows[members]):
            xs, ys, idx, _start, _ = windows[k]
            xw[r, : idx.size] = xs
            xw[r, idx.size :] = xs[-1]
            yw[r, : idx.size] = ys
            mw[r, : idx.size] = 1.0
        par[members], cov[members], _dof = _batched_gauss_lm(xw, yw, mw, p0[members], shape=shape)
    err = np.sqrt(np.clip(np.einsum("nii->ni", cov), 0, None))
    amp, mu, sig = par[:, 0], par[:, 1], np.abs(par[:, 2])
    half = np.array([windows[k][4] for k in fit_rows])
    good = np.all(np.isfinite(err), axis=1) & (amp > 0) & (np.abs(mu - p0[:, 1]) < half) & (sig > 0)
    area = amp * sig * area_per_as
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.hypot(err[:, 0] / amp, err[:, 2] / sig)
    sel = fit_rows[good]
    table.loc[sel, "position_V"] = mu[good]
    table.loc[sel, "position_err_V"] = err[good, 1]
    table.loc[sel, "height"] = amp[good]
    table.loc[sel, "height_err"] = err[good, 0]
    table.loc[sel, "fwhm_V"] = fwhm_per_s * sig[good]
    table.loc[sel, "fwhm_err_V"] = fwhm_per_s * err[good, 2]
    table.loc[sel, "area"] = area[good]
    table.loc[sel, "area_err"] = (area * rel)[good]
    table.loc[sel, "fitted"] = True
    return table


@dataclass(frozen=True)
class PeakTracks:
    """Peaks followed across cycles.

    Attributes
    ----------
    tracks : DataFrame
        One row per (track, cycle): ``track_id``, ``cycle``, ``detected`` and the peak columns
        of :func:`find_dqdv_peaks` (NaN where not detected).
    summary : DataFrame
        One row per track: ``track_id``, ``direction``, ``start_position_V``,
        ``last_position_V``, ``shift_V``, ``first_cycle``, ``last_seen_cycle``,
        ``vanish_cycle`` (first cycle from which the peak is never detected again; <NA> if it is
        still present in the last cycle).
    parameters : dict
    """

    tracks: pd.DataFrame
    summary: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-cycle table ``tracks``."""
        return self.tracks


def track_peaks(
    peaks: pd.DataFrame,
    *,
    direction: Direction = "charge",
    targets_V: list[float] | None = None,
    max_shift_V: float = 0.05,
) -> PeakTracks:
    """Follow dQ/dV peaks from cycle to cycle, keeping their identity.

    Tracks start at ``targets_V`` (e.g. ``[3.75]`` for the ~3.7-3.8 V oxidation peak) or at the
    peaks of the first cycle that has any. In each following cycle, tracks and peaks are matched
    one-to-one minimising the total voltage distance (Hungarian algorithm), from each track's
    last detected position, accepting matches within ``max_shift_V``. A track that finds no peak
    in a cycle is "not detected" there; its ``vanish_cycle`` is the first cycle from which it is
    never detected again.

    Parameters
    ----------
    peaks : DataFrame
        Output of :func:`find_dqdv_peaks`.
    direction : {"charge", "discharge"}
    targets_V : list of float, optional
        Starting positions in V.
    max_shift_V : float
        Largest accepted move between consecutive detections, V.

    Returns
    -------
    PeakTracks
    """
    from scipy.optimize import linear_sum_assignment

    check_choice(direction, ("charge", "discharge"), "direction")
    check_positive(max_shift_V, "max_shift_V")
    p = peaks[peaks["direction"] == direction]
    all_cycles = np.unique(peaks["cycle"].to_numpy()) if len(peaks) else np.array([], int)
    if len(p) == 0:
        raise NoCyclesError(f"no {direction} dQ/dV peaks to track.")
    cycles = np.unique(p["cycle"].to_numpy())
    cycles = all_cycles[all_cycles >= cycles[0]]
    if targets_V is None:
        first = p[p["cycle"] == cycles[0]]
        last_pos = first["position_V"].to_numpy(float).copy()
    else:
        last_pos = np.asarray(targets_V, dtype=float).copy()
    n_tr = last_pos.size
    start_pos = np.full(n_tr, np.nan)
    records = []
    peak_cols = [c for c in p.columns if c not in ("cycle", "direction")]
    for c in cycles:
        cand = p[p["cycle"] == c]
        matched = {}
        if len(cand):
            cost = np.abs(last_pos[:, None] - cand["position_V"].to_numpy(float)[None, :])
            big = np.where(cost <= max_shift_V, cost, 1e6)
            r, s = linear_sum_assignment(big)
            for ri, si in zip(r, s, strict=True):
                if big[ri, si] < 1e6:
                    matched[ri] = cand.iloc[si]
        for t in range(n_tr):
            rec = {"track_id": t, "cycle": int(c), "detected": t in matched}
            if t in matched:
                row = matched[t]
                rec.update({k: row[k] for k in peak_cols})
                last_pos[t] = float(row["position_V"])
                if np.isnan(start_pos[t]):
                    start_pos[t] = last_pos[t]
            else:
                rec.update({k: np.nan for k in peak_cols})
            records.append(rec)
    tracks = pd.DataFrame(records)
    summ = []
    last_cycle = int(cycles[-1])
    for t in range(n_tr):
        tt = tracks[(tracks["track_id"] == t) & tracks["detected"]]
        seen = tt["cycle"].to_numpy()
        last_seen = int(seen.max()) if seen.size else None
        if last_seen is None:
            vanish = int(cycles[0])
        elif last_seen < last_cycle:
            later = cycles[cycles > last_seen]
            vanish = int(later[0])
        else:
            vanish = None
        summ.append(
            {
                "track_id": t,
                "direction": direction,
                "start_position_V": float(start_pos[t]),
                "last_position_V": float(tt["position_V"].iloc[-1]) if seen.size else np.nan,
                "shift_V": float(tt["position_V"].iloc[-1] - start_pos[t]) if seen.size else np.nan,
                "first_cycle": int(seen.min()) if seen.size else None,
                "last_seen_cycle": last_seen,
                "vanish_cycle": vanish,
            }
        )
    summary = pd.DataFrame(summ)
    summary["vanish_cycle"] = summary["vanish_cycle"].astype("Int64")
    params = {"direction": direction, "targets_V": targets_V, "max_shift_V": max_shift_V}
    return PeakTracks(tracks, summary, params)
