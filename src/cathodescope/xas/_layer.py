"""Surface layer (thickness t, surface fraction x_s, bulk fraction x_b) from probes of different
depth: fit, profile-likelihood intervals, what the data cannot determine, series.

Each probe reports a weight ``w_i +/- s_i`` (an LCF fraction); the model predicts
``x_b + (x_s - x_b) E_i(t)`` with ``E_i`` the probe's kernel-weighted mean of the layer step
(:mod:`cathodescope.xas._kernels`). ``chi2 = sum ((w_i - pred_i) / s_i)^2`` plus
``((d_j - d_j0) / sd_j)^2`` for every probe whose depth ``d_j`` is uncertain (a nuisance
parameter, profiled out). For a given ``t`` the model is linear in ``(x_s, x_b)``, so those are
solved exactly within ``[0, 1]`` and only ``t`` (and the uncertain depths) are searched, on a
grid first so that no local minimum is taken for the best fit.

Intervals are profile likelihood: the values whose profile ``chi2`` rises less than
``chi2_1(level)`` (0.989 for 68 %) above the minimum, cut at the bounds. A parameter limited by
both bounds is *not determined*; with fewer probes than unknowns the fit names the undetermined
combination and what is determined (e.g. the surface excess ``(x_s - x_b) t``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import CathodescopeRunWarning, ParameterError
from cathodescope.xas._kernels import (
    ExponentialKernel,
    LayerProfile,
    Probe,
    SphereKernel,
    TabulatedKernel,
    forward_weight,
    fractions_lstsq,
    step_means,
    weight_jacobian,
)
from cathodescope.xas._probing_depth import FluorescenceDepth, fluorescence_depth

# kernels re-exported: the package imports the layer model in one line
__all__ = [
    "ExponentialKernel",
    "FluorescenceDepth",
    "LayerFit",
    "LayerProfile",
    "ParameterEstimate",
    "Probe",
    "SphereKernel",
    "TabulatedKernel",
    "fit_layer",
    "fluorescence_depth",
    "forward_weight",
]

PARAMETERS = ("thickness_nm", "surface_fraction", "bulk_fraction")
_SHAPES = ("sharp", "erf")
_DOC_FIX = "fix one (fixed={'surface_fraction': ...}; [layer.fixed] in a probe file) or add a probe"


@dataclass(frozen=True)
class ParameterEstimate:
    """Best value and profile-likelihood interval of one layer parameter.

    ``lower_by`` / ``upper_by`` say what ends each side: ``"data"`` (the profile chi2 rose by the
    threshold), ``"bound"`` (the allowed range ended first) or ``"fixed"``.

    Parameters
    ----------
    name : str
        ``"thickness_nm"``, ``"surface_fraction"`` or ``"bulk_fraction"``.
    value : float
        Best-fit value (nm for the thickness, a fraction otherwise).
    ci_low, ci_high : float
        Ends of the profile-likelihood interval, same units.
    lower_by, upper_by : {"data", "bound", "fixed"}
        What ends the interval on each side.
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    lower_by: str
    upper_by: str

    @property
    def status(self) -> str:
        """``"fixed"``, ``"determined"`` (both sides by data), ``"limit"`` (one side) or
        ``"undetermined"`` (the data allow the whole range)."""
        if self.lower_by == "fixed":
            return "fixed"
        n = (self.lower_by == "data") + (self.upper_by == "data")
        return ("undetermined", "limit", "determined")[n]


