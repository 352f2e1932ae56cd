"""X-ray absorption runs that write a run folder: normalize, calibrate, LCF, XANES maps.

Wiring only: reading lives in :mod:`cathodescope.io`, the analysis in :mod:`cathodescope.xas`,
figures and the run folder in :mod:`cathodescope.report`. Each function is what one
``cathodescope xas ...`` command runs, callable from Python with the same options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NORM_KEYS = ("e0", "pre1", "pre2", "norm1", "norm2", "nnorm")


@dataclass(frozen=True)
class XasRun:
    """What an XAS run wrote.

    Attributes
    ----------
    path : Path
        The run folder.
    results : dict
        The headline numbers also stored in ``manifest.json`` (``results``).
    warnings : tuple of str
        Warnings recorded in the manifest.
    summary : str
        A short text for the terminal (e.g. the weights table).
    """

    path: Path
    results: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    summary: str = ""


def _open(out: str | os.PathLike[str], command: str, parameters: Any, overwrite: bool):
    from cathodescope.report import RunFolder

    return RunFolder(out, command=command, parameters=parameters, overwrite=overwrite)


def _as_dataarray(spectrum: Any) -> Any:
    return spectrum if hasattr(spectrum, "dims") else spectrum.to_dataarray()


def _call_parameters(values: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict:
    """Manifest parameters: those given, else the call's own arguments."""
    if given is not None:
        return dict(given)
    return {k: v for k, v in values.items() if k != "parameters"}


def _norm_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in dict(options or {}).items() if v is not None}


