"""Fitting peaks in windows of one pattern or of every frame of a series, tracking them through
a series, and evaluating the fitted model (see :mod:`cathodescope.xrd._peak_model`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_choice, check_finite, check_positive
from cathodescope.errors import EmptyWindowError, NonMonotonicAxisError, ParameterError
from cathodescope.xrd._peak_model import _CG, _fit_window_frames, pseudo_voigt
from cathodescope.xrd._peak_types import PeakFitResult, PeakWindow
from cathodescope.xrd._units import CU_KA2_A, KA2_KA1_RATIO

__all__ = [
    "PeakFitResult",
    "PeakWindow",
    "fit_peaks",
    "peak_fit_curve",
    "pseudo_voigt",
    "track_peaks",
]


def _as_windows(windows: Sequence[PeakWindow] | PeakWindow) -> list[PeakWindow]:
    if isinstance(windows, PeakWindow):
        return [windows]
    out = list(windows)
    if not out:
        raise ParameterError("no fitting windows given; pass PeakWindow(lo, hi, centers).")
    for w in out:
        if not isinstance(w, PeakWindow):
            raise ParameterError(f"expected PeakWindow objects, got {type(w).__name__}.")
    return out


def _model_options(
    pattern: xr.DataArray,
    doublet: bool,
    ka2_ratio: float | None,
    wavelength2: float | None,
    wavelength: float | None,
) -> dict[str, Any]:  # ratio, lam_ratio: float; wl1: float or None
    if not doublet:
        wl = wavelength if wavelength is not None else pattern.attrs.get("wavelength_A")
        return {"ratio": 0.0, "lam_ratio": 1.0, "wl1": None if wl is None else float(wl)}
    from cathodescope.xrd._units import pattern_wavelength

    wl1 = pattern_wavelength(pattern, wavelength)
    wl2 = wavelength2 if wavelength2 is not None else pattern.attrs.get("wavelength2_A", CU_KA2_A)
    ratio = (
        ka2_ratio if ka2_ratio is not None else pattern.attrs.get("kalpha2_ratio", KA2_KA1_RATIO)
    )
    check_positive(wl2, "wavelength2 (Angstrom)")
    check_positive(ratio, "ka2_ratio", allow_zero=True)
    return {"ratio": float(ratio), "lam_ratio": float(wl2) / wl1, "wl1": wl1, "wl2": float(wl2)}


def _check_axis(pattern: xr.DataArray) -> np.ndarray:
    if "two_theta" not in pattern.dims:
        raise ParameterError(f"pattern needs a 'two_theta' dimension, has {pattern.dims}.")
    x = np.asarray(pattern.two_theta.values, dtype=float)
    if x.size < 2 or np.any(np.diff(x) <= 0):
        raise NonMonotonicAxisError(
            "2theta must be strictly increasing; sort the pattern (pattern.sortby('two_theta')) "
            "and remove duplicate angles."
        )
    return x


def _rows(
    res: dict[str, np.ndarray], win: PeakWindow, frames: np.ndarray, model_opts: Mapping[str, float]
) -> list[pd.DataFrame]:
    k = len(win.centers)
    p, err = res["p"], res["err"]
    out = []
    for i, name in enumerate(win.names):
        area, c, w, eta = (p[:, 4 * i + j] for j in range(4))
        height = area * (eta * 2 / (np.pi * w) + (1 - eta) * _CG / w)
        out.append(
            pd.DataFrame(
                {
                    "frame": frames,
                    "peak": name,
                    "window": f"{win.lo:g}-{win.hi:g}",
                    "center_deg": c,
                    "center_err_deg": err[:, 4 * i + 1],
                    "fwhm_deg": w,
                    "fwhm_err_deg": err[:, 4 * i + 2],
                    "eta": eta,
                    "eta_err": err[:, 4 * i + 3],
                    "area": area,
                    "area_err": err[:, 4 * i],
                    "height": height,
                    "bg0": p[:, 4 * k],
                    "bg1": p[:, 4 * k + 1],
                    "redchi": res["redchi"],
                    "n_points": res["n_points"],
                    "converged": res["converged"],
                }
            )
        )
    return out


def fit_peaks(
    pattern: xr.DataArray,
    windows: Sequence[PeakWindow] | PeakWindow,
    *,
    doublet: bool = False,
    ka2_ratio: float | None = None,
    wavelength: float | None = None,
    wavelength2: float | None = None,
    weights: Literal["poisson", "sigma", "none"] = "poisson",
    fwhm_guess: float | None = None,
    scale_covar: bool = True,
    max_iter: int = 200,
) -> PeakFitResult:
    """Fit pseudo-Voigt peaks (or Ka1/Ka2 doublets) with a linear background in windows.

    Parameters
    ----------
    pattern : xarray.DataArray
        Pattern (dim ``two_theta``, deg) or series (dims ``frame, two_theta``); every frame of
        a series is fitted independently from the same starting values (use
        :func:`track_peaks` to seed each frame from the previous one).
    windows : PeakWindow or sequence of PeakWindow
        Windows and starting Ka1 centers (deg).
    doublet : bool
        Model each peak as a Ka1/Ka2 doublet (lab data). Needs the Ka1 wavelength.
    ka2_ratio : float, optional
        I(Ka2)/I(Ka1); default the pattern's ``kalpha2_ratio`` or 0.5.
    wavelength, wavelength2 : float, optional
        Ka1 and Ka2 wavelengths in Angstrom (default from the pattern's attrs; Ka2 default
        1.54443 A, Cu).
    weights : {"poisson", "sigma", "none"}
        Least-squares weights: 1/max(y, 1) (counting statistics), 1/sigma^2 from a ``sigma``
        coordinate, or unweighted.
    fwhm_guess : float, optional
        Starting FWHM in degrees (default: estimated from the data).
    scale_covar : bool
        Multiply the covariance by the reduced chi-square (lmfit's default), so uncertainties
        reflect the actual scatter.
    max_iter : int
        Maximum Levenberg-Marquardt iterations.

    Returns
    -------
    PeakFitResult
        One row per frame and peak, uncertainties as 1-sigma standard errors.

    Raises
    ------
    EmptyWindowError
        A window holds fewer points than parameters.
    NonMonotonicAxisError
        2theta is not strictly increasing.
    MissingWavelengthError
        ``doublet=True`` without a known wavelength.

    Examples
    --------
    >>> from cathodescope.io import make_pattern
    >>> x = np.linspace(17, 21, 401)
    >>> p = make_pattern(x, 100 + pseudo_voigt(x, 19.0, 0.1, 0.3, 500.0))
    >>> r = fit_peaks(p, PeakWindow(18, 20, (18.95,), ("003",)), weights="none")
    >>> round(float(r.table.center_deg[0]), 4)
    19.0
    """
    check_choice(weights, ("poisson", "sigma", "none"), "weights")
    wins = _as_windows(windows)
    x = _check_axis(pattern)
    y = np.atleast_2d(np.asarray(pattern.values, dtype=float))
    check_finite(y, "pattern intensity")
    sigma = None if "sigma" not in pattern.coords else np.asarray(pattern.coords["sigma"].values)
    opts = _model_options(pattern, doublet, ka2_ratio, wavelength2, wavelength)
    frames = np.arange(y.shape[0])
    tables = []
    for win in wins:
        centers0 = np.broadcast_to(np.array(win.centers), (y.shape[0], len(win.centers)))
        res = _fit_window_frames(
            x,
            y,
            sigma,
            win,
            win.lo,
            win.hi,
            None,
            centers0,
            model_opts=opts,
            weights=weights,
            fwhm0=fwhm_guess,
            scale_covar=scale_covar,
            max_iter=max_iter,
        )
        tables.extend(_rows(res, win, frames, opts))
    table = _attach_frame_coords(pd.concat(tables, ignore_index=True), pattern)
    params = {
        "windows": [dataclasses.asdict(w) for w in wins],
        "doublet": doublet,
        **{k: v for k, v in opts.items()},
        "weights": weights,
        "scale_covar": scale_covar,
    }
    return PeakFitResult(
        table.sort_values(["frame", "peak"], kind="stable").reset_index(drop=True), params
    )


def peak_fit_curve(
    pattern: xr.DataArray,
    result: PeakFitResult,
    window: PeakWindow,
    *,
    frame: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The fitted model of one window evaluated on the pattern's points in that window.

    Sum of the window's fitted pseudo-Voigt peaks (with their Ka2 components when the fit used
    doublets) plus its linear background ``bg0 + bg1 (x - x_mid)``, ``x_mid`` being the middle
    of the window's data points, exactly as :func:`fit_peaks` models it.

    Parameters
    ----------
    pattern : xarray.DataArray
        The pattern that was fitted (dim ``two_theta``, deg).
    result : PeakFitResult
        Output of :func:`fit_peaks` (or :func:`track_peaks`, whose windows may have moved with
        the peaks: then only frame 0 is on the window given here).
    window : PeakWindow
        One of the windows of the fit.
    frame : int
        Frame of a series result.

    Returns
    -------
    x : numpy.ndarray
        2theta (deg) of the pattern's points inside the window.
    model : numpy.ndarray
        Model intensity at ``x`` (units of the pattern).

    Raises
    ------
    EmptyWindowError
        The window holds no points of the pattern.
    ParameterError
        The result has no row for this window's peaks in ``frame``.

    Examples
    --------
    >>> from cathodescope.io import make_pattern
    >>> x = np.linspace(17, 21, 401)
    >>> p = make_pattern(x, 100 + pseudo_voigt(x, 19.0, 0.1, 0.3, 500.0))
    >>> win = PeakWindow(18, 20, (18.95,), ("003",))
    >>> xs, model = peak_fit_curve(p, fit_peaks(p, win, weights="none"), win)
    >>> bool(np.allclose(model, p.sel(two_theta=xs).values, rtol=1e-6))
    True
    """
    from cathodescope.xrd._units import kalpha2_position

    x_all = _check_axis(pattern)
    x = x_all[(x_all >= window.lo) & (x_all <= window.hi)]
    if x.size == 0:
        raise EmptyWindowError(f"window {window.lo}-{window.hi} deg holds no pattern points.")
    t = result.table
    rows = t[t["peak"].isin(window.names) & (t["frame"] == frame)]
    if rows.empty:
        raise ParameterError(f"no fitted peaks {window.names} in frame {frame} of the result.")
    ratio = result.parameters.get("ratio", 0.0)
    xm = 0.5 * (x[0] + x[-1])
    model = rows["bg0"].iloc[0] + rows["bg1"].iloc[0] * (x - xm)
    for _, r in rows.iterrows():
        model = model + pseudo_voigt(x, r.center_deg, r.fwhm_deg, r.eta, r.area)
        if ratio:
            c2 = kalpha2_position(r.center_deg, result.parameters["wl1"], result.parameters["wl2"])
            model = model + pseudo_voigt(x, float(c2), r.fwhm_deg, r.eta, ratio * r.area)
    return x, np.asarray(model, dtype=float)


def _attach_frame_coords(table: pd.DataFrame, pattern: xr.DataArray) -> pd.DataFrame:
    if "frame" not in pattern.dims:
        return table
    for name in ("temperature_C", "time_s", "soc"):
        if name in pattern.coords:
            values = np.asarray(pattern.coords[name].values)
            table[name] = values[table["frame"].to_numpy()]
    return table


def track_peaks(
    series: xr.DataArray,
    windows: Sequence[PeakWindow] | PeakWindow,
    *,
    doublet: bool = False,
    ka2_ratio: float | None = None,
    wavelength: float | None = None,
    wavelength2: float | None = None,
    weights: Literal["poisson", "sigma", "none"] = "poisson",
    fwhm_guess: float | None = None,
    block: int = 128,
    follow: bool = True,
    scale_covar: bool = True,
    max_iter: int = 100,
    progress: bool = False,
) -> PeakFitResult:
    """Track peaks through a series, each block of frames seeded from the previous fit.

    Frame 0 is fitted from the window's starting centers. The frames are then processed in
    blocks of ``block`` consecutive frames; every frame of a block starts from the last fitted
    frame before it (``block=1`` is strict frame-by-frame seeding; larger blocks let the batched
    fitter work on many frames at once, which is what makes 10^4 frames take seconds). With
    ``follow`` the window moves with the tracked peaks (by the mean center shift since frame 0).

    Parameters
    ----------
    series : xarray.DataArray
        Dims ``("frame", "two_theta")``; per-frame coordinates (``temperature_C``, ``time_s``,
        ``soc``) are copied into the table.
    windows : PeakWindow or sequence of PeakWindow
        Windows and starting Ka1 centers (deg) for frame 0.
    doublet, ka2_ratio, wavelength, wavelength2, weights, fwhm_guess, scale_covar, max_iter
        As in :func:`fit_peaks`.
    block : int
        Frames fitted together from the same seed.
    follow : bool
        Shift each window with its peaks.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    PeakFitResult
        One row per frame and peak.

    Raises
    ------
    EmptyWindowError, NonMonotonicAxisError, MissingWavelengthError
        As in :func:`fit_peaks`.
    """
    check_choice(weights, ("poisson", "sigma", "none"), "weights")
    if int(block) < 1:
        raise ParameterError(f"block must be >= 1, got {block}.")
    wins = _as_windows(windows)
    x = _check_axis(series)
    if series.ndim != 2 or series.dims[0] == "two_theta":
        raise ParameterError(
            f"track_peaks needs a ('frame', 'two_theta') series, got {series.dims}."
        )
    y = np.asarray(series.transpose(..., "two_theta").values, dtype=float)
    check_finite(y, "series intensity")
    n_f = y.shape[0]
    if n_f == 0:
        raise EmptyWindowError("the series has no frames.")
    sigma = None if "sigma" not in series.coords else np.asarray(series.coords["sigma"].values)
    opts = _model_options(series, doublet, ka2_ratio, wavelength2, wavelength)
    fit = {
        "model_opts": opts,
        "weights": weights,
        "fwhm0": fwhm_guess,
        "scale_covar": scale_covar,
    }
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(wins) * n_f, desc="tracking peaks", unit="frame")
    tables = []
    for win in wins:
        res = _track_window(
            x, y, sigma, win, fit, block=int(block), follow=follow, max_iter=max_iter, bar=bar
        )
        tables.extend(_rows(res, win, np.arange(n_f), opts))
    if bar is not None:
        bar.close()
    table = _attach_frame_coords(pd.concat(tables, ignore_index=True), series)
    params = {
        "windows": [dataclasses.asdict(w) for w in wins],
        "doublet": doublet,
        **opts,
        "weights": weights,
        "block": int(block),
        "follow": follow,
        "scale_covar": scale_covar,
    }
    return PeakFitResult(
        table.sort_values(["frame", "peak"], kind="stable").reset_index(drop=True), params
    )