@dataclass(frozen=True)
class LayerFit:
    """Result of :func:`fit_layer`.

    Parameters
    ----------
    profile : LayerProfile
        Best-fit layer (thickness nm, fractions, transition width nm).
    estimates : dict of str -> ParameterEstimate
        ``thickness_nm``, ``surface_fraction``, ``bulk_fraction``.
    probes : tuple of Probe
        The probes fitted.
    predicted : ndarray
        Predicted weight of each probe.
    depths_nm : ndarray
        Kernel depth of each probe at the best fit (differs from nominal only when uncertain).
    chi2 : float
        Minimum of ``sum ((w_i - pred_i) / s_i)^2`` plus the depth-nuisance terms.
    surface_excess_nm : (float, float)
        ``(x_s - x_b) t`` and its linearized standard error, nm.
    determined : tuple of str
        Parameters whose interval the data close on both sides, plus ``"surface_excess_nm"``
        when fewer parameters are determined but ``(x_s - x_b) t`` is.
    message : str
        Plain-language account of what is and is not determined ("" when all are).
    parameters : dict
        Options used (shape, width, fixed values, bounds, level).
    """

    profile: LayerProfile
    estimates: dict[str, ParameterEstimate]
    probes: tuple[Probe, ...]
    predicted: np.ndarray
    depths_nm: np.ndarray
    chi2: float
    surface_excess_nm: tuple[float, float]
    determined: tuple[str, ...] = ()
    message: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def undetermined(self) -> tuple[str, ...]:
        """Names of parameters the data leave free between their bounds."""
        return tuple(n for n, e in self.estimates.items() if e.status == "undetermined")

    def to_dataframe(self):
        """``parameter, value, ci_low, ci_high`` (rows thickness_nm, surface_fraction,
        bulk_fraction)."""
        import pandas as pd

        rows = [
            {"parameter": n, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}
            for n, e in self.estimates.items()
        ]
        return pd.DataFrame(rows, columns=["parameter", "value", "ci_low", "ci_high"])

    def probes_dataframe(self):
        """``name, kernel, depth_nm, weight, stderr, predicted`` (one row per probe; depth_nm is
        the 1/e depth of exponential kernels, the radius of a sphere, the mean depth of a
        table)."""
        import pandas as pd

        rows = [
            (p.name, p.kernel.kind, float(d), p.weight, p.stderr, float(w))
            for p, d, w in zip(self.probes, self.depths_nm, self.predicted, strict=True)
        ]
        columns = ["name", "kernel", "depth_nm", "weight", "stderr", "predicted"]
        return pd.DataFrame(rows, columns=columns)


