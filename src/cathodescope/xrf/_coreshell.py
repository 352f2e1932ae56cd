"""Core/shell fit of a composition profile: shell and core levels, interface, gradient width.

Model (``geometry="edge"``, shell at the start of the profile)::

    value_E(x) = shell_E + (core_E - shell_E) * S((x - x0) / w)

with ``S`` a smooth unit step, ``erf``: ``S(u) = (1 + erf(u / sqrt(2))) / 2`` (``w`` = sigma of a
Gaussian-blurred interface) or ``logistic``: ``S(u) = 1 / (1 + exp(-u))``. All elements share the
interface position ``x0`` and the width ``w``; each has its own shell and core level. The
gradient-region width reported is the 10-90 % width of the step: ``2 * 1.2816 * w`` (erf) or
``2 * ln 9 * w`` (logistic). ``geometry="cross"`` fits a profile across a whole particle
(shell - core - shell) with two interfaces ``x_in < x_out``::

    value_E(x) = shell_E + (core_E - shell_E) * S((x - x_in) / w) * S((x_out - x) / w)

Fit fractions such as Mn/(Ni+Mn+Co), not two-element ratios such as Mn/Ni: a fraction is linear
in the local composition, so its step has the composition step's midpoint; Mn/Ni is a ratio of two
steps whose half-height sits where the composition is already past its midpoint (biased towards
the Mn-rich shell, see the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import erf, expit

from cathodescope._validation import check_choice
from cathodescope.errors import CoreShellFitError, EmptyMapError, ShapeMismatchError

StepModel = Literal["erf", "logistic"]
_WIDTH_10_90 = {"erf": 2.0 * 1.2815515655446004, "logistic": 2.0 * np.log(9.0)}


def step(u: np.ndarray, model: StepModel) -> np.ndarray:
    """Unit step S(u) of the model, 0 at u -> -inf, 1/2 at 0, 1 at u -> +inf."""
    if model == "erf":
        return 0.5 * (1.0 + erf(u / np.sqrt(2.0)))
    return expit(u)


@dataclass(frozen=True)
class CoreShellFit:
    """Result of :func:`fit_core_shell`. Lengths in um along the profile's distance axis.

    Parameters
    ----------
    interface_um : float or (float, float)
        Interface position(s): ``x0`` (edge) or ``(x_in, x_out)`` (cross), um.
    interface_stderr_um : float or (float, float)
        1-sigma standard errors of the interface position(s), um.
    sigma_um, sigma_stderr_um : float
        Width parameter ``w`` of the step and its standard error, um.
    width_um, width_stderr_um : float
        10-90 % width of the gradient region, um, and its standard error.
    shell, core : dict of str to float
        Fitted levels per element (same units as the profile, e.g. atomic fraction).
    shell_stderr, core_stderr : dict of str to float
        Their standard errors.
    width_resolved : bool
        False when the step is sharper than the sampling: the width then sits at its lower
        bound (1/4 of the sample step), is an upper limit, and has a NaN error; the interface
        error then includes the sample gap (step / sqrt(12)).
    redchi : float
        Reduced chi-square (with the weights given, else in squared profile units).
    n_points : int
        Number of finite profile samples used.
    model, geometry, shell_at : str
        Options used.
    distance_um : numpy.ndarray
        Sample positions (finite ones), um.
    observed, best_fit : dict of str to numpy.ndarray
        Profiles and fitted curves at ``distance_um``.
    parameters : dict
        Every option used.
    """

    interface_um: Any
    interface_stderr_um: Any
    sigma_um: float
    sigma_stderr_um: float
    width_um: float
    width_stderr_um: float
    shell: dict[str, float]
    shell_stderr: dict[str, float]
    core: dict[str, float]
    core_stderr: dict[str, float]
    redchi: float
    n_points: int
    width_resolved: bool
    model: str
    geometry: str
    shell_at: str
    distance_um: np.ndarray = field(repr=False)
    observed: dict[str, np.ndarray] = field(repr=False)
    best_fit: dict[str, np.ndarray] = field(repr=False)
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per element: ``element, shell, shell_stderr, core, core_stderr,
        interface_um, interface_stderr_um`` (``interface_in/out_um`` for cross profiles),
        ``sigma_um, width_10_90_um, width_stderr_um, width_resolved, model, redchi, n_points``."""
        rows = []
        for e in self.shell:
            row: dict[str, Any] = {
                "element": e,
                "shell": self.shell[e],
                "shell_stderr": self.shell_stderr[e],
                "core": self.core[e],
                "core_stderr": self.core_stderr[e],
            }
            if self.geometry == "edge":
                row["interface_um"] = self.interface_um
                row["interface_stderr_um"] = self.interface_stderr_um
            else:
                row["interface_in_um"], row["interface_out_um"] = self.interface_um
                row["interface_in_stderr_um"], row["interface_out_stderr_um"] = (
                    self.interface_stderr_um
                )
            row.update(
                sigma_um=self.sigma_um,
                width_10_90_um=self.width_um,
                width_stderr_um=self.width_stderr_um,
                width_resolved=self.width_resolved,
                model=self.model,
                redchi=self.redchi,
                n_points=self.n_points,
            )
            rows.append(row)
        return pd.DataFrame(rows)

    def curves(self) -> pd.DataFrame:
        """Long table ``element, distance_um, observed, fit`` for plotting."""
        parts = [
            pd.DataFrame(
                {
                    "element": e,
                    "distance_um": self.distance_um,
                    "observed": self.observed[e],
                    "fit": self.best_fit[e],
                }
            )
            for e in self.observed
        ]
        return pd.concat(parts, ignore_index=True)


