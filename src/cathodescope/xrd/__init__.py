"""Diffraction and thermal stability.

Patterns and series (read with :mod:`cathodescope.io`), 2theta/d/Q and wavelength conversion,
pseudo-Voigt and Ka-doublet peak fitting and tracking, hexagonal (R-3m) lattice parameters,
Williamson-Hall size/strain, layered -> spinel -> rock-salt transitions on heating and
gas-release (mass-spectrometry) curves. Figures of these results are in
:mod:`cathodescope.report` (``plot_peak_fits``, ``plot_williamson_hall``,
``plot_heating_contour``, ``plot_gas_release``).
"""

from cathodescope.xrd._gas import GasReleaseResult, analyze_gas_release, join_on_temperature
from cathodescope.xrd._lattice import (
    LAYERED_HKL,
    LatticeResult,
    d_spacing_hexagonal,
    fit_hexagonal_lattice,
    layered_oxide_lattice,
    layered_peak_windows,
)
from cathodescope.xrd._peaks import (
    PeakFitResult,
    PeakWindow,
    fit_peaks,
    peak_fit_curve,
    pseudo_voigt,
    track_peaks,
)
from cathodescope.xrd._sizestrain import WilliamsonHallResult, williamson_hall
from cathodescope.xrd._thermal import (
    ThermalTransitions,
    detect_thermal_transitions,
    layered_windows,
)
from cathodescope.xrd._units import (
    CU_KA1_A,
    CU_KA2_A,
    KA2_KA1_RATIO,
    convert_wavelength,
    d_to_two_theta,
    kalpha2_position,
    kalpha_wavelengths,
    pattern_wavelength,
    q_to_two_theta,
    two_theta_to_d,
    two_theta_to_q,
)

__all__ = [
    "CU_KA1_A",
    "CU_KA2_A",
    "KA2_KA1_RATIO",
    "LAYERED_HKL",
    "GasReleaseResult",
    "LatticeResult",
    "PeakFitResult",
    "PeakWindow",
    "ThermalTransitions",
    "WilliamsonHallResult",
    "analyze_gas_release",
    "convert_wavelength",
    "d_spacing_hexagonal",
    "d_to_two_theta",
    "detect_thermal_transitions",
    "fit_hexagonal_lattice",
    "fit_peaks",
    "join_on_temperature",
    "kalpha2_position",
    "kalpha_wavelengths",
    "layered_oxide_lattice",
    "layered_peak_windows",
    "layered_windows",
    "pattern_wavelength",
    "peak_fit_curve",
    "pseudo_voigt",
    "q_to_two_theta",
    "track_peaks",
    "two_theta_to_d",
    "two_theta_to_q",
    "williamson_hall",
]
