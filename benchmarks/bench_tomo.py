"""Benchmark of cathodescope.tomo.

1. Reconstruction speed: 512 x 512 slices from 361 projections (Shepp-Logan phantom, parallel
   beam over 180 degrees), slices per second of our batched numba FBP vs astra-toolbox's CPU FBP
   vs scikit-image's iradon, with the RMSE of each against the phantom (matching accuracy).
2. End to end: a simulated six-energy (Mn/Co/Ni K-edge pairs) dataset of one gradient particle
   (N^3 voxels) -> elemental volumes -> depth profiles (run_pipeline), wall time per stage and
   peak memory.

Prints the median of --runs runs, wall times, peak RSS (ru_maxrss) and the machine context.

    python benchmarks/bench_tomo.py --size 512 --angles 361 --batch 32 --e2e-size 128
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from _common import cpu_model as _cpu_model  # benchmarks/ is on sys.path when run


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _median_time(fn, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (all threads of the process) of ``runs`` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def bench_reconstruction(size: int, n_angles: int, batch: int, runs: int) -> None:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import iradon, resize

    from cathodescope.tomo import astra_reconstruct_slice, fbp, forward_project

    phantom = resize(shepp_logan_phantom(), (size, size), anti_aliasing=True).astype(np.float32)
    angles = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    sino = forward_project(phantom, angles)  # (angles, det)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disc = np.hypot(yy, xx) < size / 2 - 4

    def rmse(rec: np.ndarray) -> float:
        return float(np.sqrt(np.mean((rec - phantom)[disc] ** 2)))

    # ours: one batch of `batch` slices (the same sinogram repeated: cost does not depend on
    # content), warm-up call first (numba compilation cached on disk)
    stack = np.ascontiguousarray(np.repeat(sino[:, :, None], batch, axis=2))
    fbp(stack[:, :, :2], angles)
    t_ours, c_ours = _median_time(lambda: fbp(stack, angles), runs)
    rec_ours = fbp(sino, angles)

    astra_reconstruct_slice(sino, angles)
    t_astra, c_astra = _median_time(lambda: astra_reconstruct_slice(sino, angles), runs)
    rec_astra = astra_reconstruct_slice(sino, angles)
    workers = os.cpu_count() or 1
    n_par = 2 * workers

    def astra_parallel() -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda _: astra_reconstruct_slice(sino, angles), range(n_par)))

    t_astra_par, c_astra_par = _median_time(astra_parallel, runs)

    # skimage iradon: transposed layout (det, angles), opposite angle sense and vertical axis,
    # and its rotation centre at n // 2 instead of (n - 1) / 2: its RMSE is computed after
    # flipping and a subpixel registration onto the phantom (conventions, not accuracy).
    t_sk, c_sk = _median_time(
        lambda: iradon(sino.T, theta=-angles, output_size=size, filter_name="ramp", circle=True),
        runs,
    )
    rec_sk = iradon(sino.T, theta=-angles, output_size=size, filter_name="ramp", circle=True)[::-1]
    from scipy.ndimage import shift as nd_shift
    from skimage.registration import phase_cross_correlation

    offset, _, _ = phase_cross_correlation(phantom, rec_sk, upsample_factor=20, normalization=None)
    rec_sk = nd_shift(rec_sk, offset, order=3)

    print(
        f"\n== reconstruction: {size} x {size} slices, {n_angles} projections, median of {runs} =="
    )
    rows = [
        (f"ours (numba FBP, batch {batch})", t_ours / batch, c_ours / batch, rmse(rec_ours)),
        ("astra CPU FBP (1 slice)", t_astra, c_astra, rmse(rec_astra)),
        (
            f"astra CPU FBP ({workers} threads)",
            t_astra_par / n_par,
            c_astra_par / n_par,
            float("nan"),
        ),
        ("skimage iradon", t_sk, c_sk, rmse(rec_sk)),
    ]
    print(f"{'method':<34}{'wall s/slice':>13}{'slices/s':>10}{'CPU s/slice':>13}{'RMSE':>9}")
    for name, wall, cpu, err in rows:
        print(f"{name:<34}{wall:>13.4f}{1 / wall:>10.2f}{cpu:>13.4f}{err:>9.4f}")
    print(
        f"speed-up in slices/s vs astra CPU FBP: {t_astra / rows[0][1]:.1f}x (1 thread), "
        f"{rows[2][1] / rows[0][1]:.1f}x (astra on {workers} threads); vs iradon "
        f"{t_sk / rows[0][1]:.1f}x. In CPU time per slice: {c_astra / rows[0][2]:.1f}x vs astra, "
        f"{c_sk / rows[0][2]:.1f}x vs iradon"
    )


def bench_end_to_end(n: int, n_angles: int) -> None:
    from cathodescope.tomo import (
        demo_particle_densities,
        edge_energy_pairs,
        simulate_projections,
    )
    from cathodescope.workflows.tomo import run_pipeline

    spacing = 0.1 * 64 / n  # same physical particle (2.6 um radius) at any size
    t0 = time.perf_counter()
    densities, truth = demo_particle_densities(n, spacing=spacing)
    energies = [e for pair in edge_energy_pairs(("Mn", "Co", "Ni")).values() for e in pair]
    scans, sim = simulate_projections(
        densities,
        spacing=spacing,
        energies_ev=energies,
        n_angles=n_angles,
        flat_counts=1e5,
        max_shift_px=1.5,
        centre_offset_px=1.7,
        seed=0,
        reference_energy_ev=max(energies),
    )
    t_sim = time.perf_counter() - t0
    mem_sim = _peak_mb()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "processing": {"size": n},
            "elements": {"names": ["Ni", "Co", "Mn"]},
            "profile": {"bin_width_um": spacing},
        }
        t1 = time.perf_counter()
        result, analysis = run_pipeline(
            cfg, os.path.join(tmp, "run"), scans=scans, save_volumes="zarr"
        )
        t_pipe = time.perf_counter() - t1
        import json

        timings = json.loads(open(os.path.join(tmp, "run", "manifest.json")).read())["timings_s"]
    print(f"\n== end to end: {n}^3 voxels, 6 energies, {n_angles} angles ==")
    print(f"simulate (phantom + 6-energy projections): {t_sim:8.1f} s  (peak RSS {mem_sim:.0f} MB)")
    print(f"projections -> elemental volumes -> profiles: {t_pipe:8.1f} s")
    for k, v in timings.items():
        print(f"    {k:<28}{v:8.1f} s")
    # the phantom holds one particle: compare the largest segmented one (specks are ignored)
    size_col = "volume_um3" if "volume_um3" in analysis.particles else "area_um2"
    pid = int(analysis.particles.sort_values(size_col).particle_id.iloc[-1])
    windows = analysis.depth.reliable_windows.set_index("particle_id")
    window = windows.loc[pid]
    ratios = analysis.depth.ratios[analysis.depth.ratios.particle_id == pid]
    sel = ratios[
        (ratios.depth_um >= window.depth_min_um) & (ratios.depth_um <= window.depth_max_um)
    ]
    true = np.array(
        [float(truth.profiles[1][el](d)) for el, d in zip(sel.element, sel.depth_um, strict=True)]
    )
    err = np.abs(sel.ratio.to_numpy() - true)
    paper = ((sel.depth_um >= 0.25) & (sel.depth_um <= 2.0)).to_numpy()
    print(f"ratio error vs phantom over the paper window 0.25-2.00 um: max {err[paper].max():.4f}")
    print(
        f"ratio error vs phantom over the reliable window {window.depth_min_um:.2f}-"
        f"{window.depth_max_um:.2f} um: max {err.max():.4f}, median {np.median(err):.4f}"
    )
    print(
        f"centre error {abs(result.centre.centre - sim.centre_px):.3f} px; particles found "
        f"{analysis.segmentation.n_particles}; peak RSS {_peak_mb():.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=512, help="slice size (px)")
    parser.add_argument("--angles", type=int, default=361, help="projections")
    parser.add_argument("--batch", type=int, default=32, help="slices per batch of our FBP")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--e2e-size", type=int, default=128, help="end-to-end cube side (0 = skip)")
    parser.add_argument("--e2e-angles", type=int, default=181, help="end-to-end projections")
    parser.add_argument("--skip-recon", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {_cpu_model()}, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )
    print(
        f"python {platform.python_version()}, numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}"
    )
    if not args.skip_recon:
        bench_reconstruction(args.size, args.angles, args.batch, args.runs)
    if args.e2e_size:
        bench_end_to_end(args.e2e_size, args.e2e_angles)
    load = os.getloadavg()
    print(f"\npeak RSS {_peak_mb():.0f} MB; load average at end {load[0]:.1f}")


if __name__ == "__main__":
    main()
