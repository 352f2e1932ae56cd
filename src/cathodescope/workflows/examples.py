"""``cathodescope examples``: every input file the README tour needs, made from the phantoms.

A new user has no ``ni.tif`` or ``txm.toml``; this job writes them (with known ground truth,
seeded, small enough to run in seconds) and copies the real example files of
``../shared/data`` when that folder is present, so that every command of the tour runs as typed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.common import atomic_path, atomic_write_text

__all__ = ["SHARED_FILES", "write_examples"]

#: Real files the tour uses, copied from the shared-data folder (relative paths in it).
SHARED_FILES: tuple[str, ...] = (
    "xas/NCA_txm_xanes.csv",
    "xas/ref_NiO_Kedge.txt",
    "xas/ref_LiNiO2_Kedge.txt",
    "xas/Mn.prj",
    "xas/Mn_all.prj",
    "xas/Ni_FeNiS20_RT_json.prj",
    "xas/fe_xanes_8ch.xdi",
    "echem/biologic_gcpl_7cycles_v3.mpr",
    "echem/biologic_gcpl_lfp_5cycles.mpr",
    "echem/arbin_cc.res",
    "xrd/LiCoO2_CuKa.RAW",
    "xrf/pyxrf_fitted_NiCoMn_20x30.h5",
    "spm/bruker_nanoscope_height.002",
    "spm/stm_cits_cube.ibw",
    "spm/asylum_force_curve.ibw",
    "spm/asylum_dart_pfm_6ch.ibw",
    "txm/tomopy_tooth_data_exchange.h5",
)

_PROBES_TOML = """\
# Three probes of one sample (xas layer): weights are Ni2+ fractions from LCF
[[probe]]
name = "TEY"
kernel = "exponential"
depth_nm = 5.0
weight = 0.789
stderr = 0.005

[[probe]]
name = "FY"
kernel = "fluorescence"
formula = "LiNi0.6Mn0.2Co0.2O2"
density_g_cm3 = 4.7
edge = "Ni L3"
line = "Ni La"
angles_deg = [45, 45]
weight = 0.292
stderr = 0.005

