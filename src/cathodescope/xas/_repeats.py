"""Repeat scans of one sample: Athena-style alignment, merge, and one consistent e0.

The documented choice for multi-step edges
------------------------------------------
When an edge rises in two steps of comparable slope (e.g. a Ni K edge with a shoulder), the
maximum of the derivative jumps from one step to the other between repeat scans: found scan by
scan, e0 then spreads over the distance between the steps (12 eV on 8 repeats of a FeNiS Ni K
edge), although the scans differ by a few tenths of an eV. :func:`merge_repeats` therefore

1. aligns every scan on a reference scan by the energy shift that best matches their
   derivatives (ATHENA's alignment: :func:`~cathodescope.xas.align` on ``d mu / dE``),
2. merges the aligned scans (mean on the reference grid), and
3. finds e0 *once*, on the merge, and gives each scan ``e0_merge - shift``.

So the repeats share one definition of e0 and their spread is the spread of the alignment
shifts; the spread of the scan-by-scan values is reported beside it, and a warning says when
it exceeds ``max_spread_ev`` (and that the edge has several steps, when it has).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope.errors import ParameterError, XASQualityWarning
from cathodescope.xas._calibrate import align
from cathodescope.xas._normalize import E0Method, default_smoothing, find_e0
from cathodescope.xas._spectrum import as_spectrum


@dataclass(frozen=True)
class RepeatMerge:
    """Result of :func:`merge_repeats`.

    Parameters
    ----------
    names : tuple of str
        The scans, reference first as given.
    reference : str
        The scan the others were aligned on.
    shifts : ndarray, shape (n,)
        eV added to each scan's energies to align it on the reference.
    e0 : float
        e0 of the merged spectrum (eV, on the reference's axis).
    e0_scans : ndarray, shape (n,)
        Each scan's e0 on its own axis, ``e0 - shift``.
    e0_independent : ndarray, shape (n,)
        e0 found on each scan alone (same method), for comparison.
    merged : xarray.DataArray
        Mean of the aligned scans on the reference grid (where all cover it).
    multi_step : bool
        The merge's smoothed derivative has a second maximum >= ``step_fraction`` of the
        largest, more than 2 eV away.
    parameters : dict
        Method and options used.
    """

    names: tuple[str, ...]
    reference: str
    shifts: np.ndarray
    e0: float
    e0_scans: np.ndarray
    e0_independent: np.ndarray
    merged: Any
    multi_step: bool
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def spread(self) -> float:
        """Range (max - min) of :attr:`e0_scans`, eV."""
        return float(np.ptp(self.e0_scans))

    @property
    def spread_independent(self) -> float:
        """Range of :attr:`e0_independent`, eV."""
        return float(np.ptp(self.e0_independent))

    def to_dataframe(self):
        """One row per scan: ``scan, shift_eV, e0_eV, e0_independent_eV``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "scan": list(self.names),
                "shift_eV": self.shifts,
                "e0_eV": self.e0_scans,
                "e0_independent_eV": self.e0_independent,
            }
        )


def _is_multi_step(e: np.ndarray, mu: np.ndarray, fraction: float) -> bool:
    from scipy.ndimage import gaussian_filter1d

    h = max(float(np.quantile(np.diff(e), 0.1)), 0.05)
    grid = np.arange(e[0], e[-1], h)
    d1 = gaussian_filter1d(np.interp(grid, e, mu), default_smoothing(e) / h, order=1)
    peaks = np.flatnonzero((d1[1:-1] >= d1[:-2]) & (d1[1:-1] > d1[2:])) + 1
    if peaks.size < 2:
        return False
    top = peaks[np.argmax(d1[peaks])]
    far = peaks[np.abs(grid[peaks] - grid[top]) > 2.0]
    return bool(far.size and d1[far].max() >= fraction * d1[top])


