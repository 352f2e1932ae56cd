"""Forward simulator: element density volumes -> raw multi-energy TXM projections.

Physics: Beer-Lambert with xraydb (Elam) mass attenuation coefficients at each energy,
``I = F exp(-sum_k (mu/rho)_k(E) int rho_k dl) + D``, Poisson counting noise on projections,
flats and darks, random sample shifts between energies (per angle) and a rotation-axis offset.
Line integrals use :func:`cathodescope.tomo.forward_project` (so a round trip through our FBP
shares its discretisation; the tests say so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.ndimage as ndi

from cathodescope.errors import ParameterError, ShapeMismatchError
from cathodescope.io import RawProjections, make_projections


@dataclass(frozen=True)
class SimulationTruth:
    """What the simulator injected.

    Parameters
    ----------
    shifts_px : dict[float, ndarray]
        Per energy (eV), shape (n_angles, 2): the ``(dy, dx)`` displacement of the sample image
        in detector pixels at each angle (zero for the reference energy).
    centre_px : float
        Detector column of the rotation axis.
    angles_deg : ndarray
        Projection angles (degrees).
    energies_ev : tuple of float
        Simulated energies (eV).
    reference_energy_ev : float
        The energy whose projections are not displaced (eV).
    spacing : tuple of float
        Voxel size ``(z, y, x)`` in um (the detector pitch is ``(z, x)``).
    densities : dict[str, ndarray]
        The input partial densities (g/cm^3), (z, y, x).
    parameters : dict
        The parameters used.
    """

    shifts_px: dict[float, np.ndarray]
    centre_px: float
    angles_deg: np.ndarray
    energies_ev: tuple[float, ...]
    reference_energy_ev: float
    spacing: tuple[float, float, float]
    densities: dict[str, np.ndarray]
    parameters: dict[str, Any] = field(default_factory=dict)


def _voxel(spacing: float | Sequence[float]) -> tuple[float, float, float]:
    from cathodescope.tomo._stack import volume_spacing

    voxel = volume_spacing(spacing)
    if voxel is None:
        raise ParameterError("spacing is required: the voxel size in um, one value or (z, y, x).")
    return voxel


def composition_to_densities(
    fractions: Mapping[str, Any],
    occupancy: Any,
    *,
    density_g_cm3: float = 4.75,
    formula: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Partial densities (g/cm^3) of a layered oxide ``Li(Ni_a Co_b Mn_c)O2`` from TM fractions.

    Parameters
    ----------
    fractions : mapping element -> array (z, y, x)
        Transition-metal molar fractions (``a + b + c = 1`` where occupied), e.g. Ni, Co, Mn.
    occupancy : array (z, y, x)
        Solid fraction of each voxel (0 = pore/empty, 1 = dense).
    density_g_cm3 : float
        Density of the dense oxide (NMC ~4.75 g/cm^3).
    formula : mapping, optional
        Non-TM atoms per formula unit (default ``{"Li": 1, "O": 2}``).

    Returns
    -------
    dict element -> float32 array, g/cm^3 (TM elements and the formula's other elements)
    """
    import xraydb

    rest = dict(formula or {"Li": 1.0, "O": 2.0})
    occ = np.asarray(occupancy, dtype=np.float64)
    fr = {el: np.asarray(v, dtype=np.float64) for el, v in fractions.items()}
    for el, v in fr.items():
        if v.shape != occ.shape:
            raise ShapeMismatchError(
                f"fraction of {el} has shape {v.shape}, occupancy {occ.shape}."
            )
    molar_mass = sum(fr[el] * xraydb.atomic_mass(el) for el in fr) + sum(
        n * xraydb.atomic_mass(el) for el, n in rest.items()
    )
    formula_units = np.where(occ > 0, density_g_cm3 * occ / molar_mass, 0.0)  # mol/cm^3
    out = {el: (formula_units * fr[el] * xraydb.atomic_mass(el)).astype(np.float32) for el in fr}
    for el, n in rest.items():
        out[el] = (formula_units * n * xraydb.atomic_mass(el)).astype(np.float32)
    return out


def _density_volumes(densities: Mapping[str, Any]) -> tuple[list[str], list[np.ndarray]]:
    """Element names and float32 volumes, checked to share one (z, n, n) shape."""
    if not densities:
        raise ParameterError("densities is empty: give at least one element volume (g/cm^3).")
    names = list(densities)
    vols = [np.asarray(densities[el], dtype=np.float32) for el in names]
    shape = vols[0].shape
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ShapeMismatchError(
            f"density volumes must be (z, n, n) with a square (y, x) plane, got {shape}."
        )
    for el, v in zip(names, vols, strict=True):
        if v.shape != shape:
            raise ShapeMismatchError(f"density of {el} has shape {v.shape}, expected {shape}.")
    return names, vols


