"""Batched predictions of measured ratio profiles for fitting (value and Jacobian).

Both models map ``x = log10 D`` (m^2/s, one per metal) of a batch of (parameter set, particle)
rows to the predicted ratios on each particle's depth bins, shape (B, n_elements, nb), and
their derivatives (B, n_elements, nb, n_elements).
"""

from __future__ import annotations

import numpy as np

from cathodescope.diffusion._multicomponent import solve_multicomponent
from cathodescope.diffusion._observed import ObservedProfiles
from cathodescope.diffusion._precursor import Precursor
from cathodescope.diffusion._sphere import SphereGrid, eigenmodes, observation_matrix

_LN10 = np.log(10.0)
_CHUNK = 2048


def _observations(obs: ObservedProfiles, n_cells: int, blur_um: float, ndim: int) -> np.ndarray:
    w = obs.bin_width_um
    out = np.zeros((obs.n_particles, obs.depth_um.shape[1], n_cells))
    for p in range(obs.n_particles):
        d = obs.depth_um[p]
        o = observation_matrix(
            n_cells, float(obs.radius_um[p]), d - w / 2, d + w / 2, blur_um=blur_um, ndim=ndim
        )
        out[p] = np.nan_to_num(o)
    return out


class IndependentModel:
    """Independent D per metal, renormalised fractions; exact in time via eigenmodes.

    ``u_e = P (exp(w theta_e) * a_e)``, ``theta_e = 10^x_e tau_e / R^2``, ``f_e = u_e / sum u``,
    prediction ``O_p f_e``. The layers scale with each particle's radius, so ``a_e`` (modal
    coefficients of the initial shells) is shared by all particles.
    """

    def __init__(
        self,
        obs: ObservedProfiles,
        precursor: Precursor,
        tau_s: np.ndarray,
        *,
        n_cells: int = 64,
        blur_um: float = 0.0,
        ndim: int = 3,
    ) -> None:
        self.n = int(n_cells)
        self.w, self.p, v = eigenmodes(self.n)
        grid = SphereGrid(self.n)
        c0 = grid.cell_averages(
            np.asarray(precursor.outer_radii_um) / precursor.radius_um,
            precursor.layer_fractions(),
        )
        self.coef = (c0 * v) @ self.p  # (E, n)
        self.tau = np.asarray(tau_s, dtype=float)  # (E,) effective seconds at T_ref
        self.r2 = (obs.radius_um * 1e-6) ** 2  # (P,) m^2
        self.obs_matrix = _observations(obs, self.n, blur_um, ndim)

    def theta(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return 10.0**x * self.tau[None, :] / self.r2[idx, None]

    def predict(
        self, x: np.ndarray, idx: np.ndarray, *, jacobian: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predicted ratios (B, E, nb) and d/dx (B, E, nb, E) for ``x`` (B, E), rows ``idx``."""
        pred, jac = [], []
        for s in range(0, x.shape[0], _CHUNK):
            pv, jv = self._predict(x[s : s + _CHUNK], idx[s : s + _CHUNK], jacobian)
            pred.append(pv)
            jac.append(jv)
        return np.concatenate(pred), (np.concatenate(jac) if jacobian else None)

    def _predict(self, x, idx, jacobian):
        theta = self.theta(x, idx)  # (B, E)
        expo = self.w[None, None, :] * theta[:, :, None]
        keep = np.flatnonzero((expo > -60.0).any(axis=(0, 1)))
        k = int(keep.max()) + 1 if keep.size else 1
        expo = expo[:, :, :k]
        pk = self.p[:, :k]
        amp = self.coef[None, :, :k] * np.exp(expo)  # (B, E, k)
        u = amp @ pk.T  # (B, E, n)
        tot = u.sum(axis=1)  # (B, n)
        f = u / tot[:, None, :]
        o = self.obs_matrix[idx]  # (B, nb, n)
        pred = np.einsum("bjn,ben->bej", o, f)
        if not jacobian:
            return pred, None
        g = ((amp * expo) * _LN10) @ pk.T  # du_e/dx_e (B, E, n)
        h = g / tot[:, None, :]
        oh = np.einsum("bjn,bkn->bkj", o, h)  # (B, E, nb)
        ofh = np.einsum("bjn,ben,bkn->bejk", o, f, h, optimize=True)
        jac = -ofh
        e = np.arange(x.shape[1])
        jac[:, e, :, e] += oh.transpose(1, 0, 2)
        return pred, jac


class MulticomponentModel:
    """Constrained multicomponent model, time-stepped per row; forward-difference Jacobian."""

    def __init__(
        self,
        obs: ObservedProfiles,
        precursor: Precursor,
        tau_path_s: np.ndarray,
        *,
        n_cells: int = 48,
        blur_um: float = 0.0,
        ndim: int = 3,
    ) -> None:
        self.n = int(n_cells)
        grid = SphereGrid(self.n)
        self.c0 = grid.cell_averages(
            np.asarray(precursor.outer_radii_um) / precursor.radius_um,
            precursor.layer_fractions(),
        )
        self.tau_path = np.asarray(tau_path_s, dtype=float)  # (n_nodes, E)
        self.r2 = (obs.radius_um * 1e-6) ** 2
        self.obs_matrix = _observations(obs, self.n, blur_um, ndim)

    def _one(self, x: np.ndarray, p: int) -> np.ndarray:
        theta = 10.0 ** x[None, :] * self.tau_path / self.r2[p]
        f = solve_multicomponent(self.c0, theta, n_startup=2)
        return f @ self.obs_matrix[p].T  # (E, nb)

    def predict(
        self, x: np.ndarray, idx: np.ndarray, *, jacobian: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        n_b, n_e = x.shape
        nb = self.obs_matrix.shape[1]
        pred = np.zeros((n_b, n_e, nb))
        jac = np.zeros((n_b, n_e, nb, n_e)) if jacobian else None
        step = 1e-4
        for b in range(n_b):
            pred[b] = self._one(x[b], int(idx[b]))
            if jacobian:
                for k in range(n_e):
                    xk = x[b].copy()
                    xk[k] += step
                    jac[b, :, :, k] = (self._one(xk, int(idx[b])) - pred[b]) / step
        return pred, jac
