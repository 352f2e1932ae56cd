"""Ground-truth generators. Every generator returns ``(data, truth)``.

Particles and scenes (2D/3D) with known profiles, volumes and labels; spectra mixtures; cycling and
GITT curves; diffraction patterns.
"""

# -- particles and scenes --

# --

# -- spectra --

# --

# -- cycling and GITT --
from cathodescope.phantom._cycling import cycling_phantom, gitt_phantom

# --

# -- diffraction and thermal --

# --
