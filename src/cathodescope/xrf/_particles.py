"""Per-particle analysis of XRF maps through the depth-profile engine, plus core/shell fits.

Segmentation, particle measures and 2D depth profiles (fractions ``E/(Ni+Mn+Co)`` against the
distance from each particle's convex-hull surface, with confidence intervals) all come from
:func:`cathodescope.profile.analyze_scene`; this module only selects the element channels and fits
the core/shell step model of :func:`fit_core_shell` to each particle's fraction-vs-depth profile
(depth 0 = surface, so the shell is at the start).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from cathodescope._validation import check_choice
from cathodescope.errors import CathodescopeRunWarning, CoreShellFitError, EmptyMapError
from cathodescope.io import resolve_channels
from cathodescope.xrf._batchfit import batched_edge_fit
from cathodescope.xrf._coreshell import _WIDTH_10_90, StepModel, fit_core_shell
from cathodescope.xrf._maps import map_spacing

CORE_SHELL_COLUMNS = (
    "particle_id",
    "element",
    "shell",
    "shell_stderr",
    "core",
    "core_stderr",
    "interface_depth_um",
    "interface_stderr_um",
    "sigma_um",
    "width_10_90_um",
    "width_stderr_um",
    "width_resolved",
    "redchi",
    "n_points",
    "status",
)


@dataclass(frozen=True)
class XRFParticleAnalysis:
    """Result of :func:`analyze_particles`.

    Parameters
    ----------
    scene : cathodescope.profile.SceneAnalysis
        Segmentation, particle table and depth profiles from the engine.
    core_shell : pandas.DataFrame
        One row per particle and element with the columns of ``CORE_SHELL_COLUMNS``: fitted
        shell and core fractions (``shell``, ``core`` and their ``_stderr``), interface depth
        below the hull surface (``interface_depth_um``, um), ``sigma_um``, 10-90 % gradient width
        ``width_10_90_um`` (um), ``redchi``, ``n_points`` and ``status`` (``"ok"`` or why the fit
        failed; the numbers are NaN then).
    parameters : dict
        Every option used.
    """

    scene: Any
    core_shell: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)


def fit_depth_profiles(
    ratios: pd.DataFrame,
    *,
    model: Literal["erf", "logistic"] = "erf",
    ci_level: float = 0.99,
    depth_window_um: tuple[float, float] | None = None,
    method: Literal["batched", "per_particle"] = "batched",
) -> pd.DataFrame:
    """Fit the core/shell model to every particle's fraction-vs-depth profiles.

    Parameters
    ----------
    ratios : pandas.DataFrame
        The engine's ``DepthProfiles.ratios``: ``particle_id, element, depth_um, ratio, ci_low,
        ci_high`` (fractions ``E/(sum)`` at each depth bin, um from the surface).
    model : {"erf", "logistic"}
        Step shape.
    ci_level : float
        Confidence level of ``ci_low``/``ci_high``; their half-width / z gives each bin's
        standard error, used as fit weights.
    depth_window_um : (float, float), optional
        Only bins with depth in this range (um); default all.
    method : {"batched", "per_particle"}
        ``"batched"``: all particles in one vectorised Levenberg-Marquardt (fast; particles it
        cannot settle are refitted one by one); ``"per_particle"``: :func:`fit_core_shell` for
        each particle. Both minimise the same weighted least squares.

    Returns
    -------
    pandas.DataFrame
        Columns ``CORE_SHELL_COLUMNS``; a particle whose fit fails gets NaNs and the reason in
        ``status``.
    """
    check_choice(model, ("erf", "logistic"), "model")
    check_choice(method, ("batched", "per_particle"), "method")
    z = float(norm.ppf(0.5 + ci_level / 2))
    df = ratios
    if depth_window_um is not None:
        df = df[(df["depth_um"] >= depth_window_um[0]) & (df["depth_um"] <= depth_window_um[1])]
    has_ci = {"ci_low", "ci_high"} <= set(df.columns)
    cols = ["particle_id", "depth_um", "element", "ratio"] + (
        ["ci_low", "ci_high"] if has_ci else []
    )
    # one reshape for all particles (a pivot per particle costs more than the fit itself)
    wide = df[cols].set_index(["particle_id", "depth_um", "element"]).unstack("element")
    wide = wide.sort_index()
    elements = [str(e) for e in wide["ratio"].columns]
    values = wide["ratio"].to_numpy(dtype=float)
    if has_ci:
        errors = (wide["ci_high"] - wide["ci_low"]).to_numpy(dtype=float) / (2 * z)
        # a zero-width CI (a single pixel in the bin) carries no weight information
        errors[~(errors > 0)] = np.nan
    pids = wide.index.get_level_values(0).to_numpy()
    depths = wide.index.get_level_values(1).to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]])
    ends = np.r_[starts[1:], pids.size]
    # per-particle errors: bins without a usable error get the median error of their element
    err_all = None
    if has_ci:
        err_all = errors.copy()
        for a, b in zip(starts, ends, strict=True):
            blk = err_all[a:b]
            for k in range(blk.shape[1]):
                col = blk[:, k]
                fin = np.isfinite(col)
                if fin.any() and not fin.all():
                    col[~fin] = np.median(col[fin])
    rows: list[dict[str, Any]] = []
    refit = list(range(len(starts)))
    if method == "batched" and len(starts):
        batch_rows, refit = _batched_rows(
            starts, ends, pids, depths, values, err_all, elements, model
        )
        rows.extend(batch_rows)
    rows.extend(_refit_rows(refit, starts, ends, pids, depths, values, err_all, elements, model))
    table = pd.DataFrame(rows, columns=list(CORE_SHELL_COLUMNS))
    return table.sort_values(["particle_id"], kind="stable").reset_index(drop=True)


def _batched_rows(
    starts: np.ndarray,
    ends: np.ndarray,
    pids: np.ndarray,
    depths: np.ndarray,
    values: np.ndarray,
    err_all: np.ndarray | None,
    elements: list[str],
    model: StepModel,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Vectorised edge fits of every particle at once; returns the table rows of the
    converged fits and the particles to refit one by one."""
    E = len(elements)
    rows: list[dict[str, Any]] = []
    n_max = int((ends - starts).max())
    X = np.full((len(starts), n_max), np.nan)
    V = np.full((len(starts), n_max, E), np.nan)
    S = np.ones((len(starts), n_max, E))
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        X[i, : b - a] = depths[a:b]
        V[i, : b - a] = values[a:b]
        if err_all is not None:
            S[i, : b - a] = err_all[a:b]
    enough = np.isfinite(V).sum(axis=(1, 2)) >= 2 * E + 2 + 3
    res = batched_edge_fit(X, V, S, model=model) if enough.any() else None
    refit = []
    width_factor = _WIDTH_10_90[model]
    for i in range(len(starts)):
        if res is None or not (enough[i] and res["ok"][i]):
            refit.append(i)
            continue
        th, se = res["theta"][i], res["stderr"][i]
        for k, e in enumerate(elements):
            rows.append(
                {
                    "particle_id": pids[starts[i]],
                    "element": e,
                    "shell": th[k],
                    "shell_stderr": se[k],
                    "core": th[E + k],
                    "core_stderr": se[E + k],
                    "interface_depth_um": th[2 * E],
                    "interface_stderr_um": se[2 * E],
                    "sigma_um": th[2 * E + 1],
                    "width_10_90_um": width_factor * th[2 * E + 1],
                    "width_stderr_um": width_factor * se[2 * E + 1],
                    "width_resolved": True,
                    "redchi": res["redchi"][i],
                    "n_points": int(res["n_points"][i]),
                    "status": "ok",
                }
            )
    return rows, refit


