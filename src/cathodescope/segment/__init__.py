"""Particle segmentation and morphology measures.

Threshold (Otsu or a value), clean-up by Euclidean balls in um, hole filling, marker-controlled
watershed separation of touching particles, removal of edge/small particles
(:func:`segment_particles`), label dilation in um (:func:`dilate_labels`) and per-particle
measures: volume, equivalent diameter, Feret ratio, convex volume, porosity, centroid, bounding
box and whole-particle composition (:func:`measure_particles`). All lengths in um, any
(anisotropic) spacing, 2D and 3D.
"""

from cathodescope.segment._measure import (
    feret_diameters,
    measure_particles,
)
from cathodescope.segment._morphology import binary_close_um, binary_open_um, dilate_labels
from cathodescope.segment._segment import Segmentation, segment_particles

__all__ = [
    "Segmentation",
    "binary_close_um",
    "binary_open_um",
    "dilate_labels",
    "feret_diameters",
    "measure_particles",
    "segment_particles",
]
