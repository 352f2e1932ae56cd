"""Ground-truth generators. Every generator returns ``(data, truth)``.

Particles and scenes (2D/3D) with known profiles, volumes and labels; spectra mixtures; cycling and
GITT curves; diffraction patterns.
"""

# -- particles and scenes --
from cathodescope.phantom._particles import (  # noqa: F401  (re-exports)
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

# -- spectra --

# --

# -- cycling and GITT --

# --

# -- diffraction and thermal --

# --
