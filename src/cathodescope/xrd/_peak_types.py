"""Peak windows and the result of peak fits (the types shared by the fitter and its callers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.errors import ParameterError

__all__ = ["PeakFitResult", "PeakWindow"]


@dataclass(frozen=True)
class PeakWindow:
    """A 2theta window holding one or more peaks fitted together.

    Parameters
    ----------
    lo, hi : float
        Window limits, 2theta in degrees.
    centers : tuple of float
        Starting Ka1 positions (deg) of the peaks in the window.
    names : tuple of str, optional
        Peak labels (e.g. ``("108", "110")``); default ``"p<lo>_<i>"``.
    """

    lo: float
    hi: float
    centers: tuple[float, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        centers = tuple(float(c) for c in np.atleast_1d(self.centers))
        object.__setattr__(self, "centers", centers)
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)) or self.hi <= self.lo:
            raise ParameterError(f"window needs lo < hi (deg), got {self.lo}..{self.hi}.")
        if not centers:
            raise ParameterError("a PeakWindow needs at least one starting center.")
        if any(not self.lo <= c <= self.hi for c in centers):
            raise ParameterError(f"centers {centers} must lie inside {self.lo}..{self.hi} deg.")
        names = tuple(self.names) or tuple(f"p{self.lo:.2f}_{i}" for i in range(len(centers)))
        if len(names) != len(centers):
            raise ParameterError(f"{len(names)} names for {len(centers)} centers.")
        object.__setattr__(self, "names", names)

    @classmethod
    def around(cls, center: float, half_width: float, name: str | None = None) -> PeakWindow:
        """One-peak window ``center +/- half_width`` (deg)."""
        return cls(center - half_width, center + half_width, (center,), (name,) if name else ())


@dataclass(frozen=True)
class PeakFitResult:
    """Fitted peaks of one pattern or of every frame of a series.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (frame, peak): ``frame``, ``peak``, ``window``, ``center_deg``,
        ``center_err_deg``, ``fwhm_deg``, ``fwhm_err_deg``, ``eta``, ``eta_err``, ``area``,
        ``area_err`` (intensity x deg), ``height`` (intensity, Ka1 component), ``bg0``, ``bg1``
        (intensity, intensity/deg), ``redchi``, ``n_points``, ``converged``, and the per-frame
        coordinates of a series (``temperature_C``, ``time_s``, ``soc``) when present.
    parameters : dict
        Options used (windows, doublet, ratio, wavelengths, weights, block).
    """

    table: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The result table (a copy)."""
        return self.table.copy()

    def peak(self, name: str) -> pd.DataFrame:
        """Rows of one peak, one per frame."""
        return self.table[self.table["peak"] == name].reset_index(drop=True)