class _Problem:
    """chi2 of a set of probes; its minimum with parameters held; profile intervals."""

    def __init__(self, probes, width, fixed, t_bounds, level):
        self.probes = tuple(probes)
        self.kernels = [p.kernel for p in self.probes]
        self.y = np.array([p.weight for p in self.probes], dtype=float)
        self.s = np.array([p.stderr for p in self.probes], dtype=float)
        self.d0 = np.array([p.kernel.depth_nm for p in self.probes], dtype=float)
        self.sd = np.array([p.depth_stderr_nm for p in self.probes], dtype=float)
        self.nuis = np.flatnonzero(self.sd > 0)
        self.width = width
        self.fixed = dict(fixed)
        self.t_lo, self.t_hi = t_bounds
        self.thr = float(stats.chi2.ppf(level, 1))
        span = max(self.t_hi, 1e-6)
        grid = np.geomspace(max(self.t_lo, span * 1e-4), span, 96)
        self.t_grid = np.unique(np.concatenate([[self.t_lo], grid, [self.t_hi]]))
        self._C_nominal = self._C(self.t_grid, self.d0)
        # an uncertain exponential depth is searched on a vectorized grid, others by least squares
        self._vector_nuisance = self.nuis.size == 1 and (
            width <= 0 or isinstance(self.kernels[int(self.nuis[0])], ExponentialKernel)
        )

    def _C(self, t, depths):
        cols = []
        for j, k in enumerate(self.kernels):
            dep = None if depths[j] == self.d0[j] else depths[j]
            cols.append(step_means(k, t, self.width, dep))
        return np.stack(cols, axis=1)

    def _lin(self, C, fx):
        return fractions_lstsq(
            C, self.y, self.s, fx.get("surface_fraction"), fx.get("bulk_fraction")
        )

    def _inner(self, t, depths, fx):
        C = self._C(np.atleast_1d(t), depths)
        a, b, c2 = self._lin(C, fx)
        pen = (((depths - self.d0) / np.where(self.sd > 0, self.sd, 1.0))[self.nuis] ** 2).sum()
        return a, b, c2 + pen

    def _grid_chi2(self, ts, ds, fx, cached=False):
        """chi2 on a (thickness, depth of the one uncertain probe) grid: (len(ts), len(ds))."""
        j = int(self.nuis[0]) if self._vector_nuisance else -1
        T, D = np.meshgrid(ts, ds, indexing="ij")
        cols = []
        for i, k in enumerate(self.kernels):
            if i != j:
                c = self._C_nominal[:, i] if cached else step_means(k, ts, self.width, None)
                cols.append(np.repeat(c, ds.size))
            elif self.width <= 0:
                cols.append(k.cumulative(T.ravel(), D.ravel()))
            else:  # exponential: closed form, vectorized in t and depth
                cols.append(np.asarray(k.step_mean(T.ravel(), self.width, D.ravel())))
        c2 = self._lin(np.stack(cols, axis=1), fx)[2]
        if j >= 0:
            c2 = c2 + ((D.ravel() - self.d0[j]) / self.sd[j]) ** 2
        return c2.reshape(T.shape)

    def minimize(self, fx: Mapping[str, float]):
        """Minimum chi2 with the parameters in ``fx`` held; returns (chi2, t, x_s, x_b, depths).

        Grid search, then zoom rounds (bracket / 4 or / 8 each), vectorized."""
        t_free = "thickness_nm" not in fx
        t = float(fx.get("thickness_nm", 0.0))
        ts = self.t_grid if t_free else np.array([t])
        j = int(self.nuis[0]) if self._vector_nuisance else -1
        d = self.d0.copy()
        ds = np.array([np.nan])
        if j >= 0:
            ds = np.maximum(self.d0[j] + self.sd[j] * np.linspace(-5, 5, 21), 0.05 * self.d0[j])
        best, (rounds, n) = np.inf, ((8, 9) if j >= 0 else (5, 17))
        for r in range(rounds if (t_free or j >= 0) else 0):
            c2 = self._grid_chi2(ts, ds, fx, cached=(r == 0 and t_free))
            it, idd = (int(i) for i in np.unravel_index(int(np.argmin(c2)), c2.shape))
            if c2[it, idd] <= best:
                best, t, d[j] = c2[it, idd], float(ts[it]), ds[idd] if j >= 0 else d[j]
            if t_free:
                ts = np.linspace(ts[max(it - 1, 0)], ts[min(it + 1, ts.size - 1)], n)
            if j >= 0:
                ds = np.linspace(ds[max(idd - 1, 0)], ds[min(idd + 1, ds.size - 1)], n)
        if self.nuis.size and not self._vector_nuisance:
            t, d = self._polish_nuisance(t, d, fx)
        a, b, c2 = self._inner(t, d, fx)
        return float(c2[0]), t, float(a[0]), float(b[0]), d

    def _polish_nuisance(self, t, d, fx):
        free_t = "thickness_nm" not in fx
        nuis = self.nuis

        def unpack(v):
            dd = self.d0.copy()
            dd[nuis] = v[int(free_t) :]
            return (v[0] if free_t else t), dd

        def resid(v):
            tt, dd = unpack(v)
            C = self._C(np.array([tt]), dd)
            a, b, _ = self._lin(C, fx)
            pred = a[0] * C[0] + b[0] * (1 - C[0])
            return np.concatenate(
                [(self.y - pred) / self.s, (dd[nuis] - self.d0[nuis]) / self.sd[nuis]]
            )

        x0 = np.concatenate([[t] if free_t else [], d[nuis]])
        lo = np.concatenate([[self.t_lo] if free_t else [], 0.05 * self.d0[nuis]])
        hi = np.concatenate([[self.t_hi] if free_t else [], 20.0 * self.d0[nuis]])
        x0 = np.clip(x0, lo, hi)
        r = optimize.least_squares(resid, x0, bounds=(lo, hi), x_scale=np.maximum(np.abs(x0), 1e-3))
        return unpack(r.x)

    def bounds(self, name):
        return (self.t_lo, self.t_hi) if name == "thickness_nm" else (0.0, 1.0)

    def interval(self, name: str, best: dict[str, float], chi2_min: float):
        """Profile-likelihood interval of ``name``: ((low, by), (high, by))."""
        v0 = best[name]
        lo_b, hi_b = self.bounds(name)

        def f(v):
            return self.minimize({**self.fixed, name: v})[0] - chi2_min - self.thr

        out = []
        for sign, bound in ((-1.0, lo_b), (1.0, hi_b)):
            if abs(v0 - bound) <= 1e-9 * max(1.0, abs(bound)):
                out.append((bound, "bound"))
                continue
            step0 = 0.05 * max(v0, 1e-3 * self.t_hi) if name == "thickness_nm" else 0.005
            prev, end = v0, None
            for k in range(60):
                v = v0 + sign * step0 * 2.0**k
                v = max(v, lo_b) if sign < 0 else min(v, hi_b)
                if f(v) > 0:
                    tol = 1e-5 * (abs(v) + abs(prev)) + 1e-12
                    end = (optimize.brentq(f, min(prev, v), max(prev, v), xtol=tol), "data")
                    break
                if v == bound:
                    end = (bound, "bound")
                    break
                prev = v
            out.append(end if end is not None else (bound, "bound"))
        return out[0], out[1]


