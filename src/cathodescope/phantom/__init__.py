"""Ground-truth generators. Every generator returns ``(data, truth)``.

Particles and scenes (2D/3D) with known profiles, volumes and labels; spectra mixtures; cycling and
GITT curves; diffraction patterns.
"""

from cathodescope.phantom._cycling import cycling_phantom, gitt_phantom
from cathodescope.phantom._diffraction import (
    gas_release_trace,
    heating_series,
    layered_oxide_pattern,
)
from cathodescope.phantom._geometry import Spheroid, ellipsoid_depth
from cathodescope.phantom._layers import ELEMENTS, LayeredProfile, paper_profile
from cathodescope.phantom._particles import make_scene, paper_scene
from cathodescope.phantom._render import DEPTH_DEFINITION, ParticleTruth, render_particles
from cathodescope.phantom._slabs import SlabScene, write_scene_zarr
from cathodescope.phantom._spectra import (
    k_edge_model,
    k_edge_standards,
    l_edge_standards,
    mixture_spectrum,
    surface_bulk_series,
    xanes_stack_phantom,
)

__all__ = [
    "DEPTH_DEFINITION",
    "ELEMENTS",
    "LayeredProfile",
    "ParticleTruth",
    "SlabScene",
    "Spheroid",
    "cycling_phantom",
    "ellipsoid_depth",
    "gas_release_trace",
    "gitt_phantom",
    "heating_series",
    "k_edge_model",
    "k_edge_standards",
    "l_edge_standards",
    "layered_oxide_pattern",
    "make_scene",
    "mixture_spectrum",
    "paper_profile",
    "paper_scene",
    "render_particles",
    "surface_bulk_series",
    "write_scene_zarr",
    "xanes_stack_phantom",
]
