"""Constrained multicomponent interdiffusion on the fixed transition-metal sublattice.

Finite volumes in space (:class:`~cathodescope.diffusion._sphere.SphereGrid`), Crank-Nicolson
in time with a backward-Euler start (Rannacher) against the sharp precursor interfaces, and a
two-pass Picard update of the face fractions that multiply the cross terms.
"""

from __future__ import annotations

import numpy as np

from cathodescope.diffusion._sphere import SphereGrid


def _face_matrices(grid: SphereGrid, c: np.ndarray, dtheta: np.ndarray) -> np.ndarray:
    """``M_k`` (B, n - 1, E, E): flow of metal ``e`` from shell ``k - 1`` to ``k`` over a step
    is ``-(M_k (c_k - c_{k-1}))_e`` with ``M_k = g_k (diag(dtheta) - cbar_k dtheta^T)`` and
    ``cbar_k`` the face fractions (which sum to 1, so ``1^T M_k = 0``: the flows of all metals
    cancel for any ``c``)."""
    cbar = 0.5 * (c[:, 1:, :] + c[:, :-1, :])  # (B, n - 1, E)
    eye = np.eye(c.shape[2])
    m = eye[None, None] * dtheta[:, None, None, :] - cbar[..., :, None] * dtheta[:, None, None, :]
    return m * grid.conductances[None, :, None, None]


def _apply(m: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``(A c)_i = M_i (c_{i-1} - c_i) + M_{i+1} (c_{i+1} - c_i)`` (net inflow per shell)."""
    flow = np.einsum("bkij,bkj->bki", m, c[:, 1:] - c[:, :-1])  # -(flow from k-1 to k)
    out = np.zeros_like(c)
    out[:, 1:] -= flow
    out[:, :-1] += flow
    return out


def _solve_sparse(diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """One system (B = 1) as a sparse matrix, unknowns ordered shell-major."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    n, n_e = rhs.shape[1:]
    ii, ee, jj = np.meshgrid(np.arange(n), np.arange(n_e), np.arange(n_e), indexing="ij")
    rows = [(ii * n_e + ee).ravel()]
    cols = [(ii * n_e + jj).ravel()]
    vals = [diag[0].ravel()]
    iu = ii[:-1]
    for r_off, c_off in ((0, 1), (1, 0)):  # upper block (i, i+1), lower block (i+1, i)
        rows.append(((iu + r_off) * n_e + ee[:-1]).ravel())
        cols.append(((iu + c_off) * n_e + jj[:-1]).ravel())
        vals.append(upper[0].ravel())
    a = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n * n_e, n * n_e),
    ).tocsc()
    return spsolve(a, rhs[0].ravel()).reshape(1, n, n_e)


def _solve_block_tridiagonal(vol: np.ndarray, m: np.ndarray, alpha: float, rhs: np.ndarray):
    """Solve ``(V - alpha A) x = rhs``: block Thomas elimination batched over B (sparse LU
    for a single system)."""
    n_b, n, n_e = rhs.shape
    eye = np.eye(n_e)
    mpad = np.zeros((n_b, n + 1, n_e, n_e))
    mpad[:, 1:n] = m  # mpad[:, i] = M_i (face i), zero at the centre and the closed surface
    diag = vol[None, :, None, None] * eye + alpha * (mpad[:, :-1] + mpad[:, 1:])
    upper = -alpha * mpad[:, 1:n]  # couples shell i to i + 1
    lower = upper  # the operator is symmetric in its blocks: L_{i+1} = -alpha M_{i+1}
    if n_b == 1:
        return _solve_sparse(diag, upper, rhs)
    dp = np.empty_like(diag)
    rp = np.empty_like(rhs)
    dp[:, 0], rp[:, 0] = diag[:, 0], rhs[:, 0]
    for i in range(1, n):
        w = np.linalg.solve(dp[:, i - 1].transpose(0, 2, 1), lower[:, i - 1].transpose(0, 2, 1))
        w = w.transpose(0, 2, 1)  # L_i dp_{i-1}^-1
        dp[:, i] = diag[:, i] - w @ upper[:, i - 1]
        rp[:, i] = rhs[:, i] - (w @ rp[:, i - 1, :, None])[..., 0]
    x = np.empty_like(rhs)
    x[:, -1] = np.linalg.solve(dp[:, -1], rp[:, -1, :, None])[..., 0]
    for i in range(n - 2, -1, -1):
        b = rp[:, i] - (upper[:, i] @ x[:, i + 1, :, None])[..., 0]
        x[:, i] = np.linalg.solve(dp[:, i], b[..., None])[..., 0]
    return x


def solve_multicomponent(
    c0: np.ndarray,
    theta: np.ndarray,
    *,
    n_startup: int = 4,
) -> np.ndarray:
    """Integrate the constrained model from ``c0`` along the reduced-time path ``theta``.

    Parameters
    ----------
    c0 : ndarray, shape (n_elements, n) or (B, n_elements, n)
        Initial shell fractions (summing to 1 in every shell).
    theta : ndarray, shape (n_nodes, n_elements) or (B, n_nodes, n_elements)
        Cumulative reduced times ``integral D_e dt / R^2`` at each time node (first row 0).
    n_startup : int
        Number of first steps taken by backward Euler (damps the interface oscillations
        Crank-Nicolson alone would keep).

    Returns
    -------
    ndarray, shape of ``c0`` (or (B, n_elements, n) when only ``theta`` is batched)
        Fractions at the last node. Each metal's ``sum(V c)`` is conserved to rounding (the
        update is in flux form) and the fractions sum to 1 in every shell.
    """
    single = np.ndim(c0) == 2 and np.ndim(theta) == 2
    th = np.asarray(theta, dtype=float)
    th = th[None] if th.ndim == 2 else th
    c = np.asarray(c0, dtype=float)
    c = np.broadcast_to(c if c.ndim == 3 else c[None], (th.shape[0], *c.shape[-2:]))
    c = np.ascontiguousarray(c.transpose(0, 2, 1))  # (B, n, E)
    grid = SphereGrid(c.shape[1])
    vol = grid.volumes
    for step in range(th.shape[1] - 1):
        dtheta = th[:, step + 1] - th[:, step]
        alpha = 1.0 if step < n_startup else 0.5
        c_mid = c
        for _ in range(2):  # Picard: face fractions at the step's midpoint
            m = _face_matrices(grid, c_mid, dtheta)
            rhs = vol[None, :, None] * c + (1.0 - alpha) * _apply(m, c)
            new = _solve_block_tridiagonal(vol, m, alpha, rhs)
            c_mid = 0.5 * (c + new)
        c = new
    out = c.transpose(0, 2, 1)
    return out[0] if single else out
