"""Batched Levenberg-Marquardt and profile-likelihood intervals for small parameter vectors.

Every problem of a batch has a few parameters (one ``log10 D`` per metal, or one) and its own
residual vector; one call solves thousands of them at once with vectorised normal equations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Residuals = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``fun(x (b, k), rows (b,)) -> (r (b, m), J (b, m, k))`` for the selected problems."""


def levenberg_marquardt(
    fun: Residuals,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    free: np.ndarray | None = None,
    max_iter: int = 60,
    xtol: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minimise ``sum r^2`` of every problem within bounds.

    Parameters
    ----------
    fun : callable
        Residuals and Jacobian of selected problems.
    x0, lower, upper : ndarray (B, k)
        Start and bounds.
    free : ndarray of bool (B, k), optional
        Parameters to vary (the others stay at ``x0``; used to profile one parameter).

    Returns
    -------
    x : ndarray (B, k)
    chi2 : ndarray (B,)
    converged : ndarray of bool (B,)
        The last accepted step was below ``xtol`` (or the problem has no free parameter).
    hessian : ndarray (B, k, k)
        ``J^T J`` at the solution (free parameters only).
    """
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    n_b, k = x.shape
    free = np.ones((n_b, k), dtype=bool) if free is None else np.asarray(free, dtype=bool)
    rows = np.arange(n_b)
    r, jac = fun(x, rows)
    jac = jac * free[:, None, :]
    chi2 = np.einsum("bm,bm->b", r, r)
    mu = np.full(n_b, 1e-3)
    converged = np.asarray(~free.any(axis=1))
    active = ~converged
    eye = np.eye(k)
    for _ in range(max_iter):
        sel = np.flatnonzero(active)
        if sel.size == 0:
            break
        jt = jac[sel]
        a = jt.transpose(0, 2, 1) @ jt
        g = np.einsum("bmi,bm->bi", jt, r[sel])
        d = np.einsum("bii->bi", a)
        fixed = ~free[sel]
        damp = mu[sel, None] * (d + 1e-12 * (1.0 + d.max(axis=1, keepdims=True)))
        a_d = a + eye[None] * (damp + fixed)[:, None, :]
        step = -np.linalg.solve(a_d, (g * ~fixed)[..., None])[..., 0]
        xn = np.clip(x[sel] + step, lower[sel], upper[sel])
        rn, jn = fun(xn, sel)
        jn = jn * free[sel][:, None, :]
        cn = np.einsum("bm,bm->b", rn, rn)
        better = cn <= chi2[sel]
        acc = sel[better]
        moved = np.abs(xn[better] - x[acc]).max(axis=1, initial=0.0)
        x[acc], r[acc], jac[acc], chi2[acc] = xn[better], rn[better], jn[better], cn[better]
        mu[acc] = np.maximum(mu[acc] / 3.0, 1e-9)
        rej = sel[~better]
        mu[rej] *= 4.0
        done = acc[moved < xtol]
        converged[done] = True
        stuck = rej[mu[rej] > 1e8]
        converged[stuck] = True  # no downhill step left: at a (bounded) minimum
        active[done] = False
        active[stuck] = False
    hess = jac.transpose(0, 2, 1) @ jac
    return x, chi2, converged, hess


def standard_errors(hessian: np.ndarray) -> np.ndarray:
    """``sqrt(diag(inv(J^T J)))`` per problem (inf where singular)."""
    n_b, k, _ = hessian.shape
    out = np.full((n_b, k), np.inf)
    for b in range(n_b):
        try:
            cov = np.linalg.inv(hessian[b])
        except np.linalg.LinAlgError:
            continue
        diag = np.diag(cov)
        out[b] = np.where(diag > 0, np.sqrt(np.abs(diag)), np.inf)
    return out


_OFFSETS = np.array([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0])


def profile_intervals(
    fun: Residuals,
    x_hat: np.ndarray,
    chi2_hat: np.ndarray,
    se: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    threshold: float,
    *,
    max_iter: int = 10,
    max_halfwidth: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Profile-likelihood interval of every parameter of every problem.

    For parameter ``i`` the profile ``chi2_p(x_i) = min over the others chi2`` is evaluated at
    ``x_hat_i + s_j`` with ``s_j`` = 0.25 ... 5 times the curvature half-width
    ``se_i sqrt(threshold)`` on both sides (capped at ``max_halfwidth``), and the interval ends
    where ``chi2_p - chi2_hat`` reaches ``threshold`` (``chi2.ppf(level, 1)``), interpolated
    linearly in ``sqrt(chi2_p - chi2_hat)``. An end that the profile never reaches within the
    bounds is open: ``-inf`` / ``+inf``.

    Returns
    -------
    low, high : ndarray (B, k)
        Interval ends in the parameter's units.
    """
    n_b, k = x_hat.shape
    half = np.clip(se * np.sqrt(threshold), 1e-4, max_halfwidth / _OFFSETS[-1])
    low = np.full((n_b, k), -np.inf)
    high = np.full((n_b, k), np.inf)
    n_off = _OFFSETS.size
    for i in range(k):
        for sign, out in ((1.0, high), (-1.0, low)):
            delta = sign * half[:, i, None] * _OFFSETS[None, :]  # (B, n_off)
            xs = np.repeat(x_hat, n_off, axis=0)
            xs[:, i] = np.clip(
                x_hat[:, i, None] + delta, lower[:, i, None], upper[:, i, None]
            ).ravel()
            lo = np.repeat(lower, n_off, axis=0)
            hi = np.repeat(upper, n_off, axis=0)
            free = np.ones_like(xs, dtype=bool)
            free[:, i] = False
            owner = np.repeat(np.arange(n_b), n_off)

            def sub(xv, rows, owner=owner):
                return fun(xv, owner[rows])

            if k > 1:
                _, c2, _, _ = levenberg_marquardt(sub, xs, lo, hi, free=free, max_iter=max_iter)
            else:
                r, _ = sub(xs, np.arange(xs.shape[0]))
                c2 = np.einsum("bm,bm->b", r, r)
            dchi = np.maximum(c2.reshape(n_b, n_off) - chi2_hat[:, None], 0.0)
            xi = xs[:, i].reshape(n_b, n_off)
            root = np.sqrt(dchi)
            target = np.sqrt(threshold)
            above = dchi >= threshold
            first = np.argmax(above, axis=1)
            has = above.any(axis=1)
            b = np.flatnonzero(has)
            j = first[b]
            x1, s1 = xi[b, j], root[b, j]
            x0 = np.where(j > 0, xi[b, np.maximum(j - 1, 0)], x_hat[b, i])
            s0 = np.where(j > 0, root[b, np.maximum(j - 1, 0)], 0.0)
            frac = np.clip((target - s0) / np.maximum(s1 - s0, 1e-300), 0.0, 1.0)
            out[b, i] = x0 + frac * (x1 - x0)
    return low, high
