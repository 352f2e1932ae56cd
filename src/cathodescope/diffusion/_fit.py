"""Fits of D (per metal, or one shared) to measured ratio profiles, per particle and per sample.

Least squares ``chi2 = sum ((ratio - model) / sigma)^2`` over the bins of each particle (sigma
from the engine's interval half-width), in ``x = log10 D`` by batched Levenberg-Marquardt,
started from the best of a grid of reduced times. Intervals are profile-likelihood intervals
(``chi2_p(x) - chi2_min <= chi2.ppf(level, 1)``). Whether the data separate the metals' D
values is a likelihood-ratio test of one shared D against one D per metal.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice
from cathodescope.diffusion._forward import MODELS, Model
from cathodescope.diffusion._lm import levenberg_marquardt, profile_intervals, standard_errors
from cathodescope.diffusion._models import IndependentModel, MulticomponentModel
from cathodescope.diffusion._observed import ObservedProfiles, observed_from_ratios
from cathodescope.diffusion._precursor import Precursor, Schedule, per_metal
from cathodescope.errors import CathodescopeRunWarning, ParameterError

FIT_COLUMNS = [
    "particle_id",
    "element",
    "D_m2_s",
    "ci_low",
    "ci_high",
    "log10_D",
    "identifiable",
    "chi2",
    "dof",
    "reduced_chi2",
    "n_points",
    "converged",
    "p_shared",
    "separable",
    "radius_um",
]

_THETA_GRID = np.linspace(-5.0, 0.5, 23)  # log10 of D tau / R^2 for the starting grid
_THETA_BOUNDS = (-7.0, 1.5)


@dataclass(frozen=True)
class DiffusionFit:
    """Result of :func:`fit_ratios`.

    Parameters
    ----------
    particles : DataFrame
        One row per particle and metal: ``particle_id, element, D_m2_s, ci_low, ci_high``
        (m^2/s at the schedule's reference temperature; an open interval end is 0 or inf),
        ``log10_D``, ``identifiable`` (both interval ends closed; False when no intervals were computed), fit quality ``chi2, dof,
        reduced_chi2, n_points, converged``, ``p_shared`` (likelihood-ratio p-value of one
        shared D; NaN for a shared fit), ``separable`` (``p_shared < 0.05``), ``radius_um``.
    sample : DataFrame
        The same columns for one joint fit of all particles (``particle_id`` = -1).
    predictions : DataFrame
        ``particle_id, element, depth_um, ratio, sigma, fitted`` for every fitted point.
    warnings : list of str
        Messages also issued as :class:`~cathodescope.errors.CathodescopeRunWarning`
        (shared D indistinguishable, open intervals).
    parameters : dict
        The options of the fit (model, shared, level, blur, ...), for the manifest.
    """

    particles: pd.DataFrame
    sample: pd.DataFrame
    predictions: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


class _Problem:
    """Residuals of particle problems (one row per (parameter set, particle))."""

    def __init__(self, model: Any, obs: ObservedProfiles, shared: bool) -> None:
        self.model, self.obs, self.shared = model, obs, shared
        self.weight = obs.mask / obs.sigma  # (P, E, nb)
        self.n_e = len(obs.elements)

    def expand(self, x: np.ndarray) -> np.ndarray:
        return np.repeat(x, self.n_e, axis=1) if self.shared else x

    def particle(self, x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (b, k) for particles ``rows`` -> r (b, m), J (b, m, k)."""
        pred, jac = self.model.predict(self.expand(x), rows)
        wt = self.weight[rows]
        r = ((pred - self.obs.ratio[rows]) * wt).reshape(len(rows), -1)
        jw = jac * wt[..., None]
        if self.shared:
            jw = jw.sum(axis=-1, keepdims=True)
        return r, jw.reshape(len(rows), r.shape[1], -1)

    def sample(self, x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint problems: every row of ``x`` applies to all particles."""
        n_p = self.obs.n_particles
        xs = np.repeat(x, n_p, axis=0)
        idx = np.tile(np.arange(n_p), x.shape[0])
        r, jac = self.particle(xs, idx)
        return r.reshape(x.shape[0], -1), jac.reshape(x.shape[0], -1, x.shape[1])


def _bounds(tau: np.ndarray, radius_um: np.ndarray, shared: bool) -> tuple[np.ndarray, np.ndarray]:
    r2 = (radius_um * 1e-6) ** 2
    base = np.log10(r2[:, None] / tau[None, :])  # log10 D at theta = 1
    if shared:
        base = base.mean(axis=1, keepdims=True)
    return base + _THETA_BOUNDS[0], base + _THETA_BOUNDS[1]


def _start(
    problem: _Problem, tau: np.ndarray, radius_um: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Best of the reduced-time grid, metal by metal (all metals set to each grid value)."""
    r2 = (radius_um[rows] * 1e-6) ** 2
    base = np.log10(r2[:, None] / tau[None, :])  # (b, E)
    if problem.shared:
        base = base.mean(axis=1, keepdims=True)
    n_g, n_b, k = _THETA_GRID.size, rows.size, base.shape[1]
    grid = base[:, None, :] + _THETA_GRID[None, :, None]  # (b, G, k)
    idx = np.repeat(rows, n_g)
    pred, _ = problem.model.predict(problem.expand(grid.reshape(-1, k)), idx, jacobian=False)
    res = ((pred - problem.obs.ratio[idx]) * problem.weight[idx]) ** 2
    chi = res.sum(axis=2).reshape(n_b, n_g, -1)  # (b, G, E)
    if problem.shared:
        chi = chi.sum(axis=2, keepdims=True)
    best = chi.argmin(axis=1)  # (b, k)
    return np.take_along_axis(grid, best[:, None, :], axis=1)[:, 0, :]


def _solve(fun, x0, lo, hi, threshold, intervals):
    x, chi2, conv, hess = levenberg_marquardt(fun, x0, lo, hi)
    if not intervals:
        return x, chi2, conv, np.full_like(x, np.nan), np.full_like(x, np.nan)
    se = standard_errors(hess)
    low, high = profile_intervals(fun, x, chi2, se, lo, hi, threshold)
    return x, chi2, conv, low, high


def _table(pids, elements, x, low, high, chi2, n_pts, k, conv, p_shared, radius, shared):
    n_p, n_e = len(pids), len(elements)
    xe = np.repeat(x, n_e, axis=1) if shared else x
    le = np.repeat(low, n_e, axis=1) if shared else low
    he = np.repeat(high, n_e, axis=1) if shared else high
    dof = np.maximum(n_pts - k, 1)
    rep = lambda a: np.repeat(np.asarray(a), n_e)  # noqa: E731
    return pd.DataFrame(
        {
            "particle_id": rep(pids),
            "element": np.tile(np.asarray(elements, dtype=object), n_p),
            "D_m2_s": (10.0**xe).ravel(),
            "ci_low": (10.0**le).ravel(),
            "ci_high": (10.0**he).ravel(),
            "log10_D": xe.ravel(),
            "identifiable": (np.isfinite(le) & np.isfinite(he)).ravel(),
            "chi2": rep(chi2),
            "dof": rep(dof),
            "reduced_chi2": rep(chi2 / dof),
            "n_points": rep(n_pts),
            "converged": rep(conv),
            "p_shared": rep(p_shared),
            "separable": rep(p_shared < 0.05),
            "radius_um": rep(radius),
        }
    )[FIT_COLUMNS]


def _predictions(problem: _Problem, x: np.ndarray) -> pd.DataFrame:
    obs = problem.obs
    rows = np.arange(obs.n_particles)
    pred, _ = problem.model.predict(problem.expand(x), rows, jacobian=False)
    p, e, j = np.nonzero(obs.mask)
    return pd.DataFrame(
        {
            "particle_id": obs.particle_ids[p],
            "element": np.asarray(obs.elements, dtype=object)[e],
            "depth_um": obs.depth_um[p, j],
            "ratio": obs.ratio[p, e, j],
            "sigma": obs.sigma[p, e, j],
            "fitted": pred[p, e, j],
        }
    )


def _build_model(model, obs, precursor, schedule, ea, n_cells, blur_um, ndim):
    if model == "independent":
        tau = np.array(
            [schedule.effective_time_s(None if ea is None else ea[e]) for e in obs.elements]
        )
        return IndependentModel(
            obs, precursor, tau, n_cells=n_cells, blur_um=blur_um, ndim=ndim
        ), tau
    total = schedule.total_time_s
    nodes = np.concatenate([[0.0], np.cumsum([s[0] for s in schedule.steps])])
    times = np.unique(np.concatenate([[0.0], total * np.geomspace(1e-5, 1.0, 40), nodes]))
    path = np.stack(
        [schedule.cumulative_time_s(times, None if ea is None else ea[e]) for e in obs.elements],
        axis=-1,
    )
    m = MulticomponentModel(obs, precursor, path, n_cells=n_cells, blur_um=blur_um, ndim=ndim)
    return m, path[-1]


def _shared_test(mdl, obs, tau, x, c2, notes: list[str]) -> np.ndarray:
    """Likelihood-ratio p-value of one shared D against one D per metal, per particle."""
    from scipy.stats import chi2 as chi2_dist

    n_p, n_e = obs.n_particles, len(obs.elements)
    if n_e == 1:
        return np.full(n_p, np.nan)
    sh = _Problem(mdl, obs, shared=True)
    slo, shi = _bounds(tau, obs.radius_um, True)
    xs0 = np.clip(x.mean(axis=1, keepdims=True), slo, shi)
    _, c2s, _, _ = levenberg_marquardt(sh.particle, xs0, slo, shi)
    p_shared = chi2_dist.sf(np.maximum(c2s - c2, 0.0), n_e - 1)
    weak = obs.particle_ids[p_shared >= 0.05]
    if weak.size:
        notes.append(
            f"{weak.size} of {n_p} particles (ids {weak[:10].tolist()}"
            f"{' ...' if weak.size > 10 else ''}): one shared D fits as well as one D per "
            "metal (likelihood-ratio p >= 0.05): the data cannot separate the metals' D "
            "values there."
        )
    return p_shared


def _sample_fit(problem, x, lo, hi, thr, intervals, n_pts, k) -> pd.DataFrame:
    """One joint fit of all particles, started from the particles' median."""
    xs0 = np.median(x, axis=0, keepdims=True)
    slo, shi = lo.min(axis=0, keepdims=True), hi.max(axis=0, keepdims=True)
    xj, cj, convj, lj, hj = _solve(problem.sample, xs0, slo, shi, thr, intervals)
    nan = np.array([np.nan])
    return _table(
        np.array([-1]),
        problem.obs.elements,
        xj,
        lj,
        hj,
        cj,
        np.array([n_pts.sum()]),
        k,
        convj,
        nan,
        nan,
        problem.shared,
    )


def fit_profiles(
    obs: ObservedProfiles,
    precursor: Precursor,
    schedule: Schedule,
    *,
    model: Model = "independent",
    shared: bool = False,
    activation_energy_kJ_mol: float | Mapping[str, float] | None = None,
    level: float = 0.95,
    blur_um: float = 0.0,
    ndim: int = 3,
    n_cells: int | None = None,
    sample: bool = True,
    intervals: bool = True,
) -> DiffusionFit:
    """Fit D to arranged profiles (see :func:`fit_ratios`, which arranges them).

    Parameters
    ----------
    obs : ObservedProfiles
        Ratio profiles on a common depth grid (from :func:`observed_from_ratios`).
    precursor : Precursor
        Layers before sintering; its metals must be those of ``obs``.
    schedule : Schedule
        The sintering schedule; D is reported at its reference (highest) temperature.
    model : {"independent", "multicomponent"}
        Forward model (the multicomponent one is time-stepped and much slower).
    shared : bool
        Fit one D for all metals instead of one per metal.
    activation_energy_kJ_mol : float or mapping, optional
        Arrhenius Ea per metal, kJ/mol (needed for schedules with ramps).
    level : float
        Level of the reported profile-likelihood intervals, in (0, 1).
    blur_um : float
        Gaussian imaging resolution (standard deviation, um) included in the model.
    ndim : {3, 2}
        3 for volumes, 2 for central cuts (maps).
    n_cells : int, optional
        Radial shells of the model (default 64 independent, 40 multicomponent).
    sample : bool
        Also fit all particles jointly.
    intervals : bool
        Compute the profile-likelihood intervals (NaN otherwise); they cost about ten fits.

    Returns
    -------
    DiffusionFit
        Per-particle and joint fits, predictions, warnings and parameters.

    Warns
    -----
    CathodescopeRunWarning
        When a shared D fits as well as one per metal, or an interval is open.
    """
    from scipy.stats import chi2 as chi2_dist

    check_choice(model, MODELS, "model")
    if not 0 < level < 1:
        raise ParameterError(f"level must lie in (0, 1), got {level}.")
    if set(obs.elements) != set(precursor.elements):
        raise ParameterError(
            f"the profiles' metals {obs.elements} differ from the precursor's {precursor.elements}."
        )
    ea = per_metal(activation_energy_kJ_mol, obs.elements, "activation_energy_kJ_mol")
    ordered = Precursor(
        precursor.radius_um,
        precursor.outer_radii_um,
        tuple({e: c[e] for e in obs.elements} for c in precursor.compositions),
    )
    n_cells = n_cells or (64 if model == "independent" else 40)
    mdl, tau = _build_model(model, obs, ordered, schedule, ea, n_cells, blur_um, ndim)
    thr = float(chi2_dist.ppf(level, 1))
    n_p, n_e = obs.n_particles, len(obs.elements)
    rows = np.arange(n_p)
    n_pts = obs.mask.reshape(n_p, -1).sum(axis=1)

    free_pb = _Problem(mdl, obs, shared=shared)
    lo, hi = _bounds(tau, obs.radius_um, shared)
    x0 = _start(free_pb, tau, obs.radius_um, rows)
    x, c2, conv, low, high = _solve(free_pb.particle, x0, lo, hi, thr, intervals)
    k = 1 if shared else n_e
    notes: list[str] = []
    p_shared = _shared_test(mdl, obs, tau, x, c2, notes) if not shared else np.full(n_p, np.nan)
    table = _table(
        obs.particle_ids,
        obs.elements,
        x,
        low,
        high,
        c2,
        n_pts,
        k,
        conv,
        p_shared,
        obs.radius_um,
        shared,
    )
    open_ = table.loc[~table["identifiable"], ["particle_id", "element"]]
    if intervals and len(open_):
        notes.append(
            f"{len(open_)} of {len(table)} particle/metal D values have an open interval (the "
            "profile is flat or unchanged at that end): only a bound is known."
        )
    sample_table = pd.DataFrame(columns=FIT_COLUMNS)
    if sample and n_p == 1:  # the joint fit of one particle is its own fit
        sample_table = table.assign(particle_id=-1, p_shared=np.nan, separable=False)
    elif sample:
        sample_table = _sample_fit(free_pb, x, lo, hi, thr, intervals, n_pts, k)
    for msg in notes:
        warnings.warn(msg, CathodescopeRunWarning, stacklevel=3)
    return DiffusionFit(
        particles=table,
        sample=sample_table,
        predictions=_predictions(free_pb, x),
        warnings=notes,
        parameters={
            "model": model,
            "shared": shared,
            "level": level,
            "blur_um": blur_um,
            "ndim": ndim,
            "n_cells": n_cells,
            "reference_temperature_C": schedule.reference_temperature_C,
            "effective_time_s": dict(zip(obs.elements, tau.tolist(), strict=True)),
            "activation_energy_kJ_mol": ea,
        },
    )


def fit_ratios(
    ratios: pd.DataFrame,
    precursor: Precursor,
    schedule: Schedule,
    *,
    model: Model = "independent",
    shared: bool = False,
    radius_um: float | Mapping[int, float] | None = None,
    activation_energy_kJ_mol: float | Mapping[str, float] | None = None,
    ci_level: float = 0.99,
    level: float = 0.95,
    depth_range_um: tuple[float, float] | None = None,
    windows: pd.DataFrame | None = None,
    bin_width_um: float | None = None,
    blur_um: float = 0.0,
    ndim: Literal[2, 3] = 3,
    n_cells: int | None = None,
    sample: bool = True,
    intervals: bool = True,
) -> DiffusionFit:
    """Fit interdiffusion coefficients to the engine's ratio profiles.

    Parameters
    ----------
    ratios : DataFrame
        ``particle_id, element, depth_um, ratio, ci_low, ci_high, flagged`` (``ratios.csv``).
    precursor : Precursor
        Layers before sintering (scaled to each particle's radius).
    schedule : Schedule
        The sintering schedule; D is reported at its reference (highest) temperature.
    model : {"independent", "multicomponent"}
        Forward model (the multicomponent one is time-stepped and much slower).
    shared : bool
        Fit one D for all metals instead of one per metal.
    radius_um : float or mapping particle_id -> float, optional
        Model radius per particle (um); default the precursor's.
    activation_energy_kJ_mol : float or mapping, optional
        Arrhenius Ea per metal (needed for schedules with ramps).
    ci_level : float
        Level of the intervals in ``ratios`` (the engine's ``ci_level``).
    level : float
        Level of the reported profile-likelihood intervals.
    depth_range_um : (lo, hi), optional
        Depth range of bins to fit (um).
    windows : DataFrame, optional
        The engine's ``reliable_windows`` table: fit only inside each particle's window.
    bin_width_um : float, optional
        Engine bin width (um); default from the depth spacing.
    blur_um : float
        Gaussian imaging resolution (standard deviation, um) included in the model.
    ndim : {3, 2}
        3 for volumes, 2 for central cuts (maps).
    n_cells : int, optional
        Radial shells of the model (default 64 independent, 40 multicomponent).
    sample : bool
        Also fit all particles jointly.
    intervals : bool
        Compute the profile-likelihood intervals (NaN otherwise); they cost about ten fits.

    Returns
    -------
    DiffusionFit

    Warns
    -----
    CathodescopeRunWarning
        When a shared D fits as well as one per metal, or an interval is open.
    """
    radius = precursor.radius_um if radius_um is None else radius_um
    obs = observed_from_ratios(
        ratios,
        precursor.elements,
        radius_um=radius,
        ci_level=ci_level,
        bin_width_um=bin_width_um,
        depth_range_um=depth_range_um,
        windows=windows,
    )
    return fit_profiles(
        obs,
        precursor,
        schedule,
        model=model,
        shared=shared,
        activation_energy_kJ_mol=activation_energy_kJ_mol,
        level=level,
        blur_um=blur_um,
        ndim=ndim,
        n_cells=n_cells,
        sample=sample,
        intervals=intervals,
    )
