"""Interdiffusion runs: simulate a sintered precursor, fit D to a profile run, and the demo.

Wiring only: the model and the fits live in :mod:`cathodescope.diffusion`, the engine in
:mod:`cathodescope.profile`, the figures and run folders in :mod:`cathodescope.report`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope.common.atomic import atomic_write_text
from cathodescope.diffusion import (
    DiffusionFit,
    PrecursorSpec,
    Schedule,
    fit_ratios,
    format_precursor,
    paper_precursor,
    read_precursor,
    simulate,
)
from cathodescope.errors import FileFormatError, ParameterError
from cathodescope.report import (
    RunFolder,
    plot_diffusion_D,
    plot_diffusion_fit,
    plot_diffusion_profiles,
    write_scene_report,
)

__all__ = ["DEMO_D_M2_S", "fit_run", "run_demo", "simulate_run"]

DEMO_D_M2_S = {"Ni": 2e-18, "Mn": 3e-19, "Co": 3e-18}
"""D of the demo at 800 C (m^2/s): Co ~10x Mn, as the TXM paper's literature reports."""


def _spec(precursor: str | os.PathLike[str] | PrecursorSpec, run: RunFolder) -> PrecursorSpec:
    if isinstance(precursor, PrecursorSpec):
        return precursor
    run.add_input(precursor, role="precursor")
    return read_precursor(precursor)


def simulate_run(
    run: RunFolder,
    precursor: str | os.PathLike[str] | PrecursorSpec,
    *,
    D_m2_s: float | Mapping[str, float] | None = None,
    model: Literal["independent", "multicomponent"] = "independent",
    activation_energy_kJ_mol: float | Mapping[str, float] | None = None,
    bin_width_um: float = 0.05,
    blur_um: float = 0.0,
    n_cells: int = 200,
) -> pd.DataFrame:
    """Sinter a precursor file and write ``profiles.csv`` on the engine's depth bins.

    Parameters
    ----------
    run : RunFolder
        Open run folder.
    precursor : path or PrecursorSpec
        Precursor TOML file (see :func:`cathodescope.diffusion.read_precursor`).
    D_m2_s : float or mapping, optional
        D per metal (m^2/s) at the top temperature; default: the file's ``[diffusion]`` table.
    model, activation_energy_kJ_mol, n_cells
        See :func:`cathodescope.diffusion.simulate` (Ea defaults to the file's).
    bin_width_um, blur_um : float
        Engine bin width and Gaussian imaging resolution (um).

    Returns
    -------
    DataFrame
        ``element, depth_um, radius_um, fraction`` (also ``profiles.csv``); the per-shell
        profile goes to ``profiles_radial.csv`` and the figure to ``profiles.png``.
    """
    spec = _spec(precursor, run)
    d = D_m2_s if D_m2_s is not None else spec.D_m2_s
    if d is None:
        raise ParameterError(
            "no diffusion coefficient: pass --D-m2-s VALUE (or Ni=..,Mn=..,Co=..) or add a "
            "[diffusion] table with D_m2_s to the precursor file."
        )
    ea = (
        activation_energy_kJ_mol
        if activation_energy_kJ_mol is not None
        else (spec.activation_energy_kJ_mol)
    )
    with run.timer("simulate"):
        res = simulate(
            spec.precursor,
            d,
            spec.schedule,
            model=model,
            activation_energy_kJ_mol=ea,
            n_cells=n_cells,
        )
        table = res.binned(bin_width_um=bin_width_um, blur_um=blur_um)
    with run.timer("report"):
        run.write_table("profiles", table)
        run.write_table("profiles_radial", res.radial_table())
        run.write_figure("profiles", plot_diffusion_profiles(res, bin_width_um=bin_width_um))
    conserved = res.inventory() / res.inventory("initial") - 1.0
    run.results.update(
        {
            "D_m2_s": res.D_m2_s,
            "reference_temperature_C": spec.schedule.reference_temperature_C,
            "relative_inventory_change": dict(zip(res.elements, conserved.tolist(), strict=True)),
        }
    )
    return table


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()).get("parameters", {}))
    except (OSError, ValueError):
        return {}


