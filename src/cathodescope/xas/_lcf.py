"""Linear combination fitting (LCF) with weights on the simplex, solved exactly.

The problem ``min ||A w - y||^2`` subject to ``w_j >= 0`` and ``sum(w) = 1`` (hence
``w_j <= 1``) is a small convex quadratic programme. Its optimum has some support ``S`` (the
standards with ``w_j > 0``) and equals the *equality-constrained* least-squares solution on
``S``, which is feasible; any other feasible candidate has a larger objective. So enumerating
the ``2^k - 1`` supports, solving each equality-constrained problem in closed form (a
``(|S|+1)``-square KKT system precomputed once) and keeping the best feasible one gives the
exact optimum -- no clipping, no penalty, and the weights sum to 1 to rounding. For the
``k <= 8`` standards of XANES work this is a handful of matrix products, vectorised over any
number of spectra (:func:`simplex_lstsq`), which is what makes per-pixel maps fast.

Uncertainties come from the profile of the residual sum of squares: for each weight ``w_j`` fixed
on a grid over [0, 1], the others are re-fitted exactly (same solver), and the 68 % interval is
where ``SSR(w_j) - SSR_min <= s^2`` with ``s^2 = SSR_min / (n - p)``. The interval is clipped by
the bounds naturally, so a weight at 0 gets ``[0, upper]`` instead of larch's zero-width error.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import (
    ParameterError,
    StandardRangeError,
    TooFewPointsError,
)
from cathodescope.xas._spectrum import as_spectrum

MAX_STANDARDS = 10


@dataclass(frozen=True)
class _SimplexSolver:
    """Precomputed KKT inverses for every support of a Gram matrix ``G`` (k x k)."""

    gram: np.ndarray
    supports: tuple[tuple[int, ...], ...]
    kkt_inv: tuple[np.ndarray, ...]

    @classmethod
    def from_gram(cls, gram: np.ndarray) -> _SimplexSolver:
        k = gram.shape[0]
        if k > MAX_STANDARDS:
            raise ParameterError(f"at most {MAX_STANDARDS} standards are supported, got {k}.")
        supports = []
        invs = []
        for size in range(1, k + 1):
            for s in itertools.combinations(range(k), size):
                kkt = np.zeros((size + 1, size + 1))
                kkt[:size, :size] = gram[np.ix_(s, s)]
                kkt[:size, size] = 1.0
                kkt[size, :size] = 1.0
                supports.append(s)
                invs.append(np.linalg.pinv(kkt))
        return cls(gram=gram, supports=tuple(supports), kkt_inv=tuple(invs))

    def _support_solution(
        self, i: int, b: np.ndarray, dtype: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = list(self.supports[i])
        size = len(s)
        kinv = self.kkt_inv[i]
        bs = b[s]
        w = kinv[:size, :size].astype(dtype) @ bs + kinv[:size, size : size + 1].astype(dtype)
        gs = self.gram[np.ix_(s, s)].astype(dtype)
        q = np.einsum("in,in->n", w, gs @ w - 2.0 * bs)
        return w, q, np.asarray(s)

    def solve(self, b: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
        """Exact simplex-constrained solutions for right-hand sides ``b`` (k, n).

        Active-set shortcut: the solution on the full support is computed for every column
        first; where it is feasible it is the optimum. Only the columns where a bound is
        active go through the enumeration of the smaller supports.

        Returns ``w`` (k, n) and ``q = w^T G w - 2 w^T b`` (n,), so that the residual sum of
        squares is ``||y||^2 + q``.
        """
        k = b.shape[0]
        dtype = np.result_type(b.dtype, np.float32)
        w_full, q_full, _ = self._support_solution(len(self.supports) - 1, b, dtype)
        feasible = np.all(w_full >= -tol, axis=0)
        best_w = w_full
        best_q = np.where(feasible, q_full, np.inf).astype(np.float64)
        bad = np.flatnonzero(~feasible)
        if bad.size:
            bb = b[:, bad]
            sub_q = np.full(bad.size, np.inf)
            sub_w = np.zeros((k, bad.size), dtype=dtype)
            for i in range(len(self.supports) - 1):
                w, q, s = self._support_solution(i, bb, dtype)
                better = np.all(w >= -tol, axis=0) & (q < sub_q)
                if better.any():
                    sub_q = np.where(better, q, sub_q)
                    cols = np.flatnonzero(better)
                    sub_w[:, cols] = 0.0
                    sub_w[np.ix_(s, cols)] = w[:, cols]
            best_w[:, bad] = sub_w
            best_q[bad] = sub_q
        best_w = np.clip(best_w, 0.0, None)
        best_w /= best_w.sum(axis=0, keepdims=True)
        return best_w, best_q


def simplex_lstsq(
    design: np.ndarray, targets: np.ndarray, *, gram: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact least squares with weights on the simplex, for many targets at once.

    Solves ``min_w ||design @ w - y||^2`` s.t. ``w >= 0``, ``sum(w) = 1`` for every column
    ``y`` of ``targets``.

    Parameters
    ----------
    design : ndarray, shape (m, k)
        Standards sampled on the ``m`` fit energies (k <= 10).
    targets : ndarray, shape (m,) or (m, n)
        One or ``n`` spectra on the same energies.
    gram : ndarray, shape (k, k), optional
        ``design.T @ design`` if already known.

    Returns
    -------
    weights : ndarray, shape (k,) or (k, n)
        Non-negative weights summing to 1.
    ssr : ndarray, shape () or (n,)
        Residual sum of squares.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> w, ssr = simplex_lstsq(a, a @ np.array([0.3, 0.7]))
    >>> np.round(w, 6).tolist(), float(np.round(ssr, 12))
    ([0.3, 0.7], 0.0)
    """
    a = np.asarray(design, dtype=float)
    y = np.asarray(targets, dtype=float)
    one = y.ndim == 1
    y2 = y[:, None] if one else y
    g = a.T @ a if gram is None else gram
    solver = _SimplexSolver.from_gram(g)
    w, q = solver.solve(a.T @ y2)
    ssr = np.maximum(np.einsum("mn,mn->n", y2, y2) + q, 0.0)
    return (w[:, 0], ssr[0]) if one else (w, ssr)


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LCFResult:
    """Result of one linear combination fit.

    Parameters
    ----------
    standards : tuple of str
        Names of the standards, in fit order.
    weights : ndarray, shape (k,)
        Fractions, each in [0, 1], summing to 1.
    ci_low, ci_high : ndarray, shape (k,)
        68 % profile-likelihood interval of each weight (clipped to [0, 1]).
    shifts : ndarray, shape (k,)
        Energy shift applied to each standard, eV (0 when not fitted).
    r_factor : float
        ``sum(resid^2) / sum(data^2)`` (ATHENA/larch definition).
    chi2 : float
        ``sum((resid / sigma)^2)``; with no ``sigma`` given, ``sigma = 1`` (the residual sum of
        squares, as ATHENA reports it).
    reduced_chi2 : float
        ``chi2 / (n_points - n_free)``.
    n_points, n_free : int
        Points in the fit window; free parameters (``k - 1`` weights plus fitted shifts).
    energy, data, model : ndarray, shape (n_points,)
        Fit window energies (eV), fitted spectrum and best model.
    parameters : dict
        Fit range, quantity fitted, options.
    components : ndarray, shape (n_points, k), optional
        Each standard times its weight on the fit energies (they add up to ``model``).
    """

    standards: tuple[str, ...]
    weights: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    shifts: np.ndarray
    r_factor: float
    chi2: float
    reduced_chi2: float
    n_points: int
    n_free: int
    energy: np.ndarray
    data: np.ndarray
    model: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)
    components: np.ndarray | None = None

    @property
    def residual(self) -> np.ndarray:
        """``data - model``, shape (n_points,)."""
        return self.data - self.model

    @property
    def stderr(self) -> np.ndarray:
        """Half-width of the 68 % interval, shape (k,)."""
        return 0.5 * (self.ci_high - self.ci_low)

    def weight(self, name: str) -> float:
        """Weight of standard ``name``."""
        return float(self.weights[self.standards.index(name)])

    def to_dataframe(self):
        """One row per standard: ``standard, weight, ci_low, ci_high, stderr, shift_eV`` plus
        the fit statistics ``r_factor, chi2, reduced_chi2`` repeated on each row."""
        import pandas as pd

        return pd.DataFrame(
            {
                "standard": list(self.standards),
                "weight": self.weights,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "stderr": self.stderr,
                "shift_eV": self.shifts,
                "r_factor": self.r_factor,
                "chi2": self.chi2,
                "reduced_chi2": self.reduced_chi2,
            }
        )


