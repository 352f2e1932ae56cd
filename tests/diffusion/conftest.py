"""Exact eigenfunction series for diffusion in a sphere with a closed surface (test fixtures).

Independent of the package's solver: ``c(r, t) = cbar + sum_n A_n j0(a_n r / R) exp(-a_n^2 D t /
R^2)`` with ``a_n`` the positive roots of ``tan a = a`` (``j0'(a) = 0``), from a two-layer start
``c = c_in`` for ``r < b`` and ``c_out`` outside.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq


def tan_roots(n: int) -> np.ndarray:
    """First ``n`` positive roots of ``tan a = a`` (one in each ((k + 1/2) pi - pi/2, ...))."""
    f = lambda a: np.sin(a) - a * np.cos(a)  # noqa: E731  (same roots, no poles)
    out = [brentq(f, k * np.pi + 1e-9, (k + 0.5) * np.pi - 1e-12) for k in range(1, n + 1)]
    return np.array(out)


def two_layer(r_um, t_s, *, radius_um, b_um, c_in, c_out, D_m2_s, n_terms=400):
    """Exact ``c(r, t)`` for the two-layer start (r in um, D in m^2/s, t in s)."""
    a = tan_roots(n_terms)
    k = a / radius_um  # 1/um
    cbar = c_out + (c_in - c_out) * (b_um / radius_um) ** 3
    num = (np.sin(k * b_um) - k * b_um * np.cos(k * b_um)) / k**3
    norm = (radius_um / 2 - np.sin(2 * k * radius_um) / (4 * k)) / k**2
    amp = (c_in - c_out) * num / norm
    r = np.atleast_1d(np.asarray(r_um, float))[:, None]
    kr = k[None, :] * r
    j0 = np.where(kr > 1e-12, np.sin(kr) / np.where(kr > 1e-12, kr, 1.0), 1.0)
    decay = np.exp(-(a**2) * D_m2_s * t_s / (radius_um * 1e-6) ** 2)
    return cbar + (j0 * (amp * decay)[None, :]).sum(axis=1)


def shell_average(r_lo_um, r_hi_um, t_s, *, radius_um, b_um, c_in, c_out, D_m2_s, ndim=3, n=64):
    """``r^(ndim-1)``-weighted average of :func:`two_layer` over shells (Gauss-Legendre)."""
    x, w = np.polynomial.legendre.leggauss(n)
    lo, hi = np.asarray(r_lo_um, float), np.asarray(r_hi_um, float)
    pts = 0.5 * (hi - lo)[:, None] * (x + 1)[None, :] + lo[:, None]
    wts = 0.5 * (hi - lo)[:, None] * w[None, :] * pts ** (ndim - 1)
    vals = two_layer(
        pts.ravel(), t_s, radius_um=radius_um, b_um=b_um, c_in=c_in, c_out=c_out, D_m2_s=D_m2_s
    ).reshape(pts.shape)
    return (vals * wts).sum(axis=1) / wts.sum(axis=1)


class _Series:
    tan_roots = staticmethod(tan_roots)
    two_layer = staticmethod(two_layer)
    shell_average = staticmethod(shell_average)


@pytest.fixture(scope="session")
def series() -> type[_Series]:
    """The exact series above: ``series.two_layer(...)``, ``series.shell_average(...)``."""
    return _Series
