"""Ground-truth phantoms of secondary cathode particles in 2D and 3D.

A scene is a tuple of :class:`Spheroid` particles placed in a physical box (lengths in um). Each
particle is an ellipsoid (arbitrary orientation in 3D), optionally with a spherical central void,
whose composition is a function of *depth* below its surface (:class:`LayeredProfile`: precursor
layers smoothed by a diffusion length). :func:`render_particles` samples a scene on a voxel grid
(any, possibly anisotropic, spacing) and returns elemental intensity images
``intensity = concentration x density`` plus the exact truth (:class:`ParticleTruth`).

Conventions
-----------
* Array axes are ``(z, y, x)`` in 3D and ``(y, x)`` in 2D; the voxel of index ``i`` along an axis
  has its centre at ``i * spacing`` um. The same physical scene rendered on different grids
  therefore describes the same object.
* **Depth** of a voxel is the exact Euclidean distance (um) from the voxel centre to the nearest
  point of the particle's ellipsoid surface (the outer surface: the central void is ignored). For a
  sphere this is ``R - r``; for an ellipsoid it is computed numerically to ~1e-9 um (closest point
  on the ellipsoid by a safeguarded Newton iteration on the Lagrange multiplier, Eberly's method).
* In 2D the scene is cut by the plane ``z = z_plane_um``. Each cut is an ellipse (a circle for the
  void), and the 2D depth is the in-plane distance to that ellipse, i.e. what a 2D analysis can
  measure. For a central cut through a principal plane whose out-of-plane semi-axis is >= the
  smaller in-plane semi-axis (the case of every 2D scene generated here: prolate particles with
  their long axis in the plane) the 2D depth equals the 3D depth, so a 2D phantom is exactly a
  central slice of the 3D object.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_positive, normalize_spacing
from cathodescope.errors import ParameterError

ELEMENTS: tuple[str, ...] = ("Ni", "Mn", "Co")

_TABLE_STEP_UM = 1e-4

DEPTH_DEFINITION = (
    "depth_um = exact Euclidean distance from the voxel centre (voxel i at i*spacing um) to the "
    "nearest point of the particle's outer ellipsoid surface (central void ignored); R - r for "
    "spheres; ellipsoids solved numerically (Eberly closest-point root, |error| < 1e-9 um). In 2D: "
    "in-plane distance to the ellipse cut by the plane z = z_plane_um (equal to the 3D depth for "
    "central principal cuts with the out-of-plane semi-axis >= the smaller in-plane one)."
)


# --------------------------------------------------------------------------------------------
# composition profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayeredProfile:
    """Composition as a function of depth: precursor layers smoothed by interdiffusion.

    Layer ``k`` (``compositions[k]``, counted from the surface inwards) occupies depths
    ``boundaries_um[k-1] <= d < boundaries_um[k]``; the last entry is the core. Each sharp
    interface at depth ``b`` is replaced by the solution of 1D interdiffusion of a step,
    ``s(d) = 0.5 * (1 + erf((d - b) / (2 L)))`` with diffusion length ``L = sqrt(D t)`` um, so

    ``c(d) = c_0 + sum_k (c_{k+1} - c_k) s_k(d)``.

    The fractions sum to 1 at every depth (each step conserves the total) and stay within the
    range spanned by the layers (the weights ``s_k - s_{k+1}`` are >= 0 when the interfaces are
    ordered).

    Parameters
    ----------
    compositions : sequence of mapping element -> fraction
        Layer compositions from the surface inwards; each sums to 1, all share the same elements.
    boundaries_um : sequence of float
        Depths (um) of the interfaces, strictly increasing, ``len(compositions) - 1`` values.
    diffusion_length_um : float
        ``L`` in um; 0 gives sharp layers.

    Examples
    --------
    >>> p = LayeredProfile(({"Ni": 0.6, "Mn": 0.4}, {"Ni": 0.9, "Mn": 0.1}), (1.0,), 0.0)
    >>> float(p.fraction("Ni", 0.5)), float(p.fraction("Ni", 1.5))
    (0.6, 0.9)
    """

    compositions: tuple[Mapping[str, float], ...]
    boundaries_um: tuple[float, ...] = ()
    diffusion_length_um: float = 0.0

    def __post_init__(self) -> None:
        comps = tuple(dict(c) for c in self.compositions)
        if not comps:
            raise ParameterError("a LayeredProfile needs at least one composition (the core).")
        keys = tuple(comps[0])
        for c in comps:
            if set(c) != set(keys):
                raise ParameterError(
                    f"every layer must list the same elements; got {sorted(c)} and {sorted(keys)}."
                )
            vals = np.array([c[k] for k in keys], dtype=float)
            if np.any(vals < 0) or abs(vals.sum() - 1.0) > 1e-6:
                raise ParameterError(
                    f"layer composition {c} must be fractions >= 0 summing to 1 "
                    f"(sum is {vals.sum():.6g}); normalise it."
                )
        bounds = tuple(float(b) for b in self.boundaries_um)
        if len(bounds) != len(comps) - 1:
            raise ParameterError(
                f"{len(comps)} layers need {len(comps) - 1} interface depths, got {len(bounds)}."
            )
        if any(b <= 0 for b in bounds) or any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
            raise ParameterError(f"boundaries_um must be > 0 and increasing, got {bounds}.")
        check_positive(self.diffusion_length_um, "diffusion_length_um", allow_zero=True)
        object.__setattr__(self, "compositions", comps)
        object.__setattr__(self, "boundaries_um", bounds)
        object.__setattr__(self, "diffusion_length_um", float(self.diffusion_length_um))

    @property
    def elements(self) -> tuple[str, ...]:
        """Element names, in the order of the first layer."""
        return tuple(self.compositions[0])

    def fraction(self, element: str, depth_um: Any) -> np.ndarray:
        """Atomic fraction of ``element`` at ``depth_um`` (um, array-like) below the surface."""
        from scipy.special import erf

        if element not in self.compositions[0]:
            raise ParameterError(f"element {element!r} not in this profile {self.elements}.")
        d = np.asarray(depth_um, dtype=float)
        out = np.full(d.shape, self.compositions[0][element], dtype=float)
        length = self.diffusion_length_um
        for k, b in enumerate(self.boundaries_um):
            delta = self.compositions[k + 1][element] - self.compositions[k][element]
            if delta == 0.0:
                continue
            if length > 0:
                step = 0.5 * (1.0 + erf((d - b) / (2.0 * length)))
            else:
                step = (d >= b).astype(float)
            out += delta * step
        return out

    def __call__(self, depth_um: Any) -> dict[str, np.ndarray]:
        """Fractions of every element at ``depth_um``: ``{element: array}``.

        Same values as :meth:`fraction`, with each interface's erf step computed once.
        """
        from scipy.special import erf

        d = np.asarray(depth_um, dtype=float)
        out = {e: np.full(d.shape, self.compositions[0][e], dtype=float) for e in self.elements}
        length = self.diffusion_length_um
        for k, b in enumerate(self.boundaries_um):
            if length > 0:
                step = erf((d - b) / (2.0 * length))
                step += 1.0
                step *= 0.5
            else:
                step = (d >= b).astype(float)
            for e in self.elements:
                delta = self.compositions[k + 1][e] - self.compositions[k][e]
                if delta != 0.0:
                    out[e] += delta * step
        return out

    def functions(self) -> dict[str, Callable[[Any], np.ndarray]]:
        """One callable ``depth_um -> fraction`` per element."""
        return {e: functools.partial(self.fraction, e) for e in self.elements}


def paper_profile() -> LayeredProfile:
    """Profile resembling the 63 % Ni particles of the CG/TXM paper (SCIENCE.md section 1).

    Precursor core Ni0.9Co0.05Mn0.05 then layers grown from 8:1:1, 6:2:2 and 1:1:1 feeds,
    (interfaces at 0.03, 2.0 and 3.0 um depth) interdiffused with ``L = 0.25`` um. Gives Ni 0.53
    at 0.26 um rising to 0.70 at 1.99 um, Mn = Co 0.234 -> 0.151 (Table 1, particle 1: Ni
    0.571 -> 0.71, Mn 0.208 -> 0.129, Co 0.228 -> 0.15).
    """
    return LayeredProfile(
        compositions=(
            {"Ni": 1 / 3, "Mn": 1 / 3, "Co": 1 / 3},
            {"Ni": 0.6, "Mn": 0.2, "Co": 0.2},
            {"Ni": 0.8, "Mn": 0.1, "Co": 0.1},
            {"Ni": 0.9, "Mn": 0.05, "Co": 0.05},
        ),
        boundaries_um=(0.03, 2.0, 3.0),
        diffusion_length_um=0.25,
    )


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
    profile : LayeredProfile
        Composition versus depth below the outer surface.
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
    profile: LayeredProfile = field(default_factory=paper_profile)
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


# --------------------------------------------------------------------------------------------
# truth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ParticleTruth:
    """Ground truth of a rendered particle scene.

    Attributes
    ----------
    labels : int32 array, shape of the data
        0 = background, ``i + 1`` = particle ``i`` of ``particles`` (voxel centre inside the
        outer ellipsoid surface and outside the void).
    depth_um : float32 array or None
        Depth (um) of every labelled voxel, 0 elsewhere (see ``depth_definition``); ``None`` if
        the renderer was asked not to keep it.
    spacing : tuple of float
        Voxel size in um, array axis order.
    particles : tuple of Spheroid
        The 3D scene.
    centres_um : (n, ndim) float array
        Particle centres in um, array axis order (in 2D the centre of the cut ellipse).
    semi_axes_um : (n, ndim) float array
        3D: the body semi-axes; 2D: the semi-axes of the cut ellipse (major first).
    volumes_um3 : (n,) float array
        Analytic volumes (3D, um^3) ``4/3 pi (a b c - r_void^3)`` or areas (2D, um^2) of the cut
        ``pi (a b - r_void_cut^2)``.
    filled_volumes_um3 : (n,) float array
        The same without subtracting the void.
    feret_ratios : (n,) float array
        Analytic FD(perp min/max): smallest over largest semi-axis (3D ellipsoid, or 2D ellipse).
    mean_composition : DataFrame
        Whole-particle composition of the noise-free rendered images: per channel, channel total
        over the particle / sum of channel totals (index ``particle_id``).
    profiles : dict particle_id -> dict element -> callable
        True composition ``depth_um -> fraction`` per particle and element.
    depth_definition : str
        Exact definition of ``depth_um``.
    parameters : dict
        Rendering parameters (noise, spacing, plane...).
    """

    labels: np.ndarray
    depth_um: np.ndarray | None
    spacing: tuple[float, ...]
    particles: tuple[Spheroid, ...]
    centres_um: np.ndarray
    semi_axes_um: np.ndarray
    volumes_um3: np.ndarray
    filled_volumes_um3: np.ndarray
    feret_ratios: np.ndarray
    mean_composition: pd.DataFrame
    profiles: dict[int, dict[str, Callable[[Any], np.ndarray]]]
    depth_definition: str
    parameters: dict[str, Any]

    @property
    def n_particles(self) -> int:
        """Number of particles present in the field of view."""
        return len(self.particles)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per particle: ``particle_id``, analytic volume/area, centre and semi-axes (um)."""
        ndim = self.labels.ndim
        axes = ("z", "y", "x")[-ndim:]
        size = "volume_um3" if ndim == 3 else "area_um2"
        df = pd.DataFrame({"particle_id": np.arange(1, self.n_particles + 1)})
        df[size] = self.volumes_um3
        df["filled_" + size] = self.filled_volumes_um3
        df["feret_ratio"] = self.feret_ratios
        for i, ax in enumerate(axes):
            df[f"centroid_{ax}_um"] = self.centres_um[:, i]
        for i in range(self.semi_axes_um.shape[1]):
            df[f"semi_axis_{i}_um"] = self.semi_axes_um[:, i]
        return df


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------


