"""Cycling data: per-cycle metrics, dQ/dV with peak tracking across cycles, GITT.

Read files with :func:`cathodescope.io.read_cycler` (canonical table documented in
:mod:`cathodescope.common.schemas`), then:

* :func:`cycle_summary` - capacities (mAh, mAh/g), coulombic efficiency, retention, energy,
  average and end voltages, C-rate, per cycle (a cycle = a charge followed by a discharge);
* :func:`dqdv`, :func:`find_dqdv_peaks`, :func:`track_peaks` - differential capacity on a
  common voltage grid, peaks with uncertainties, and their identity across cycles;
* :func:`gitt_analysis`, :func:`diffusion_length` - Weppner-Huggins diffusion coefficients
  (pulse -> rest, pulse -> OCV, pulse -> PEIS -> rest);
* :func:`ici_analysis` - resistance and diffusion from short current interruptions (ICI).
"""

from cathodescope.echem._dqdv import DQDV, dqdv
from cathodescope.echem._gitt import (
    GITTResult,
    diffusion_length,
    gitt_analysis,
    weppner_huggins_mass,
    weppner_huggins_radius,
)
from cathodescope.echem._ici import ICIResult, ici_analysis
from cathodescope.echem._peaks import find_dqdv_peaks
from cathodescope.echem._summary import cycle_summary, step_table
from cathodescope.echem._tracks import PeakTracks, track_peaks

__all__ = [
    "DQDV",
    "GITTResult",
    "ICIResult",
    "PeakTracks",
    "cycle_summary",
    "diffusion_length",
    "dqdv",
    "find_dqdv_peaks",
    "gitt_analysis",
    "ici_analysis",
    "step_table",
    "track_peaks",
    "weppner_huggins_mass",
    "weppner_huggins_radius",
]