def _profile_function(x, params, element, model, geometry, shell_at):
    shell = params[f"shell_{element}"]
    core = params[f"core_{element}"]  # element: index key of the profile
    w = params["sigma"]
    if geometry == "edge":
        u = (x - params["x0"]) / w
        s = step(u if shell_at == "start" else -u, model)
    else:
        s = step((x - params["x_in"]) / w, model) * step((params["x_out"] - x) / w, model)
    return shell + (core - shell) * s


def fit_core_shell(
    distance_um: np.ndarray,
    profiles: Mapping[str, np.ndarray] | np.ndarray,
    *,
    model: StepModel = "erf",
    geometry: Literal["edge", "cross"] = "edge",
    shell_at: Literal["start", "end"] = "start",
    stderr: Mapping[str, np.ndarray] | np.ndarray | None = None,
) -> CoreShellFit:
    """Fit a core/shell step model to one or several composition profiles sharing an interface.

    Parameters
    ----------
    distance_um : array of shape (n,)
        Position of each sample along the profile, um (a line profile's ``distance`` or a depth
        profile's depth from the surface).
    profiles : mapping of str to array (n,), or array (n,)
        Composition profiles, best fractions such as ``Mn/(Ni+Mn+Co)``; several elements are fitted
        jointly (one interface, one width, own levels). NaN samples are ignored.
    model : {"erf", "logistic"}
        Shape of the step.
    geometry : {"edge", "cross"}
        ``"edge"``: one interface (a radial or depth profile); ``"cross"``: a profile across a
        whole particle, shell at both ends, two interfaces.
    shell_at : {"start", "end"}
        For ``"edge"``: where the shell is, at small distances (depth profiles, profiles from the
        surface inwards) or at large ones (profiles from the centre outwards).
    stderr : mapping or array, optional
        1-sigma uncertainty of each sample (e.g. from a depth profile's CI); used as weights
        ``1/stderr``. Without it all samples weigh the same and the parameter errors are scaled
        by the residual scatter.

    Returns
    -------
    CoreShellFit

    Raises
    ------
    ShapeMismatchError
        Profiles of another length than ``distance_um``.
    EmptyMapError
        A profile without finite samples.
    CoreShellFitError
        Too few samples for the model, or the fit cannot estimate uncertainties (no step in the
        profile, the interface at the end of the profile).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import erf
    >>> depth = np.linspace(0, 3, 61)
    >>> mn = 0.40 + (0.15 - 0.40) * 0.5 * (1 + erf((depth - 1.2) / (np.sqrt(2) * 0.2)))
    >>> fit = fit_core_shell(depth, {"Mn": mn}, shell_at="start")
    >>> round(fit.interface_um, 4), round(fit.shell["Mn"], 4), round(fit.core["Mn"], 4)
    (1.2, 0.4, 0.15)
    >>> round(fit.width_um, 3)  # 10-90 % width = 2.563 sigma
    0.513
    """
    from scipy.optimize import least_squares

    check_choice(model, ("erf", "logistic"), "model")
    check_choice(geometry, ("edge", "cross"), "geometry")
    check_choice(shell_at, ("start", "end"), "shell_at")
    x_all, data, labels = _fit_data(distance_um, profiles, stderr)
    n_par = 2 * len(data) + (2 if geometry == "edge" else 3)
    n_pts = sum(d[0].size for d in data.values())
    if n_pts < n_par + 3:
        raise CoreShellFitError(
            f"{n_pts} finite samples are too few for a {n_par}-parameter core/shell model; "
            "use a longer profile or a finer sampling."
        )

    params, bounds, dx = _initial_values(data, x_all, geometry, shell_at)
    x_min, x_max = float(np.nanmin(x_all)), float(np.nanmax(x_all))
    span = x_max - x_min
    p, stderr_of, redchi, width_resolved = _least_squares(
        data, params, bounds, model, geometry, shell_at, least_squares
    )
    if geometry == "edge":
        for b in ("x0",):
            if p[b] <= x_min + 1e-9 * span or p[b] >= x_max - 1e-9 * span:
                raise CoreShellFitError(
                    f"the fitted interface ({p[b]:.4g} um) is at the end of the profile; "
                    "extend the profile across the interface."
                )
    w_factor = _WIDTH_10_90[model]
    names = list(data)
    label = dict(zip(names, labels, strict=True))
    if not width_resolved:
        # a step sharper than the sampling: the interface lies somewhere between two samples,
        # add the uniform-distribution error of that gap (dx / sqrt(12)) in quadrature
        for n in ("x0", "x_in", "x_out"):
            if n in stderr_of:
                stderr_of[n] = float(np.hypot(stderr_of[n], dx / np.sqrt(12.0)))
    interface: float | tuple[float, float]
    interface_err: float | tuple[float, float]
    if geometry == "edge":
        interface = float(p["x0"])
        interface_err = float(stderr_of["x0"])
    else:
        interface = (float(p["x_in"]), float(p["x_out"]))
        interface_err = (float(stderr_of["x_in"]), float(stderr_of["x_out"]))
    x_used = np.sort(np.unique(np.concatenate([d[0] for d in data.values()])))
    observed = {}
    for e in names:
        full = np.full(x_used.shape, np.nan)
        idx = np.searchsorted(x_used, data[e][0])
        full[idx] = data[e][1]
        observed[label[e]] = full
    return CoreShellFit(
        interface_um=interface,
        interface_stderr_um=interface_err,
        sigma_um=float(p["sigma"]),
        sigma_stderr_um=float(stderr_of["sigma"]),
        width_um=float(w_factor * p["sigma"]),
        width_stderr_um=float(w_factor * stderr_of["sigma"]),
        shell={label[e]: float(p[f"shell_{e}"]) for e in names},
        shell_stderr={label[e]: float(stderr_of[f"shell_{e}"]) for e in names},
        core={label[e]: float(p[f"core_{e}"]) for e in names},
        core_stderr={label[e]: float(stderr_of[f"core_{e}"]) for e in names},
        redchi=float(redchi),
        width_resolved=width_resolved,
        n_points=int(n_pts),
        model=model,
        geometry=geometry,
        shell_at=shell_at,
        distance_um=x_used,
        observed=observed,
        best_fit={
            label[e]: _profile_function(x_used, p, e, model, geometry, shell_at) for e in names
        },
        parameters={
            "model": model,
            "geometry": geometry,
            "shell_at": shell_at,
            "weighted": stderr is not None,
            "method": "scipy.optimize.least_squares (lm, else trf with bounds; analytic Jacobian)",
        },
    )


