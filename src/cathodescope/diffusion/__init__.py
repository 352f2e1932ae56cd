"""Interdiffusion of transition metals in a sphere during sintering.

Forward model
-------------
Metal fractions ``c_e(r, t)`` (``sum_e c_e = 1`` on the transition-metal sublattice) in a sphere
of radius ``R`` start from the precursor's concentric layers and evolve with a closed surface
(``J_e(R) = 0``, no metal leaves the particle) under one of two models:

* ``"independent"``: ``du_e/dt = D_e(T) r^-2 d/dr (r^2 du_e/dr)`` for every metal on its own,
  reported as renormalised fractions ``c_e = u_e / sum_j u_j``. Each ``u_e`` is conserved
  exactly; the renormalised fractions only approximately when the ``D_e`` differ.
* ``"multicomponent"``: ``dc_e/dt = -r^-2 d/dr (r^2 J_e)`` with
  ``J_e = -D_e dc_e/dr + c_e sum_j D_j dc_j/dr``, so ``sum_e J_e = 0`` (the sublattice stays
  full); for two metals ``J_1 = -(c_2 D_1 + c_1 D_2) dc_1/dr`` (Darken). Every metal is
  conserved and the fractions sum to 1.

With one D for all metals both are linear diffusion. Temperature enters through Arrhenius,
``D_e(T) = D_e(T_ref) exp(-Ea_e / R (1/T - 1/T_ref))``, ``T_ref`` the schedule's top temperature,
i.e. through the reduced times ``theta_e = integral D_e(T(t)) dt / R^2``.

Numerics: finite volumes on ``n`` shells of equal thickness (second order in space); the
independent model is exact in time through the eigenmodes of the closed-sphere operator, the
multicomponent model uses Crank-Nicolson (backward-Euler start, Picard update of the face
fractions) with a block-tridiagonal solve. Bin values reproduce what the depth-profile engine
measures: ``r^(ndim-1)``-weighted shell averages over each depth bin, optionally after an
isotropic Gaussian blur of the element and total intensities.

Inverse
-------
:func:`fit_ratios` fits ``log10 D`` per metal (or one shared D) to each particle's ratio profile
(``chi2`` with the standard errors from the engine's intervals) and to the whole sample, with
profile-likelihood intervals, and reports (likelihood-ratio test against one shared D) when the
data cannot separate the metals' D values.
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
