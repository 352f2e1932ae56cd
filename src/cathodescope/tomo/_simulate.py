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
import scipy.ndimage as ndi

from cathodescope._validation import check_positive
from cathodescope.errors import ParameterError, ShapeMismatchError
from cathodescope.io._txm import RawProjections, make_projections


@dataclass(frozen=True)
class SimulationTruth:
    """What the simulator injected.

    Attributes
    ----------
    shifts_px : dict[float, ndarray]
        Per energy (eV), shape (n_angles, 2): the ``(dy, dx)`` displacement of the sample image
        in detector pixels at each angle (zero for the reference energy).
    centre_px : float
        Detector column of the rotation axis.
    angles_deg : ndarray
    energies_ev : tuple of float
    reference_energy_ev : float
    spacing_um : float
    densities : dict[str, ndarray]
        The input partial densities (g/cm^3), (z, y, x).
    parameters : dict
    """

    shifts_px: dict[float, np.ndarray]
    centre_px: float
    angles_deg: np.ndarray
    energies_ev: tuple[float, ...]
    reference_energy_ev: float
    spacing_um: float
    densities: dict[str, np.ndarray]
    parameters: dict[str, Any] = field(default_factory=dict)


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


def simulate_projections(
    densities: Mapping[str, Any],
    *,
    spacing_um: float,
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
        Partial densities in g/cm^3 on a cubic-voxel grid (rotation axis along ``z`` through
        the centre of the ``(y, x)`` plane, which must be square).
    spacing_um : float
        Voxel size in um (also the detector pixel size).
    energies_ev : sequence of float
        Photon energies in eV.
    angles_deg : sequence of float, optional
        Projection angles (default ``n_angles`` evenly over [0, 180] degrees, both ends included,
        so 180-degree mirror pairs exist).
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
    spacing = check_positive(spacing_um, "spacing_um")
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
    nz, n, _ = shape
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
    line = {}
    for el, v in zip(names, vols, strict=True):
        p = forward_project(
            np.ascontiguousarray(v.transpose(1, 2, 0)), angles, n_det=n_det, centre=centre
        )
        line[el] = p.transpose(0, 2, 1)
    mass_att = attenuation_matrix(energies, names)  # (n_E, n_el) cm^2/g
    px_cm = spacing * 1e-4
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
        moved = np.empty_like(total)
        for k in range(angles.size):
            moved[k] = (
                ndi.shift(total[k], sh[k], order=3, mode="nearest") if np.any(sh[k]) else total[k]
            )
        flat_mean = flat_counts * beam
        counts = rng.poisson(flat_mean[None] * np.exp(-moved)) + rng.poisson(
            dark_counts, moved.shape
        )
        flats = rng.poisson(flat_mean[None], (n_flats, nz, n_det)) + rng.poisson(
            dark_counts, (n_flats, nz, n_det)
        )
        darks = rng.poisson(dark_counts, (n_darks, nz, n_det))
        out.append(
            make_projections(
                counts.astype(np.float32),
                angles,
                flats=flats.astype(np.float32),
                darks=darks.astype(np.float32),
                energy_ev=energy,
                pixel_size_um=spacing,
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
        spacing_um=spacing,
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
