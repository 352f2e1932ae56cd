"""Pseudo-Voigt (and Ka1/Ka2 doublet) peak fitting over windows, single patterns and series.

The fitter is a batched Levenberg-Marquardt written in numpy: all frames of a window are fitted
at once (stacked Jacobians, batched normal equations). lmfit/scipy fit one spectrum per call and
would need ~10^5 Python-level fits for a 10^4-frame series; lmfit remains the independent
reference in the tests (same model, same weights, same covariance scaling).

Model in one window (x = 2theta in degrees)::

    y(x) = sum_k A_k [pV(x; c_k, w_k, eta_k) + r pV(x; c2(c_k), w_k, eta_k)] + b0 + b1 (x - x_mid)

with the area-normalised pseudo-Voigt ``pV = eta L + (1 - eta) G`` (FWHM ``w`` for both), ``r``
the Ka2/Ka1 intensity ratio (``r = 0`` without doublet) and ``c2`` the Ka2 position from
Bragg's law, sin(c2/2) = (lambda2/lambda1) sin(c/2).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cathodescope.errors import EmptyWindowError, ParameterError
from cathodescope.xrd._peak_types import PeakWindow

__all__ = ["pseudo_voigt"]

_CG = np.sqrt(4 * np.log(2) / np.pi)
_4LN2 = 4 * np.log(2)
_PARAMS = ("area", "center", "fwhm", "eta")


def pseudo_voigt(
    x: np.ndarray, center: float, fwhm: float, eta: float, area: float = 1.0
) -> np.ndarray:
    """Area-normalised pseudo-Voigt profile.

    Parameters
    ----------
    x : array_like
        Abscissa (2theta in degrees).
    center, fwhm : float
        Position and full width at half maximum (same units as ``x``).
    eta : float
        Lorentzian fraction, 0 (Gaussian) to 1 (Lorentzian).
    area : float
        Integrated area.

    Returns
    -------
    numpy.ndarray
        ``area * (eta L + (1 - eta) G)``, same shape as ``x``.

    Examples
    --------
    >>> x = np.linspace(-50, 50, 200001)
    >>> round(float(np.trapezoid(pseudo_voigt(x, 0.0, 1.0, 0.0), x)), 6)
    1.0
    """
    u = (np.asarray(x, dtype=float) - center) / fwhm
    g = _CG / fwhm * np.exp(-_4LN2 * u * u)
    lor = (2 / np.pi) / fwhm / (1 + 4 * u * u)
    return area * (eta * lor + (1 - eta) * g)


# -- the model ---------------------------------------------------------------------------------


class _WindowModel:
    """Sum of K pseudo-Voigt peaks (optionally Ka doublets) plus a linear background."""

    def __init__(self, x: np.ndarray, k: int, ratio: float, lam_ratio: float) -> None:
        self.x = x
        self.xmid = 0.5 * (x[0] + x[-1])
        self.k = k
        self.ratio = ratio
        self.lam_ratio = lam_ratio
        self.n_par = 4 * k + 2

    def _components(self, c, w, eta, need_jac):
        # c, w, eta: (F, K); returns profile values (F, K, N) and derivatives
        x = self.x[None, None, :]
        wv = w[..., None]
        u = (x - c[..., None]) / wv
        u2 = u * u
        g = _CG / wv * np.exp(-_4LN2 * u2)
        den = 1 + 4 * u2
        lor = (2 / np.pi) / wv / den
        e = eta[..., None]
        pv = e * lor + (1 - e) * g
        if not need_jac:
            return pv, None
        dg_dc = g * (2 * _4LN2) * u / wv
        dl_dc = lor * 8 * u / (wv * den)
        dg_dw = g / wv * (2 * _4LN2 * u2 - 1)
        dl_dw = lor / wv * (4 * u2 - 1) / den
        dpv_dc = e * dl_dc + (1 - e) * dg_dc
        dpv_dw = e * dl_dw + (1 - e) * dg_dw
        dpv_de = lor - g
        return pv, (dpv_dc, dpv_dw, dpv_de)

    def __call__(self, p: np.ndarray, need_jac: bool = True):
        """p: (F, P). Returns f (F, N) and J (F, N, P) (or None)."""
        k = self.k
        a = p[:, 0 : 4 * k : 4]
        c = p[:, 1 : 4 * k : 4]
        w = p[:, 2 : 4 * k : 4]
        eta = p[:, 3 : 4 * k : 4]
        b0 = p[:, 4 * k]
        b1 = p[:, 4 * k + 1]
        dx = self.x - self.xmid
        pv1, d1 = self._components(c, w, eta, need_jac)
        prof = pv1
        if self.ratio:
            s2 = np.clip(np.sin(np.radians(c / 2)) * self.lam_ratio, 0, 1 - 1e-12)
            c2 = 2 * np.degrees(np.arcsin(s2))
            dc2_dc = self.lam_ratio * np.cos(np.radians(c / 2)) / np.cos(np.radians(c2 / 2))
            pv2, d2 = self._components(c2, w, eta, need_jac)
            prof = pv1 + self.ratio * pv2
        f = (a[:, None, :] @ prof)[:, 0, :] + b0[:, None] + b1[:, None] * dx[None, :]
        if not need_jac:
            return f, None
        dpv_dc, dpv_dw, dpv_de = d1
        if self.ratio:
            dpv_dc = dpv_dc + self.ratio * d2[0] * dc2_dc[..., None]
            dpv_dw = dpv_dw + self.ratio * d2[1]
            dpv_de = dpv_de + self.ratio * d2[2]
        n_f, n = f.shape
        jac = np.empty((n_f, n, self.n_par))
        av = a[..., None]
        jac[:, :, 0 : 4 * k : 4] = prof.transpose(0, 2, 1)
        jac[:, :, 1 : 4 * k : 4] = (av * dpv_dc).transpose(0, 2, 1)
        jac[:, :, 2 : 4 * k : 4] = (av * dpv_dw).transpose(0, 2, 1)
        jac[:, :, 3 : 4 * k : 4] = (av * dpv_de).transpose(0, 2, 1)
        jac[:, :, 4 * k] = 1.0
        jac[:, :, 4 * k + 1] = dx[None, :]
        return f, jac


def _gram(jw: np.ndarray) -> np.ndarray:
    """Batched J^T J, (F, N, P) -> (F, P, P), through BLAS matmul (einsum is ~5x slower)."""
    return jw.transpose(0, 2, 1) @ jw


def _batched_lm(
    model: _WindowModel,
    y: np.ndarray,
    sw: np.ndarray,
    p0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    max_iter: int = 200,
    ftol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Projected Levenberg-Marquardt on F independent problems at once.

    Parameters
    ----------
    y, sw : (F, N)
        Data and sqrt(weights).
    p0, lower, upper : (F, P)
        Start and box bounds.

    Returns
    -------
    p (F, P), cov (F, P, P) unscaled inverse curvature, chi2 (F,), converged (F,) bool.
    """
    p = np.clip(p0.astype(float).copy(), lower, upper)
    n_f, n_par = p.shape
    lam = np.full(n_f, 1e-3)
    active = np.ones(n_f, dtype=bool)
    converged = np.zeros(n_f, dtype=bool)
    f, _ = model(p, need_jac=False)
    chi2 = np.sum(((y - f) * sw) ** 2, axis=1)
    eye = np.eye(n_par)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        pa = p[idx]
        f, jac = model(pa)
        r = (y[idx] - f) * sw[idx]
        jw = jac * sw[idx][..., None]
        a_mat = _gram(jw)
        g = (jw.transpose(0, 2, 1) @ r[..., None])[..., 0]
        diag = np.einsum("fpp->fp", a_mat)
        floor = 1e-12 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)
        diag = np.maximum(diag, floor)
        # up to 8 damping increases per outer iteration, all frames in lock step
        pending = np.ones(idx.size, dtype=bool)
        for _ in range(8):
            sub = np.flatnonzero(pending)
            if sub.size == 0:
                break
            lhs = a_mat[sub] + (lam[idx[sub]][:, None, None] * eye) * diag[sub][:, :, None]
            try:
                step = np.linalg.solve(lhs, g[sub][..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.einsum("fpq,fq->fp", np.linalg.pinv(lhs), g[sub])
            trial = np.clip(pa[sub] + step, lower[idx[sub]], upper[idx[sub]])
            ft, _ = model(trial, need_jac=False)
            chi_t = np.sum(((y[idx[sub]] - ft) * sw[idx[sub]]) ** 2, axis=1)
            old = chi2[idx[sub]]
            better = chi_t <= old
            good = sub[better]
            gi = idx[good]
            rel = (old[better] - chi_t[better]) / np.maximum(old[better], 1e-300)
            small_step = np.all(
                np.abs(trial[better] - pa[good]) <= 1e-10 * (np.abs(pa[good]) + 1e-10), axis=1
            )
            p[gi] = trial[better]
            chi2[gi] = chi_t[better]
            lam[gi] = np.maximum(lam[gi] / 5, 1e-12)
            done = (rel < ftol) | small_step
            converged[gi[done]] = True
            active[gi[done]] = False
            pending[good] = False
            bad = sub[~better]
            lam[idx[bad]] = lam[idx[bad]] * 4
            stuck = lam[idx[bad]] > 1e12
            converged[idx[bad][stuck]] = True  # no further decrease possible: at the minimum
            active[idx[bad][stuck]] = False
            pending[bad[stuck]] = False
        pa = p[idx]
    # covariance at the solution: inverse of J^T W J
    _, jac = model(p)
    jw = jac * sw[..., None]
    a_mat = _gram(jw)
    cov = np.linalg.pinv(a_mat, hermitian=True)
    return p, cov, chi2, converged


def _weights(y: np.ndarray, sigma: np.ndarray | None, mode: str) -> np.ndarray:
    if mode == "none":
        return np.ones_like(y)
    if mode == "sigma":
        if sigma is None:
            raise ParameterError("weights='sigma' needs a 'sigma' coordinate on the pattern.")
        s = np.broadcast_to(sigma, y.shape)
        return 1.0 / np.where(s > 0, s, np.inf)
    return 1.0 / np.sqrt(np.maximum(y, 1.0))  # poisson


def _initial(
    x: np.ndarray, y: np.ndarray, win: PeakWindow, centers: np.ndarray, fwhm0: float | None
) -> np.ndarray:
    """Starting parameters (F, P) from data: linear background through the window ends."""
    n_f = y.shape[0]
    k = len(win.centers)
    m = max(1, min(3, x.size // 5))
    xl, xr_ = x[:m].mean(), x[-m:].mean()
    yl, yr = y[:, :m].mean(axis=1), y[:, -m:].mean(axis=1)
    slope = (yr - yl) / max(xr_ - xl, 1e-12)
    xmid = 0.5 * (x[0] + x[-1])
    b0 = yl + slope * (xmid - xl)
    excess = y - (b0[:, None] + slope[:, None] * (x - xmid)[None, :])
    dx = np.median(np.diff(x))
    if fwhm0 is None:
        h = np.maximum(excess.max(axis=1), 1e-12)
        area_tot = np.clip(np.trapezoid(np.clip(excess, 0, None), x, axis=1), 0, None)
        w_est = area_tot / (h * 1.0645 * k)
        fwhm0 = float(np.clip(np.median(w_est), 2 * dx, 0.5 * (x[-1] - x[0])))
    p = np.empty((n_f, 4 * k + 2))
    for i in range(k):
        ci = centers[:, i]
        # linear interpolation of each frame's excess at its own center, vectorised
        j = np.clip(np.searchsorted(x, ci) - 1, 0, x.size - 2)
        frac = np.clip((ci - x[j]) / (x[j + 1] - x[j]), 0.0, 1.0)
        rows = np.arange(n_f)
        yi = excess[rows, j] * (1 - frac) + excess[rows, j + 1] * frac
        p[:, 4 * i] = np.maximum(yi, 1e-6 * np.abs(y).max(axis=1) + 1e-12) * fwhm0 * 1.0645
        p[:, 4 * i + 1] = ci
        p[:, 4 * i + 2] = fwhm0
        p[:, 4 * i + 3] = 0.5
    p[:, 4 * k] = b0
    p[:, 4 * k + 1] = slope
    return p


def _bounds(x: np.ndarray, k: int, n_f: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    dx = float(np.median(np.diff(x)))
    lower = np.full(4 * k + 2, -np.inf)
    upper = np.full(4 * k + 2, np.inf)
    lower[0 : 4 * k : 4] = 0.0
    lower[1 : 4 * k : 4] = lo
    upper[1 : 4 * k : 4] = hi
    lower[2 : 4 * k : 4] = 0.25 * dx
    upper[2 : 4 * k : 4] = hi - lo
    lower[3 : 4 * k : 4] = 0.0
    upper[3 : 4 * k : 4] = 1.0
    return np.broadcast_to(lower, (n_f, lower.size)), np.broadcast_to(upper, (n_f, upper.size))


def _xcorr_shift(model: _WindowModel, x: np.ndarray, y: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Per-frame shift (deg) of the data relative to the seed model, by FFT cross-correlation."""
    k = model.k
    seed = p0[:1].copy()
    seed[:, 4 * k :] = 0.0  # peaks only
    template, _ = model(seed, need_jac=False)
    template = template[0] - template[0].mean()
    n = x.size
    m = max(1, min(3, n // 5))
    slope = (y[:, -m:].mean(axis=1) - y[:, :m].mean(axis=1)) / max(
        x[-m:].mean() - x[:m].mean(), 1e-12
    )
    net = y - (y[:, :m].mean(axis=1)[:, None] + slope[:, None] * (x - x[:m].mean())[None, :])
    net = net - net.mean(axis=1, keepdims=True)
    nfft = 2 * n
    corr = np.fft.irfft(
        np.fft.rfft(net, nfft) * np.conj(np.fft.rfft(template, nfft))[None, :], nfft
    )
    max_lag = n // 3
    lags = np.r_[0 : max_lag + 1, -max_lag:0]
    cc = np.concatenate([corr[:, : max_lag + 1], corr[:, nfft - max_lag :]], axis=1)
    best = np.argmax(cc, axis=1)
    lag = lags[best].astype(float)
    # parabolic sub-sample refinement
    i0 = np.clip(best, 1, cc.shape[1] - 2)
    rows = np.arange(cc.shape[0])
    c_m, c_0, c_p = cc[rows, i0 - 1], cc[rows, i0], cc[rows, i0 + 1]
    den = c_m - 2 * c_0 + c_p
    frac = np.where((den < 0) & (best == i0), 0.5 * (c_m - c_p) / np.where(den < 0, den, -1), 0.0)
    lag = lag + np.clip(frac, -0.5, 0.5)
    dx = (x[-1] - x[0]) / (n - 1)
    return lag * dx


def _fit_window_frames(
    x_all: np.ndarray,
    y_all: np.ndarray,
    sigma_all: np.ndarray | None,
    win: PeakWindow,
    lo: float,
    hi: float,
    p_seed: np.ndarray | None,
    centers0: np.ndarray,
    *,
    model_opts: Mapping[str, float],
    weights: str,
    fwhm0: float | None,
    scale_covar: bool,
    max_iter: int,
) -> dict[str, np.ndarray]:
    sel = (x_all >= lo) & (x_all <= hi)
    x = x_all[sel]
    k = len(win.centers)
    n_par = 4 * k + 2
    if x.size <= n_par:
        raise EmptyWindowError(
            f"window {lo:.3f}-{hi:.3f} deg holds {x.size} points, fewer than the {n_par + 1} "
            "needed for its peaks and background; widen the window or check the 2theta range."
        )
    y = y_all[:, sel]
    sig = None if sigma_all is None else np.broadcast_to(sigma_all, y_all.shape)[:, sel]
    sw = _weights(y, sig, weights)
    model = _WindowModel(x, k, model_opts["ratio"], model_opts["lam_ratio"])
    if p_seed is None:
        p0 = _initial(x, y, win, centers0, fwhm0)
    else:
        p0 = np.array(p_seed, dtype=float)
        init = _initial(x, y, win, p0[:, 1 : 4 * k : 4], None)
        # keep a vanished peak able to come back: never start an area at exactly zero
        p0[:, 0 : 4 * k : 4] = np.maximum(p0[:, 0 : 4 * k : 4], 0.05 * init[:, 0 : 4 * k : 4])
        p0[:, 4 * k :] = init[:, 4 * k :]
        # frames of a block may have moved away from the seed: shift each frame's start by
        # the lag that best aligns its net profile with the seed's model (cross-correlation)
        p0[:, 1 : 4 * k : 4] += _xcorr_shift(model, x, y, p0)[:, None]
    lower, upper = _bounds(x, k, y.shape[0], lo, hi)
    p, cov, chi2, conv = _batched_lm(model, y, sw, p0, lower, upper, max_iter=max_iter)
    dof = max(x.size - n_par, 1)
    redchi = chi2 / dof
    if scale_covar:
        cov = cov * redchi[:, None, None]
    err = np.sqrt(np.clip(np.einsum("fpp->fp", cov), 0, None))
    return {"p": p, "err": err, "redchi": redchi, "converged": conv, "n_points": x.size}
