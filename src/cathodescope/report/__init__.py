"""Reporting: run folders with manifest, tables and figures.

One private module per family of figures (``_profiles``, ``_tomo``, ...), drawn with
matplotlib's object API. The figure functions are loaded on first use so that
``import cathodescope.report`` does not import matplotlib.
"""

from typing import Any

from cathodescope.report._runfolder import RunFolder
from cathodescope.report._scene import write_scene_report

# public figure function -> private module that draws it
_FIGURES = {
    "plot_channel_profiles": "_profiles",
    "plot_density": "_profiles",
    "plot_depth_slice": "_profiles",
    "plot_ratio_profile": "_profiles",
    "plot_registration": "_tomo",
    "plot_volume_slices": "_tomo",
}

__all__ = ["RunFolder", "write_scene_report", *_FIGURES]


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        import importlib

        return getattr(importlib.import_module(f"cathodescope.report.{_FIGURES[name]}"), name)
    raise AttributeError(f"module 'cathodescope.report' has no attribute {name!r}")