def _track_window(
    x: np.ndarray,
    y: np.ndarray,
    sigma: np.ndarray | None,
    win: PeakWindow,
    fit: Mapping[str, Any],
    *,
    block: int,
    follow: bool,
    max_iter: int,
    bar: Any,
) -> dict[str, np.ndarray]:
    """Track the peaks of one window: frame 0 from its centers, then seeded blocks."""
    n_f = y.shape[0]
    k = len(win.centers)
    out = {
        "p": np.empty((n_f, 4 * k + 2)),
        "err": np.empty((n_f, 4 * k + 2)),
        "redchi": np.empty(n_f),
        "converged": np.zeros(n_f, dtype=bool),
        "n_points": np.zeros(n_f, dtype=int),
    }

    def store(res: dict[str, np.ndarray], s: int, e: int) -> None:
        for key in ("p", "err", "redchi", "converged"):
            out[key][s:e] = res[key]
        out["n_points"][s:e] = res["n_points"]
        if bar is not None:
            bar.update(e - s)

    res0 = _fit_window_frames(
        x, y[:1], sigma, win, win.lo, win.hi, None, np.array(win.centers)[None, :],
        **fit, max_iter=4 * max_iter,
    )  # fmt: skip
    store(res0, 0, 1)
    c_ref = res0["p"][0, 1 : 4 * k : 4].mean()
    last = 0
    for s in range(1, n_f, block):
        e = min(s + block, n_f)
        seed = out["p"][last]
        shift = seed[1 : 4 * k : 4].mean() - c_ref if follow else 0.0
        res = _fit_window_frames(
            x, y[s:e], sigma, win, win.lo + shift, win.hi + shift,
            np.repeat(seed[None, :], e - s, axis=0), np.array(win.centers)[None, :], **fit,
            max_iter=max_iter,
        )  # fmt: skip
        store(res, s, e)
        last = e - 1
    return out