# --- what the data determine ------------------------------------------------------------------


def _excess_valley(prob: _Problem, chi2_min: float) -> tuple[float, float] | None:
    """Range of ``(x_s - x_b) t`` over the thickness profile within the threshold."""
    if "thickness_nm" in prob.fixed:
        return None
    inside = np.flatnonzero(prob._lin(prob._C_nominal, prob.fixed)[2] <= chi2_min + prob.thr)
    if not inside.size:
        return None
    g = prob.t_grid
    ts = np.linspace(g[max(inside[0] - 1, 0)], g[min(inside[-1] + 1, g.size - 1)], 801)
    a, b, c2 = prob._inner(ts, prob.d0, prob.fixed)
    ex = ((a - b) * ts)[c2 <= chi2_min + prob.thr]
    return (float(ex.min()), float(ex.max())) if ex.size else None


def _structure(prob, vals, depths, free, estimates, chi2_min):
    """Surface excess; determined combinations; plain-language account of what is not."""
    t, xs, xb = vals["thickness_nm"], vals["surface_fraction"], vals["bulk_fraction"]
    excess = (xs - xb) * t
    if not free:
        return (excess, 0.0), (), ""
    J = weight_jacobian(prob.kernels, vals, free, width=prob.width, depths=depths)
    J /= prob.s[:, None]
    _, sv, vt = np.linalg.svd(J, full_matrices=True)
    rank = int(np.sum(sv > 1e-7 * max(sv.max(initial=0.0), 1e-300)))
    cov = np.linalg.pinv(J.T @ J, rcond=1e-10, hermitian=True)
    g_ex = np.array(
        [{"thickness_nm": xs - xb, "surface_fraction": t, "bulk_fraction": -t}[n] for n in free]
    )
    ex_err = float(np.sqrt(max(g_ex @ cov @ g_ex, 0.0)))
    bad = [n for n, e in estimates.items() if e.status in ("undetermined", "limit")]
    if rank == len(free) and not bad:
        return (excess, ex_err), tuple(free), ""
    # scaled coordinates: thickness relative to max(t, 1 nm), fractions as they are
    scale = np.array([max(abs(t), 1.0) if n == "thickness_nm" else 1.0 for n in free])
    lines, determined, parts = [], [], []
    ex_local = True
    if rank < len(free):
        null = vt[rank:].T / scale[:, None]
        null /= np.linalg.norm(null, axis=0, keepdims=True)
        g = g_ex * scale / max(np.linalg.norm(g_ex * scale), 1e-300)
        ex_local = bool(np.all(np.abs(g @ null) < 0.05))
        direction = null[:, -1] / np.abs(null[:, -1]).max()
        dtxt = ", ".join(
            f"{n} {d:+.2f}{' x t' if n == 'thickness_nm' else ''}"
            for n, d in zip(free, direction, strict=True)
        )
        n = len(prob.probes)
        head = (
            f"{n} probes cannot determine {len(free)} unknowns"
            if n < len(free)
            else ("at the best fit the weights do not constrain every unknown")
        )
        lines.append(
            f"{head} ({', '.join(free)}): the predicted weights do not change along ({dtxt})."
        )
    for n in free:
        e = estimates[n]
        unit = " nm" if n == "thickness_nm" else ""
        if e.status == "determined":
            determined.append(n)
            parts.append(f"{n} = {e.value:.4g}{unit} [{e.ci_low:.4g}, {e.ci_high:.4g}]")
        elif e.status == "limit":
            side = f"<= {e.ci_high:.4g}" if e.lower_by == "bound" else f">= {e.ci_low:.4g}"
            parts.append(f"{n} {side}{unit} only")
    undetermined = [n for n in free if estimates[n].status == "undetermined"]
    if undetermined:
        lines.append(
            "not determined by the data (the interval runs from bound to bound): "
            f"{', '.join(undetermined)}."
        )
    valley = _excess_valley(prob, chi2_min) if rank < len(free) or undetermined else None
    if ex_local and valley is not None and valley[1] - valley[0] <= 0.5 * max(abs(excess), 1e-9):
        determined.append("surface_excess_nm")
        parts.append(
            f"surface excess (x_s - x_b)*t = {excess:.4g} nm [{valley[0]:.4g}, {valley[1]:.4g}]"
        )
    if parts:
        lines.append("The data give: " + "; ".join(parts) + ".")
    wt = 1.0 / prob.s**2
    x_u = float((wt * prob.y).sum() / wt.sum())
    if float((wt * (prob.y - x_u) ** 2).sum()) - chi2_min <= stats.chi2.ppf(0.68, 2):
        lines.append(f"The weights are consistent with no layer (uniform x = {x_u:.4g}).")
    if rank < len(free) or undetermined:
        lines.append(f"To determine every parameter, {_DOC_FIX} of another depth.")
    return (excess, ex_err), tuple(determined), " ".join(lines)