def merge_repeats(
    spectra: Mapping[str, Any],
    *,
    reference: str | None = None,
    e0_method: E0Method = "derivative_max",
    align_range: tuple[float, float] = (-40.0, 60.0),
    max_shift: float = 10.0,
    max_spread_ev: float = 1.0,
    step_fraction: float = 0.8,
) -> RepeatMerge:
    """Align repeat scans on a reference (derivative matching), merge them, find one e0.

    Parameters
    ----------
    spectra : mapping of name to DataArray
        Repeat scans of one sample (energy in eV), at least 2.
    reference : str, optional
        The scan to align on (default: the first).
    e0_method : {"derivative_max", "first_inflection", "half_step"}
        How e0 is found on the merge (and on each scan for :attr:`RepeatMerge.e0_independent`).
    align_range : (float, float)
        Alignment window relative to the reference's first e0 estimate, eV.
    max_shift : float
        Largest alignment shift searched, eV.
    max_spread_ev : float
        Warn (:class:`~cathodescope.errors.XASQualityWarning`) when the scan-by-scan e0 spread
        is above this.
    step_fraction : float
        Height ratio of two derivative maxima above which the edge counts as multi-step.

    Returns
    -------
    RepeatMerge

    Raises
    ------
    ParameterError
        Fewer than 2 scans, or an unknown reference.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> e = np.linspace(8200, 8500, 601)
    >>> def scan(s):
    ...     mu = 1 / (1 + np.exp(-(e - 8333 - s) / 1.5))
    ...     return xr.DataArray(mu, dims="energy", coords={"energy": e})
    >>> m = merge_repeats({"a": scan(0.0), "b": scan(0.4)})
    >>> round(float(m.shifts[1]), 2), round(m.spread, 2)
    (-0.4, 0.4)
    """
    import xarray as xr

    if len(spectra) < 2:
        raise ParameterError(f"merge_repeats needs at least 2 scans, got {len(spectra)}.")
    names = tuple(spectra)
    ref_name = names[0] if reference is None else reference
    if ref_name not in spectra:
        raise ParameterError(f"reference {ref_name!r} is not one of the scans {list(names)}.")
    arrays = {n: as_spectrum(spectra[n], name=f"scan {n!r}") for n in names}
    er, mr = arrays[ref_name]
    e0_guess = find_e0(mr, er, method="derivative_max")
    lo, hi = e0_guess + align_range[0], e0_guess + align_range[1]
    shifts = np.zeros(len(names))
    for i, n in enumerate(names):
        if n != ref_name:
            shifts[i] = align(
                spectra[n], spectra[ref_name], fit_range=(lo, hi), max_shift=max_shift
            ).shift
    lo_c = max(float(arrays[n][0][0] + s) for n, s in zip(names, shifts, strict=True))
    hi_c = min(float(arrays[n][0][-1] + s) for n, s in zip(names, shifts, strict=True))
    grid = er[(er >= lo_c) & (er <= hi_c)]
    stack = np.stack(
        [
            np.interp(grid, arrays[n][0] + s, arrays[n][1])
            for n, s in zip(names, shifts, strict=True)
        ]
    )
    merged_mu = stack.mean(axis=0)
    e0 = find_e0(merged_mu, grid, method=e0_method)
    independent = np.array([find_e0(arrays[n][1], arrays[n][0], method=e0_method) for n in names])
    multi = _is_multi_step(grid, merged_mu, step_fraction)
    result = RepeatMerge(
        names=names,
        reference=ref_name,
        shifts=shifts,
        e0=e0,
        e0_scans=e0 - shifts,
        e0_independent=independent,
        merged=xr.DataArray(
            merged_mu,
            dims=("energy",),
            coords={"energy": ("energy", grid, {"units": "eV"})},
            name="merge",
            attrs={"units": "a.u.", "n_scans": len(names), "e0_eV": e0},
        ),
        multi_step=multi,
        parameters={
            "e0_method": e0_method,
            "align_range": (lo, hi),
            "max_shift": max_shift,
            "max_spread_ev": max_spread_ev,
            "step_fraction": step_fraction,
        },
    )
    if result.spread_independent > max_spread_ev:
        warnings.warn(
            f"e0 found scan by scan ({e0_method}) spreads over {result.spread_independent:.2f} "
            f"eV between the {len(names)} repeats while their alignment shifts spread over "
            f"{float(np.ptp(shifts)):.2f} eV"
            + (
                "; the edge rises in several steps of comparable slope, so the derivative "
                "maximum jumps between them"
                if multi
                else ""
            )
            + f". Use the e0 of the aligned merge ({e0:.2f} eV) for every repeat.",
            XASQualityWarning,
            stacklevel=2,
        )
    return result
