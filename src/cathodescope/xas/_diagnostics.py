"""Diagnostics of a linear combination fit that speak up when the numbers deserve doubt.

Four checks, each with a stated threshold (keywords of :func:`diagnose_lcf`):

* **weight at a bound with structured residuals**: a weight at 0 or 1 is only trustworthy when
  the residual is noise; a Wald-Wolfowitz runs test on the residual's signs (``z`` below
  ``runs_z_threshold``, i.e. long runs of one sign) says it is not;
* **energy offset**: the best common shift of the data against the fitted model (exact simplex
  refit on a 0.05 eV grid within ``max_offset`` eV) improving the residual sum of squares by
  more than ``offset_gain`` while being larger than ``min_offset_ev``: suggest fitting shifts
  (the message says how much the weights move at that shift);
* **R-factor** above ``r_factor_threshold`` (0.02 by default: Athena's usual "good fit" limit);
* the caller adds normalization warnings (too few pre/post-edge points, see ``normalize``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope.errors import XASQualityWarning
from cathodescope.xas._lcf import _design, _standard_arrays, simplex_lstsq
from cathodescope.xas._spectrum import as_spectrum


@dataclass(frozen=True)
class LCFDiagnostics:
    """What :func:`diagnose_lcf` measured and what it warns about.

    Parameters
    ----------
    at_bound : tuple of str
        Standards whose weight is at 0 or 1 (within 1e-6).
    runs_z : float
        Runs-test z score of the residual's signs (below -2: structured, not noise).
    common_shift_ev : float
        Shift (eV) of the data that best fits the model (positive: data sit higher in energy).
    shift_gain : float
        Fractional drop of the residual sum of squares at that shift.
    r_factor : float
        The fit's R-factor.
    messages : tuple of str
        The warnings raised (empty for a clean fit).
    parameters : dict
        Thresholds used.
    """

    at_bound: tuple[str, ...]
    runs_z: float
    common_shift_ev: float
    shift_gain: float
    r_factor: float
    messages: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self):
        """One row per message (``check, message``); a single ``ok`` row when there is none."""
        import pandas as pd

        rows = [{"check": m.split(":", 1)[0], "message": m} for m in self.messages]
        return pd.DataFrame(rows or [{"check": "ok", "message": "no diagnostic raised"}])


def runs_test_z(residual: np.ndarray) -> float:
    """Wald-Wolfowitz runs-test z score of the signs of ``residual`` (0 for white noise).

    Parameters
    ----------
    residual : ndarray, shape (n,)
        Fit residual in energy order.

    Returns
    -------
    float
        ``(runs - expected) / sd``; strongly negative when the residual has long runs of one
        sign (a misfit shape), ``nan`` when all signs are equal.

    Examples
    --------
    >>> round(runs_test_z(np.array([1.0, -1.0] * 20)), 2)
    6.09
    """
    s = np.sign(np.asarray(residual, dtype=float))
    s = s[s != 0]
    n_pos, n_neg = int(np.sum(s > 0)), int(np.sum(s < 0))
    n = n_pos + n_neg
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    runs = 1 + int(np.count_nonzero(s[1:] != s[:-1]))
    mean = 2.0 * n_pos * n_neg / n + 1.0
    var = (mean - 1.0) * (mean - 2.0) / (n - 1.0)
    return float((runs - mean) / np.sqrt(var)) if var > 0 else float("nan")


def _best_common_shift(
    result: Any, e: np.ndarray, y: np.ndarray, std: Mapping[str, tuple], max_offset: float
) -> tuple[float, float, float]:
    """Shift of the data minimising the exact refit's SSR on the window; (shift, gain, dw)."""
    ef = result.energy
    a = _design(std, ef, np.asarray(result.shifts, dtype=float))
    lo_ok = max(e[0] - ef[0], -max_offset)
    hi_ok = min(e[-1] - ef[-1], max_offset)
    if hi_ok <= lo_ok:
        return 0.0, 0.0, 0.0
    grid = np.arange(np.ceil(lo_ok / 0.05) * 0.05, hi_ok + 1e-9, 0.05)
    targets = np.stack([np.interp(ef + s, e, y) for s in grid], axis=1)
    ws, ssr = simplex_lstsq(a, targets)
    w0, ssr0 = simplex_lstsq(a, np.interp(ef, e, y))
    i = int(np.argmin(ssr))
    gain = float(1.0 - ssr[i] / ssr0) if ssr0 > 0 else 0.0
    return float(grid[i]), gain, float(np.max(np.abs(ws[:, i] - w0)))