def run_normalize(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    group: str | None = None,
    athena_params: bool = False,
    e0_method: str = "derivative_max",
    energy_units: str = "auto",
    normalize_options: Mapping[str, Any] | None = None,
    channels: Sequence[str] | None = None,
    i0: str | None = None,
    dead_time: bool = False,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Normalize every spectrum of a file; write ``summary``, ``normalized`` and a figure.

    Parameters
    ----------
    path : path-like
        XDI, column file or ATHENA project.
    out : path-like
        Run folder to create.
    group : str, optional
        One group of an ATHENA project (default: all).
    athena_params : bool
        Normalize ATHENA groups with the parameters stored in the project.
    e0_method : {"derivative_max", "first_inflection", "half_step"}
        How e0 is found when it is not given.
    energy_units : {"auto", "eV", "keV"}
        Units of a column file's energy.
    normalize_options : mapping, optional
        ``e0, pre1, pre2, norm1, norm2`` (eV) and ``nnorm`` for :func:`cathodescope.xas.normalize`.
    channels, i0, dead_time
        Detector channels to sum, the column dividing them and the dead-time correction (see
        :func:`cathodescope.io.read_xas_file`).
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest (default: these arguments).

    Returns
    -------
    XasRun
    """
    params = _call_parameters(locals(), parameters)
    import pandas as pd

    from cathodescope.io import AthenaGroup, read_xas_file
    from cathodescope.report import plot_normalization
    from cathodescope.xas import normalize, normalize_athena_group

    opts = _norm_options(normalize_options)
    with _open(out, "xas normalize", params, overwrite) as run:
        run.add_input(path)
        spectra = read_xas_file(
            path,
            group=group,
            energy_units=energy_units,
            channels=channels,
            i0=i0,
            dead_time=dead_time,
        )
        results, rows, long = {}, [], []
        with run.timer("normalize"):
            for name, s in spectra.items():
                if isinstance(s, AthenaGroup):
                    r = (
                        normalize_athena_group(s)
                        if athena_params
                        else normalize(s.to_dataarray(), e0_method=e0_method, **opts)
                    )
                    stored = s.edge_step
                else:
                    r = normalize(s, e0_method=e0_method, **opts)
                    stored = float("nan")
                results[name] = r
                rows.append(
                    {
                        "spectrum": name,
                        "e0_eV": r.e0,
                        "edge_step": r.edge_step,
                        "stored_edge_step": stored,
                        **{k: r.parameters[k] for k in ("pre1", "pre2", "norm1", "norm2", "nnorm")},
                    }
                )
                df = r.to_dataframe()
                df.insert(0, "spectrum", name)
                long.append(df)
        run.write_table("summary", pd.DataFrame(rows))
        run.write_table("normalized", pd.concat(long, ignore_index=True))
        run.write_figure("normalized", plot_normalization(results))
        run.results["n_spectra"] = len(results)
    return XasRun(Path(out), dict(run.results), tuple(run.warnings))


def run_calibrate(
    reference: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    element: str,
    edge: str = "K",
    group: str | None = None,
    sample: str | os.PathLike[str] | None = None,
    energy_units: str = "auto",
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Shift a reference foil to the tabulated edge; apply the shift to a sample.

    Parameters
    ----------
    reference : path-like
        Reference-foil spectrum (the first group of a project, or ``group``).
    out : path-like
        Run folder to create.
    element, edge : str
        Absorber and edge of the tabulated (xraydb) energy.
    group : str, optional
        Group of an ATHENA project holding the reference.
    sample : path-like, optional
        Spectra to shift by the same amount (``calibrated_<name>`` tables).
    energy_units : {"auto", "eV", "keV"}
        Units of a column file's energy.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``shift_eV``, ``measured_e0_eV``, ``tabulated_e0_eV``.
    """
    params = _call_parameters(locals(), parameters)
    import pandas as pd

    from cathodescope.io import read_xas_file
    from cathodescope.xas import calibrate

    with _open(out, "xas calibrate", params, overwrite) as run:
        run.add_input(reference)
        ref = next(iter(read_xas_file(reference, group=group, energy_units=energy_units).values()))
        cal = calibrate(_as_dataarray(ref), element=element, edge=edge)
        run.write_table("calibration", cal.to_dataframe())
        run.results["shift_eV"] = cal.shift
        if sample:
            run.add_input(sample)
            for name, s in read_xas_file(sample, energy_units=energy_units).items():
                shifted = cal.apply(_as_dataarray(s))
                run.write_table(
                    f"calibrated_{Path(name).stem}",
                    pd.DataFrame({"energy_eV": shifted.energy.values, "mu": shifted.values}),
                )
    summary = (
        f"shift {cal.shift:+.3f} eV (measured {cal.measured_e0:.3f}, tabulated "
        f"{cal.tabulated_e0:.3f})"
    )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


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
    uncertainty: str = "profile",
    combinations: bool = False,
    valences: Mapping[str, float] | None = None,
    energy_units: str = "auto",
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
        kw = {"fit_range": tuple(fit_range), "fit_shifts": fit_shifts, "max_shift": max_shift}
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


def run_map(
    stack_path: str | os.PathLike[str],
    energies: str | os.PathLike[str] | Sequence[float],
    standards: Mapping[str, str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    spacing: float | Sequence[float],
    fit_range: tuple[float, float],
    dataset: str | None = None,
    chunks: int | None = None,
    energy_units: str = "auto",
    normalize_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Per-pixel XANES maps of a stack; write ``pixels``, ``maps.nc`` and a figure.

    Parameters
    ----------
    stack_path : path-like
        TIFF or HDF5 stack (energy, y, x).
    energies : path-like or sequence of float
        One energy per frame (a text file, or the values).
    standards : mapping of name to path-like
        One file per standard.
    out : path-like
        Run folder to create.
    spacing : float or (float, float)
        Pixel size in um (``y, x``).
    fit_range : (float, float)
        LCF window, eV.
    dataset : str, optional
        HDF5 dataset path.
    chunks : int, optional
        Image rows per dask block (stacks larger than memory).
    energy_units : {"auto", "eV", "keV"}
        Units of ``energies``.
    normalize_options : mapping, optional
        ``e0, pre1, pre2, norm1, norm2`` (eV), ``nnorm`` of the per-pixel normalization.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``masked_pixels``; ``summary`` says how many pixels were mapped.
    """
    params = _call_parameters(locals(), parameters)
    from cathodescope.common.atomic import atomic_path
    from cathodescope.io import read_xanes_stack, read_xas_file
    from cathodescope.report import plot_xanes_maps
    from cathodescope.xas import xanes_maps

    with _open(out, "xas map", params, overwrite) as run:
        run.add_input(stack_path)
        stack = read_xanes_stack(
            stack_path, energies, spacing=spacing, energy_units=energy_units, dataset=dataset
        )
        stds = {
            name: _as_dataarray(next(iter(read_xas_file(p).values())))
            for name, p in standards.items()
        }
        with run.timer("maps"):
            maps = xanes_maps(
                stack,
                stds,
                fit_range=tuple(fit_range),
                chunks=chunks,
                progress=True,
                **_norm_options(normalize_options),
            )
        run.write_table("pixels", maps.to_dataframe())
        ds = maps.fractions.to_dataset(dim="channel")
        for name, da in (
            ("edge_energy", maps.edge_energy),
            ("edge_step", maps.edge_step),
            ("r_factor", maps.r_factor),
            ("low_edge_jump", maps.mask),
        ):
            ds[name] = da.astype("float64") if name == "low_edge_jump" else da
        with atomic_path(run.file("maps.nc")) as tmp:
            ds.to_netcdf(tmp, engine="scipy")
        run.write_figure("maps", plot_xanes_maps(maps))
        run.results["masked_pixels"] = int(maps.mask.values.sum())
    summary = f"mapped {stack.sizes['y']}x{stack.sizes['x']} pixels"
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


def _normalized(name: str, spectrum: Any, athena_params: bool) -> Any:
    """Normalization of one spectrum: ATHENA's stored parameters for a group, else defaults."""
    from cathodescope.io import AthenaGroup
    from cathodescope.xas import normalize, normalize_athena_group

    if isinstance(spectrum, AthenaGroup) and athena_params:
        return normalize_athena_group(spectrum)
    return normalize(_as_dataarray(spectrum))


def run_selfabs(
    fluorescence: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    formula: str,
    density: float,
    element: str,
    edge: str = "K",
    line: str = "Ka1",
    incidence_deg: float = 45.0,
    exit_deg: float = 45.0,
    thickness_um: float | None = None,
    transmission: str | os.PathLike[str] | None = None,
    transmission_incidence_deg: float = 90.0,
    athena_params: bool = True,
    compare_window: tuple[float, float] = (-20.0, 80.0),
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Self-absorption correction of a fluorescence spectrum; write ``selfabs`` and a figure.

    Parameters
    ----------
    fluorescence : str or path-like
        The fluorescence spectrum, ``FILE`` or ``FILE:GROUP``.
    out : path-like
        Run folder to create.
    formula : str
        Composition of the sample, e.g. ``"MnO"`` or ``"LiNi0.6Mn0.2Co0.2O2"``.
    density : float
        g/cm^3 of the dense material (a powder film is described by its equivalent dense
        thickness, see :func:`cathodescope.xas.thickness_from_edge_step`).
    element, edge, line : str
        Absorber, edge and fluorescence line.
    incidence_deg, exit_deg : float
        Beam-to-surface and surface-to-detector angles of the fluorescence measurement.
    thickness_um : float, optional
        Sample thickness in um; default: from the ``transmission`` edge step, or the thick
        limit when there is no transmission spectrum.
    transmission : str or path-like, optional
        Transmission spectrum of the same sample (``FILE`` or ``FILE:GROUP``): its edge step
        gives the thickness, and the corrected spectrum is compared with it (``rms``).
    transmission_incidence_deg : float
        Beam-to-surface angle of the transmission scan (90: normal incidence).
    athena_params : bool
        Normalize ATHENA groups with their stored parameters (else the defaults).
    compare_window : (float, float)
        Window relative to e0 (eV) of the comparison with the transmission spectrum.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``thickness_um``, ``thickness_source`` and, with a transmission spectrum,
        ``rms_corrected`` and ``rms_uncorrected`` (normalized, in ``compare_window``).
    """
    params = _call_parameters(locals(), parameters)
    import numpy as np
    import pandas as pd

    from cathodescope.io import read_xas_spectrum, split_group
    from cathodescope.report import plot_selfabs
    from cathodescope.xas import (
        absorption_model,
        correct_self_absorption,
        thickness_from_edge_step,
    )

    with _open(out, "xas selfabs", params, overwrite) as run:
        run.add_input(split_group(fluorescence)[0])
        name, fy_raw = read_xas_spectrum(fluorescence)
        fy = _normalized(name, fy_raw, athena_params)
        model = absorption_model(
            fy.energy, formula=formula, density=density, element=element, edge=edge, line=line
        )
        trans = None
        if transmission is not None:
            run.add_input(split_group(transmission)[0])
            t_name, t_raw = read_xas_spectrum(transmission)
            trans = _normalized(t_name, t_raw, athena_params)
        if thickness_um is not None:
            d, source = float(thickness_um), "given"
        elif trans is not None:
            d = thickness_from_edge_step(
                trans.edge_step, model, incidence_deg=transmission_incidence_deg
            )
            source = f"transmission edge step {trans.edge_step:.4g}"
        else:
            d, source = None, "thick limit (no thickness, no transmission spectrum)"
        with run.timer("selfabs"):
            corrected = correct_self_absorption(
                fy.flat,
                model,
                energy=fy.energy,
                incidence_deg=incidence_deg,
                exit_deg=exit_deg,
                thickness_um=d,
            )
        table = pd.DataFrame({"energy_eV": fy.energy, "measured": fy.flat, "corrected": corrected})
        run.results.update(
            {"thickness_um": d if d is not None else "inf", "thickness_source": source}
        )
        if trans is not None:
            table["transmission"] = np.interp(fy.energy, trans.energy, trans.flat)
            sel = (fy.energy >= fy.e0 + compare_window[0]) & (
                fy.energy <= fy.e0 + compare_window[1]
            )
            rms = float(np.sqrt(np.mean((corrected - table["transmission"])[sel] ** 2)))
            rms0 = float(np.sqrt(np.mean((fy.flat - table["transmission"])[sel] ** 2)))
            run.results.update({"rms_corrected": rms, "rms_uncorrected": rms0})
            if rms > rms0:
                run.warn(
                    f"the correction moved the spectrum away from the transmission spectrum "
                    f"(RMS {rms0:.3f} -> {rms:.3f} in e0{compare_window[0]:+g}.."
                    f"{compare_window[1]:+g} eV): check composition, angles and thickness "
                    f"({source})."
                )
        run.write_table("selfabs", table)
        run.write_figure("selfabs", plot_selfabs(table, e0=fy.e0))
    summary = f"thickness {run.results['thickness_um']} um ({source})"
    if "rms_corrected" in run.results:
        summary += (
            f"; RMS vs transmission {run.results['rms_uncorrected']:.4f} -> "
            f"{run.results['rms_corrected']:.4f}"
        )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


def run_merge(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    groups: Sequence[str] | None = None,
    reference: str | None = None,
    e0_method: str = "derivative_max",
    max_shift: float = 10.0,
    energy_units: str = "auto",
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Align and merge repeat scans; one e0 for all; write ``repeats``, ``merged``, a figure.

    Parameters
    ----------
    path : path-like
        An ATHENA project holding the repeats (or any file :func:`read_xas_file` reads).
    out : path-like
        Run folder to create.
    groups : sequence of str, optional
        The repeats (default: every group of the project).
    reference : str, optional
        The scan to align on (default: the first).
    e0_method : {"derivative_max", "first_inflection", "half_step"}
        How e0 is found on the merge.
    max_shift : float
        Largest alignment shift, eV.
    energy_units : {"auto", "eV", "keV"}
        Units of a column file's energy.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``e0_eV`` (of the merge), ``e0_spread_eV`` (of the repeats' consistent
        e0), ``e0_spread_independent_eV`` (scan by scan), ``multi_step``.
    """
    params = _call_parameters(locals(), parameters)

    from cathodescope.io import read_xas_file
    from cathodescope.report import plot_normalization
    from cathodescope.xas import merge_repeats, normalize

    with _open(out, "xas merge", params, overwrite) as run:
        run.add_input(path)
        found = read_xas_file(path, energy_units=energy_units)
        if groups:
            missing = [g for g in groups if g not in found]
            if missing:
                from cathodescope.errors import MissingMetadataError

                raise MissingMetadataError(f"no group {missing} in {path}; groups: {list(found)}.")
            found = {g: found[g] for g in groups}
        spectra = {k: _as_dataarray(v) for k, v in found.items()}
        with run.timer("merge"):
            m = merge_repeats(
                spectra, reference=reference, e0_method=e0_method, max_shift=max_shift
            )
        run.write_table("repeats", m.to_dataframe())
        norm = normalize(m.merged, e0=m.e0)
        merged = norm.to_dataframe()
        run.write_table("merged", merged)
        run.write_figure("merged", plot_normalization({"merge": norm}))
        run.results.update(
            {
                "e0_eV": m.e0,
                "e0_spread_eV": m.spread,
                "e0_spread_independent_eV": m.spread_independent,
                "multi_step": m.multi_step,
                "n_scans": len(m.names),
            }
        )
    summary = (
        f"merged {len(m.names)} scans: e0 {m.e0:.2f} eV, spread {m.spread:.2f} eV (scan by "
        f"scan {m.spread_independent:.2f} eV)"
    )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


__all__ = [
    "XasRun",
    "run_calibrate",
    "run_lcf",
    "run_map",
    "run_merge",
    "run_normalize",
    "run_selfabs",
]
