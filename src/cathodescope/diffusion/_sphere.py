"""Finite volumes in a sphere: shells, the closed-surface Laplacian, its eigenmodes, and the
observation of a radial profile on the depth-profile engine's bins (optionally blurred)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from cathodescope.errors import ParameterError


@dataclass(frozen=True)
class SphereGrid:
    """``n`` shells of equal thickness in the unit sphere (lengths in units of the radius).

    Shell ``i`` spans ``i h <= r < (i + 1) h`` with ``h = 1 / n``; its volume (over 4 pi) is
    ``V_i = ((i + 1)^3 - i^3) h^3 / 3`` and the conductance of the face at ``r_k = k h`` between
    shells ``k - 1`` and ``k`` is ``g_k = r_k^2 / h``. No flux crosses ``r = 1`` (closed
    surface) and ``r = 0`` has zero area, so ``V dc/dt = D K c`` with the symmetric,
    row-sum-zero matrix ``K`` conserves ``sum(V c)`` exactly.
    """

    n: int

    @property
    def h(self) -> float:
        return 1.0 / self.n

    @property
    def faces(self) -> np.ndarray:
        return np.arange(self.n + 1) * self.h

    @property
    def centres(self) -> np.ndarray:
        """Volume centroids of the shells (unit radius)."""
        f = self.faces
        return 0.75 * (f[1:] ** 4 - f[:-1] ** 4) / (f[1:] ** 3 - f[:-1] ** 3)

    @property
    def volumes(self) -> np.ndarray:
        f = self.faces
        return (f[1:] ** 3 - f[:-1] ** 3) / 3.0

    @property
    def conductances(self) -> np.ndarray:
        """Conductance of the ``n - 1`` inner faces (unit radius)."""
        return self.faces[1:-1] ** 2 / self.h

    def laplacian(self) -> np.ndarray:
        """Dense ``K`` (n, n): ``(K c)_i = sum_faces g (c_j - c_i)``."""
        g = self.conductances
        k = np.zeros((self.n, self.n))
        idx = np.arange(self.n - 1)
        k[idx, idx + 1] = g
        k[idx + 1, idx] = g
        k[np.arange(self.n), np.arange(self.n)] = -k.sum(axis=1)
        return k

    def cell_averages(self, outer_radii: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Shell averages of a piecewise-constant profile (exact volume overlaps).

        ``values`` (n_species, n_layers) are constant inside ``r < outer_radii[0]``,
        ``outer_radii[0] <= r < outer_radii[1]``, ... (unit radius).
        """
        f = self.faces
        inner = np.concatenate([[0.0], outer_radii[:-1]])
        lo = np.clip(np.maximum(f[:-1, None], inner[None, :]), 0, None)
        hi = np.minimum(f[1:, None], outer_radii[None, :])
        overlap = np.where(hi > lo, (hi**3 - lo**3) / 3.0, 0.0)  # (n, n_layers)
        return (values @ overlap.T) / self.volumes[None, :]


