"""Small ground-truth objects for the profile tests, built with numpy only.

A sphere (3D) or disk (2D) of radius ``R`` um whose composition depends analytically on the true
depth ``R - r`` below its surface, optional central void, optional spatially correlated noise
(Gaussian-filtered white noise, normalised to unit standard deviation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import ndimage as ndi

# Composition (fractions) as functions of the true depth d (um): Ni rises into the core, Mn and
# Co fall; they sum to 1 at every depth, so the true ratio equals the concentration.
COMPOSITION: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Ni": lambda d: 0.57 + 0.17 * (1 - np.exp(-d / 0.8)),
    "Mn": lambda d: 0.21 - 0.08 * (1 - np.exp(-d / 0.8)),
    "Co": lambda d: 0.22 - 0.09 * (1 - np.exp(-d / 0.8)),
}


def ball(
    shape: tuple[int, ...],
    spacing: tuple[float, ...],
    radius_um: float,
    *,
    void_um: float = 0.0,
    density: float = 100.0,
    composition: dict[str, Callable[[np.ndarray], np.ndarray]] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Labels, noise-free channels (float32) and the true depth (um) of a centred ball/disk."""
    comp = COMPOSITION if composition is None else composition
    grids = np.meshgrid(
        *[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)],
        indexing="ij",
    )
    r = np.sqrt(sum(g * g for g in grids))
    inside = (r < radius_um) & (r >= void_um)
    depth_true = np.where(inside, radius_um - r, 0.0)
    chans = {
        name: np.where(inside, density * f(depth_true), 0.0).astype(np.float32)
        for name, f in comp.items()
    }
    return inside.astype(np.int32), chans, depth_true


def correlated_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float
) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation (exact normalisation)."""
    size = int(np.ceil(4 * sigma_vox)) * 2 + 1
    impulse = np.zeros((size,) * len(shape))
    impulse[(size // 2,) * len(shape)] = 1.0
    norm = np.sqrt((ndi.gaussian_filter(impulse, sigma_vox) ** 2).sum())
    return (ndi.gaussian_filter(rng.standard_normal(shape), sigma_vox) / norm).astype(np.float32)


@pytest.fixture(scope="session")
def make_ball():
    """Factory of noise-free balls/disks: ``ball(shape, spacing, radius_um, ...)``."""
    return ball


@pytest.fixture(scope="session")
def make_noise():
    """Factory of unit-variance correlated noise: ``correlated_noise(rng, shape, sigma_vox)``."""
    return correlated_noise


@pytest.fixture(scope="session")
def composition():
    """The analytic composition (fraction vs true depth in um) used by ``make_ball``."""
    return COMPOSITION
