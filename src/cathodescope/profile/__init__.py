"""Depth-profile engine: distance-from-surface maps, depth-binned statistics with honest
confidence intervals, elemental ratios, Table-1 metrics and radial line scans (2D and 3D)."""

from cathodescope.profile._depth import convex_hull_fill, depth_map
from cathodescope.profile._device import device_depth_values
from cathodescope.profile._linescan import radial_line_scans
from cathodescope.profile._pipeline import SceneAnalysis, analyze_scene
from cathodescope.profile._profiles import DepthProfiles, depth_profiles
from cathodescope.profile._stats import bin_moments
from cathodescope.profile._summary import sample_summary

__all__ = [
    "DepthProfiles",
    "SceneAnalysis",
    "analyze_scene",
    "bin_moments",
    "convex_hull_fill",
    "depth_map",
    "depth_profiles",
    "device_depth_values",
    "radial_line_scans",
    "sample_summary",
]