def _misfit(probes, predicted, stderr) -> str:
    """A sentence when a probe sits > 3 standard errors from the fitted layer's prediction."""
    z = (np.array([p.weight for p in probes]) - predicted) / stderr
    i = int(np.argmax(np.abs(z)))
    if abs(z[i]) <= 3:
        return ""
    return (
        f"Probe {probes[i].name!r} is {z[i]:+.1f} standard errors from the layer's prediction "
        f"({predicted[i]:.4g} vs {probes[i].weight:.4g}): no layer within the bounds reproduces "
        "every weight; check the weights, their errors and the kernels."
    )


def _default_t_max(probes: Sequence[Probe]) -> float:
    """Smallest sphere radius, else 10x the deepest kernel (end of the deepest table), nm."""
    radii = [p.kernel.radius_nm for p in probes if isinstance(p.kernel, SphereKernel)]
    tabs = [float(p.kernel.z_nm[-1]) for p in probes if isinstance(p.kernel, TabulatedKernel)]
    deep = [10.0 * p.kernel.depth_nm for p in probes if isinstance(p.kernel, ExponentialKernel)]
    return float(min(radii)) if radii else float(max(tabs + deep))


def _estimates(prob: _Problem, best: dict[str, float], chi2_min: float):
    """Profile-likelihood estimate of every parameter (held ones marked fixed)."""
    out = {}
    for n in PARAMETERS:
        v = best[n]
        if n in prob.fixed:
            out[n] = ParameterEstimate(n, v, v, v, "fixed", "fixed")
            continue
        (lo, lby), (hi, hby) = prob.interval(n, best, chi2_min)
        out[n] = ParameterEstimate(n, v, min(lo, v), max(hi, v), lby, hby)
    return out


