"""X-ray absorption spectroscopy: normalization, e0, calibration, exact LCF, TEY/FY,
self-absorption, valence and per-pixel XANES maps.

Readers live in :mod:`cathodescope.io` (``read_xdi``, ``read_xas_columns``, ``read_athena``,
``read_xanes_stack``). See ``docs``/docstrings of each function for units (energies in eV).
"""

from cathodescope.xas._calibrate import Alignment, Calibration, align, calibrate, tabulated_edge
from cathodescope.xas._diagnostics import LCFDiagnostics, diagnose_lcf, runs_test_z
from cathodescope.xas._diluent import DiluentEstimate, diluent_from_transmission
from cathodescope.xas._layer import (
    ExponentialKernel,
    FluorescenceDepth,
    LayerFit,
    LayerProfile,
    ParameterEstimate,
    Probe,
    SphereKernel,
    TabulatedKernel,
    fit_layer,
    fluorescence_depth,
    forward_weight,
)
from cathodescope.xas._layer_series import LayerSeries, fit_layer_series
from cathodescope.xas._lcf import LCFResult, lcf, lcf_combinations, simplex_lstsq
from cathodescope.xas._maps import XanesMaps, xanes_maps
from cathodescope.xas._normalize import (
    Normalization,
    find_e0,
    half_step_energy,
    normalize,
    normalize_athena_group,
)
from cathodescope.xas._repeats import RepeatMerge, merge_repeats
from cathodescope.xas._selfabs import (
    AbsorptionModel,
    absorption_model,
    correct_self_absorption,
    correct_self_absorption_thick,
    diluent_shape,
    fluorescence_forward,
    thickness_from_edge_step,
)
from cathodescope.xas._surface import surface_bulk_table
from cathodescope.xas._valence import (
    ChargeBalance,
    average_valence,
    nominal_valence,
    surface_charge_balance,
)

__all__ = [
    "AbsorptionModel",
    "Alignment",
    "Calibration",
    "ChargeBalance",
    "DiluentEstimate",
    "ExponentialKernel",
    "FluorescenceDepth",
    "LCFDiagnostics",
    "LCFResult",
    "LayerFit",
    "LayerProfile",
    "LayerSeries",
    "Normalization",
    "ParameterEstimate",
    "Probe",
    "RepeatMerge",
    "SphereKernel",
    "TabulatedKernel",
    "XanesMaps",
    "absorption_model",
    "align",
    "average_valence",
    "calibrate",
    "correct_self_absorption",
    "correct_self_absorption_thick",
    "diagnose_lcf",
    "diluent_from_transmission",
    "diluent_shape",
    "find_e0",
    "fit_layer",
    "fit_layer_series",
    "fluorescence_depth",
    "fluorescence_forward",
    "forward_weight",
    "half_step_energy",
    "lcf",
    "lcf_combinations",
    "merge_repeats",
    "nominal_valence",
    "normalize",
    "normalize_athena_group",
    "runs_test_z",
    "simplex_lstsq",
    "surface_bulk_table",
    "surface_charge_balance",
    "tabulated_edge",
    "thickness_from_edge_step",
    "xanes_maps",
]