def _section(p: Spheroid, z0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """Ellipse cut of ``p`` by the plane z = z0: (centre_yx, semi_axes, axes matrix, void r)."""
    m = p.quadric
    dz = z0 - p.centre_um[0]
    muu = m[1:, 1:]
    muz = m[1:, 0]
    inv = np.linalg.inv(muu)
    shift = -dz * (inv @ muz)
    k = 1.0 - dz * dz * (m[0, 0] - muz @ inv @ muz)
    if k <= 0:
        return None
    w, v = np.linalg.eigh(muu / k)  # ascending eigenvalues -> descending semi-axes
    semi = 1.0 / np.sqrt(w)
    centre = np.asarray(p.centre_um[1:]) + shift
    rv2 = p.void_radius_um**2 - dz * dz
    return centre, semi, v, math.sqrt(rv2) if rv2 > 0 else 0.0


def _grid_range(lo_um: float, hi_um: float, step: float, n: int) -> tuple[int, int]:
    i0 = max(math.ceil(lo_um / step - 1e-9), 0)
    i1 = min(math.floor(hi_um / step + 1e-9) + 1, n)
    return i0, i1


def render_particles(
    particles: Sequence[Spheroid],
    shape: Sequence[int],
    *,
    spacing: float | Sequence[float] = 0.049,
    z_plane_um: float | None = None,
    channels: Sequence[str] | None = None,
    noise_std: float = 0.0,
    noise_psf_um: float = 0.0,
    poisson_scale: float | None = None,
    phase_artefact: float = 0.0,
    phase_artefact_width_um: float = 0.2,
    seed: int | np.random.Generator | None = 0,
    keep_depth: bool = True,
) -> tuple[dict[str, xr.DataArray], ParticleTruth]:
    """Render a particle scene as elemental intensity images with known truth.

    Intensity of element ``E`` in a voxel = ``c_E(depth) * density`` (noise-free), then, in this
    order: Poisson noise (``poisson(I * poisson_scale) / poisson_scale``), additive Gaussian
    noise of standard deviation ``noise_std`` (white, or spatially correlated: white noise
    smoothed by a Gaussian PSF of ``noise_psf_um`` um and rescaled to ``noise_std``), and a
    negative phase-artefact halo ``-phase_artefact * exp(-s / phase_artefact_width_um)`` in the
    empty space at distance ``s`` um outside each particle.

    Parameters
    ----------
    particles : sequence of Spheroid
        The 3D scene (um).
    shape : (nz, ny, nx) or (ny, nx)
        Grid shape; 2 values render the cut ``z = z_plane_um``.
    spacing : float or sequence of float
        Voxel size in um (array axis order), default 0.049 um; anisotropic allowed.
    z_plane_um : float, optional
        2D only: height of the cutting plane (um). Default: the common ``z`` of all centres.
    channels : sequence of str, optional
        Elements to render (default: the elements of the first particle's profile).
    noise_std : float
        Standard deviation of additive Gaussian noise (intensity units; bulk intensity ~0.3-0.9).
    noise_psf_um : float
        Gaussian PSF sigma (um) that correlates the additive noise, 0 = white.
    poisson_scale : float, optional
        Counts per unit intensity for Poisson noise; ``None`` = no Poisson noise.
    phase_artefact : float
        Depth of the negative halo in empty space (intensity units), 0 = none.
    phase_artefact_width_um : float
        Decay length of the halo (um).
    seed : int or Generator, optional
        Random seed (noise only).
    keep_depth : bool
        Keep the full float32 depth map in the truth (set False for very large scenes).

    Returns
    -------
    data : dict of str -> xarray.DataArray
        One float32 image per element, dims ``(z, y, x)`` or ``(y, x)``, coordinates in um,
        ``attrs["units"]``.
    truth : ParticleTruth
        Labels, depth map, analytic volumes, centres, semi-axes, profiles and definitions.

    Raises
    ------
    ParameterError
        If the shape is not 2D/3D, a noise parameter is negative, or the 2D plane is ambiguous.
    SpacingError
        If the spacing is invalid.
    """
    from scipy import ndimage as ndi

    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if ndim not in (2, 3) or min(shape) < 1:
        raise ParameterError(f"shape must be 2 or 3 positive sizes, got {shape}.")
    sp = normalize_spacing(spacing, ndim)
    particles = tuple(particles)
    if not particles:
        raise ParameterError("the scene has no particles; give at least one Spheroid.")
    noise_std = check_positive(noise_std, "noise_std", allow_zero=True)
    noise_psf_um = check_positive(noise_psf_um, "noise_psf_um", allow_zero=True)
    phase_artefact = check_positive(phase_artefact, "phase_artefact", allow_zero=True)
    width = check_positive(phase_artefact_width_um, "phase_artefact_width_um")
    if poisson_scale is not None:
        poisson_scale = check_positive(poisson_scale, "poisson_scale")
    elements = tuple(channels) if channels is not None else particles[0].profile.elements
    for p in particles:
        missing = set(elements) - set(p.profile.elements)
        if missing:
            raise ParameterError(f"channels {sorted(missing)} are not in a particle's profile.")
    if ndim == 2:
        if z_plane_um is None:
            zs = {p.centre_um[0] for p in particles}
            if len(zs) != 1:
                raise ParameterError(
                    "2D rendering of particles at different heights: give z_plane_um."
                )
            z_plane_um = zs.pop()
        z_plane_um = float(z_plane_um)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    # one (n_channels, *shape) float32 block; each channel is a view of it
    stacked = np.zeros((len(elements), *shape), dtype=np.float32)
    images = {e: stacked[j] for j, e in enumerate(elements)}
    labels = np.zeros(shape, dtype=np.int32)
    depth_full = np.zeros(shape, dtype=np.float32) if keep_depth else None
    n = len(particles)
    centres = np.full((n, ndim), np.nan)
    semis = np.full((n, 3 if ndim == 3 else 2), np.nan)
    volumes = np.zeros(n)
    filled = np.zeros(n)
    ferets = np.full(n, np.nan)
    totals = np.zeros((n, len(elements)))
    slices: list[tuple[slice, ...] | None] = []
    for idx, p in enumerate(particles):
        lab = idx + 1
        if ndim == 3:
            ctr = np.asarray(p.centre_um)
            half = p.half_extent_um()
            rot = p.rotation_matrix
            semi = np.asarray(p.semi_axes_um)
            void_r = p.void_radius_um
            centres[idx] = ctr
            semis[idx] = semi
            volumes[idx] = p.volume_um3
            filled[idx] = p.filled_volume_um3
            ferets[idx] = semi.min() / semi.max()
        else:
            cut = _section(p, z_plane_um)
            if cut is None:
                slices.append(None)
                continue
            ctr, semi, rot, void_r = cut
            half = np.sqrt((rot**2) @ np.square(semi))
            centres[idx] = ctr
            semis[idx] = semi
            volumes[idx] = math.pi * (semi[0] * semi[1] - void_r**2)
            filled[idx] = math.pi * semi[0] * semi[1]
            ferets[idx] = semi.min() / semi.max()
        ranges = [
            _grid_range(ctr[k] - half[k], ctr[k] + half[k], sp[k], shape[k]) for k in range(ndim)
        ]
        if any(i1 <= i0 for i0, i1 in ranges):
            slices.append(None)
            continue
        sl = tuple(slice(i0, i1) for i0, i1 in ranges)
        slices.append(sl)
        # lab coordinates of the crop's grid lines relative to the (section) centre; the
        # compiled kernel does the rest voxel by voxel (no full-crop float64 temporaries)
        axes_coords = [np.arange(i0, i1) * sp[k] - ctr[k] for k, (i0, i1) in enumerate(ranges)]
        if ndim == 2:
            axes_coords = [np.zeros(1), *axes_coords]
            dz2 = (z_plane_um - p.centre_um[0]) ** 2
        else:
            dz2 = 0.0
        semi_a = np.asarray(semi, dtype=float)
        order = np.argsort(semi_a, kind="stable")
        axes_sorted = semi_a[order]
        n_min = int(np.count_nonzero(axes_sorted <= axes_sorted[0] * (1 + 1e-12)))
        shift = np.asarray(ctr, dtype=float) - np.asarray(p.centre_um[-ndim:])
        # composition tabulated every 1e-4 um of depth (linear interpolation error < 1e-8,
        # below float32 resolution); the truth keeps the exact profile functions
        grid = np.arange(0.0, axes_sorted[0] + 3 * _TABLE_STEP_UM, _TABLE_STEP_UM)
        fr = p.profile(grid)
        table = np.stack([fr[e] for e in elements])
        lab_c = labels[sl]
        img_c = stacked[(slice(None), *sl)]
        dep_c = depth_full[sl] if depth_full is not None else np.zeros((1,) * ndim, np.float32)
        if ndim == 2:
            lab_c, img_c, dep_c = lab_c[None], img_c[:, None], dep_c[None]
        tot = np.zeros(len(elements))
        _kernels()[1](
            *axes_coords,
            np.ascontiguousarray(rot, dtype=float),
            semi_a,
            order.astype(np.int64),
            n_min,
            shift,
            float(dz2),
            float(p.void_radius_um),
            float(p.void_rim_density),
            float(p.void_rim_um),
            float(p.density),
            table,
            _TABLE_STEP_UM,
            np.int32(lab),
            lab_c,
            img_c,
            dep_c,
            depth_full is not None,
            tot,
        )
        totals[idx] = tot

    if poisson_scale is not None:
        for e in elements:
            img = images[e]
            np.clip(img, 0, None, out=img)
            for i in range(shape[0]):  # slab by slab: no full-volume float64 temporaries
                img[i] = rng.poisson(img[i] * poisson_scale) / poisson_scale
    if noise_std > 0:
        sigma_vox = [noise_psf_um / s for s in sp]
        for e in elements:
            noise = rng.standard_normal(shape, dtype=np.float32)
            if noise_psf_um > 0:
                ndi.gaussian_filter(noise, sigma_vox, output=noise, mode="wrap")
                noise *= np.float32(1.0 / float(noise.std()))
            noise *= np.float32(noise_std)
            images[e] += noise
            del noise
    if phase_artefact > 0:
        import edt

        pad = [math.ceil(4 * width / s) for s in sp]
        halo = np.zeros(shape, dtype=np.float32)
        for idx, sl in enumerate(slices):
            if sl is None:
                continue
            big = tuple(
                slice(max(s.start - pad[k], 0), min(s.stop + pad[k], shape[k]))
                for k, s in enumerate(sl)
            )
            outside = labels[big] != idx + 1
            dist = edt.edt(outside, anisotropy=sp, black_border=False, parallel=1)
            h = -phase_artefact * np.exp(-dist / width)
            np.minimum(halo[big], h.astype(np.float32), out=halo[big])
        halo[labels > 0] = 0
        for e in elements:
            images[e] += halo
        del halo

    dims = ("z", "y", "x")[-ndim:]
    coords = {d: (d, np.arange(shape[k]) * sp[k], {"units": "um"}) for k, d in enumerate(dims)}
    data = {
        e: xr.DataArray(
            images[e],
            dims=dims,
            coords=coords,
            name=e,
            attrs={
                "units": "arb. (concentration x relative density)",
                "spacing_um": sp,
                "coords_units": "um",
            },
        )
        for e in elements
    }
    sums = totals.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(sums > 0, totals / np.where(sums > 0, sums, 1), np.nan)
    mean_comp = pd.DataFrame(frac, columns=[f"mean_{e}" for e in elements])
    mean_comp.index = pd.Index(np.arange(1, n + 1), name="particle_id")
    truth = ParticleTruth(
        labels=labels,
        depth_um=depth_full,
        spacing=sp,
        particles=particles,
        centres_um=centres,
        semi_axes_um=semis,
        volumes_um3=volumes,
        filled_volumes_um3=filled,
        feret_ratios=ferets,
        mean_composition=mean_comp,
        profiles={i + 1: p.profile.functions() for i, p in enumerate(particles)},
        depth_definition=DEPTH_DEFINITION,
        parameters={
            "shape": shape,
            "spacing_um": sp,
            "z_plane_um": z_plane_um,
            "channels": elements,
            "noise_std": noise_std,
            "noise_psf_um": noise_psf_um,
            "poisson_scale": poisson_scale,
            "phase_artefact": phase_artefact,
            "phase_artefact_width_um": width,
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
        },
    )
    return data, truth


# --------------------------------------------------------------------------------------------
# scene generators
# --------------------------------------------------------------------------------------------


def _random_rotation(rng: np.random.Generator, planar: bool) -> np.ndarray:
    if planar:  # rotation about z only: the long body axis stays in the (y, x) plane
        phi = rng.uniform(0, math.pi)
        c, s = math.cos(phi), math.sin(phi)
        return np.array([[0.0, 0.0, 1.0], [c, -s, 0.0], [s, c, 0.0]])
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=rng).as_matrix()


