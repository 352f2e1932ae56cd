"""Ground-truth generators. Every generator returns ``(data, truth)``.

Particles and scenes (2D/3D) with known profiles, volumes and labels; spectra mixtures; cycling and
GITT curves; diffraction patterns.
"""

# -- particles and scenes --

# --

# -- spectra --
from cathodescope.phantom._spectra import (
    k_edge_model,
    k_edge_standards,
    l_edge_standards,
    mixture_spectrum,
    surface_bulk_series,
    xanes_stack_phantom,
)

# --

# -- cycling and GITT --

# --

# -- diffraction and thermal --

# --
