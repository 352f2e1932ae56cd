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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from cathodescope._validation import normalize_spacing
from cathodescope.errors import ParameterError
from cathodescope.phantom._geometry import Spheroid
from cathodescope.phantom._layers import ELEMENTS, LayeredProfile, paper_profile
from cathodescope.phantom._render import (
    DEPTH_DEFINITION,
    ParticleTruth,
    render_particles,
)

__all__ = [
    "DEPTH_DEFINITION",
    "ELEMENTS",
    "LayeredProfile",
    "ParticleTruth",
    "Spheroid",
    "make_scene",
    "paper_profile",
    "paper_scene",
    "render_particles",
]


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
