"""Ground-truth generators. Every generator returns ``(data, truth)``.

Particles and scenes (2D/3D) with known profiles, volumes and labels; spectra mixtures; cycling and
GITT curves; diffraction patterns.
"""

# -- particles and scenes --
# --
# -- spectra --
# --
# -- cycling and GITT --
# --
# -- diffraction and thermal --
from cathodescope.phantom._diffraction import (
    gas_release_trace,
    heating_series,
    layered_oxide_pattern,
)
from cathodescope.phantom._particles import (
    DEPTH_DEFINITION,
    ELEMENTS,
    LayeredProfile,
    ParticleTruth,
    Spheroid,
    ellipsoid_depth,
    make_scene,
    paper_profile,
    paper_scene,
    render_particles,
)

# --

__all__ = [
    "DEPTH_DEFINITION",
    "ELEMENTS",
    "LayeredProfile",
    "ParticleTruth",
    "Spheroid",
    "ellipsoid_depth",
    "gas_release_trace",
    "heating_series",
    "layered_oxide_pattern",
    "make_scene",
    "paper_profile",
    "paper_scene",
    "render_particles",
]