def _shifted(total: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each projection ``k`` moved by ``shifts[k]`` (cubic spline, edges held)."""
    moved = np.empty_like(total)
    for k in range(total.shape[0]):
        moved[k] = (
            ndi.shift(total[k], shifts[k], order=3, mode="nearest")
            if np.any(shifts[k])
            else total[k]
        )
    return moved


def _counts(
    rng: np.random.Generator,
    line: np.ndarray,
    flat_mean: np.ndarray,
    dark_counts: float,
    n_flats: int,
    n_darks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson counts of projections, flats and darks (in this order of random draws)."""
    nz, n_det = flat_mean.shape
    counts = rng.poisson(flat_mean[None] * np.exp(-line)) + rng.poisson(dark_counts, line.shape)
    flats = rng.poisson(flat_mean[None], (n_flats, nz, n_det)) + rng.poisson(
        dark_counts, (n_flats, nz, n_det)
    )
    darks = rng.poisson(dark_counts, (n_darks, nz, n_det))
    return counts, flats, darks


def simulate_projections(
    densities: Mapping[str, Any],
    *,
    spacing: float | Sequence[float],
    energies_ev: Sequence[float],
    angles_deg: Sequence[float] | None = None,
    n_angles: int = 181,
    reference_energy_ev: float | None = None,
    flat_counts: float = 2e4,
    dark_counts: float = 100.0,
    n_flats: int = 5,
    n_darks: int = 5,
    max_shift_px: float = 2.0,
    centre_offset_px: float = 0.0,
    detector_margin_px: int = 8,
    seed: int | None = 0,
) -> tuple[list[RawProjections], SimulationTruth]:
    """Simulate raw projections, flats and darks at several energies.

    Parameters
    ----------
    densities : mapping element -> array (z, y, x)
        Partial densities in g/cm^3 (rotation axis along ``z`` through the centre of the
        ``(y, x)`` plane, which must be square).
    spacing : float or (z, y, x)
        Voxel size in um; ``y == x`` (the detector pitch is ``(z, x)``).
    energies_ev : sequence of float
        Photon energies in eV.
    angles_deg : sequence of float, optional
        Projection angles (default ``n_angles`` evenly over [0, 180] degrees, both ends included,
        so 180-degree mirror pairs exist).
    n_angles : int
        Number of angles when ``angles_deg`` is not given.
    reference_energy_ev : float, optional
        Energy with no injected shift (default the last, usually the morphology energy).
    flat_counts, dark_counts : float
        Mean counts per pixel of the open beam and of the dark current.
    n_flats, n_darks : int
        Number of flat and dark frames.
    max_shift_px : float
        Sample shifts between energies are drawn uniformly in ``[-max_shift_px, max_shift_px]``
        for each energy, angle and axis.
    centre_offset_px : float
        Rotation axis offset from the detector centre, pixels.
    detector_margin_px : int
        Extra detector columns on each side of the sample grid.
    seed : int, optional
        Random seed (noise and shifts).

    Returns
    -------
    projections : list of RawProjections
        One per energy (in the order of ``energies_ev``), raw counts with flats and darks.
    truth : SimulationTruth
    """
    from cathodescope.tomo._elements import attenuation_matrix
    from cathodescope.tomo._recon import forward_project

    rng = np.random.default_rng(seed)
    voxel = _voxel(spacing)
    sz, _, sx = voxel
    names, vols = _density_volumes(densities)
    nz, n, _ = vols[0].shape
    energies = tuple(float(e) for e in energies_ev)
    ref_e = float(reference_energy_ev) if reference_energy_ev is not None else energies[-1]
    angles = (
        np.linspace(0.0, 180.0, int(n_angles))
        if angles_deg is None
        else np.asarray(angles_deg, float)
    )
    n_det = n + 2 * int(detector_margin_px)
    centre = (n_det - 1) / 2.0 + float(centre_offset_px)
    # line integrals of each element density, (angle, z, det) in g/cm^3 * px
    line = {
        el: forward_project(
            np.ascontiguousarray(v.transpose(1, 2, 0)), angles, n_det=n_det, centre=centre
        ).transpose(0, 2, 1)
        for el, v in zip(names, vols, strict=True)
    }
    mass_att = attenuation_matrix(energies, names)  # (n_E, n_el) cm^2/g
    px_cm = sx * 1e-4
    yy = np.linspace(-1, 1, nz)[:, None]
    xx = np.linspace(-1, 1, n_det)[None, :]
    beam = (1.0 + 0.15 * np.exp(-(xx**2 + yy**2)) + 0.03 * np.sin(7 * xx)).astype(np.float64)
    out = []
    shifts: dict[float, np.ndarray] = {}
    for ie, energy in enumerate(energies):
        total = sum(mass_att[ie, k] * line[el] for k, el in enumerate(names)) * px_cm
        if energy == ref_e:
            sh = np.zeros((angles.size, 2))
        else:
            sh = rng.uniform(-max_shift_px, max_shift_px, size=(angles.size, 2))
        shifts[energy] = sh
        counts, flats, darks = _counts(
            rng, _shifted(total, sh), flat_counts * beam, dark_counts, n_flats, n_darks
        )
        out.append(
            make_projections(
                counts.astype(np.float32),
                angles,
                flats=flats.astype(np.float32),
                darks=darks.astype(np.float32),
                energy_ev=energy,
                spacing=(sz, sx),
                source=f"simulated {energy:.1f} eV",
                metadata={"format": "simulated"},
            )
        )
    truth = SimulationTruth(
        shifts_px=shifts,
        centre_px=centre,
        angles_deg=angles,
        energies_ev=energies,
        reference_energy_ev=ref_e,
        spacing=voxel,
        densities={el: v for el, v in zip(names, vols, strict=True)},
        parameters={
            "flat_counts": flat_counts,
            "dark_counts": dark_counts,
            "max_shift_px": max_shift_px,
            "centre_offset_px": centre_offset_px,
            "seed": seed,
            "n_det": n_det,
        },
    )
    return out, truth


def demo_particle_densities(
    size: int = 64,
    *,
    spacing: float | Sequence[float] = 0.1,
    radius_um: float | None = None,
) -> tuple[dict[str, np.ndarray], Any]:
    """Ground truth of the demo: one NMC sphere with the paper-like layered Ni/Mn/Co profile.

    Rendered with :func:`cathodescope.phantom.render_particles` (composition
    :func:`cathodescope.phantom.paper_profile` versus depth) and converted to partial densities of
    ``Li(Ni,Mn,Co)O2`` at 4.75 g/cm^3 (:func:`composition_to_densities`).

    Parameters
    ----------
    size : int
        Side of the square ``(y, x)`` plane in voxels; ``z`` has ``size * x / z`` slices so that
        the box is a cube in um.
    spacing : float or (z, y, x)
        Voxel size in um (``y == x``).
    radius_um : float, optional
        Sphere radius (default 0.41 of the box side).

    Returns
    -------
    densities : dict element -> (nz, size, size) float32, g/cm^3
    truth : cathodescope.phantom.ParticleTruth
    """
    from cathodescope.phantom import Spheroid, render_particles

    voxel = _voxel(spacing)
    sz, _, sx = voxel
    nz = round(size * sx / sz)
    c = (size - 1) * sx / 2.0
    cz = (nz - 1) * sz / 2.0
    r = radius_um if radius_um is not None else 0.41 * size * sx
    images, truth = render_particles(
        [Spheroid((cz, c, c), (r, r, r))],
        (nz, size, size),
        spacing=voxel if sz != sx else sx,
        channels=("Ni", "Mn", "Co"),
    )
    occ = sum(np.asarray(v, dtype=np.float64) for v in images.values())
    fractions = {
        k: np.where(occ > 0, np.asarray(v) / np.maximum(occ, 1e-12), 0.0) for k, v in images.items()
    }
    return composition_to_densities(fractions, occ), truth


def true_depth_ratios(truth: Any, *, bin_width_um: float, max_depth_um: float) -> pd.DataFrame:
    """Ground-truth ratios of particle 1 at depth-bin centres (the phantom's exact profile).

    Parameters
    ----------
    truth : cathodescope.phantom.ParticleTruth
        Truth of :func:`demo_particle_densities`.
    bin_width_um : float
        Depth bin width in um.
    max_depth_um : float
        Deepest bin edge in um.

    Returns
    -------
    pandas.DataFrame
        Columns: element, depth_um (bin centre, um), ratio (true molar fraction).
    """
    centres = np.arange(bin_width_um / 2, max_depth_um, bin_width_um)
    rows = [(el, float(d), float(fn(d))) for el, fn in truth.profiles[1].items() for d in centres]
    return pd.DataFrame(rows, columns=["element", "depth_um", "ratio"])
