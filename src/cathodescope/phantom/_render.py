"""Rendering of a phantom scene on a voxel grid: intensities, noise, artefacts and exact truth."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_positive, normalize_spacing
from cathodescope.errors import ParameterError
from cathodescope.phantom._geometry import Spheroid, _kernels

_TABLE_STEP_UM = 1e-4

DEPTH_DEFINITION = (
    "depth_um = exact Euclidean distance from the voxel centre (voxel i at i*spacing um) to the "
    "nearest point of the particle's outer ellipsoid surface (central void ignored); R - r for "
    "spheres; ellipsoids solved numerically (Eberly closest-point root, |error| < 1e-9 um). In 2D: "
    "in-plane distance to the ellipse cut by the plane z = z_plane_um (equal to the 3D depth for "
    "central principal cuts with the out-of-plane semi-axis >= the smaller in-plane one)."
)


# --------------------------------------------------------------------------------------------
# truth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ParticleTruth:
    """Ground truth of a rendered particle scene.

    Parameters
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


def _check_scene_options(
    particles: Sequence[Spheroid],
    noise_std: float,
    noise_psf_um: float,
    phase_artefact: float,
    phase_artefact_width_um: float,
) -> tuple[tuple[Spheroid, ...], float, float, float, float]:
    """The particles (a non-empty tuple) and the checked noise / phase-halo options of a
    rendering (:func:`render_particles`, ``write_scene_zarr``)."""
    particles = tuple(particles)
    if not particles:
        raise ParameterError("the scene has no particles; give at least one Spheroid.")
    return (
        particles,
        check_positive(noise_std, "noise_std", allow_zero=True),
        check_positive(noise_psf_um, "noise_psf_um", allow_zero=True),
        check_positive(phase_artefact, "phase_artefact", allow_zero=True),
        check_positive(phase_artefact_width_um, "phase_artefact_width_um"),
    )


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
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if ndim not in (2, 3) or min(shape) < 1:
        raise ParameterError(f"shape must be 2 or 3 positive sizes, got {shape}.")
    sp = normalize_spacing(spacing, ndim)
    particles, noise_std, noise_psf_um, phase_artefact, width = _check_scene_options(
        particles, noise_std, noise_psf_um, phase_artefact, phase_artefact_width_um
    )
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
    scene = _draw_scene(particles, shape, sp, z_plane_um, elements, keep_depth)
    images = {e: scene.stacked[j] for j, e in enumerate(elements)}
    _add_noise(images, shape, sp, rng, poisson_scale, noise_std, noise_psf_um)
    if phase_artefact > 0:
        _add_phase_halo(images, scene.labels, scene.slices, sp, phase_artefact, width)
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
    sums = scene.totals.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(sums > 0, scene.totals / np.where(sums > 0, sums, 1), np.nan)
    mean_comp = pd.DataFrame(frac, columns=[f"mean_{e}" for e in elements])
    mean_comp.index = pd.Index(np.arange(1, len(particles) + 1), name="particle_id")
    truth = ParticleTruth(
        labels=scene.labels,
        depth_um=scene.depth,
        spacing=sp,
        particles=particles,
        centres_um=scene.centres,
        semi_axes_um=scene.semis,
        volumes_um3=scene.volumes,
        filled_volumes_um3=scene.filled,
        feret_ratios=scene.ferets,
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


@dataclass
class _Scene:
    """The noise-free rendering of a scene and its per-particle analytic truth."""

    stacked: np.ndarray  # (n_channels, *shape) float32; each channel a view
    labels: np.ndarray
    depth: np.ndarray | None
    centres: np.ndarray
    semis: np.ndarray
    volumes: np.ndarray
    filled: np.ndarray
    ferets: np.ndarray
    totals: np.ndarray
    slices: list[tuple[slice, ...] | None]


def _particle_frame(
    p: Spheroid, ndim: int, z_plane_um: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float] | None:
    """(centre, half extent, axes matrix, semi-axes, volume, filled volume) in the grid's
    dimensions: the particle itself in 3D, its cut by ``z = z_plane_um`` in 2D (None if the
    plane misses it)."""
    if ndim == 3:
        semi = np.asarray(p.semi_axes_um)
        return (
            np.asarray(p.centre_um),
            p.half_extent_um(),
            p.rotation_matrix,
            semi,
            p.volume_um3,
            p.filled_volume_um3,
        )
    cut = _section(p, float(z_plane_um))  # type: ignore[arg-type]
    if cut is None:
        return None
    ctr, semi, rot, void_r = cut
    half = np.sqrt((rot**2) @ np.square(semi))
    area = math.pi * (semi[0] * semi[1] - void_r**2)
    return ctr, half, rot, semi, area, math.pi * semi[0] * semi[1]


def _draw_scene(
    particles: tuple[Spheroid, ...],
    shape: tuple[int, ...],
    sp: tuple[float, ...],
    z_plane_um: float | None,
    elements: tuple[str, ...],
    keep_depth: bool,
) -> _Scene:
    """Labels, depth and noise-free intensities of every particle, crop by crop."""
    ndim = len(shape)
    n = len(particles)
    scene = _Scene(
        stacked=np.zeros((len(elements), *shape), dtype=np.float32),
        labels=np.zeros(shape, dtype=np.int32),
        depth=np.zeros(shape, dtype=np.float32) if keep_depth else None,
        centres=np.full((n, ndim), np.nan),
        semis=np.full((n, 3 if ndim == 3 else 2), np.nan),
        volumes=np.zeros(n),
        filled=np.zeros(n),
        ferets=np.full(n, np.nan),
        totals=np.zeros((n, len(elements))),
        slices=[],
    )
    for idx, p in enumerate(particles):
        frame = _particle_frame(p, ndim, z_plane_um)
        if frame is None:
            scene.slices.append(None)
            continue
        ctr, half, rot, semi, volume, filled = frame
        scene.centres[idx] = ctr
        scene.semis[idx] = semi
        scene.volumes[idx] = volume
        scene.filled[idx] = filled
        scene.ferets[idx] = semi.min() / semi.max()
        ranges = [
            _grid_range(ctr[k] - half[k], ctr[k] + half[k], sp[k], shape[k]) for k in range(ndim)
        ]
        if any(i1 <= i0 for i0, i1 in ranges):
            scene.slices.append(None)
            continue
        sl = tuple(slice(i0, i1) for i0, i1 in ranges)
        scene.slices.append(sl)
        scene.totals[idx] = _draw_particle(
            p, idx + 1, sl, ranges, ctr, rot, semi, sp, z_plane_um, elements, scene
        )
    return scene


def _draw_particle(
    p: Spheroid,
    label: int,
    sl: tuple[slice, ...],
    ranges: list[tuple[int, int]],
    ctr: np.ndarray,
    rot: np.ndarray,
    semi: np.ndarray,
    sp: tuple[float, ...],
    z_plane_um: float | None,
    elements: tuple[str, ...],
    scene: _Scene,
) -> np.ndarray:
    """Draw one particle into its crop with the compiled kernel; return its channel totals."""
    ndim = len(sp)
    # lab coordinates of the crop's grid lines relative to the (section) centre; the
    # compiled kernel does the rest voxel by voxel (no full-crop float64 temporaries)
    axes_coords = [np.arange(i0, i1) * sp[k] - ctr[k] for k, (i0, i1) in enumerate(ranges)]
    if ndim == 2:
        axes_coords = [np.zeros(1), *axes_coords]
        dz2 = (float(z_plane_um) - p.centre_um[0]) ** 2  # type: ignore[arg-type]
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
    lab_c = scene.labels[sl]
    img_c = scene.stacked[(slice(None), *sl)]
    keep = scene.depth is not None
    dep_c = scene.depth[sl] if scene.depth is not None else np.zeros((1,) * ndim, np.float32)
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
        np.int32(label),
        lab_c,
        img_c,
        dep_c,
        keep,
        tot,
    )
    return tot