def _check_options(probes, shape, width_nm, fixed, thickness_bounds_nm, level):
    """Validated (width, fixed values, thickness bounds) of :func:`fit_layer`."""
    if len(probes) < 2:
        raise ParameterError(
            f"a layer fit needs >= 2 probes of different depth, got {len(probes)}."
        )
    names = [p.name for p in probes]
    if len(set(names)) != len(names):
        raise ParameterError(f"probe names must be unique, got {names}.")
    check_choice(shape, _SHAPES, "shape")
    width = check_positive(width_nm, "width_nm") if shape == "erf" else 0.0
    if not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level}.")
    fixed = dict(fixed or {})
    for k, v in fixed.items():
        check_choice(k, PARAMETERS, "fixed parameter")
        lo, hi = (0.0, np.inf) if k == "thickness_nm" else (0.0, 1.0)
        if not lo <= float(v) <= hi:
            raise ParameterError(f"fixed {k} = {v} is outside [{lo}, {hi}].")
        fixed[k] = float(v)
    t_bounds = thickness_bounds_nm or (0.0, _default_t_max(probes))
    t_lo, t_hi = (float(b) for b in t_bounds)
    if not 0 <= t_lo < t_hi:
        raise ParameterError(f"thickness_bounds_nm must be 0 <= low < high, got {t_bounds}.")
    return width, fixed, (t_lo, t_hi)


def fit_layer(
    probes: Sequence[Probe],
    *,
    shape: Literal["sharp", "erf"] = "sharp",
    width_nm: float = 0.0,
    fixed: Mapping[str, float] | None = None,
    thickness_bounds_nm: tuple[float, float] | None = None,
    level: float = 0.68,
    warn: bool = True,
) -> LayerFit:
    """Fit a surface layer (t, x_s, x_b) to the weights of probes of different depth.

    Parameters
    ----------
    probes : sequence of Probe
        At least two probes (weights, standard errors, kernels).
    shape : {"sharp", "erf"}
        Step at ``t`` or erf transition of standard deviation ``width_nm`` (nm, given).
    width_nm : float
        Transition width for ``shape="erf"``, nm.
    fixed : mapping, optional
        Parameters held at given values, e.g. ``{"surface_fraction": 0.8}``.
    thickness_bounds_nm : (float, float), optional
        Allowed thickness, nm; default 0 to the smallest sphere radius, else 10x the largest
        kernel depth.
    level : float
        Confidence level of the profile-likelihood intervals (0.68 -> delta chi2 = 0.989).
    warn : bool
        Emit a :class:`~cathodescope.errors.CathodescopeRunWarning` when a parameter is not
        determined (the same text is in ``LayerFit.message``).

    Returns
    -------
    LayerFit
        Best layer, intervals, predicted weights and the account of what is determined.

    Examples
    --------
    >>> from cathodescope.xas import ExponentialKernel, SphereKernel
    >>> probes = [
    ...     Probe("TEY", ExponentialKernel(5.0), 0.789011, 0.005),
    ...     Probe("FY", ExponentialKernel(120.0), 0.2919, 0.005),
    ...     Probe("hard", SphereKernel(5000.0), 0.207171, 0.005),
    ... ]
    >>> fit = fit_layer(probes)
    >>> round(fit.profile.thickness_nm)
    20
    """
    probes = tuple(probes)
    width, fixed, (t_lo, t_hi) = _check_options(
        probes, shape, width_nm, fixed, thickness_bounds_nm, level
    )
    prob = _Problem(probes, width, fixed, (t_lo, t_hi), level)
    chi2_min, t, xs, xb, depths = prob.minimize(fixed)
    best = {"thickness_nm": t, "surface_fraction": xs, "bulk_fraction": xb}
    estimates = _estimates(prob, best, chi2_min)
    free = [n for n in PARAMETERS if n not in fixed]
    excess, determined, message = _structure(prob, best, depths, free, estimates, chi2_min)
    C = prob._C(np.array([t]), depths)[0]
    predicted = xs * C + xb * (1 - C)
    message = " ".join(m for m in (message, _misfit(probes, predicted, prob.s)) if m)
    if message and warn:
        warnings.warn(f"layer fit: {message}", CathodescopeRunWarning, stacklevel=2)
    return LayerFit(
        profile=LayerProfile(t, xs, xb, width),
        estimates=estimates,
        probes=probes,
        predicted=predicted,
        depths_nm=np.asarray(depths, dtype=float),
        chi2=chi2_min,
        surface_excess_nm=excess,
        determined=determined,
        message=message,
        parameters={"shape": shape, "width_nm": width, "fixed": fixed, "level": level}
        | {"thickness_bounds_nm": (t_lo, t_hi), "delta_chi2": prob.thr},
    )
