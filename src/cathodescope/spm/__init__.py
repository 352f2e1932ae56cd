"""Scanning-probe microscopy: levelling, DART/ESM normalisation, C-AFM, particle statistics.

Readers live in :mod:`cathodescope.io` (``read_spm``, ``read_ibw``, ``read_nanoscope``,
``read_gwy``).
"""

from cathodescope.spm._dart import (
    DartResult,
    dart_from_scan,
    dart_solve,
    dho_response,
    normalize_esm,
)
from cathodescope.spm._level import (
    LevelResult,
    align_rows,
    masked_level,
    plane_level,
    polynomial_level,
    polynomial_surface,
    remove_scars,
)
from cathodescope.spm._particles import (
    CafmResult,
    CrosstalkResult,
    ParticleStatistics,
    cafm_particle_current,
    particle_statistics,
    topography_crosstalk,
)

__all__ = [
    "CafmResult",
    "CrosstalkResult",
    "DartResult",
    "LevelResult",
    "ParticleStatistics",
    "align_rows",
    "cafm_particle_current",
    "dart_from_scan",
    "dart_solve",
    "dho_response",
    "masked_level",
    "normalize_esm",
    "particle_statistics",
    "plane_level",
    "polynomial_level",
    "polynomial_surface",
    "remove_scars",
    "topography_crosstalk",
]
