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
from cathodescope.spm._display import display_scale
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
from cathodescope.spm._runs import (
    LevelledChannel,
    cube_statistics,
    curve_statistics,
    esm_summary,
    level_channel,
)
from cathodescope.spm._scene import (
    SPMSceneAnalysis,
    analyze_spm_scene,
    boundary_core_table,
    particles_from_scan,
    spm_maps,
)
from cathodescope.spm._soc import (
    SOC_QUANTITIES,
    SocSeries,
    analyze_soc_file,
    read_soc_table,
    soc_series,
)

__all__ = [
    "SOC_QUANTITIES",
    "CafmResult",
    "CrosstalkResult",
    "DartResult",
    "LevelResult",
    "LevelledChannel",
    "ParticleStatistics",
    "SPMSceneAnalysis",
    "SocSeries",
    "align_rows",
    "analyze_soc_file",
    "analyze_spm_scene",
    "boundary_core_table",
    "cafm_particle_current",
    "cube_statistics",
    "curve_statistics",
    "dart_from_scan",
    "dart_solve",
    "dho_response",
    "display_scale",
    "esm_summary",
    "level_channel",
    "masked_level",
    "normalize_esm",
    "particle_statistics",
    "particles_from_scan",
    "plane_level",
    "polynomial_level",
    "polynomial_surface",
    "read_soc_table",
    "remove_scars",
    "soc_series",
    "spm_maps",
    "topography_crosstalk",
]
