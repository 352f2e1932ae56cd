"""Core/shell step fits of many particles at once (batched Levenberg-Marquardt in numpy).

A scene of hundreds of particles needs hundreds of small (2E + 2 parameter) fits; one
``scipy.optimize.least_squares`` call per particle spends most of its time in Python overhead
(~10 ms each). Here all particles iterate together: the Jacobians are stacked into one
(P, N*E, 2E+2) array and each Levenberg-Marquardt step solves P small normal-equation systems with
one batched ``numpy.linalg.solve``. The model and the weighting are those of
:func:`cathodescope.xrf.fit_core_shell` (edge geometry, shell at depth 0); a particle whose batched
fit does not converge inside the bounds is handed back to the caller, which fits it with
:func:`fit_core_shell` (bounded trust region). The tests check both give the same numbers.
"""

from __future__ import annotations

import warnings

import numpy as np

from cathodescope.xrf._coreshell import StepModel, _step_derivative, step


def _initial_values(x, v, valid, dx):
    """Per-particle start values as in fit_core_shell: levels from the outer tenths (median of
    the first/last max(2, n // 10) valid samples), interface at the first half-height crossing of
    the first element, width min(max(span / 20, dx), span). Vectorised over particles."""
    P, _, E = v.shape
    theta = np.empty((P, 2 * E + 2))
    rank = np.cumsum(valid, axis=1) - 1  # (P, N, E): index among the valid samples
    n_valid = valid.sum(axis=1)  # (P, E)
    k = np.maximum(2, n_valid // 10)[:, None, :]
    first = valid & (rank < k)
    last = valid & (rank >= (n_valid[:, None, :] - k))
    theta[:, :E] = np.nanmedian(np.where(first, v, np.nan), axis=1)
    theta[:, E : 2 * E] = np.nanmedian(np.where(last, v, np.nan), axis=1)
    x_min, x_max = np.nanmin(x, axis=1), np.nanmax(x, axis=1)
    span = x_max - x_min
    half = 0.5 * (theta[:, 0] + theta[:, E])
    above = np.where(valid[:, :, 0], v[:, :, 0] > half[:, None], np.nan)
    # first crossing between consecutive valid samples of element 0
    x0 = x_min + span / 2
    for p in np.flatnonzero(np.ones(P, bool)):
        a = above[p][valid[p, :, 0]]
        cross = np.flatnonzero(a[1:] != a[:-1])
        if cross.size:
            x0[p] = x[p][valid[p, :, 0]][cross[0]]
    theta[:, 2 * E] = x0
    theta[:, 2 * E + 1] = np.minimum(np.maximum(span / 20, dx), span)
    return theta


def _residual_and_jacobian(theta, x, v, w8, model, want_jac=True):
    P, N, E = v.shape
    shell, core = theta[:, :E], theta[:, E : 2 * E]
    x0, w = theta[:, 2 * E], theta[:, 2 * E + 1]
    u = (x - x0[:, None]) / w[:, None]  # (P, N)
    s = step(u, model)
    diff = core - shell  # (P, E)
    model_v = shell[:, None, :] + diff[:, None, :] * s[:, :, None]
    r = w8 * (model_v - v)  # (P, N, E)
    if not want_jac:
        return r, None
    ds = _step_derivative(u, model)
    J = np.zeros((P, N, E, 2 * E + 2))
    eye = np.arange(E)
    J[:, :, eye, eye] = w8 * (1.0 - s)[:, :, None]
    J[:, :, eye, E + eye] = w8 * s[:, :, None]
    J[:, :, :, 2 * E] = w8 * diff[:, None, :] * (-ds / w[:, None])[:, :, None]
    J[:, :, :, 2 * E + 1] = w8 * diff[:, None, :] * (-u * ds / w[:, None])[:, :, None]
    return r, J


def batched_edge_fit(*args, **kwargs) -> dict[str, np.ndarray]:
    """See :func:`_batched_edge_fit`; all-NaN rows (a particle without samples of an element)
    give NaN start values and are reported as not ok, without numpy's RuntimeWarnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _batched_edge_fit(*args, **kwargs)


def _batched_edge_fit(
    x: np.ndarray,
    v: np.ndarray,
    sd: np.ndarray,
    *,
    model: StepModel = "erf",
    max_iter: int = 200,
) -> dict[str, np.ndarray]:
    """Fit ``v[p, :, e] = shell_e + (core_e - shell_e) * S((x[p] - x0) / w)`` for every p.

    Parameters
    ----------
    x : array (P, N)
        Sample positions (depth in um), NaN-padded.
    v : array (P, N, E)
        Profiles, NaN where missing.
    sd : array (P, N, E)
        1-sigma errors (weights 1/sd); all ones for an unweighted fit.
    model : {"erf", "logistic"}
        Step shape.
    max_iter : int
        Iteration cap.

    Returns
    -------
    dict
        ``theta`` (P, 2E+2: shells, cores, x0, w), ``stderr`` (same shape), ``redchi`` (P,),
        ``n_points`` (P,) and ``ok`` (P,) - False where the caller must refit the particle
        (no convergence, interface outside the samples, width below a quarter sample step,
        singular normal equations).
    """
    P, N, E = v.shape
    valid = np.isfinite(x)[:, :, None] & np.isfinite(v) & np.isfinite(sd) & (sd > 0)
    w8 = np.where(valid, 1.0 / np.where(valid, sd, 1.0), 0.0)
    xz = np.where(np.isfinite(x), x, 0.0)
    vz = np.where(valid, v, 0.0)
    n_points = valid.sum(axis=(1, 2))
    n_par = 2 * E + 2
    x_min = np.nanmin(np.where(np.isfinite(x), x, np.nan), axis=1)
    x_max = np.nanmax(np.where(np.isfinite(x), x, np.nan), axis=1)
    dx = np.nanmedian(np.diff(np.where(np.isfinite(x), x, np.nan), axis=1), axis=1)
    theta = _initial_values(
        np.where(np.isfinite(x), x, np.nan), np.where(valid, v, np.nan), valid, dx
    )
    # particles without usable start values (an element with no sample) are left out
    unusable = ~np.all(np.isfinite(theta), axis=1) | (n_points < n_par + 3)
    theta[unusable] = 0.0
    theta[unusable, 2 * E + 1] = 1.0
    w8[unusable] = 0.0
    r, J = _residual_and_jacobian(theta, xz, vz, w8, model)
    cost = (r**2).sum(axis=(1, 2))
    lam = np.full(P, 1e-3)
    done = unusable.copy()
    eye = np.eye(n_par)
    for _ in range(max_iter):
        Jf = J.reshape(P, N * E, n_par)
        Jt = Jf.transpose(0, 2, 1)
        A = Jt @ Jf  # batched BLAS: much faster than einsum here
        g = (Jt @ r.reshape(P, N * E, 1))[:, :, 0]
        diag = np.einsum("pii->pi", A)
        A_damped = A + lam[:, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        try:
            delta = np.linalg.solve(A_damped, -g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            break
        delta[done] = 0.0
        trial = theta + delta
        bad_w = ~(trial[:, -1] > 0)
        trial[bad_w] = theta[bad_w]
        r_t, _ = _residual_and_jacobian(trial, xz, vz, w8, model, want_jac=False)
        cost_t = (r_t**2).sum(axis=(1, 2))
        accept = np.isfinite(cost_t) & (cost_t < cost) & ~bad_w & ~done
        small = np.abs(delta) <= 1e-10 * (np.abs(theta) + 1e-10)
        rel = np.where(cost > 0, (cost - cost_t) / np.where(cost > 0, cost, 1.0), 0.0)
        newly_done = (accept & (rel < 1e-12)) | np.all(small, axis=1) | (cost == 0)
        theta = np.where(accept[:, None], trial, theta)
        cost = np.where(accept, cost_t, cost)
        lam = np.where(accept, lam * 0.3, lam * 10.0)
        lam = np.clip(lam, 1e-12, 1e12)
        done |= newly_done | (lam >= 1e12)
        if done.all():
            break
        r, J = _residual_and_jacobian(theta, xz, vz, w8, model)
    r, J = _residual_and_jacobian(theta, xz, vz, w8, model)
    Jf = J.reshape(P, N * E, n_par)
    A = Jf.transpose(0, 2, 1) @ Jf
    dof = n_points - n_par
    redchi = np.where(dof > 0, (r**2).sum(axis=(1, 2)) / np.maximum(dof, 1), np.nan)
    A[unusable] = np.eye(n_par)
    cond = np.linalg.cond(A)
    good_a = np.isfinite(cond) & (cond < 1e14)
    cov = np.full_like(A, np.nan)
    if good_a.any():
        cov[good_a] = np.linalg.inv(A[good_a]) * redchi[good_a, None, None]
    stderr = np.sqrt(np.einsum("pii->pi", cov))
    x0, w = theta[:, 2 * E], theta[:, 2 * E + 1]
    ok = (
        ~unusable
        & done
        & good_a
        & np.all(np.isfinite(stderr), axis=1)
        & (x0 > x_min)
        & (x0 < x_max)
        & (w > dx / 4 * (1 + 1e-6))
        & (w <= x_max - x_min)
        & (dof > 2)
    )
    return {"theta": theta, "stderr": stderr, "redchi": redchi, "n_points": n_points, "ok": ok}
