"""Reporting: run folders with manifest, tables and figures, and the HTML sample report.

The figure functions are loaded on first use so that ``import cathodescope.report`` does not
import matplotlib.
"""

from typing import Any

from cathodescope.report._compare import comparison_figures, particle_mean_ratios
from cathodescope.report._html import write_comparison_page, write_sample_pages
from cathodescope.report._runfolder import RunFolder, safe_name
from cathodescope.report._runs import RunRecord, Sample, load_run, read_sample_file
from cathodescope.report._scene import write_scene_report
from cathodescope.report._summary import key_numbers

_FIGURES = ("plot_channel_profiles", "plot_density", "plot_depth_slice", "plot_ratio_profile")
_XRD_FIGURES = ("plot_heating_contour", "plot_peak_fits", "plot_williamson_hall")
_THERMAL_FIGURES = ("plot_gas_release",)

__all__ = [
    "RunFolder",
    "RunRecord",
    "Sample",
    "comparison_figures",
    "key_numbers",
    "load_run",
    "particle_mean_ratios",
    "read_sample_file",
    "safe_name",
    "write_comparison_page",
    "write_sample_pages",
    "write_scene_report",
    *_FIGURES,
    *_XRD_FIGURES,
    *_THERMAL_FIGURES,
]


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