def _write_fit(run: RunFolder, fit: DiffusionFit, max_figures: int = 3) -> None:
    run.write_table("fit", fit.particles)
    run.write_table("sample_fit", fit.sample)
    run.write_table("fit_points", fit.predictions)
    ids = fit.particles.drop_duplicates("particle_id").sort_values("chi2").particle_id
    for pid in ids.head(max_figures):
        run.write_figure(f"fit_particle_{int(pid)}", plot_diffusion_fit(fit, int(pid)))
    run.write_figure("D_per_particle", plot_diffusion_D(fit))
    run.results.update(
        {
            "n_particles": int(fit.particles.particle_id.nunique()),
            "sample_D_m2_s": dict(zip(fit.sample.element, fit.sample.D_m2_s, strict=True))
            if len(fit.sample)
            else {},
            "not_separable": int((~fit.particles.drop_duplicates("particle_id").separable).sum()),
            "fit_parameters": fit.parameters,
        }
    )


def fit_run(
    run: RunFolder,
    ratios_path: str | os.PathLike[str],
    precursor: str | os.PathLike[str] | PrecursorSpec,
    *,
    model: Literal["independent", "multicomponent"] = "independent",
    shared: bool = False,
    ci_level: float | None = None,
    level: float = 0.95,
    depth_range_um: tuple[float, float] | None = None,
    use_reliable_window: bool = True,
    radius_um: float | None = None,
    blur_um: float = 0.0,
    ndim: Literal[2, 3] | None = None,
    activation_energy_kJ_mol: float | Mapping[str, float] | None = None,
) -> DiffusionFit:
    """Fit D to a profile run's ``ratios.csv`` and write ``fit.csv`` and figures.

    Beside ``ratios.csv`` the run folder's ``manifest.json`` gives the interval level and bin
    width, ``reliable_windows.csv`` the depth window of each particle and ``particles.csv``
    each particle's radius (``equivalent_diameter_um / 2``) and dimensionality, when present.

    Parameters
    ----------
    run : RunFolder
    ratios_path : path
        The engine's ``ratios.csv``.
    precursor : path or PrecursorSpec
        Precursor TOML file (layers and sintering schedule).
    ci_level : float, optional
        Level of the ratio intervals (default: the profile run's, else 0.99).
    radius_um : float, optional
        One model radius for every particle (default: from ``particles.csv``, else the
        precursor's).
    ndim : {3, 2}, optional
        Default: from ``particles.csv`` (volumes or areas), else 3.
    model, shared, level, depth_range_um, blur_um, activation_energy_kJ_mol
        See :func:`cathodescope.diffusion.fit_ratios`.
    use_reliable_window : bool
        Fit only inside each particle's reliable window.

    Returns
    -------
    DiffusionFit
    """
    spec = _spec(precursor, run)
    path = Path(ratios_path)
    run.add_input(path, role="ratios")
    folder = path.parent
    params = _read_manifest(folder)
    try:
        ratios = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise FileFormatError(f"cannot read {path} as a CSV table: {exc}") from None
    windows = None
    if use_reliable_window and (folder / "reliable_windows.csv").is_file():
        windows = pd.read_csv(folder / "reliable_windows.csv")
        run.add_input(folder / "reliable_windows.csv", role="reliable windows")
    radius: float | dict[int, float] | None = radius_um
    if (folder / "particles.csv").is_file():
        parts = pd.read_csv(folder / "particles.csv")
        run.add_input(folder / "particles.csv", role="particle radii")
        if radius is None and "equivalent_diameter_um" in parts:
            radius = dict(
                zip(parts.particle_id.astype(int), parts.equivalent_diameter_um / 2, strict=True)
            )
        if ndim is None:
            ndim = 2 if "area_um2" in parts.columns else 3
    ea = (
        activation_energy_kJ_mol
        if activation_energy_kJ_mol is not None
        else (spec.activation_energy_kJ_mol)
    )
    with run.timer("fit"):
        fit = fit_ratios(
            ratios,
            spec.precursor,
            spec.schedule,
            model=model,
            shared=shared,
            radius_um=radius,
            activation_energy_kJ_mol=ea,
            ci_level=float(ci_level if ci_level is not None else params.get("ci_level", 0.99)),
            level=level,
            depth_range_um=depth_range_um,
            windows=windows,
            bin_width_um=params.get("bin_width_um"),
            blur_um=blur_um,
            ndim=ndim or 3,
        )
    with run.timer("report"):
        _write_fit(run, fit)
    return fit


