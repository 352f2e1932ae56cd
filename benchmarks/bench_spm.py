"""Benchmark of the scanning-probe pipeline on a synthetic DART + C-AFM map.

Steps timed: closed-form DART (per-pixel f0, Q, A_d, ESM amplitude), masked iterative
levelling of the topography, per-particle statistics and histograms of four maps, C-AFM
current over particles with the noise floor, and (when the engine is available) the whole
``analyze_spm_scene`` path: engine segmentation and depth profiles.

Usage::

    python benchmarks/bench_spm.py --size 4096 --particles 500 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import numpy as np

from _common import cpu_model as _cpu_model  # benchmarks/ is on sys.path when run


def synthetic(size: int, n_particles: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Particles (discs) on a tilted background with DART responses and a current map.

    float32 storage and early deletion of temporaries keep a 4096 x 4096 scene well below
    3 GB.
    """
    from scipy import ndimage

    from cathodescope.spm import dho_response

    rng = np.random.default_rng(seed)
    r_mean = 0.35 * size / np.sqrt(n_particles)
    centres = rng.uniform(r_mean, size - r_mean, (n_particles, 2))
    radii = rng.uniform(0.6, 1.0, n_particles) * r_mean
    seeds = np.zeros((size, size), np.int32)
    seeds[centres[:, 0].astype(int), centres[:, 1].astype(int)] = np.arange(1, n_particles + 1)
    dist, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    nearest = seeds[iy, ix]
    del iy, ix, seeds
    labels = np.where(dist < radii[nearest - 1], nearest, 0).astype(np.int32)
    del dist, nearest
    inside = labels > 0
    y, x = np.ogrid[0:size, 0:size]
    f32 = np.float32
    height = (1e-11 * x - 5e-12 * y + np.where(inside, 60e-9, 0.0)).astype(f32)
    height += rng.normal(0, 0.3e-9, height.shape).astype(f32)
    f0 = (300e3 * (1 + rng.normal(0, 1e-3, height.shape))).astype(f32)
    ad = (np.where(inside, 20e-12, 4e-12) * (1 + rng.normal(0, 0.02, height.shape))).astype(f32)
    centre = (f0 * (1 + rng.normal(0, 5e-4, height.shape))).astype(f32)
    out = {"labels": labels, "height": height, "centre": centre}
    for i in (1, 2):
        out[f"a{i}"] = np.empty_like(height)
        out[f"p{i}"] = np.empty_like(height)
    for r0 in range(0, size, 512):  # row blocks: float64 temporaries stay small
        rows = slice(r0, r0 + 512)
        for i, df in ((1, -3e3), (2, 3e3)):
            a, p = dho_response(
                centre[rows].astype(float) + df,
                f0=f0[rows],
                q=60.0,
                drive_amplitude=ad[rows],
                drive_phase_deg=-30,
            )
            out[f"a{i}"][rows], out[f"p{i}"][rows] = a, p
    del f0, ad
    out["current"] = (
        1e-12 + rng.normal(0, 0.3e-12, height.shape) + np.where(inside, 20e-12, 0.0)
    ).astype(f32)
    return out


def run_once(data: dict[str, np.ndarray], spacing: float, engine: bool = False) -> dict[str, float]:
    from cathodescope.spm import (
        cafm_particle_current,
        dart_solve,
        masked_level,
        particle_statistics,
    )

    t = {}
    t0 = time.perf_counter()
    res = dart_solve(
        data["a1"],
        data["a2"],
        data["p1"],
        data["p2"],
        f1=data["centre"] - 3e3,
        f2=data["centre"] + 3e3,
        drive_voltage=2.0,
    )
    t["dart"] = time.perf_counter() - t0
    esm, f0 = res.esm_amplitude, res.resonance_frequency
    del res  # keep only the maps analysed below (peak memory)
    t0 = time.perf_counter()
    lev = masked_level(data["height"])
    t["masked_level"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    particle_statistics(
        data["labels"],
        {
            "height": lev.image,
            "esm": esm,
            "f0": f0,
            "current": data["current"],
        },
        spacing=spacing,
        bins=50,
    )
    t["particle_statistics"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cafm_particle_current(data["current"], data["labels"])
    t["cafm"] = time.perf_counter() - t0
    if engine:
        import xarray as xr

        from cathodescope.io import SPMScan
        from cathodescope.spm import analyze_spm_scene

        n = data["height"].shape[0]
        coords = {"y": np.arange(n) * spacing, "x": np.arange(n) * spacing}
        attrs = {"spacing_um": (spacing, spacing)}
        chans = {
            "Height": xr.DataArray(
                data["height"], dims=("y", "x"), coords=coords, attrs={**attrs, "units": "m"}
            ),
            "Current": xr.DataArray(
                data["current"], dims=("y", "x"), coords=coords, attrs={**attrs, "units": "A"}
            ),
        }
        scan = SPMScan(channels=chans, metadata={}, source="synthetic")
        t0 = time.perf_counter()
        analyze_spm_scene(scan, segment_on="height", marker_spacing_um=1.0)
        t["analyze_spm_scene (engine)"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    return t


def time_info(path: str, repeats: int) -> None:
    """Median wall time of the ``spm info`` workflow on one file (a fresh run folder each)."""
    import tempfile

    from cathodescope.workflows.spm import spm_info

    times = []
    for i in range(max(repeats, 1)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            (info,) = spm_info([path], out=f"{tmp}/run{i}")
            times.append(time.perf_counter() - t0)
    print(f"spm info {path}: {info.line}")
    print(
        f"  median {statistics.median(times):.2f} s over {len(times)} runs "
        f"(min {min(times):.2f}, max {max(times):.2f}); load {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="map size in pixels (square)")
    parser.add_argument("--particles", type=int, default=500, help="number of particles")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--spacing", type=float, default=0.01, help="pixel size in um")
    parser.add_argument(
        "--engine",
        action="store_true",
        help="also time analyze_spm_scene (engine segmentation + depth profiles)",
    )
    parser.add_argument(
        "--info-file",
        default=None,
        help="time the `spm info` run (read + capped figures) on this file instead, e.g. "
        "../shared/data/spm/stm_cits_cube.ibw",
    )
    args = parser.parse_args()
    if args.info_file:
        time_info(args.info_file, args.repeats)
        return

    t0 = time.perf_counter()
    data = synthetic(args.size, args.particles)
    t_setup = time.perf_counter() - t0
    runs = [run_once(data, args.spacing, args.engine) for _ in range(max(args.repeats, 1))]
    print(
        f"spm benchmark: {args.size} x {args.size} px, {int(data['labels'].max())} particles, "
        f"{args.repeats} runs (synthetic data built in {t_setup:.1f} s)"
    )
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"  {key:22s} median {statistics.median(values):8.3f} s   "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory (ru_maxrss): {peak_mb:.0f} MB")
    print(
        f"  machine: {os.cpu_count()} cores, {_cpu_model()}, load average "
        f"{os.getloadavg()[0]:.1f}, python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
