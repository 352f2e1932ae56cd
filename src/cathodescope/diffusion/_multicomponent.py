"""Constrained multicomponent interdiffusion on the fixed transition-metal sublattice.

Finite volumes in space (:class:`~cathodescope.diffusion._sphere.SphereGrid`), Crank-Nicolson
in time with a backward-Euler start (Rannacher) against the sharp precursor interfaces, and a
two-pass Picard update of the face fractions that multiply the cross terms.
"""

from __future__ import annotations

import numpy as np

from cathodescope.diffusion._sphere import SphereGrid


def _operator(grid: SphereGrid, c_face: np.ndarray, dtheta: np.ndarray):
    """Sparse ``A`` with ``(A c)`` = net inflow of each metal into each shell over one step.

    Flow from shell ``k - 1`` to ``k`` of metal ``e``:
    ``F_e = -g_k (dtheta_e dc_e - cbar_e sum_j dtheta_j dc_j)`` with ``cbar`` the face fractions
    (which sum to 1, so ``sum_e F_e = 0`` for any ``c``).
    """
    from scipy import sparse

    n_el, n = c_face.shape[0], grid.n
    g = grid.conductances  # (n - 1,)
    rows, cols, vals = [], [], []
    left = np.arange(n - 1)  # shell k - 1
    right = left + 1
    for e in range(n_el):
        for j in range(n_el):
            coef = -g * ((dtheta[e] if e == j else 0.0) - c_face[e] * dtheta[j])  # F_e per dc_j
            # F_e = coef * (c_j[right] - c_j[left]); shell right gains F, left loses it
            for target, sign in ((right, 1.0), (left, -1.0)):
                rows += [e * n + target, e * n + target]
                cols += [j * n + right, j * n + left]
                vals += [sign * coef, -sign * coef]
    a = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_el * n, n_el * n),
    )
    return a


def solve_multicomponent(
    c0: np.ndarray,
    theta: np.ndarray,
    *,
    n_startup: int = 4,
) -> np.ndarray:
    """Integrate the constrained model from ``c0`` along the reduced-time path ``theta``.

    Parameters
    ----------
    c0 : ndarray, shape (n_elements, n)
        Initial shell fractions (summing to 1 in every shell).
    theta : ndarray, shape (n_steps + 1, n_elements)
        Cumulative reduced times ``integral D_e dt / R^2`` at each time node (first row 0).
    n_startup : int
        Number of first steps taken by backward Euler (damps the interface oscillations
        Crank-Nicolson alone would keep).

    Returns
    -------
    ndarray, shape (n_elements, n)
        Fractions at the last node. Each metal's ``sum(V c)`` is conserved to rounding (the
        update is in flux form) and the fractions sum to 1 in every shell.
    """
    from scipy.sparse import diags
    from scipy.sparse.linalg import splu

    n_el, n = c0.shape
    grid = SphereGrid(n)
    vol = diags(np.tile(grid.volumes, n_el))
    c = np.array(c0, dtype=float)
    for step, dtheta in enumerate(np.diff(theta, axis=0)):
        implicit = 1.0 if step < n_startup else 0.5
        c_mid = c
        for _ in range(2):  # Picard: face fractions at the step's midpoint
            c_face = 0.5 * (c_mid[:, 1:] + c_mid[:, :-1])
            a = _operator(grid, c_face, dtheta)
            rhs = vol @ c.ravel() + (1.0 - implicit) * (a @ c.ravel())
            new = splu((vol - implicit * a).tocsc()).solve(rhs).reshape(n_el, n)
            c_mid = 0.5 * (c + new)
        c = new
    return c