def _standard_arrays(standards: Mapping[str, Any] | Sequence[Any]) -> dict[str, tuple]:
    if isinstance(standards, Mapping):
        items = list(standards.items())
    else:
        items = [(str(getattr(s, "name", None) or f"std{i}"), s) for i, s in enumerate(standards)]
    if not items:
        raise ParameterError("give at least one standard.")
    out = {}
    for name, s in items:
        if isinstance(s, tuple) and len(s) == 2:
            e, mu = as_spectrum(s[1], s[0], name=f"standard {name!r}")
        else:
            e, mu = as_spectrum(s, name=f"standard {name!r}")
        out[str(name)] = (e, mu)
    return out


def _design(std: Mapping[str, tuple], energy: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    cols = []
    for (e, mu), s in zip(std.values(), shifts, strict=True):
        cols.append(np.interp(energy, e + s, mu))
    return np.stack(cols, axis=1)


def _profile_intervals(
    a: np.ndarray, y: np.ndarray, w_best: np.ndarray, ssr_min: float, dof: int, n_grid: int
) -> tuple[np.ndarray, np.ndarray]:
    k = a.shape[1]
    lo = np.zeros(k)
    hi = np.ones(k)
    if k == 1:
        return lo + 1.0, hi
    s2 = max(ssr_min / max(dof, 1), np.finfo(float).tiny)
    grid = np.linspace(0.0, 1.0, n_grid)
    for j in range(k):
        others = [i for i in range(k) if i != j]
        ao = a[:, others]
        t = grid[:-1]
        targets = (y[:, None] - t[None, :] * a[:, j : j + 1]) / (1.0 - t)[None, :]
        _, ssr_u = simplex_lstsq(ao, targets)
        prof = np.empty(n_grid)
        prof[:-1] = ssr_u * (1.0 - t) ** 2
        prof[-1] = float(np.sum((y - a[:, j]) ** 2))
        # include the exact optimum so the profile's minimum is the fit's
        tj = float(w_best[j])
        order = np.argsort(np.append(grid, tj))
        g2 = np.append(grid, tj)[order]
        p2 = np.append(prof, ssr_min)[order]
        inside = (p2 - ssr_min) <= s2
        idx = np.flatnonzero(inside)
        i_lo, i_hi = idx.min(), idx.max()
        if i_lo == 0:
            lo[j] = g2[0]
        else:  # linear interpolation of the crossing
            x0, x1, f0, f1 = g2[i_lo - 1], g2[i_lo], p2[i_lo - 1] - ssr_min, p2[i_lo] - ssr_min
            lo[j] = x0 + (s2 - f0) * (x1 - x0) / (f1 - f0) if f1 != f0 else x1
        if i_hi == g2.size - 1:
            hi[j] = g2[-1]
        else:
            x0, x1, f0, f1 = g2[i_hi], g2[i_hi + 1], p2[i_hi] - ssr_min, p2[i_hi + 1] - ssr_min
            hi[j] = x0 + (s2 - f0) * (x1 - x0) / (f1 - f0) if f1 != f0 else x0
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def _bootstrap_intervals(
    a: np.ndarray, y: np.ndarray, w: np.ndarray, n_boot: int, block: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if int(n_boot) < 20:
        raise ParameterError(f"n_boot must be >= 20, got {n_boot}.")
    m = y.size
    length = max(1, round(m ** (1.0 / 3.0))) if block is None else int(block)
    if not 1 <= length <= m:
        raise ParameterError(f"block_length must be in [1, {m}], got {block}.")
    rng = np.random.default_rng(seed)
    fit = a @ w
    resid = y - fit
    resid = resid - resid.mean()
    nblocks = -(-m // length)
    starts = rng.integers(0, m, size=(int(n_boot), nblocks))
    idx = ((starts[:, :, None] + np.arange(length)) % m).reshape(int(n_boot), -1)[:, :m]
    wb, _ = simplex_lstsq(a, fit[:, None] + resid[idx].T)
    lo, hi = np.percentile(wb, [15.865, 84.135], axis=1)
    return np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def _check_coverage(std: Mapping[str, tuple], lo: float, hi: float, pad: float) -> None:
    for name, (es, _) in std.items():
        if es[0] > lo - pad + 1e-9 or es[-1] < hi + pad - 1e-9:
            raise StandardRangeError(
                f"standard {name!r} covers {es[0]:g}-{es[-1]:g} eV but the fit needs "
                f"{lo - pad:g}-{hi + pad:g} eV; narrow fit_range or use a longer standard."
            )


def lcf(
    spectrum: Any,
    standards: Mapping[str, Any] | Sequence[Any],
    *,
    energy: Any = None,
    fit_range: tuple[float, float] | None = None,
    fit_shifts: bool = False,
    max_shift: float = 2.0,
    sigma: float | np.ndarray | None = None,
    uncertainty: Literal["profile", "bootstrap", "none"] = "profile",
    n_grid: int = 401,
    n_boot: int = 1000,
    block_length: int | None = None,
    seed: int = 0,
) -> LCFResult:
    """Fit a spectrum as a convex combination of standards (weights >= 0, sum exactly 1).

    Parameters
    ----------
    spectrum : xarray.DataArray or array-like, shape (n,)
        Normalized (or flattened) spectrum; a DataArray carries its ``energy`` in eV.
    standards : mapping of name to DataArray (or ``(energy, mu)`` tuple), or sequence
        Normalized standards on their own energy grids (eV); interpolated linearly onto the
        spectrum's energies inside ``fit_range``.
    energy : array-like, optional
        Energies (eV) of ``spectrum`` when it is a plain array.
    fit_range : (float, float), optional
        Absolute energy window in eV (default: the whole spectrum). Every standard must
        cover it (plus ``max_shift`` when shifts are fitted).
    fit_shifts : bool
        Also fit one energy shift per standard within ``[-max_shift, max_shift]`` eV (outer
        bounded optimisation; the weights stay exact for every trial of shifts).
    max_shift : float
        Bound of the shifts in eV.
    sigma : float or ndarray, optional
        Noise standard deviation of the spectrum (scalar or per point) for chi^2; default 1.
    uncertainty : {"profile", "bootstrap", "none"}
        ``"profile"``: 68 % profile-likelihood intervals (shifts held at their best values).
        ``"bootstrap"``: 16th-84th percentiles of the weights refitted (exactly, all at once)
        to ``model + residuals`` resampled in moving blocks (keeps the correlation of
        neighbouring points of interpolated or smoothed data).
    n_grid : int
        Grid points of each weight's profile.
    n_boot : int
        Bootstrap replicas.
    block_length : int, optional
        Points per resampled block (default ``round(n_points ** (1/3))``).
    seed : int
        Seed of the bootstrap generator (results are reproducible).

    Returns
    -------
    LCFResult

    Raises
    ------
    StandardRangeError
        A standard does not cover the fit range.
    TooFewPointsError
        Fewer points in the window than free parameters + 2.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(8300, 8400, 201)
    >>> a = 1 / (1 + np.exp(-(e - 8340) / 2)); b = 1 / (1 + np.exp(-(e - 8345) / 2))
    >>> res = lcf(0.25 * a + 0.75 * b, {"A": (e, a), "B": (e, b)}, energy=e)
    >>> np.round(res.weights, 6).tolist()
    [0.25, 0.75]
    """
    check_choice(uncertainty, ("profile", "bootstrap", "none"), "uncertainty")
    e, y = as_spectrum(spectrum, energy, name="spectrum")
    std = _standard_arrays(standards)
    names = tuple(std)
    k = len(names)
    if fit_range is None:
        fit_range = (float(e[0]), float(e[-1]))
    lo, hi = sorted(float(v) for v in fit_range)
    sel = (e >= lo) & (e <= hi)
    ef, yf = e[sel], y[sel]
    _check_coverage(std, lo, hi, max_shift if fit_shifts else 0.0)
    n_free = (k - 1) + (k if fit_shifts else 0)
    if ef.size < n_free + 2:
        raise TooFewPointsError(
            f"fit window {lo:g}-{hi:g} eV holds {ef.size} points, need at least {n_free + 2} "
            f"for {k} standards{' with shifts' if fit_shifts else ''}; widen the window."
        )
    if sigma is None:
        sig = np.ones_like(yf)
    else:
        sig_full = np.broadcast_to(np.asarray(sigma, dtype=float), e.shape)
        sig = sig_full[sel]
        if np.any(~np.isfinite(sig)) or np.any(sig <= 0):
            raise ParameterError("sigma must be finite and > 0 everywhere.")
    yw = yf / sig

    def solve(shifts: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        a = _design(std, ef, shifts) / sig[:, None]
        w, ssr = simplex_lstsq(a, yw)
        return w, float(ssr), a

    shifts = np.zeros(k)
    if fit_shifts:
        from scipy.optimize import minimize

        check_max = float(max_shift)
        if not check_max > 0:
            raise ParameterError(f"max_shift must be > 0 eV, got {max_shift}.")
        best = minimize(
            lambda s: solve(s)[1],
            np.zeros(k),
            method="Powell",
            bounds=[(-check_max, check_max)] * k,
            options={"xtol": 1e-4, "ftol": 1e-12},
        )
        shifts = np.asarray(best.x, dtype=float)
    w, ssr, a = solve(shifts)
    model = (a @ w) * sig
    chi2 = ssr
    dof = ef.size - n_free
    if uncertainty == "profile":
        ci_lo, ci_hi = _profile_intervals(a, yw, w, ssr, dof, n_grid)
    elif uncertainty == "bootstrap":
        ci_lo, ci_hi = _bootstrap_intervals(a, yw, w, n_boot, block_length, seed)
    else:
        ci_lo = np.full(k, np.nan)
        ci_hi = np.full(k, np.nan)
    return LCFResult(
        standards=names,
        weights=w,
        ci_low=ci_lo,
        ci_high=ci_hi,
        shifts=shifts,
        r_factor=float(np.sum((yf - model) ** 2) / np.sum(yf**2)),
        chi2=chi2,
        reduced_chi2=chi2 / max(dof, 1),
        n_points=int(ef.size),
        n_free=int(n_free),
        energy=ef,
        data=yf,
        model=model,
        components=a * w[None, :] * sig[:, None],
        parameters={
            "fit_range": (lo, hi),
            "fit_shifts": fit_shifts,
            "max_shift": max_shift,
            "sigma_given": sigma is not None,
            "uncertainty": uncertainty,
            "n_grid": n_grid,
            "n_boot": n_boot if uncertainty == "bootstrap" else None,
            "block_length": block_length,
            "seed": seed,
        },
    )


def lcf_combinations(
    spectrum: Any,
    standards: Mapping[str, Any],
    *,
    min_standards: int = 1,
    max_standards: int | None = None,
    **kwargs: Any,
):
    """Fit every combination of standards and rank them by reduced chi^2.

    Parameters
    ----------
    spectrum, standards, **kwargs
        As for :func:`lcf`.
    min_standards, max_standards : int
        Sizes of the combinations tried (default: 1 to all).

    Returns
    -------
    table : pandas.DataFrame
        One row per combination, best first: ``rank, standards, n_standards, reduced_chi2,
        chi2, r_factor`` and ``w_<name>`` (0 for standards not in the combination).
    results : list of LCFResult
        In the same order as the table.
    """
    import pandas as pd

    names = list(standards)
    kmax = len(names) if max_standards is None else int(max_standards)
    if not 1 <= int(min_standards) <= kmax <= len(names):
        raise ParameterError(
            f"need 1 <= min_standards <= max_standards <= {len(names)}, got "
            f"{min_standards}, {max_standards}."
        )
    results = []
    for size in range(int(min_standards), kmax + 1):
        for combo in itertools.combinations(names, size):
            results.append(lcf(spectrum, {c: standards[c] for c in combo}, **kwargs))
    results.sort(key=lambda r: r.reduced_chi2)
    rows = []
    for rank, r in enumerate(results, start=1):
        row = {
            "rank": rank,
            "standards": "+".join(r.standards),
            "n_standards": len(r.standards),
            "reduced_chi2": r.reduced_chi2,
            "chi2": r.chi2,
            "r_factor": r.r_factor,
        }
        for n in names:
            row[f"w_{n}"] = r.weight(n) if n in r.standards else 0.0
        rows.append(row)
    return pd.DataFrame(rows), results