[[probe]]
name = "hard XAS"
kernel = "sphere"
radius_um = 5.0
weight = 0.2072
stderr = 0.005
"""


def _save_tif(path: Path, image: np.ndarray) -> None:
    import tifffile

    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.asarray(image, dtype=np.float32), photometric="minisblack")


def _write_profile_inputs(out: Path, seed: int) -> list[str]:
    """``ni.tif``, ``mn.tif``, ``co.tif`` (2D, 0.049 um) and ``scan.h5`` (3D, anisotropic)."""
    import h5py

    from cathodescope.phantom import paper_scene

    data, _ = paper_scene((300, 420), n_particles=3, spacing=0.049, seed=seed)
    import zarr

    written = []
    for name in ("Ni", "Mn", "Co"):
        _save_tif(out / f"{name.lower()}.tif", data[name].values)
        # the same channels as Zarr stores, for the out-of-core (dask) engine; the run folder
        # is staged, so a store appears complete or not at all
        channel: Any = np.asarray(data[name].values, np.float32)  # zarr's stub wants NDArrayLike
        zarr.save_array(str(out / f"{name.lower()}.zarr"), channel)
        written += [f"{name.lower()}.tif", f"{name.lower()}.zarr"]
    volume, _ = paper_scene(
        (64, 120, 120),
        n_particles=1,
        spacing=(0.0735, 0.049, 0.049),
        radius_um=(1.5, 1.6),
        void_radius_um=(0.2, 0.25),
        seed=seed,
    )
    with atomic_path(out / "scan.h5") as tmp, h5py.File(tmp, "w") as fh:
        for name in ("Ni", "Mn", "Co"):
            fh.create_dataset(name.lower(), data=np.asarray(volume[name].values, np.float32))
    written.append("scan.h5")
    return written


def _write_txm_inputs(out: Path, seed: int) -> list[str]:
    """Simulated six-energy projections (Data Exchange HDF5) and the ``txm.toml`` config."""
    import h5py

    from cathodescope.tomo import demo_particle_densities, edge_energy_pairs, simulate_projections

    size, spacing = 48, 0.1
    densities, _ = demo_particle_densities(size, spacing=spacing)
    energies = [e for pair in edge_energy_pairs(("Mn", "Co", "Ni")).values() for e in pair]
    scans, _ = simulate_projections(
        densities,
        spacing=spacing,
        energies_ev=energies,
        n_angles=91,
        flat_counts=1e5,
        max_shift_px=1.0,
        centre_offset_px=1.2,
        seed=seed,
    )
    folder = out / "txm"
    folder.mkdir(exist_ok=True)
    lines = [
        "# TXM tomography at the Mn, Co and Ni K-edge pairs (simulated: cathodescope examples)",
        "[processing]",
        'centre = "auto"',
        f"spacing = {spacing}",
        "",
        "[elements]",
        'names = ["Ni", "Co", "Mn"]',
        'method = "decomposition"',
        "",
        "[profile]",
        f"bin_width_um = {spacing}",
    ]
    written = []
    for energy, scan in zip(energies, scans, strict=True):
        name = f"scan_{energy:.0f}eV.h5"
        with atomic_path(folder / name) as tmp, h5py.File(tmp, "w") as fh:
            fh["exchange/data"] = np.asarray(scan.data)
            fh["exchange/data_white"] = np.asarray(scan.flats)
            if scan.darks is not None:
                fh["exchange/data_dark"] = np.asarray(scan.darks)
            fh["exchange/theta"] = np.asarray(scan.angles, dtype=float)
        lines += ["", "[[scan]]", f'file = "txm/{name}"', f"energy_ev = {energy:.2f}"]
        written.append(f"txm/{name}")
    atomic_write_text(out / "txm.toml", "\n".join(lines) + "\n")
    return [*written, "txm.toml"]


def _write_xrf_inputs(out: Path, seed: int) -> list[str]:
    """A PyXRF-layout fitted map of core/shell particles: ``cg.h5``."""
    from cathodescope.io import write_pyxrf_h5
    from cathodescope.xrf import core_shell_map

    maps, _ = core_shell_map(
        (160, 160), spacing=0.05, interface_depth_um=1.5, rng=np.random.default_rng(seed)
    )
    write_pyxrf_h5(out / "cg.h5", maps, overwrite=True)
    return ["cg.h5"]


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _write_echem_inputs(out: Path, seed: int) -> list[str]:
    """Cycling, GITT and ICI exports (``cell.csv``, ``gitt.csv``, ``ici.csv``) from phantoms."""
    from cathodescope.phantom import cycling_phantom, gitt_phantom

    cols = ["time_s", "voltage_V", "current_mA", "charge_mAh"]
    cell, _ = cycling_phantom(n_cycles=5, points_per_halfcycle=1500, seed=seed)
    _write_csv(out / "cell.csv", cell[cols])
    gitt, _ = gitt_phantom(n_pulses=20, seed=seed)
    _write_csv(out / "gitt.csv", gitt[cols])
    ici, _ = gitt_phantom(
        diffusion_m2_s=1e-14, pulse_s=300, rest_s=2, rest_points=10, n_pulses=8, pulse_dt_s=5.0
    )
    _write_csv(out / "ici.csv", ici[cols])
    return ["cell.csv", "gitt.csv", "ici.csv"]


def _write_xrd_inputs(out: Path, seed: int) -> list[str]:
    """A heating series of patterns (``heating/frame_NNN.xy``) and an O2 trace (``ms_trace.csv``)."""
    from cathodescope.phantom import gas_release_trace, heating_series

    temperatures = np.arange(25.0, 500.0, 25.0)
    series, _ = heating_series(temperatures=temperatures, seed=seed)
    folder = out / "heating"
    folder.mkdir(exist_ok=True)
    written = []
    tth = series["two_theta"].values
    for k, t in enumerate(temperatures):
        name = f"heating/frame_{k:03d}.xy"
        with atomic_path(out / name) as tmp:
            np.savetxt(
                tmp,
                np.column_stack([tth, series.values[k]]),
                fmt="%.5f",
                header=f"2theta_deg intensity  T = {t:g} C  wavelength = 1.5406 A",
            )
        written.append(name)
    atomic_write_text(
        out / "heating" / "temperatures.txt", ",".join(f"{t:g}" for t in temperatures)
    )
    trace, _ = gas_release_trace(seed=seed)
    _write_csv(out / "ms_trace.csv", trace.rename(columns={"signal": "mz32"}))
    return [*written, "heating/temperatures.txt", "ms_trace.csv"]


def _write_diffusion_inputs(out: Path, seed: int) -> list[str]:
    """The precursor layers and sintering schedule (``precursor.toml``) and ``probes.toml``."""
    from cathodescope.diffusion import Schedule, format_precursor, paper_precursor

    text = format_precursor(paper_precursor(2.75), Schedule.isothermal(800.0, 12.0))
    atomic_write_text(out / "precursor.toml", text)
    atomic_write_text(out / "probes.toml", _PROBES_TOML)
    return ["precursor.toml", "probes.toml"]


def _copy_shared(out: Path, shared: Path | None) -> tuple[list[str], list[str]]:
    """Copy :data:`SHARED_FILES` into ``out/shared`` (those present); (copied, missing)."""
    copied, missing = [], []
    for rel in SHARED_FILES:
        source = None if shared is None else shared / rel
        if source is None or not source.is_file():
            missing.append(rel)
            continue
        target = out / "shared" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        copied.append(f"shared/{rel}")
    return copied, missing


def _default_shared() -> Path | None:
    env = os.environ.get("CATHODESCOPE_SHARED_DATA")
    for candidate in (env, "../shared/data", "shared/data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def write_examples(
    out_dir: str | os.PathLike[str],
    *,
    shared_data: str | os.PathLike[str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Any:
    """Write every input file the README tour needs into ``out_dir``.

    Phantom inputs (all seeded, with known truth): ``ni.tif``/``mn.tif``/``co.tif`` (a 2D scene
    of three gradient particles, 0.049 um pixels; also as ``ni.zarr``... stores), ``scan.h5`` (``/ni``, ``/mn``, ``/co``: a 3D
    particle with 0.0735 x 0.049 x 0.049 um voxels), ``txm.toml`` with six simulated Data
    Exchange projection files in ``txm/``, ``cg.h5`` (PyXRF-layout core/shell map), cycler
    exports ``cell.csv``, ``gitt.csv``, ``ici.csv``, a heating series ``heating/*.xy`` with its
    temperatures, an O2 trace ``ms_trace.csv``, ``precursor.toml`` and ``probes.toml``. Real
    files of the shared-data folder go to ``shared/`` when it is found.

    Parameters
    ----------
    out_dir : path
        Folder to create (a run folder: ``manifest.json`` lists what was written).
    shared_data : path, optional
        The shared measurement files (default: ``$CATHODESCOPE_SHARED_DATA``, else
        ``../shared/data`` when it exists).
    seed : int
        Random seed of every phantom.
    overwrite : bool
        Replace an earlier ``out_dir``.

    Returns
    -------
    RunFolder
        The closed run folder; ``run.path`` is the folder, ``run.results["files"]`` the files.
    """
    from cathodescope.report import RunFolder

    shared = Path(shared_data) if shared_data is not None else _default_shared()
    params = {"seed": seed, "shared_data": None if shared is None else os.fspath(shared)}
    steps: tuple[tuple[str, Callable[[Path, int], list[str]]], ...] = (
        ("profile", _write_profile_inputs),
        ("txm", _write_txm_inputs),
        ("xrf", _write_xrf_inputs),
        ("echem", _write_echem_inputs),
        ("xrd", _write_xrd_inputs),
        ("diffusion", _write_diffusion_inputs),
    )
    with RunFolder(out_dir, command="examples", parameters=params, overwrite=overwrite) as run:
        files: list[str] = []
        for name, step in steps:
            with run.timer(name):
                files += step(run.path, seed)
        copied, missing = _copy_shared(run.path, shared)
        run.results.update(files=files + copied, shared_missing=missing)
        run.outputs.extend(files + copied)
        if missing:
            run.warn(
                f"{len(missing)} real example files were not found (shared data folder: "
                f"{shared or 'none'}); the tour commands that use shared/... will not run. "
                "Give --shared-data DIR to copy them."
            )
    return run