def _demo_scene(n_particles: int, seed: int, schedule: Schedule, d: Mapping[str, float]):
    from cathodescope.phantom import Spheroid

    rng = np.random.default_rng(seed)
    n_col = int(np.ceil(np.sqrt(n_particles)))
    n_row = int(np.ceil(n_particles / n_col))
    pitch, half = 6.3, 3.3
    particles = []
    for k in range(n_particles):
        i, j = divmod(k, n_col)
        r = float(rng.uniform(2.6, 2.9))
        res = simulate(paper_precursor(r), d, schedule, n_cells=200)
        particles.append(
            dataclasses.replace(
                Spheroid((half, half + pitch * i, half + pitch * j), (r, r, r)),
                profile=res.phantom_profile(),
            )
        )
    box = (2 * half, 2 * half + pitch * (n_row - 1), 2 * half + pitch * (n_col - 1))
    return particles, box


def run_demo(
    run: RunFolder,
    *,
    n_particles: int = 4,
    seed: int = 0,
    spacing: float = 0.098,
    D_m2_s: Mapping[str, float] | None = None,
) -> DiffusionFit:
    """Precursor -> sintering -> phantom -> engine -> fitted D, with the truth to compare.

    The paper-like four-layer precursor (90:5:5 core, 8:1:1, 6:2:2, 1:1:1 layers) of spheres of
    radius 2.6-2.9 um is sintered 12 h at 800 C with :data:`DEMO_D_M2_S`, rendered as Ni/Mn/Co
    volumes (``spacing`` um voxels, correlated noise, phase artefacts), profiled by the engine
    and fitted. Writes the engine's tables, ``precursor.toml``, ``fit.csv``, ``sample_fit.csv``
    and ``recovery.csv`` (true vs recovered D).
    """
    from cathodescope.phantom import render_particles
    from cathodescope.profile import analyze_scene

    if int(n_particles) < 1:
        raise ParameterError("n_particles must be >= 1.")
    d = dict(DEMO_D_M2_S if D_m2_s is None else D_m2_s)
    schedule = Schedule.isothermal(800.0, 12.0)
    with run.timer("phantom"):
        particles, box = _demo_scene(int(n_particles), seed, schedule, d)
        shape = tuple(round(b / spacing) + 1 for b in box)
        data, _ = render_particles(
            particles,
            shape,
            spacing=spacing,
            noise_std=0.03,
            noise_psf_um=0.1,
            phase_artefact=0.05,
            seed=seed + 1,
        )
    with run.timer("engine"):
        analysis = analyze_scene(data, spacing=spacing, marker_spacing_um=2.0, min_size_um=0.5)
    with run.timer("report"):
        write_scene_report(analysis, run, channels=data, max_figure_particles=1)
        text = format_precursor(paper_precursor(2.75), schedule)
        atomic_write_text(run.file("precursor.toml"), text)
    parts = analysis.particles
    # what `diffusion fit` reads back from this folder's manifest
    run.parameters.update(
        {k: analysis.depth.parameters.get(k) for k in ("ci_level", "bin_width_um")}
    )
    with run.timer("fit"):
        fit = fit_ratios(
            analysis.depth.ratios,
            paper_precursor(2.75),
            schedule,
            radius_um=dict(
                zip(parts.particle_id.astype(int), parts.equivalent_diameter_um / 2, strict=True)
            ),
            windows=analysis.depth.reliable_windows,
            ci_level=float(analysis.depth.parameters.get("ci_level", 0.99)),
            bin_width_um=float(analysis.depth.parameters.get("bin_width_um", 0.05)),
        )
    with run.timer("report"):
        _write_fit(run, fit)
        rec = pd.DataFrame({"element": list(d), "D_true_m2_s": list(d.values())})
        sample = fit.sample.set_index("element")
        rec["D_sample_m2_s"] = rec.element.map(sample.D_m2_s)
        rec["ci_low"] = rec.element.map(sample.ci_low)
        rec["ci_high"] = rec.element.map(sample.ci_high)
        rec["recovered_over_true"] = rec.D_sample_m2_s / rec.D_true_m2_s
        med = fit.particles.groupby("element").D_m2_s.median()
        rec["median_particle_over_true"] = rec.element.map(med) / rec.D_true_m2_s
        run.write_table("recovery", rec)
        run.results["recovery"] = rec.to_dict(orient="records")
    return fit