def _add_noise(
    images: dict[str, np.ndarray],
    shape: tuple[int, ...],
    sp: tuple[float, ...],
    rng: np.random.Generator,
    poisson_scale: float | None,
    noise_std: float,
    noise_psf_um: float,
) -> None:
    """Poisson noise, then additive Gaussian noise (white or PSF-correlated), in place."""
    from scipy import ndimage as ndi

    if poisson_scale is not None:
        for img in images.values():
            np.clip(img, 0, None, out=img)
            for i in range(shape[0]):  # slab by slab: no full-volume float64 temporaries
                img[i] = rng.poisson(img[i] * poisson_scale) / poisson_scale
    if noise_std > 0:
        sigma_vox = [noise_psf_um / s for s in sp]
        for img in images.values():
            noise = rng.standard_normal(shape, dtype=np.float32)
            if noise_psf_um > 0:
                ndi.gaussian_filter(noise, sigma_vox, output=noise, mode="wrap")
                noise *= np.float32(1.0 / float(noise.std()))
            noise *= np.float32(noise_std)
            img += noise
            del noise


def _add_phase_halo(
    images: dict[str, np.ndarray],
    labels: np.ndarray,
    slices: list[tuple[slice, ...] | None],
    sp: tuple[float, ...],
    phase_artefact: float,
    width: float,
) -> None:
    """Negative halo ``-phase_artefact * exp(-s / width)`` outside the particles, in place."""
    import edt

    shape = labels.shape
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
    for img in images.values():
        img += halo