def diagnose_lcf(
    result: Any,
    spectrum: Any,
    standards: Mapping[str, Any],
    *,
    r_factor_threshold: float = 0.02,
    runs_z_threshold: float = -3.0,
    min_offset_ev: float = 0.5,
    offset_gain: float = 0.3,
    max_offset: float = 5.0,
    warn: bool = True,
) -> LCFDiagnostics:
    """Check an LCF result; warn (:class:`~cathodescope.errors.XASQualityWarning`) when doubtful.

    Parameters
    ----------
    result : LCFResult
        From :func:`cathodescope.xas.lcf` on ``spectrum`` and ``standards``.
    spectrum : xarray.DataArray
        The spectrum that was fitted (its whole energy range; eV).
    standards : mapping of name to DataArray
        The standards that were fitted.
    r_factor_threshold : float
        Warn above this R-factor.
    runs_z_threshold : float
        Residual runs-test z below this counts as structured.
    min_offset_ev : float
        Smallest common data/model shift (eV) worth a warning.
    offset_gain : float
        Fractional SSR drop the shift must bring to be reported.
    max_offset : float
        Shifts searched, eV.
    warn : bool
        Emit the warnings (they are always in ``messages``).

    Returns
    -------
    LCFDiagnostics
    """
    e, y = as_spectrum(spectrum, name="spectrum")
    std = _standard_arrays(standards)
    w = np.asarray(result.weights)
    at_bound = tuple(
        n for n, x in zip(result.standards, w, strict=True) if len(w) > 1 and min(x, 1 - x) < 1e-6
    )
    z = runs_test_z(result.residual)
    shift, gain, dw = _best_common_shift(result, e, y, std, max_offset)
    msgs: list[str] = []
    if at_bound and np.isfinite(z) and z < runs_z_threshold:
        msgs.append(
            f"weight at bound: {', '.join(at_bound)} pinned at "
            f"{', '.join(f'{result.weight(n):.0f}' for n in at_bound)} while the residual is "
            f"structured (runs test z = {z:.1f} < {runs_z_threshold:g}); the interval of a "
            "pinned weight says nothing about the misfit: check the standards, the energy "
            "alignment and the normalization."
        )
    fitted_shifts = bool(result.parameters.get("fit_shifts"))
    if abs(shift) >= min_offset_ev and gain >= offset_gain:
        hint = (
            "widen --max-shift or align the energy axes"
            if fitted_shifts
            else "calibrate the energy axes or refit with --fit-shifts"
        )
        moved = f", which moves a weight by {dw:.2f}" if dw >= 0.01 else ""
        msgs.append(
            f"energy offset: the data fit the model {gain:.0%} better shifted by {shift:+.2f} eV"
            f"{moved}; {hint}."
        )
    if result.r_factor > r_factor_threshold:
        msgs.append(
            f"R-factor: {result.r_factor:.4f} is above {r_factor_threshold:g}; the standards do "
            "not describe the spectrum well (missing standard, offset or normalization)."
        )
    if warn:
        for m in msgs:
            warnings.warn(m, XASQualityWarning, stacklevel=2)
    return LCFDiagnostics(
        at_bound=at_bound,
        runs_z=z,
        common_shift_ev=shift,
        shift_gain=gain,
        r_factor=float(result.r_factor),
        messages=tuple(msgs),
        parameters={
            "r_factor_threshold": r_factor_threshold,
            "runs_z_threshold": runs_z_threshold,
            "min_offset_ev": min_offset_ev,
            "offset_gain": offset_gain,
            "max_offset": max_offset,
            "weight_change_at_shift": dw,
        },
    )
