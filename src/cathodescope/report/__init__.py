"""Reporting: run folders with manifest, tables and figures.

The figure functions are loaded on first use so that ``import cathodescope.report`` does not
import matplotlib.
"""

from typing import Any

from cathodescope.report._runfolder import RunFolder
from cathodescope.report._scene import write_scene_report

_FIGURES = ("plot_channel_profiles", "plot_density", "plot_depth_slice", "plot_ratio_profile")
_XRD_FIGURES = ("plot_heating_contour", "plot_peak_fits", "plot_williamson_hall")
_THERMAL_FIGURES = ("plot_gas_release",)

__all__ = ["RunFolder", "write_scene_report", *_FIGURES, *_XRD_FIGURES, *_THERMAL_FIGURES]


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        from cathodescope.report import _profile_figures

        return getattr(_profile_figures, name)
    if name in _XRD_FIGURES:
        from cathodescope.report import _xrd

        return getattr(_xrd, name)
    if name in _THERMAL_FIGURES:
        from cathodescope.report import _thermal

        return getattr(_thermal, name)
    raise AttributeError(f"module 'cathodescope.report' has no attribute {name!r}")
