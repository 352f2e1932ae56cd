"""X-ray fluorescence element maps: ratios, fractions, overlays, line profiles, core/shell fits.

Readers live in :mod:`cathodescope.io` (``read_pyxrf_h5``, ``read_maps_h5``, ``read_xrf_tiffs``,
``read_xrf_map``) and are re-exported here. Per-particle segmentation and depth profiles go
through the depth-profile engine (:mod:`cathodescope.segment`, :mod:`cathodescope.profile`).
"""

from cathodescope.io import (
    read_maps_h5,
    read_pyxrf_h5,
    read_xrf_map,
    read_xrf_tiffs,
    resolve_channels,
    write_pyxrf_h5,
)
from cathodescope.xrf._coreshell import CoreShellFit, fit_core_shell, half_height_position
from cathodescope.xrf._lineprofile import line_profile
from cathodescope.xrf._maps import as_maps, fraction_maps, map_spacing, ratio_map, rgb_overlay
from cathodescope.xrf._particles import (
    XRFParticleAnalysis,
    analyze_particles,
    fit_depth_profiles,
    summarize_core_shell,
)
from cathodescope.xrf._phantom import NMC442, NMC701515, core_shell_map, random_discs
from cathodescope.xrf._transect import (
    CoreShellTransect,
    FractionTransect,
    fit_transect,
    fraction_transect,
    ratio_summary,
)

__all__ = [
    "NMC442",
    "NMC701515",
    "CoreShellFit",
    "CoreShellTransect",
    "FractionTransect",
    "XRFParticleAnalysis",
    "analyze_particles",
    "as_maps",
    "core_shell_map",
    "fit_core_shell",
    "fit_depth_profiles",
    "fit_transect",
    "fraction_maps",
    "fraction_transect",
    "half_height_position",
    "line_profile",
    "map_spacing",
    "random_discs",
    "ratio_map",
    "ratio_summary",
    "read_maps_h5",
    "read_pyxrf_h5",
    "read_xrf_map",
    "read_xrf_tiffs",
    "resolve_channels",
    "rgb_overlay",
    "summarize_core_shell",
    "write_pyxrf_h5",
]
