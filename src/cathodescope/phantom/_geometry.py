"""Ellipsoidal phantom particles and the exact distance from inside them to their surface."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cathodescope._validation import check_positive
from cathodescope.errors import ParameterError
from cathodescope.phantom._layers import CompositionProfile, paper_profile

# --------------------------------------------------------------------------------------------
# particles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spheroid:
    """One ellipsoidal particle of a scene (lengths in um, 3D lab frame ``(z, y, x)``).

    Parameters
    ----------
    centre_um : (3,) floats
        Centre ``(z, y, x)`` in um.
    semi_axes_um : (3,) floats
        Semi-axes in um along the body axes (the columns of ``rotation``).
    profile : LayeredProfile or another composition profile
        Composition versus depth below the outer surface: anything with ``elements``,
        ``profile(depth_um) -> {element: fractions}`` and ``functions()`` (e.g.
        :class:`cathodescope.diffusion.RadialProfile`).
    rotation : (3, 3) nested tuple, optional
        Rotation matrix whose columns are the body axes in lab ``(z, y, x)`` components;
        ``None`` means axis-aligned.
    void_radius_um : float
        Radius (um) of a spherical central void, 0 for none; must be < the smallest semi-axis.
    density : float
        Relative density of the bulk (intensity = concentration x density).
    void_rim_density : float
        Relative density right at the void surface; the density recovers to ``density`` as
        ``1 - (1 - void_rim_density) * exp(-s / void_rim_um)`` with ``s`` the distance from
        the void surface (porous shell around the void).
    void_rim_um : float
        Decay length (um) of that porous shell.
    """

    centre_um: tuple[float, float, float]
    semi_axes_um: tuple[float, float, float]
    profile: CompositionProfile = field(default_factory=paper_profile)
    rotation: tuple[tuple[float, float, float], ...] | None = None
    void_radius_um: float = 0.0
    density: float = 1.0
    void_rim_density: float = 0.7
    void_rim_um: float = 0.25

    def __post_init__(self) -> None:
        c = tuple(float(v) for v in self.centre_um)
        a = tuple(float(v) for v in self.semi_axes_um)
        if len(c) != 3 or len(a) != 3:
            raise ParameterError("centre_um and semi_axes_um need 3 values each (z, y, x).")
        if not all(np.isfinite(c)) or not all(np.isfinite(a)) or min(a) <= 0:
            raise ParameterError(f"semi-axes must be finite and > 0 um, got {a}.")
        object.__setattr__(self, "centre_um", c)
        object.__setattr__(self, "semi_axes_um", a)
        if self.rotation is not None:
            rot = np.asarray(self.rotation, dtype=float)
            if rot.shape != (3, 3) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-8):
                raise ParameterError("rotation must be a 3x3 orthonormal matrix.")
            object.__setattr__(self, "rotation", tuple(tuple(r) for r in rot.tolist()))
        rv = check_positive(self.void_radius_um, "void_radius_um", allow_zero=True)
        if rv >= min(a):
            raise ParameterError(
                f"void_radius_um={rv} must be smaller than the smallest semi-axis {min(a)} um."
            )
        object.__setattr__(self, "void_radius_um", rv)
        check_positive(self.density, "density")
        if not 0 <= self.void_rim_density <= 1:
            raise ParameterError("void_rim_density must lie in [0, 1].")
        check_positive(self.void_rim_um, "void_rim_um")

    @property
    def rotation_matrix(self) -> np.ndarray:
        """(3, 3) rotation, columns = body axes in lab (z, y, x) components."""
        return np.eye(3) if self.rotation is None else np.asarray(self.rotation, dtype=float)

    @property
    def quadric(self) -> np.ndarray:
        """(3, 3) matrix ``M`` with the surface ``(x - c)^T M (x - c) = 1`` (um^-2)."""
        r = self.rotation_matrix
        return r @ np.diag(1.0 / np.square(self.semi_axes_um)) @ r.T

    @property
    def volume_um3(self) -> float:
        """Analytic volume ``4/3 pi (a b c - r_void^3)`` in um^3."""
        a, b, c = self.semi_axes_um
        return 4.0 / 3.0 * math.pi * (a * b * c - self.void_radius_um**3)

    @property
    def filled_volume_um3(self) -> float:
        """Analytic volume without subtracting the void, ``4/3 pi a b c`` (um^3)."""
        a, b, c = self.semi_axes_um
        return 4.0 / 3.0 * math.pi * a * b * c

    def half_extent_um(self) -> np.ndarray:
        """Half-width (um) of the axis-aligned bounding box along (z, y, x)."""
        r = self.rotation_matrix
        return np.sqrt((r**2) @ np.square(self.semi_axes_um))

    def support_point(self, direction: np.ndarray) -> np.ndarray:
        """Surface point (um, lab frame) whose outward normal is ``direction``."""
        u = np.asarray(direction, dtype=float)
        minv = np.linalg.inv(self.quadric)
        v = minv @ u
        return np.asarray(self.centre_um) + v / math.sqrt(float(u @ v))


# --------------------------------------------------------------------------------------------
# distance to an ellipse / ellipsoid surface
# --------------------------------------------------------------------------------------------


@functools.cache
def _kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    """Compile (once, lazily) the numba kernels: interior distance to an ellipsoid, crops."""
    import numba

    @numba.njit(cache=False, nogil=True)
    def solve(p, axes, n_min, k):  # pragma: no cover - compiled
        # p: (k,) absolute body-frame coordinates in the order of ``axes`` (sorted ascending,
        # axes[:n_min] the equal smallest ones). Closest surface point x_i = e_i^2 p_i/(e_i^2+t)
        # with t the root of F(t) = sum (e_i p_i / (e_i^2 + t))^2 - 1 in (-e_min^2, 0]
        # (Eberly); the smallest-axis subspace is handled radially (q), which also covers the
        # degenerate case where the root leaves the bracket.
        e_min = axes[0]
        e2min = e_min * e_min
        q2 = 0.0
        for i in range(n_min):
            q2 += p[i] * p[i]
        q = math.sqrt(q2)
        if n_min == k:  # sphere or circle
            d = e_min - q
            return d if d > 0.0 else 0.0
        lo = -e2min
        hi = 0.0
        t = 0.0
        for _ in range(200):
            s = e_min * q / (e2min + t)
            f = s * s
            df = -2.0 * s * s / (e2min + t)
            for i in range(n_min, k):
                e2 = axes[i] * axes[i]
                s = axes[i] * p[i] / (e2 + t)
                f += s * s
                df += -2.0 * s * s / (e2 + t)
            f -= 1.0
            if f > 0.0:
                lo = t
            else:
                hi = t
            if hi - lo <= 1e-15 * (1.0 + abs(t)) * e2min or f == 0.0:
                break
            tn = t - f / df if df != 0.0 else 0.5 * (lo + hi)
            if not (lo < tn < hi):
                tn = 0.5 * (lo + hi)
            if tn == t:
                break
            t = tn
        acc = 0.0
        d2 = 0.0
        for i in range(n_min, k):
            e2 = axes[i] * axes[i]
            xi = e2 * p[i] / (e2 + t)
            acc += (xi / axes[i]) ** 2
            d2 += (p[i] - xi) ** 2
        rem = 1.0 - acc
        xq = e_min * math.sqrt(rem) if rem > 0.0 else 0.0
        d2 += (q - xq) ** 2
        return math.sqrt(d2)

    @numba.njit(cache=False, nogil=True)
    def points_kernel(p, axes, n_min, out):  # pragma: no cover - compiled
        n, k = p.shape
        buf = np.empty(k)
        for j in range(n):
            for i in range(k):
                buf[i] = abs(p[j, i])
            out[j] = solve(buf, axes, n_min, k)

    @numba.njit(cache=False, nogil=True)
    def render_kernel(
        c0,
        c1,
        c2,
        rot,
        semi,
        order,
        n_min,
        shift,
        dz2,
        rv,
        rim_d,
        rim_l,
        dens0,
        table,
        step,
        label_id,
        labels_c,
        images_c,
        depth_c,
        keep_depth,
        totals,
    ):  # pragma: no cover - compiled
        # c0, c1, c2: lab coordinates (um) of the crop's grid lines relative to the ellipse /
        # ellipsoid centre (c0 unused in 2D, k == 2). rot: (k, k) body axes in lab components.
        # shift + lab = position relative to the particle (void) centre; dz2 = out-of-plane
        # offset^2 (2D). For every voxel inside the particle (outside its void, not yet owned
        # by another particle): label, depth (um), density and intensities
        # table[e](depth) * density (table: fractions on a depth grid of ``step`` um, linear
        # interpolation); totals[e] accumulates each channel's sum.
        k = rot.shape[0]
        axes = semi[order]
        n_el, n_grid = table.shape
        lab = np.empty(k)
        body = np.empty(k)
        ps = np.empty(k)
        for iz in range(c0.shape[0]):
            for iy in range(c1.shape[0]):
                for ix in range(c2.shape[0]):
                    if labels_c[iz, iy, ix] != 0:
                        continue
                    if k == 3:
                        lab[0] = c0[iz]
                        lab[1] = c1[iy]
                        lab[2] = c2[ix]
                    else:
                        lab[0] = c1[iy]
                        lab[1] = c2[ix]
                    rho2 = 0.0
                    for b in range(k):
                        v = 0.0
                        for ll in range(k):
                            v += rot[ll, b] * lab[ll]
                        body[b] = v
                        rho2 += (v / semi[b]) ** 2
                    if rho2 > 1.0:
                        continue
                    r2 = dz2
                    for ll in range(k):
                        r2 += (lab[ll] + shift[ll]) ** 2
                    if rv > 0.0 and r2 <= rv * rv:
                        continue
                    for i in range(k):
                        ps[i] = abs(body[order[i]])
                    d = solve(ps, axes, n_min, k)
                    rho = dens0
                    if rv > 0.0:
                        rho *= 1.0 - (1.0 - rim_d) * math.exp(-(math.sqrt(r2) - rv) / rim_l)
                    x = d / step
                    i0 = int(x)
                    if i0 >= n_grid - 1:
                        i0 = n_grid - 2
                        f = 1.0
                    else:
                        f = x - i0
                    labels_c[iz, iy, ix] = label_id
                    if keep_depth:
                        depth_c[iz, iy, ix] = d
                    for e in range(n_el):
                        val = (table[e, i0] * (1.0 - f) + table[e, i0 + 1] * f) * rho
                        images_c[e, iz, iy, ix] = val
                        totals[e] += val

    return points_kernel, render_kernel


def ellipsoid_depth(points_body: np.ndarray, semi_axes: Sequence[float]) -> np.ndarray:
    """Distance (um) from interior points to the surface of an axis-aligned ellipse/ellipsoid.

    Parameters
    ----------
    points_body : (n, k) float array
        Points in the body frame (um), ``k`` = 2 or 3, all inside the ellipsoid.
    semi_axes : (k,) floats
        Semi-axes in um along the body axes.

    Returns
    -------
    (n,) float64 array
        Exact Euclidean distance (um) to the nearest surface point (``R - r`` for a sphere).
        Points outside get the distance to the surface as well only approximately; callers pass
        interior points.
    """
    pts = np.asarray(points_body, dtype=float)
    axes = np.asarray(semi_axes, dtype=float)
    order = np.argsort(axes, kind="stable")
    axes_sorted = axes[order]
    n_min = int(np.count_nonzero(axes_sorted <= axes_sorted[0] * (1 + 1e-12)))
    out = np.empty(pts.shape[0], dtype=float)
    if pts.shape[0] == 0:
        return out
    if n_min == axes.size:  # closed form, no compilation needed
        return np.maximum(axes_sorted[0] - np.sqrt(np.sum(pts**2, axis=1)), 0.0)
    _kernels()[0](np.ascontiguousarray(pts[:, order]), axes_sorted, n_min, out)
    return out
