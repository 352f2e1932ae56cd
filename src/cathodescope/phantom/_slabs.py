"""Slab-wise rendering of a particle scene straight into Zarr stores (volumes larger than RAM).

:func:`render_particles` holds the whole volume (channels, labels, noise) in memory: 1024^3 x 3
channels is 12 GiB of float32 before temporaries. :func:`write_scene_zarr` renders the same
continuous geometry (the same compiled kernel, particle by particle, clipped to the slab) one
slab of ``z`` planes at a time and writes each slab into one Zarr store per channel, so memory
is bounded by one slab (plus the phase-halo margin), whatever the volume.

Noise-free, the stores equal :func:`render_particles` voxel for voxel (labels and
intensities). The correlated Gaussian noise is a different random field than the in-memory
one (it is drawn plane by plane from ``(seed, channel, plane)`` so that slabs join seamlessly)
with the same statistics: white noise smoothed by the Gaussian PSF with periodic borders, and
scaled to ``noise_std`` by the filter's exact gain instead of the sample standard deviation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope._validation import normalize_spacing
from cathodescope.errors import ParameterError
from cathodescope.phantom._geometry import Spheroid
from cathodescope.phantom._render import (
    _add_phase_halo,
    _check_scene_options,
    _draw_particle,
    _grid_range,
    _particle_frame,
    _Scene,
)

#: truncation of scipy.ndimage.gaussian_filter (radius = int(truncate * sigma + 0.5))
_TRUNCATE = 4.0


@dataclass(frozen=True)
class SlabScene:
    """What :func:`write_scene_zarr` wrote.

    Parameters
    ----------
    paths : dict of str to Path
        Channel name -> Zarr store (float32, dims ``(z, y, x)``), plus ``"labels"`` (int32,
        0 = background, ``i + 1`` = particle ``i``) when labels were asked for.
    shape : tuple of int
        Volume shape (voxels, ``(z, y, x)``).
    spacing : tuple of float
        Voxel size in um.
    particles : tuple of Spheroid
        The scene (um).
    n_drawn : int
        Particles with at least one voxel centre inside the grid.
    nbytes : int
        Bytes of the channel volumes as float32 (uncompressed).
    parameters : dict
        Rendering parameters (noise, slab thickness, chunks, seed).
    """

    paths: dict[str, Path]
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    particles: tuple[Spheroid, ...]
    n_drawn: int
    nbytes: int
    parameters: dict[str, Any] = field(default_factory=dict)


def _filter_gain(sigma_vox: Sequence[float]) -> float:
    """Standard deviation of unit white noise after ``gaussian_filter(sigma_vox)``."""
    from scipy import ndimage as ndi

    gain2 = 1.0
    for s in sigma_vox:
        if s <= 0:
            continue
        r = int(_TRUNCATE * s + 0.5)
        delta = np.zeros(2 * r + 1)
        delta[r] = 1.0
        w = ndi.gaussian_filter1d(delta, s, mode="constant", truncate=_TRUNCATE)
        gain2 *= float(np.sum(w * w))
    return math.sqrt(gain2)


def _noise_slab(
    z0: int,
    z1: int,
    shape: tuple[int, ...],
    sigma_vox: Sequence[float],
    seed: int,
    channel: int,
) -> np.ndarray:
    """Unit-variance correlated noise of planes ``z0..z1`` of a periodic field.

    Plane ``z`` of the white field is drawn from ``default_rng([seed, channel, z])``, so the
    slab equals the same rows of ``gaussian_filter(white, sigma_vox, mode="wrap")`` computed
    on the whole volume: the filter reaches ``r`` planes on each side, drawn here (modulo
    ``nz``) around the slab.
    """
    from scipy import ndimage as ndi

    nz = shape[0]
    r = int(_TRUNCATE * sigma_vox[0] + 0.5) if sigma_vox[0] > 0 else 0
    planes = [(z % nz) for z in range(z0 - r, z1 + r)]
    block = np.empty((len(planes), *shape[1:]), dtype=np.float32)
    for i, z in enumerate(planes):
        rng = np.random.default_rng([seed, channel, z])
        block[i] = rng.standard_normal(shape[1:], dtype=np.float32)
    if any(s > 0 for s in sigma_vox):
        # "wrap" in y and x is the periodic field; along z only rows r..r+(z1-z0) are kept,
        # which depend on the drawn planes alone (the filter reaches r planes)
        ndi.gaussian_filter(block, sigma_vox, output=block, mode="wrap", truncate=_TRUNCATE)
        block *= np.float32(1.0 / _filter_gain(sigma_vox))
    return block[r : r + (z1 - z0)]


def write_scene_zarr(
    particles: Sequence[Spheroid],
    shape: Sequence[int],
    folder: str | os.PathLike[str],
    *,
    spacing: float | Sequence[float] = 0.049,
    channels: Sequence[str] | None = None,
    noise_std: float = 0.0,
    noise_psf_um: float = 0.0,
    phase_artefact: float = 0.0,
    phase_artefact_width_um: float = 0.2,
    seed: int = 0,
    slab: int | None = None,
    chunks: Sequence[int] = (128, 128, 128),
    labels: bool = False,
    compressor: bool = False,
) -> SlabScene:
    """Render a 3D particle scene slab by slab into one Zarr store per channel.

    Same model as :func:`render_particles` (intensity = composition at the exact depth x
    density, central voids with their rim, additive Gaussian noise, optionally correlated by a
    Gaussian PSF, and the negative phase-artefact halo), without ever holding the volume: each
    slab of ``slab`` planes is drawn from the continuous geometry (every particle clipped to
    the slab, plus a margin of ``4 x phase_artefact_width_um`` for the halo), noised and
    written. Peak memory is about ``(n_channels x 4 + 12) x ny x nx x (slab + 2 margin)``
    bytes.

    Parameters
    ----------
    particles : sequence of Spheroid
        The scene (um), e.g. from :func:`make_scene`.
    shape : (nz, ny, nx)
        Grid shape (voxels).
    folder : path
        Output folder; ``<channel>.zarr`` (and ``labels.zarr``) are written there (replaced
        if present).
    spacing : float or sequence of float
        Voxel size in um (array axis order).
    channels : sequence of str, optional
        Elements to render (default: those of the first particle's profile).
    noise_std : float
        Standard deviation of the additive Gaussian noise (intensity units).
    noise_psf_um : float
        Gaussian PSF sigma (um) correlating the noise; 0 = white.
    phase_artefact : float
        Depth of the negative halo outside the particles (intensity units); 0 = none.
    phase_artefact_width_um : float
        Decay length of the halo (um).
    seed : int
        Seed of the noise.
    slab : int, optional
        Planes per slab; default ``chunks[0]``. Must be a multiple of ``chunks[0]`` (every
        Zarr chunk is written once, whole).
    chunks : (int, int, int)
        Zarr chunk shape (voxels).
    labels : bool
        Also write the int32 truth labels as ``labels.zarr``.
    compressor : bool
        Compress the stores (Zarr's default codec); off by default: noisy float32 hardly
        compresses and the codec costs CPU on every read.

    Returns
    -------
    SlabScene

    Raises
    ------
    ParameterError
        If the shape is not 3D, the scene is empty, a noise parameter is negative, a channel
        is missing from a particle's profile, or ``slab`` is not a multiple of ``chunks[0]``.
    SpacingError
        If the spacing is invalid.

    Examples
    --------
    >>> import tempfile
    >>> from cathodescope.phantom import make_scene
    >>> scene = make_scene(1, (4.0, 4.0, 4.0), radius_um=(1.0, 1.0), seed=0)
    >>> out = write_scene_zarr(scene, (41, 41, 41), tempfile.mkdtemp(), spacing=0.1,
    ...                        chunks=(16, 16, 16))
    >>> sorted(out.paths), out.n_drawn
    (['Co', 'Mn', 'Ni'], 1)
    """
    import zarr

    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ParameterError(f"shape must be 3 positive sizes (z, y, x), got {shape}.")
    sp = normalize_spacing(spacing, 3)
    particles, noise_std, noise_psf_um, phase_artefact, width = _check_scene_options(
        particles, noise_std, noise_psf_um, phase_artefact, phase_artefact_width_um
    )
    chunks = tuple(min(int(c), n) for c, n in zip(chunks, shape, strict=True))
    if len(chunks) != 3 or min(chunks) < 1:
        raise ParameterError(f"chunks must be 3 positive sizes, got {chunks}.")
    slab = chunks[0] if slab is None else int(slab)
    if slab < 1 or slab % chunks[0]:
        raise ParameterError(
            f"slab={slab} must be a positive multiple of the z chunk {chunks[0]} (each Zarr "
            "chunk is written once); give slab=k*chunks[0]."
        )
    elements = tuple(channels) if channels is not None else particles[0].profile.elements
    for p in particles:
        missing = set(elements) - set(p.profile.elements)
        if missing:
            raise ParameterError(f"channels {sorted(missing)} are not in a particle's profile.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    codec: dict[str, Any] = {} if compressor else {"compressors": None}
    stores = {
        e: zarr.create_array(
            str(folder / f"{e}.zarr"),
            shape=shape,
            chunks=chunks,
            dtype="float32",
            overwrite=True,
            **codec,
        )
        for e in elements
    }
    if labels:
        lab_store = zarr.create_array(
            str(folder / "labels.zarr"), shape=shape, chunks=chunks, dtype="int32", overwrite=True
        )
    frames = [_particle_frame(p, 3, None) for p in particles]
    ranges = []
    for fr in frames:
        assert fr is not None  # 3D: every particle has a frame
        ctr, half = fr[0], fr[1]
        ranges.append(
            [_grid_range(ctr[k] - half[k], ctr[k] + half[k], sp[k], shape[k]) for k in range(3)]
        )
    drawn = [all(i1 > i0 for i0, i1 in r) for r in ranges]
    margin = math.ceil(4 * width / sp[0]) if phase_artefact > 0 else 0
    sigma_vox = [noise_psf_um / s for s in sp]
    for z0 in range(0, shape[0], slab):
        z1 = min(z0 + slab, shape[0])
        lo, hi = max(z0 - margin, 0), min(z1 + margin, shape[0])
        region = _Scene(
            stacked=np.zeros((len(elements), hi - lo, *shape[1:]), dtype=np.float32),
            labels=np.zeros((hi - lo, *shape[1:]), dtype=np.int32),
            depth=None,
            centres=np.empty((0, 3)),
            semis=np.empty((0, 3)),
            volumes=np.empty(0),
            filled=np.empty(0),
            ferets=np.empty(0),
            totals=np.empty((0, len(elements))),
            slices=[],
        )
        for idx, (p, fr, rg) in enumerate(zip(particles, frames, ranges, strict=True)):
            zr = (max(rg[0][0], lo), min(rg[0][1], hi))
            if not drawn[idx] or zr[1] <= zr[0]:
                region.slices.append(None)
                continue
            assert fr is not None
            ctr, _, rot, semi = fr[0], fr[1], fr[2], fr[3]
            clipped = [zr, rg[1], rg[2]]
            sl = (slice(zr[0] - lo, zr[1] - lo), slice(*rg[1]), slice(*rg[2]))
            region.slices.append(sl)
            _draw_particle(p, idx + 1, sl, clipped, ctr, rot, semi, sp, None, elements, region)
        images = {e: region.stacked[j] for j, e in enumerate(elements)}
        if phase_artefact > 0:
            _add_phase_halo(images, region.labels, region.slices, sp, phase_artefact, width)
        core = slice(z0 - lo, z1 - lo)
        for j, e in enumerate(elements):
            out = images[e][core]
            if noise_std > 0:
                noise = _noise_slab(z0, z1, shape, sigma_vox, seed, j)
                noise *= np.float32(noise_std)
                out += noise
                del noise
            stores[e][z0:z1] = out
        if labels:
            lab_store[z0:z1] = region.labels[core]
        del region, images
    paths = {e: folder / f"{e}.zarr" for e in elements}
    if labels:
        paths["labels"] = folder / "labels.zarr"
    return SlabScene(
        paths=paths,
        shape=shape,
        spacing=sp,
        particles=particles,
        n_drawn=int(sum(drawn)),
        nbytes=4 * len(elements) * math.prod(shape),
        parameters={
            "channels": elements,
            "noise_std": noise_std,
            "noise_psf_um": noise_psf_um,
            "phase_artefact": phase_artefact,
            "phase_artefact_width_um": width,
            "seed": seed,
            "slab": slab,
            "chunks": chunks,
            "compressor": compressor,
        },
    )
