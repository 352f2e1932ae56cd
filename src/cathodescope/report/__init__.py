"""Reporting: run folders with manifest, tables and figures, and the HTML sample report.

One private module per family of figures (``_profiles``, ``_tomo``, ``_xrd``, ...), drawn with
matplotlib's object API. The figure functions are loaded on first use so that
``import cathodescope.report`` does not import matplotlib.
"""

from typing import Any

from cathodescope.report._compare import comparison_figures, particle_mean_ratios
from cathodescope.report._html import write_comparison_page, write_sample_pages
from cathodescope.report._runfolder import RunFolder, safe_name
from cathodescope.report._runs import RunRecord, Sample, load_run, read_sample_file
from cathodescope.report._scene import write_scene_report
from cathodescope.report._summary import key_numbers

# public figure function -> private module that draws it
_FIGURES = {
    "plot_channel_profiles": "_profiles",
    "plot_density": "_profiles",
    "plot_depth_slice": "_profiles",
    "plot_ratio_profile": "_profiles",
    "plot_registration": "_tomo",
    "plot_volume_slices": "_tomo",
    "plot_heating_contour": "_xrd",
    "plot_peak_fits": "_xrd",
    "plot_williamson_hall": "_xrd",
    "plot_gas_release": "_thermal",
    "plot_lcf": "_xas",
    "plot_normalization": "_xas",
    "plot_selfabs": "_xas",
    "plot_surface_bulk": "_xas",
    "plot_xanes_maps": "_xas",
    "plot_layer_kernels": "_layer",
    "plot_layer_profile": "_layer",
    "plot_layer_series": "_layer",
    "plot_layer_weights": "_layer",
    "MAX_INFO_PANELS": "_spm",
    "cube_figure": "_spm",
    "curve_figure": "_spm",
    "maps_figure": "_spm",
    "soc_series_figure": "_spm",
    "spm_histogram_figure": "_spm",
    "spm_profile_figure": "_spm",
    "write_spm_map_tiff": "_spm",
    "write_spm_scene_report": "_spm",
    "core_shell_particles_figure": "_xrf",
    "coreshell_figure": "_xrf",
    "map_extent": "_xrf",
    "overlay_figure": "_xrf",
    "ratio_figure": "_xrf",
    "transect_figure": "_xrf",
    "write_xrf_map_tiff": "_xrf",
    "plot_diffusion_D": "_diffusion",
    "plot_diffusion_fit": "_diffusion",
    "plot_diffusion_profiles": "_diffusion",
    "plot_cycle_summary": "_echem",
    "plot_dqdv": "_echem",
    "plot_gitt": "_echem",
    "plot_ici": "_echem",
    "plot_voltage_capacity": "_echem",
}

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
]


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        import importlib

        return getattr(importlib.import_module(f"cathodescope.report.{_FIGURES[name]}"), name)
    raise AttributeError(f"module 'cathodescope.report' has no attribute {name!r}")
