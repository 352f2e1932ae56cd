"""Reporting: run folders with manifest, tables and figures.

The figure functions are loaded on first use so that ``import cathodescope.report`` does not
import matplotlib.
"""

from typing import Any

from cathodescope.report._runfolder import RunFolder
from cathodescope.report._scene import write_scene_report

_FIGURES = ("plot_channel_profiles", "plot_density", "plot_depth_slice", "plot_ratio_profile")
_SPM = (
    "MAX_INFO_PANELS",
    "cube_figure",
    "curve_figure",
    "maps_figure",
    "soc_series_figure",
    "spm_histogram_figure",
    "spm_profile_figure",
    "write_spm_map_tiff",
    "write_spm_scene_report",
)
_XRF = (
    "core_shell_particles_figure",
    "coreshell_figure",
    "map_extent",
    "overlay_figure",
    "ratio_figure",
    "transect_figure",
    "write_xrf_map_tiff",
)

__all__ = ["RunFolder", "write_scene_report", *_FIGURES, *_SPM, *_XRF]


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        from cathodescope.report import _profile_figures

        return getattr(_profile_figures, name)
    if name in _SPM:
        from cathodescope.report import _spm

        return getattr(_spm, name)
    if name in _XRF:
        from cathodescope.report import _xrf

        return getattr(_xrf, name)
    raise AttributeError(f"module 'cathodescope.report' has no attribute {name!r}")
