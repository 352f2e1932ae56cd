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

__all__ = [
    "DartResult",
    "LevelResult",
    "align_rows",
    "dart_from_scan",
    "dart_solve",
    "dho_response",
    "masked_level",
    "normalize_esm",
    "plane_level",
    "polynomial_level",
    "polynomial_surface",
    "remove_scars",
]
