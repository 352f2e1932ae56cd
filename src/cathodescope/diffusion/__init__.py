"""Interdiffusion of transition metals in a sphere during sintering.

Forward model from precursor layers (:func:`simulate`, two models: independent D per metal with
renormalised fractions, and the constrained multicomponent model whose fluxes sum to zero on the
fixed transition-metal sublattice), its output on the depth-profile engine's bins, and fits of D
to measured ratio profiles with profile-likelihood intervals (:func:`fit_ratios`).
"""

from cathodescope.diffusion._fit import FIT_COLUMNS, DiffusionFit, fit_profiles, fit_ratios
from cathodescope.diffusion._forward import (
    MODELS,
    DiffusionProfiles,
    RadialProfile,
    reduced_times,
    simulate,
)
from cathodescope.diffusion._observed import ObservedProfiles, observed_from_ratios
from cathodescope.diffusion._precursor import (
    GAS_CONSTANT_J_MOL_K,
    Precursor,
    PrecursorSpec,
    Schedule,
    arrhenius_D,
    format_precursor,
    paper_precursor,
    parse_precursor,
    read_precursor,
)
from cathodescope.diffusion._sphere import observation_matrix

__all__ = [
    "FIT_COLUMNS",
    "GAS_CONSTANT_J_MOL_K",
    "MODELS",
    "DiffusionFit",
    "DiffusionProfiles",
    "ObservedProfiles",
    "Precursor",
    "PrecursorSpec",
    "RadialProfile",
    "Schedule",
    "arrhenius_D",
    "fit_profiles",
    "fit_ratios",
    "format_precursor",
    "observation_matrix",
    "observed_from_ratios",
    "paper_precursor",
    "parse_precursor",
    "read_precursor",
    "reduced_times",
    "simulate",
]