def make_scene(
    n_particles: int,
    box_um: Sequence[float],
    *,
    radius_um: tuple[float, float] = (2.6, 2.9),
    aspect: tuple[float, float] = (1.0, 1.0),
    void_radius_um: tuple[float, float] = (0.0, 0.0),
    touching_fraction: float = 0.4,
    min_gap_um: float = 0.3,
    planar: bool = False,
    z_plane_um: float | None = None,
    profile: LayeredProfile | None = None,
    seed: int | np.random.Generator | None = 0,
    max_tries: int = 2000,
) -> tuple[Spheroid, ...]:
    """Place ``n_particles`` non-overlapping prolate spheroids in a box, some touching.

    Each particle has an equivalent-sphere radius ``r`` (volume ``4/3 pi r^3`` before the void)
    drawn uniformly from ``radius_um`` and an aspect ratio ``k`` (long/short) from ``aspect``:
    semi-axes ``(k b, b, b)`` with ``b = r / k^(1/3)``. A fraction ``touching_fraction`` of the
    particles is placed in point contact with an earlier one: both surfaces have the contact
    direction as normal at the contact point, so their common tangent plane separates them
    (touching, never overlapping, so the analytic volumes stay exact). The others keep a gap of
    at least ``min_gap_um`` between bounding spheres. All particles lie inside the box.

    Parameters
    ----------
    n_particles : int
        Number of particles.
    box_um : (3,) or (2,) floats
        Box size (um) along (z, y, x); with 2 values the scene is planar: every centre at
        ``z_plane_um`` (default 0), long axes in the plane, for 2D rendering.
    radius_um, aspect, void_radius_um : (low, high)
        Uniform ranges of the equivalent radius (um), aspect ratio (>= 1) and void radius (um).
    touching_fraction : float
        Fraction of particles placed touching an earlier one (0-1).
    min_gap_um : float
        Minimum gap (um) between bounding spheres of non-touching particles.
    planar : bool
        Force the planar (2D) layout with a 3-value box.
    z_plane_um : float, optional
        Plane of the centres for planar scenes (default: 0 for a 2-value box, the box centre
        otherwise).
    profile : LayeredProfile, optional
        Composition profile of every particle (default :func:`paper_profile`).
    seed : int or Generator, optional
        Random seed.
    max_tries : int
        Placement attempts per particle before giving up.

    Returns
    -------
    tuple of Spheroid

    Raises
    ------
    ParameterError
        If the particles cannot be placed (box too small): use a larger box or fewer particles.
    """
    n = int(n_particles)
    if n < 1:
        raise ParameterError("n_particles must be >= 1.")
    box = [float(b) for b in box_um]
    if len(box) == 2:
        planar = True
        box = [0.0, *box]
        zc = 0.0 if z_plane_um is None else float(z_plane_um)
    elif len(box) == 3:
        zc = box[0] / 2 if z_plane_um is None else float(z_plane_um)
    else:
        raise ParameterError("box_um needs 2 or 3 values (um).")
    if not 0 <= touching_fraction <= 1:
        raise ParameterError("touching_fraction must lie in [0, 1].")
    if min(aspect) < 1:
        raise ParameterError("aspect ratios are long/short, >= 1.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    profile = profile if profile is not None else paper_profile()
    placed: list[Spheroid] = []
    bounds: list[float] = []
    contacts: list[int] = []
    for _ in range(n):
        r = rng.uniform(*radius_um)
        k = rng.uniform(*aspect)
        b = r / k ** (1 / 3)
        semi = (k * b, b, b)
        rv = rng.uniform(*void_radius_um)
        rot = _random_rotation(rng, planar)
        bound = semi[0]
        ok = False
        for _try in range(max_tries):
            want_touch = placed and rng.uniform() < touching_fraction
            if want_touch:
                j = int(rng.integers(len(placed)))
                if contacts[j] >= 2:
                    continue
                if planar:
                    phi = rng.uniform(0, 2 * math.pi)
                    u = np.array([0.0, math.cos(phi), math.sin(phi)])
                else:
                    u = rng.standard_normal(3)
                    u /= np.linalg.norm(u)
                trial = Spheroid((0.0, 0.0, 0.0), semi, profile, rotation=tuple(map(tuple, rot)))
                contact = placed[j].support_point(u)
                centre = contact - (trial.support_point(-u) - 0.0)
            else:
                j = -1
                lo = np.array([zc if planar else bound, bound, bound])
                hi = np.array([zc if planar else box[0] - bound, box[1] - bound, box[2] - bound])
                if np.any(hi < lo):
                    break
                centre = rng.uniform(lo, hi)
            if not planar and not np.all((centre >= bound) & (centre <= np.array(box) - bound)):
                continue
            if planar and not (
                bound <= centre[1] <= box[1] - bound and bound <= centre[2] <= box[2] - bound
            ):
                continue
            clash = False
            for i, (q, bq) in enumerate(zip(placed, bounds, strict=True)):
                if i == j:
                    continue
                if np.linalg.norm(centre - np.asarray(q.centre_um)) < bound + bq + min_gap_um:
                    clash = True
                    break
            if clash:
                continue
            placed.append(
                Spheroid(
                    tuple(centre.tolist()),
                    semi,
                    profile,
                    rotation=tuple(map(tuple, rot)),
                    void_radius_um=rv,
                )
            )
            bounds.append(bound)
            contacts.append(1 if j >= 0 else 0)
            if j >= 0:
                contacts[j] += 1
            ok = True
            break
        if not ok:
            raise ParameterError(
                f"could only place {len(placed)} of {n} particles in a {box} um box; use a larger "
                "box, fewer or smaller particles, or a smaller min_gap_um."
            )
    return tuple(placed)


def paper_scene(
    shape: Sequence[int] = (256, 256, 384),
    *,
    n_particles: int = 3,
    spacing: float | Sequence[float] = 0.049,
    radius_um: tuple[float, float] = (2.6, 2.9),
    aspect: tuple[float, float] = (1.3, 1.5),
    void_radius_um: tuple[float, float] = (0.3, 0.5),
    touching_fraction: float = 0.4,
    seed: int = 0,
    **render_options: Any,
) -> tuple[dict[str, xr.DataArray], ParticleTruth]:
    """Scene resembling the 63 % Ni particles of the CG/TXM paper (SCIENCE.md section 1).

    Prolate particles of ~84-94 um^3 (equivalent radius 2.6-2.9 um), FD ratio 0.66-0.77 (aspect
    1.3-1.5), central voids of 0.3-0.5 um, composition :func:`paper_profile` (Ni ~0.57 near the
    surface rising to ~0.72 at 2 um depth), Ni/Mn/Co channels, default voxel 0.049 um. A
    2-value ``shape`` gives the 2D central cut (particles in the plane ``z = 0``).

    Parameters
    ----------
    shape : (nz, ny, nx) or (ny, nx)
        Grid size; the box is ``(shape - 1) * spacing`` um. The default (12.5 x 12.5 x 18.8 um
        at 0.049 um) holds 3 particles; 512^3 holds >= 20 smaller ones.
    n_particles : int
        Number of particles.
    spacing : float or sequence of float
        Voxel size (um), array axis order.
    radius_um, aspect, void_radius_um, touching_fraction
        See :func:`make_scene`.
    seed : int
        Seed of the layout and of the noise.
    **render_options
        Passed to :func:`render_particles` (``noise_std``, ``noise_psf_um``, ``poisson_scale``,
        ``phase_artefact``, ``keep_depth``...).

    Returns
    -------
    data, truth
        As :func:`render_particles`.

    Examples
    --------
    >>> data, truth = paper_scene((96, 96), n_particles=1, spacing=0.1)
    >>> sorted(data), truth.n_particles
    (['Co', 'Mn', 'Ni'], 1)
    """
    shape = tuple(int(s) for s in shape)
    sp = normalize_spacing(spacing, len(shape))
    box = [(n - 1) * s for n, s in zip(shape, sp, strict=True)]
    scene = make_scene(
        n_particles,
        box,
        radius_um=radius_um,
        aspect=aspect,
        void_radius_um=void_radius_um,
        touching_fraction=touching_fraction,
        seed=seed,
    )
    return render_particles(scene, shape, spacing=sp, seed=seed + 1, **render_options)