def _refit_rows(
    refit: list[int],
    starts: np.ndarray,
    ends: np.ndarray,
    pids: np.ndarray,
    depths: np.ndarray,
    values: np.ndarray,
    err_all: np.ndarray | None,
    elements: list[str],
    model: StepModel,
) -> list[dict[str, Any]]:
    """One :func:`fit_core_shell` per particle (those the batched fit did not settle)."""
    rows: list[dict[str, Any]] = []
    for i in refit:
        a, b = starts[i], ends[i]
        pid = pids[a]
        stderr = None
        if err_all is not None and np.isfinite(err_all[a:b]).any():
            stderr = {e: err_all[a:b, k] for k, e in enumerate(elements)}
        try:
            fit = fit_core_shell(
                depths[a:b],
                {e: values[a:b, k] for k, e in enumerate(elements)},
                model=model,
                shell_at="start",
                stderr=stderr,
            )
        except (CoreShellFitError, EmptyMapError) as exc:
            for e in elements:
                rows.append({"particle_id": pid, "element": e, "status": str(exc)})
            continue
        for e in elements:
            rows.append(
                {
                    "particle_id": pid,
                    "element": e,
                    "shell": fit.shell[e],
                    "shell_stderr": fit.shell_stderr[e],
                    "core": fit.core[e],
                    "core_stderr": fit.core_stderr[e],
                    "interface_depth_um": fit.interface_um,
                    "interface_stderr_um": fit.interface_stderr_um,
                    "sigma_um": fit.sigma_um,
                    "width_10_90_um": fit.width_um,
                    "width_stderr_um": fit.width_stderr_um,
                    "width_resolved": fit.width_resolved,
                    "redchi": fit.redchi,
                    "n_points": fit.n_points,
                    "status": "ok",
                }
            )
    return rows


