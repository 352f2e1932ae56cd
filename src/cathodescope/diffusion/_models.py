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
        ot = self.obs_matrix[idx].transpose(0, 2, 1)  # (B, n, nb)
        pred = f @ ot  # (B, E, nb)
        if not jacobian:
            return pred, None
        g = ((amp * expo) * _LN10) @ pk.T  # du_e/dx_e (B, E, n)
        h = g / tot[:, None, :]
        n_b, n_e, n = f.shape
        oh = h @ ot  # (B, E, nb): O (du_k / S)
        fh = (f[:, :, None, :] * h[:, None, :, :]).reshape(n_b, n_e * n_e, n)
        ofh = (fh @ ot).reshape(n_b, n_e, n_e, -1)  # [b, e, k, j]
        jac = -ofh.transpose(0, 1, 3, 2)  # [b, e, j, k]
        e = np.arange(n_e)
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

    def _run(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        theta = 10.0 ** x[:, None, :] * self.tau_path[None] / self.r2[idx, None, None]
        f = solve_multicomponent(self.c0, theta, n_startup=2)  # (B, E, n)
        return f @ self.obs_matrix[idx].transpose(0, 2, 1)  # (B, E, nb)

    def predict(
        self, x: np.ndarray, idx: np.ndarray, *, jacobian: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predicted ratios (B, E, nb) and forward-difference d/dx (B, E, nb, E)."""
        n_b, n_e = x.shape
        if not jacobian:
            return self._run(x, idx), None
        step = 1e-4
        xs = np.concatenate([x] + [x + step * np.eye(n_e)[k] for k in range(n_e)])
        out = self._run(xs, np.tile(idx, n_e + 1)).reshape(n_e + 1, n_b, n_e, -1)
        jac = ((out[1:] - out[0][None]) / step).transpose(1, 2, 3, 0)
        return out[0], jac
