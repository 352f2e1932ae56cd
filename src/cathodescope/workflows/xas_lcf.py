"""The linear-combination-fit run: project groups, ATHENA parameters, diagnostics, figures."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from cathodescope.workflows._xas_common import (
    XasRun,
    _as_dataarray,
    _call_parameters,
    _norm_options,
    _open,
)


def _looks_normalized(spectrum: Any) -> bool:
    """Pre-edge near 0 and post-edge near 1 (what a normalized spectrum looks like)."""
    import numpy as np

    v = np.asarray(spectrum.values, dtype=float)
    n = max(3, v.size // 10)
    return abs(float(np.median(v[:n]))) < 0.3 and abs(float(np.median(v[-n:])) - 1.0) < 0.3


def _prepare(
    name: str,
    spectrum: Any,
    *,
    athena_params: bool,
    normalize_first: bool,
    options: Mapping[str, Any],
) -> tuple[Any, str]:
    """The spectrum to fit and how it was normalized ("athena", "normalize", "as read")."""
    from cathodescope.io import AthenaGroup
    from cathodescope.xas import normalize, normalize_athena_group

    if athena_params and isinstance(spectrum, AthenaGroup):
        return normalize_athena_group(spectrum).to_dataarray("norm").rename(name), "athena"
    da = _as_dataarray(spectrum)
    if normalize_first:
        return normalize(da, **options).to_dataarray("flat").rename(name), "normalize"
    return da, "as read"


def _warn_as_read(run: Any, name: str, spectrum: Any, how: str) -> None:
    if how == "as read" and not _looks_normalized(spectrum):
        run.warn(
            f"{name} was fitted as read, and it does not look normalized (it does not go from "
            "~0 below the edge to ~1 above it); normalize it (--normalize, or --athena-params "
            "for ATHENA groups), otherwise the weights mean nothing."
        )


def run_lcf(
    spectrum: str | os.PathLike[str],
    standards: Mapping[str, str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    fit_range: tuple[float, float],
    group: str | None = None,
    athena_params: bool = False,
    normalize_first: bool = False,
    normalize_options: Mapping[str, Any] | None = None,
    fit_shifts: bool = False,
    max_shift: float = 2.0,
    uncertainty: Literal["profile", "bootstrap", "none"] = "profile",
    combinations: bool = False,
    valences: Mapping[str, float] | None = None,
    energy_units: Literal["eV", "keV", "auto"] = "auto",
    r_factor_threshold: float = 0.02,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Linear combination fit of one spectrum; write ``weights``, ``fit``, ``components``,
    ``diagnostics`` and a figure.

    Parameters
    ----------
    spectrum : str or path-like
        The spectrum to fit: a file, or ``FILE:GROUP`` for a group of an ATHENA project.
    standards : mapping of name to str
        One spectrum per standard, ``FILE`` or ``FILE:GROUP``; a project with several groups
        needs its group (an ambiguous or missing group is an error listing the groups).
    out : path-like
        Run folder to create.
    fit_range : (float, float)
        Fit window, eV.
    group : str, optional
        Group of the spectrum's project (same as ``FILE:GROUP``).
    athena_params : bool
        Normalize ATHENA groups (data and standards) with the parameters stored in their
        project and fit ``norm(E)``, as ATHENA's LCF does.
    normalize_first : bool
        Normalize the other inputs: the spectrum with ``normalize_options``, the standards with
        the defaults, and fit the flattened spectra.
    normalize_options : mapping, optional
        ``e0, pre1, pre2, norm1, norm2`` (eV), ``nnorm`` for the spectrum's normalization.
    fit_shifts : bool
        Fit one energy shift per standard, within ``max_shift`` eV.
    max_shift : float
        Bound of the shifts, eV.
    uncertainty : {"profile", "bootstrap", "none"}
        Intervals of the weights.
    combinations : bool
        Also rank every combination of standards (``combinations`` table).
    valences : mapping of name to float, optional
        Oxidation state of each standard, for the average valence.
    energy_units : {"auto", "eV", "keV"}
        Units of column files' energy.
    r_factor_threshold : float
        Warn when the R-factor is above this (see :func:`cathodescope.xas.diagnose_lcf`).
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``r_factor``, ``reduced_chi2``, ``normalization`` and, with ``valences``,
        ``average_valence`` and ``average_valence_stderr``; ``summary`` is the weights table.
    """
    params = _call_parameters(locals(), parameters)
    import pandas as pd

    from cathodescope.io import read_xas_spectrum, split_group
    from cathodescope.report import plot_lcf
    from cathodescope.xas import average_valence, diagnose_lcf, lcf, lcf_combinations, normalize

    opts = _norm_options(normalize_options)
    with _open(out, "xas lcf", params, overwrite) as run:
        run.add_input(split_group(spectrum)[0])
        for spec_path in standards.values():
            run.add_input(split_group(spec_path)[0])
        name, raw = read_xas_spectrum(spectrum, group=group, energy_units=energy_units)
        spec, how = _prepare(
            name, raw, athena_params=athena_params, normalize_first=normalize_first, options=opts
        )
        _warn_as_read(run, name, spec, how)
        stds, how_std = {}, {}
        for std_name, std_spec in standards.items():
            _, s_raw = read_xas_spectrum(std_spec, energy_units=energy_units)
            s_da, s_how = _prepare(
                std_name, s_raw, athena_params=athena_params, normalize_first=False, options={}
            )
            if normalize_first and s_how == "as read":
                s_da, s_how = normalize(s_da).to_dataarray("flat"), "normalize"
            _warn_as_read(run, f"standard {std_name}", s_da, s_how)
            stds[std_name], how_std[std_name] = s_da, s_how
        kw: dict[str, Any] = {
            "fit_range": tuple(fit_range),
            "fit_shifts": fit_shifts,
            "max_shift": max_shift,
        }
        with run.timer("lcf"):
            res = lcf(spec, stds, **kw, uncertainty=uncertainty)
            if combinations:
                table, _ = lcf_combinations(spec, stds, **kw)
                run.write_table("combinations", table)
        diag = diagnose_lcf(res, spec, stds, r_factor_threshold=r_factor_threshold)
        weights = res.to_dataframe()
        run.write_table("weights", weights)
        run.write_table(
            "fit",
            pd.DataFrame(
                {
                    "energy_eV": res.energy,
                    "data": res.data,
                    "model": res.model,
                    "residual": res.residual,
                }
            ),
        )
        comps = pd.DataFrame({"energy_eV": res.energy})
        assert res.components is not None  # lcf always fills the components
        for j, std_name in enumerate(res.standards):
            comps[std_name] = res.components[:, j]
        run.write_table("components", comps)
        run.write_table("diagnostics", diag.to_dataframe())
        if valences:
            v, s = average_valence(
                dict(zip(res.standards, res.weights, strict=True)),
                {k: float(x) for k, x in valences.items()},
                uncertainties=dict(zip(res.standards, res.stderr, strict=True)),
            )
            run.results["average_valence"] = v
            run.results["average_valence_stderr"] = s
            if diag.messages:
                run.warn(
                    f"average valence {v:.2f} +- {s:.3f}: the fit it comes from is flagged "
                    f"({'; '.join(m.split(':', 1)[0] for m in diag.messages)}); its interval "
                    "does not include that misfit."
                )
        normalized = how == "athena" or how == "normalize" or _looks_normalized(spec)
        run.results.update(
            {
                "r_factor": res.r_factor,
                "reduced_chi2": res.reduced_chi2,
                "normalization": how,
                "standards_normalization": how_std,
            }
        )
        ylabel = "normalized mu(E)" if normalized else "mu(E) as read (not normalized)"
        run.write_figure("lcf", plot_lcf(res, ylabel=ylabel))
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), weights.to_string(index=False))


__all__ = ["run_lcf"]