def analyze_particles(
    maps: xr.DataArray,
    elements: Sequence[str] = ("Ni", "Mn", "Co"),
    *,
    fit: bool = True,
    model: Literal["erf", "logistic"] = "erf",
    depth_window_um: tuple[float, float] | None = None,
    **engine_options: Any,
) -> XRFParticleAnalysis:
    """Segment the particles of an XRF map, depth-profile them (engine) and fit core/shells.

    Parameters
    ----------
    maps : xarray.DataArray
        Element maps ``("channel", "y", "x")`` with coordinates in um (a reader's output).
    elements : sequence of str
        Elements handed to the engine; its ratios are ``E / (sum of these)``.
    fit : bool
        Fit the core/shell model to each particle's fraction-vs-depth profiles.
    model : {"erf", "logistic"}
        Step shape of the fit.
    depth_window_um : (float, float), optional
        Depth range (um) used by the fit; default all depths.
    **engine_options
        Passed to :func:`cathodescope.profile.analyze_scene` (``threshold``,
        ``marker_spacing_um``, ``bin_width_um``, ``ci_level``, ``dilate_um``, ``progress``...).
        ``min_size_um`` defaults to 0.5 (um^2) here, as in ``cathodescope profile``, so that
        single noisy pixels above the threshold are not taken for particles.

    Returns
    -------
    XRFParticleAnalysis

    Raises
    ------
    XRFChannelError
        An element is not in the map.
    NonFiniteDataError
        NaN pixels in the maps (e.g. a scaler that was zero): fill or crop them first.
    EmptySegmentationError
        No particle found.
    """
    from cathodescope.profile import analyze_scene

    names = resolve_channels([str(c) for c in maps["channel"].values], list(elements))
    channels = {e: maps.sel(channel=n).values for e, n in zip(elements, names, strict=True)}
    spacing = map_spacing(maps)
    engine_options.setdefault("ratio_channels", list(elements))
    # as the profile CLI: drop noise specks (< 0.5 um^2) that would otherwise become "particles"
    engine_options.setdefault("min_size_um", 0.5)
    scene = analyze_scene(channels, spacing=spacing, **engine_options)
    if fit:
        ci_level = float(engine_options.get("ci_level", 0.99))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = fit_depth_profiles(
                scene.depth.ratios, model=model, ci_level=ci_level, depth_window_um=depth_window_um
            )
        failed = table.loc[table["status"] != "ok", "particle_id"].unique()
        if failed.size:
            warnings.warn(
                f"core/shell fit failed for {failed.size} of {scene.segmentation.n_particles} "
                f"particles (ids {failed[:10].tolist()}...); see the 'status' column.",
                CathodescopeRunWarning,
                stacklevel=2,
            )
    else:
        table = pd.DataFrame(columns=list(CORE_SHELL_COLUMNS))
    return XRFParticleAnalysis(
        scene=scene,
        core_shell=table,
        parameters={
            "elements": list(elements),
            "channels": names,
            "spacing_um": spacing,
            "fit": fit,
            "model": model,
            "depth_window_um": depth_window_um,
            "engine": scene.parameters,
            "map_units": maps.attrs.get("units"),
        },
    )


def summarize_core_shell(table: pd.DataFrame) -> pd.DataFrame:
    """Population summary of per-particle fits: per element, ``n_ok``, mean and standard
    deviation of ``shell``, ``core``, ``interface_depth_um`` and ``width_10_90_um``.

    Parameters
    ----------
    table : pandas.DataFrame
        Per-particle fits (the ``core_shell`` table of :func:`analyze_particles`): ``element``,
        ``status`` and the fitted columns; only rows with ``status == "ok"`` count.

    Returns
    -------
    pandas.DataFrame
        One row per element: ``element``, ``n_ok`` and ``<column>_mean``, ``<column>_std``
        (standard deviation with ddof=1; NaN for a single particle).
    """
    ok = table[table["status"] == "ok"]
    rows = []
    for e, g in ok.groupby("element", sort=False):
        row: dict[str, Any] = {"element": e, "n_ok": len(g)}
        for c in ("shell", "core", "interface_depth_um", "width_10_90_um"):
            v = g[c].astype(float)
            row[f"{c}_mean"] = float(v.mean())
            row[f"{c}_std"] = float(v.std(ddof=1)) if len(v) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