@functools.lru_cache(maxsize=8)
def eigenmodes(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Modes of the closed-sphere operator: ``c(theta) = P exp(w theta) P^T V c0``.

    Returns ``w`` (n,) eigenvalues <= 0 (units of 1 / R^2, ascending in magnitude), ``P``
    (n, n) the V-orthonormal eigenvectors (``P^T V P = I``) and ``V`` (n,) shell volumes, for
    the unit sphere; ``theta = D t / R^2``.
    """
    grid = SphereGrid(n)
    v = grid.volumes
    s = 1.0 / np.sqrt(v)
    sym = s[:, None] * grid.laplacian() * s[None, :]
    w, q = np.linalg.eigh(sym)
    order = np.argsort(-w)
    w = np.minimum(w[order], 0.0)
    w[0] = 0.0  # the conserved mode (constant profile)
    p = s[:, None] * q[:, order]
    for arr in (w, p, v):
        arr.setflags(write=False)
    return w, p, v


def _gauss_points(lo: np.ndarray, hi: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(k)
    half = 0.5 * (hi - lo)
    pts = half[:, None] * (x + 1.0)[None, :] + lo[:, None]
    return pts, half[:, None] * w[None, :]


def _interpolation(centres: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Matrix (len(r), n) of linear interpolation between shell centres (flat beyond them)."""
    n = centres.size
    rr = np.clip(r, centres[0], centres[-1])
    j = np.clip(np.searchsorted(centres, rr) - 1, 0, n - 2)
    u = (rr - centres[j]) / (centres[j + 1] - centres[j])
    m = np.zeros((r.size, n))
    rows = np.arange(r.size)
    np.add.at(m, (rows, j), 1.0 - u)
    np.add.at(m, (rows, j + 1), u)
    return m


def _blur_kernel(r: np.ndarray, rp: np.ndarray, sigma: float, ndim: int) -> np.ndarray:
    """Weights (len(r), len(rp)) of an isotropic Gaussian blur of a radial function.

    ``g(r) = integral K(r, r') f(r') dr'`` for a 3D (sphere) or 2D (disk) Gaussian of standard
    deviation ``sigma``; the returned matrix lacks the ``dr'`` factor.
    """
    from scipy.special import i0e

    r = r[:, None]
    rp = rp[None, :]
    if ndim == 3:
        return (
            rp
            / (r * sigma * np.sqrt(2.0 * np.pi))
            * (
                np.exp(-((r - rp) ** 2) / (2 * sigma**2))
                - np.exp(-((r + rp) ** 2) / (2 * sigma**2))
            )
        )
    return rp / sigma**2 * np.exp(-((r - rp) ** 2) / (2 * sigma**2)) * i0e(r * rp / sigma**2)


def observation_matrix(
    n: int,
    radius_um: float,
    depth_lo_um: np.ndarray,
    depth_hi_um: np.ndarray,
    *,
    blur_um: float = 0.0,
    ndim: int = 3,
    points_per_bin: int = 6,
) -> np.ndarray:
    """Linear map (n_bins, n) from shell values to the engine's depth-bin values.

    The engine averages every voxel (pixel) whose depth below the surface falls in a bin, so
    a bin value is the ``r^(ndim - 1)``-weighted average of the profile over the shell
    ``R - depth_hi <= r < R - depth_lo``; a central 2D cut weights by ``r`` (``ndim=2``).
    With ``blur_um > 0`` the intensities are first blurred by an isotropic Gaussian of that
    standard deviation (um), the particle sitting in empty space, and a bin value is the
    ratio of blurred element to blurred total intensity, as the engine's ratios are. Rows
    sum to 1. Bins outside the particle give rows of NaN.

    Parameters
    ----------
    n : int
        Number of model shells (of equal thickness, :class:`SphereGrid`).
    radius_um : float
        Particle radius (um).
    depth_lo_um, depth_hi_um : ndarray (n_bins,)
        Lower and upper depth of each engine bin below the surface (um).
    blur_um : float
        Standard deviation of the Gaussian imaging blur (um); 0 for none.
    ndim : {3, 2}
        3 for volumes, 2 for a central cut.
    points_per_bin : int
        Gauss-Legendre points per bin.

    Returns
    -------
    ndarray (n_bins, n)
        Weights mapping shell values to bin values; NaN rows for bins outside the particle.
    """
    if ndim not in (2, 3):
        raise ParameterError(f"ndim must be 2 or 3, got {ndim}.")
    grid = SphereGrid(n)
    centres = grid.centres
    lo = np.clip(1.0 - np.asarray(depth_hi_um, float) / radius_um, 0.0, 1.0)
    hi = np.clip(1.0 - np.asarray(depth_lo_um, float) / radius_um, 0.0, 1.0)
    pts, wts = _gauss_points(lo, hi, points_per_bin)
    wts = wts * pts ** (ndim - 1)
    nb = lo.size
    flat = pts.ravel()
    if blur_um > 0:
        sigma = blur_um / radius_um
        m = int(max(8 * n, np.ceil(6.0 / sigma)))
        rp = (np.arange(m) + 0.5) / m
        kern = _blur_kernel(np.maximum(flat, 1e-9), rp, sigma, ndim) / m
        sampled = kern @ _interpolation(centres, rp)  # blurred shell values at the points
        total = kern.sum(axis=1)  # blurred particle mask
    else:
        sampled = _interpolation(centres, flat)
        total = np.ones(flat.size)
    sampled = sampled.reshape(nb, points_per_bin, n)
    total = total.reshape(nb, points_per_bin)
    num = np.einsum("bk,bkn->bn", wts, sampled)
    den = np.einsum("bk,bk->b", wts, total)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den[:, None]
    out[~(den > 0)] = np.nan
    return out