def _fit_data(
    distance_um: Any, profiles: Any, stderr: Any
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], list[str]]:
    """Finite ``(x, value, sigma)`` samples per profile, keyed ``p0, p1...``, and their labels."""
    x_all = np.asarray(distance_um, dtype=float).ravel()
    prof = dict(profiles) if isinstance(profiles, Mapping) else {"value": profiles}
    errs = None
    if stderr is not None:
        errs = dict(stderr) if isinstance(stderr, Mapping) else {"value": stderr}
    data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    labels: list[str] = []
    for e, v in prof.items():
        v = np.asarray(v, dtype=float).ravel()
        if v.shape != x_all.shape:
            raise ShapeMismatchError(
                f"profile {e!r} has {v.size} samples but distance_um has {x_all.size}."
            )
        s = np.ones_like(v) if errs is None else np.asarray(errs[e], dtype=float).ravel()
        ok = np.isfinite(v) & np.isfinite(x_all) & np.isfinite(s) & (s > 0)
        if not ok.any():
            raise EmptyMapError(f"profile {e!r} has no finite sample; nothing to fit.")
        data[f"p{len(data)}"] = (x_all[ok], v[ok], s[ok])
        labels.append(str(e))
    return x_all, data, labels


def _initial_values(
    data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    x_all: np.ndarray,
    geometry: str,
    shell_at: str,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], float]:
    """Start values and bounds: levels from the outer/inner tenth, interface at the half-way
    crossing of the first profile, width a twentieth of the span; and the sample step."""
    x_min, x_max = float(np.nanmin(x_all)), float(np.nanmax(x_all))
    span = x_max - x_min
    params: dict[str, float] = {}
    bounds: dict[str, tuple[float, float]] = {}
    # initial values: levels from the outer/inner tenth, interface at the half-way crossing
    for e, (x, v, _) in data.items():
        order = np.argsort(x)
        x, v = x[order], v[order]
        k = max(2, x.size // 10)
        if geometry == "edge":
            lo_end, hi_end = np.median(v[:k]), np.median(v[-k:])
            shell0, core0 = (lo_end, hi_end) if shell_at == "start" else (hi_end, lo_end)
        else:
            shell0 = 0.5 * (np.median(v[:k]) + np.median(v[-k:]))
            mid = slice(x.size // 2 - k // 2, x.size // 2 + k // 2 + 1)
            core0 = np.median(v[mid])
        params[f"shell_{e}"] = float(shell0)
        params[f"core_{e}"] = float(core0)
    first = next(iter(data.values()))
    xs, vs = first[0][np.argsort(first[0])], first[1][np.argsort(first[0])]
    half = 0.5 * (params[f"shell_{next(iter(data))}"] + params[f"core_{next(iter(data))}"])
    above = vs > half
    crossings = np.nonzero(np.diff(above.astype(int)))[0]
    if geometry == "edge":
        x0 = xs[crossings[0]] if crossings.size else x_min + span / 2
        params["x0"], bounds["x0"] = float(x0), (x_min, x_max)
    else:
        if crossings.size >= 2:
            x_in, x_out = xs[crossings[0]], xs[crossings[-1]]
        else:
            x_in, x_out = x_min + span / 4, x_max - span / 4
        params["x_in"], bounds["x_in"] = float(x_in), (x_min, x_max)
        params["x_out"], bounds["x_out"] = float(x_out), (x_min, x_max)
    dx = float(np.median(np.diff(np.unique(x_all[np.isfinite(x_all)])))) if x_all.size > 1 else 1.0
    params["sigma"], bounds["sigma"] = min(max(span / 20, dx), span), (dx / 4, span)

    return params, bounds, dx


def _step_derivative(u: np.ndarray, model: StepModel) -> np.ndarray:
    """dS/du of the unit step."""
    if model == "erf":
        return np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)
    s = step(u, model)
    return s * (1.0 - s)


def _least_squares(data, params, bounds, model, geometry, shell_at, least_squares):
    """Weighted least squares with the analytic Jacobian; covariance scaled by redchi.

    scipy's ``least_squares`` is used directly rather than lmfit: with the analytic Jacobian a
    fit takes ~1 ms instead of ~50 ms, which matters for thousands of particles. Standard
    errors follow lmfit's convention (``scale_covar``): ``sqrt(diag(inv(J^T J) * redchi))``.
    """
    names = list(params)
    keys = list(data)
    index = {n: i for i, n in enumerate(names)}
    shared = ["x0"] if geometry == "edge" else ["x_in", "x_out"]
    theta0 = np.array([params[n] for n in names], dtype=float)
    lo = np.array([bounds.get(n, (-np.inf, np.inf))[0] for n in names])
    hi = np.array([bounds.get(n, (-np.inf, np.inf))[1] for n in names])
    finite = np.isfinite(lo) & np.isfinite(hi)
    margin = np.where(finite, 1e-9 * (np.where(finite, hi - lo, 0.0)), 0.0)
    theta0 = np.clip(theta0, lo + margin, hi - margin)
    sizes = [data[k][0].size for k in keys]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    sign = 1.0 if shell_at == "start" else -1.0

    # elements usually share their sample positions: the step is computed once per distinct
    # position array and per parameter vector (least_squares asks for fun and jac at the same
    # point)
    x_group, x_arrays = _group_positions(data, keys)
    cache: dict[tuple[bytes, int], tuple] = {}

    def shape_terms(theta, gi):
        key = (theta.tobytes(), gi)
        if key in cache:
            return cache[key]
        if len(cache) > 64:
            cache.clear()
        x = x_arrays[gi]
        w = theta[index["sigma"]]
        if geometry == "edge":
            u = sign * (x - theta[index["x0"]]) / w
            st = step(u, model)
            ds = _step_derivative(u, model)
            d_shared = {"x0": -sign / w * ds}
            d_w = -u / w * ds
        else:
            u1 = (x - theta[index["x_in"]]) / w
            u2 = (theta[index["x_out"]] - x) / w
            s1, s2 = step(u1, model), step(u2, model)
            d1, d2 = _step_derivative(u1, model), _step_derivative(u2, model)
            st = s1 * s2
            d_shared = {"x_in": -d1 * s2 / w, "x_out": s1 * d2 / w}
            d_w = -(u1 * d1 * s2 + u2 * s1 * d2) / w
        cache[key] = (st, d_shared, d_w)
        return cache[key]

    def parts(theta, x, k):
        shell, core = theta[index[f"shell_{k}"]], theta[index[f"core_{k}"]]
        st, d_shared, d_w = shape_terms(theta, x_group[k])
        return shell, core, st, d_shared, d_w

    def fun(theta):
        out = np.empty(offsets[-1])
        for i, k in enumerate(keys):
            x, v, sd = data[k]
            shell, core, s, _, _ = parts(theta, x, k)
            out[offsets[i] : offsets[i + 1]] = (shell + (core - shell) * s - v) / sd
        return out

    def jac(theta):
        J = np.zeros((offsets[-1], len(names)))
        for i, k in enumerate(keys):
            x, _, sd = data[k]
            shell, core, s, d_shared, d_w = parts(theta, x, k)
            rows = slice(offsets[i], offsets[i + 1])
            J[rows, index[f"shell_{k}"]] = (1.0 - s) / sd
            J[rows, index[f"core_{k}"]] = s / sd
            for n in shared:
                J[rows, index[n]] = (core - shell) * d_shared[n] / sd
            J[rows, index["sigma"]] = (core - shell) * d_w / sd
        return J

    # Levenberg-Marquardt (MINPACK) is faster than the bounded trust-region method; when it
    # leaves the bounds (interface outside the profile, width ~0 for a step sharper than the
    # sampling) the bounded method is used instead.
    res = least_squares(fun, theta0, jac=jac, method="lm", x_scale="jac")
    inside = all(lo[index[n]] <= res.x[index[n]] <= hi[index[n]] for n in [*shared, "sigma"])
    if not (res.success and inside):
        res = least_squares(fun, theta0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac")
    err, redchi, resolved = _standard_errors(res, names, index, lo)
    values = {n: float(res.x[i]) for i, n in enumerate(names)}
    return values, {n: float(err[i]) for i, n in enumerate(names)}, redchi, bool(resolved)


def _group_positions(
    data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], keys: list[str]
) -> tuple[dict[str, int], list[np.ndarray]]:
    """Profiles that share their sample positions share one step evaluation: the group of each
    profile and the distinct position arrays."""
    x_group: dict[str, int] = {}
    x_arrays: list[np.ndarray] = []
    for k in keys:
        x = data[k][0]
        for gi, xa in enumerate(x_arrays):
            if xa.shape == x.shape and np.array_equal(xa, x):
                x_group[k] = gi
                break
        else:
            x_group[k] = len(x_arrays)
            x_arrays.append(x)
    return x_group, x_arrays


def _standard_errors(
    res: Any, names: list[str], index: dict[str, int], lo: np.ndarray
) -> tuple[np.ndarray, float, bool]:
    """Standard errors ``sqrt(diag(inv(J^T J) * redchi))``, redchi, and whether the width is
    resolved (a step sharper than the sampling drives the width to its lower bound: it is then
    reported with a NaN error and the covariance of the rest is computed without it)."""
    dof = res.fun.size - len(names)
    redchi = float(2.0 * res.cost / dof) if dof > 0 else np.nan
    J = res.jac
    i_w = index["sigma"]
    # a step sharper than the sampling drives the width to its lower bound: the width is then
    # unresolved (reported with a NaN error) and the covariance of the rest is computed
    # without it
    resolved = res.x[i_w] > lo[i_w] * (1 + 1e-6)
    cols = np.arange(len(names)) if resolved else np.delete(np.arange(len(names)), i_w)
    jtj = J[:, cols].T @ J[:, cols]
    cov = None
    if res.success and np.all(np.isfinite(jtj)) and np.linalg.cond(jtj) < 1e14:
        cov = np.linalg.inv(jtj) * redchi
    err = None
    if cov is not None:
        err = np.full(len(names), np.nan)
        err[cols] = np.sqrt(np.diag(cov))
    if err is None or not np.all(np.isfinite(err[cols])):
        raise CoreShellFitError(
            "the core/shell model could not be fitted with finite uncertainties "
            f"({res.message}); the profile may have no step, a step sharper than its "
            "sampling, or the interface at its end: check the profile and shell_at/geometry."
        )
    return err, redchi, bool(resolved)


def half_height_position(
    distance_um: np.ndarray, values: np.ndarray, low: float, high: float
) -> float:
    """First position (um) where a profile crosses ``(low + high) / 2``, linearly interpolated.

    The model-free midpoint of a step between two known levels; used to show the midpoint bias
    of two-element ratios.

    Parameters
    ----------
    distance_um : ndarray
        Positions along the profile, um.
    values : ndarray
        Profile values at those positions (NaN points are skipped).
    low, high : float
        The two levels of the step.

    Returns
    -------
    float
        Position of the first crossing, um.

    Raises
    ------
    CoreShellFitError
        The profile never crosses its half height.
    """
    x = np.asarray(distance_um, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(x) & np.isfinite(v)
    x, v = x[ok], v[ok]
    half = 0.5 * (low + high)
    d = v - half
    idx = np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) <= 0)[0]
    if idx.size == 0:
        raise CoreShellFitError(f"the profile never crosses its half height {half:g}.")
    i = int(idx[0])
    if d[i + 1] == d[i]:
        return float(x[i])
    return float(x[i] - d[i] * (x[i + 1] - x[i]) / (d[i + 1] - d[i]))
