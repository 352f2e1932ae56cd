"""The demos: a phantom scene through the depth-profile engine, and simulated TXM projections
through the whole tomography chain; both compare what they recover with the known truth.

The scene phantom resembles the 63 % Ni particles of the TXM paper (SCIENCE.md section 1):
prolate secondary particles of ~84-94 um^3 with central voids, some touching, Ni rising from
~0.57 at the surface to ~0.72 at 2 um depth, correlated noise and negative phase artefacts in
empty space.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run_demo", "run_demo_from_projections", "truth_comparison"]

_SCENE_OPTIONS: dict[str, Any] = {"noise_std": 0.03, "noise_psf_um": 0.1, "phase_artefact": 0.05}


def truth_comparison(analysis: Any, truth: Any) -> pd.DataFrame:
    """Recovered vs true elemental ratios per depth bin.

    Each found particle is matched to the phantom particle it overlaps most; the true ratio is
    the phantom's composition function evaluated at the bin-centre depth.

    Parameters
    ----------
    analysis : SceneAnalysis
        Result of :func:`cathodescope.profile.analyze_scene` on the phantom.
    truth : cathodescope.phantom.ParticleTruth
        Truth of the phantom (labels and composition profiles).

    Returns
    -------
    pandas.DataFrame
        Columns ``particle_id, true_particle, element, depth_um`` (um), ``ratio, true_ratio,
        abs_error`` (molar fractions), ``in_reliable_window`` (bool).
    """
    labels = analysis.segmentation.labels
    found = np.unique(labels[labels > 0])
    rows = []
    windows = analysis.depth.reliable_windows.set_index("particle_id")
    ratios = analysis.depth.ratios
    for pid in found:
        overlap = truth.labels[labels == pid]
        overlap = overlap[overlap > 0]
        if overlap.size == 0:
            continue
        true_id = int(np.bincount(overlap).argmax())
        lo, hi = windows.loc[pid, ["depth_min_um", "depth_max_um"]]
        for element, group in ratios[ratios["particle_id"] == pid].groupby("element"):
            if element not in truth.profiles[true_id]:
                continue
            depth = group["depth_um"].to_numpy()
            true = np.asarray(truth.profiles[true_id][element](depth), dtype=float)
            rows.append(
                pd.DataFrame(
                    {
                        "particle_id": pid,
                        "true_particle": true_id,
                        "element": element,
                        "depth_um": depth,
                        "ratio": group["ratio"].to_numpy(),
                        "true_ratio": true,
                        "abs_error": np.abs(group["ratio"].to_numpy() - true),
                        "in_reliable_window": (depth >= lo) & (depth <= hi),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    quick: bool = False,
    n_particles: int = 3,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[Any, Any, Any, float]:
    """Phantom scene -> segmentation and depth profiles -> tables, figures, truth comparison.

    Parameters
    ----------
    out_dir : path
        Run folder to create.
    quick : bool
        Coarser voxels (0.098 um) and a smaller scene (128 x 128 x 192): seconds, not minutes.
    n_particles : int
        Particles in the scene.
    seed : int
        Random seed of layout and noise.
    overwrite : bool
        Replace an earlier run in ``out_dir``.
    progress : bool
        Progress bars.

    Returns
    -------
    (SceneAnalysis, ParticleTruth, RunFolder, float)
        The analysis, the phantom's truth, the run folder and the largest ``|ratio - truth|``
        inside the reliable windows.
    """
    from tqdm.auto import tqdm

    from cathodescope.phantom import paper_scene
    from cathodescope.profile import analyze_scene
    from cathodescope.report import RunFolder, write_scene_report

    shape, spacing = ((128, 128, 192), 0.098) if quick else ((256, 256, 384), 0.049)
    params = {
        "shape": shape,
        "spacing": spacing,
        "n_particles": n_particles,
        "seed": seed,
        "phantom": _SCENE_OPTIONS,
        "quick": quick,
    }
    steps = tqdm(total=3, desc="demo", disable=not progress, unit="step")
    with RunFolder(out_dir, command="demo", parameters=params, overwrite=overwrite) as run:
        with run.timer("phantom"):
            steps.set_postfix_str("building phantom")
            data, truth = paper_scene(
                shape, n_particles=n_particles, spacing=spacing, seed=seed, **_SCENE_OPTIONS
            )
            steps.update()
        with run.timer("analysis"):
            steps.set_postfix_str("segment + depth profiles")
            analysis = analyze_scene(
                data,
                spacing=spacing,
                progress=progress,
                marker_spacing_um=2.0,
                min_size_um=0.5,
                dilate_um=0.0,
            )
            steps.update()
        with run.timer("report"):
            steps.set_postfix_str("tables + figures")
            write_scene_report(analysis, run, channels=data)
            comparison = truth_comparison(analysis, truth)
            run.write_table("truth_comparison", comparison)
            steps.update()
        steps.close()
        inside = comparison[comparison["in_reliable_window"]]
        worst = float(inside["abs_error"].max()) if len(inside) else float("nan")
        run.results.update(
            n_particles_true=int(truth.n_particles),
            max_abs_ratio_error_in_reliable_window=worst,
        )
    return analysis, truth, run, worst


def run_demo_from_projections(
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
    size: int = 64,
    overwrite: bool = False,
    seed: int = 0,
) -> Path:
    """Simulate a six-energy TXM tomography of a gradient particle and run the whole chain.

    Ground truth particle -> projections at Mn/Co/Ni K-edge pairs (xraydb edges, 40 eV below
    and 30 eV above) with flats, darks, Poisson noise, random inter-energy shifts and an off-centre
    rotation axis -> :func:`cathodescope.workflows.tomo.run_pipeline`. The run folder also holds
    ``truth_ratios`` (true Ni/Co/Mn fractions per depth bin) beside the measured ratios.

    Parameters
    ----------
    out_dir : path
        Run folder.
    progress : bool
        Progress bars.
    size : int
        Volume side in voxels (64 runs in seconds).
    overwrite : bool
        Replace an earlier run in ``out_dir``.
    seed : int
        Random seed (noise and shifts).

    Returns
    -------
    pathlib.Path
        The run folder (use :func:`cathodescope.workflows.tomo.run_pipeline` directly for the
        result objects).
    """
    from cathodescope.tomo import (
        demo_particle_densities,
        edge_energy_pairs,
        simulate_projections,
        true_depth_ratios,
    )
    from cathodescope.workflows.tomo import run_pipeline

    spacing = 0.1
    densities, truth = demo_particle_densities(size, spacing=spacing)
    energies = [e for pair in edge_energy_pairs(("Mn", "Co", "Ni")).values() for e in pair]
    scans, sim = simulate_projections(
        densities,
        spacing=spacing,
        energies_ev=energies,
        n_angles=121,
        flat_counts=1e5,
        max_shift_px=1.5,
        centre_offset_px=1.7,
        seed=seed,
    )
    cfg = {
        "processing": {"centre": "auto", "size": size},
        "elements": {"names": ["Ni", "Co", "Mn"], "method": "decomposition"},
        "profile": {"bin_width_um": spacing},
        "demo": {
            "size": size,
            "spacing": spacing,
            "energies_ev": energies,
            "seed": seed,
            "true_centre_px": sim.centre_px,
            "phantom": "cathodescope.phantom.paper_profile sphere",
        },
    }
    radius = float(truth.semi_axes_um[0, 0])
    truth_table = true_depth_ratios(truth, bin_width_um=spacing, max_depth_um=radius)
    shift_rows = [
        (e, k, *sim.shifts_px[e][k]) for e in energies for k in range(sim.angles_deg.size)
    ]
    injected = pd.DataFrame(
        shift_rows,
        columns=["energy_ev", "angle_index", "injected_shift_y_px", "injected_shift_x_px"],
    )
    run_pipeline(
        cfg,
        out_dir,
        overwrite=overwrite,
        progress=progress,
        scans=scans,
        extra_tables={"truth_ratios": truth_table, "truth_shifts": injected},
    )
    return Path(out_dir)
