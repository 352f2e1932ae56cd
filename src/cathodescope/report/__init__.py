"""Reporting: run folders with manifest, tables and figures.

The figure functions are loaded on first use so that ``import cathodescope.report`` does not
import matplotlib.
"""

from typing import Any

from cathodescope.report._runfolder import RunFolder
from cathodescope.report._scene import write_scene_report

_FIGURES = ("plot_channel_profiles", "plot_density", "plot_depth_slice", "plot_ratio_profile")
_ECHEM_FIGURES = (
    "plot_cycle_summary",
    "plot_dqdv",
    "plot_gitt",
    "plot_ici",
    "plot_voltage_capacity",
)

__all__ = ["RunFolder", "write_scene_report", *_FIGURES, *_ECHEM_FIGURES]


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        from cathodescope.report import _profile_figures

        return getattr(_profile_figures, name)
    if name in _ECHEM_FIGURES:
        from cathodescope.report import _echem

        return getattr(_echem, name)
    raise AttributeError(f"module 'cathodescope.report' has no attribute {name!r}")
