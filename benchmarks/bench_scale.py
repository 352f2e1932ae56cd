"""Benchmark of the out-of-core depth-profile path (issue 15).

    python benchmarks/bench_scale.py --size 512 --particles 21 --workers 1 2 --repeats 3
    python benchmarks/bench_scale.py --size 1024 --particles 170 --workers 2 --clean
    python benchmarks/bench_scale.py --size 512 --particles 21 --in-memory

Writes a phantom once as Zarr under ``benchmarks/results/`` with the slab-wise writer
(:func:`cathodescope.phantom.write_scene_zarr`: paper-like prolate particles with central voids
and the paper's composition gradient, 0.049 um voxels, three channels, PSF-correlated noise and
a phase halo; memory bounded by one slab), then times
:func:`cathodescope.scale.analyze_scene_large` per worker count (median of ``--repeats``) while a
thread samples every 0.2 s the resident memory and the CPU time of the whole process tree
(driver, nannies, dask workers; psutil). Prints per-voxel and per-particle costs, the 1 vs N
worker efficiency and a 2048^3 estimate from them with its arithmetic, and writes the numbers
as JSON beside the phantom. ``--clean`` deletes the phantom afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_context

RESULTS = Path(__file__).resolve().parent / "results"
SPACING = 0.049
CHANNELS = ("Ni", "Mn", "Co")


class TreeSampler:
    """Background thread: peak resident bytes (summed) and CPU seconds of the process tree.

    CPU time is the sum over every process seen of its last sampled user + system time
    (workers that exit between samples lose at most one interval).
    """

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._cpu: dict[int, float] = {}
        self._cpu0 = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        rss = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    self._cpu[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        self.peak = max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.every)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the tree since the sampler started."""
        return sum(self._cpu.values()) - self._cpu0

    def __enter__(self) -> TreeSampler:
        import psutil

        t = psutil.Process().cpu_times()
        self._cpu0 = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def make_zarr(size: int, n_particles: int, radius: tuple[float, float], seed: int = 0) -> Path:
    """The phantom as three Zarr stores (128^3 chunks), written slab by slab (cached)."""
    from cathodescope.phantom import make_scene, write_scene_zarr

    folder = RESULTS / f"scale_slab_{size}_{n_particles}_{radius[0]}_{radius[1]}_{seed}"
    if (folder / "done.json").exists():
        return folder
    box = [(size - 1) * SPACING] * 3
    scene = make_scene(
        n_particles,
        box,
        radius_um=radius,
        aspect=(1.3, 1.5),
        void_radius_um=(0.3, 0.5),
        touching_fraction=0.4,
        seed=seed,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    with TreeSampler() as tree:
        out = write_scene_zarr(
            scene,
            (size,) * 3,
            folder,
            spacing=SPACING,
            channels=CHANNELS,
            noise_std=0.03,
            noise_psf_um=0.1,
            phase_artefact=0.05,
            seed=seed + 1,
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    info = {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_bytes": tree.peak,
        "nbytes": out.nbytes,
        "n_drawn": out.n_drawn,
    }
    print(
        f"phantom {size}^3 x 3 ({out.nbytes / 2**30:.1f} GiB float32, {out.n_drawn} particles) "
        f"written slab by slab in {wall:.0f} s wall, {cpu:.0f} s CPU, peak RSS "
        f"{tree.peak / 2**30:.2f} GiB"
    )
    (folder / "done.json").write_text(json.dumps(info))
    return folder


def estimate_2048(size: int, n: int, stages: dict[str, float], workers: int) -> dict[str, Any]:
    """2048^3 run time from the measured per-voxel and per-particle costs (same density)."""
    vox = size**3
    per_voxel = stages["components"] / vox  # s of wall per voxel, chunked passes, this pool
    per_particle = (stages["split"] + stages["particles"]) * workers / n  # worker-s per particle
    scale = (2048 / size) ** 3
    n2048 = round(n * scale)
    chunked = per_voxel * 2048**3
    parts = per_particle * n2048 / workers
    text = (
        f"2048^3 estimate at {workers} worker(s): chunked passes {stages['components']:.1f} s / "
        f"{size}^3 = {per_voxel * 1e9:.2f} ns/voxel x 2048^3 = {chunked:.0f} s; particles "
        f"({stages['split']:.1f} + {stages['particles']:.1f}) s x {workers} worker(s) / {n} = "
        f"{per_particle:.2f} worker-s/particle x {n2048} particles (same density, x{scale:.0f}) "
        f"/ {workers} worker(s) = {parts:.0f} s; total ~{(chunked + parts) / 60:.0f} min"
    )
    return {
        "per_voxel_s": per_voxel,
        "per_particle_worker_s": per_particle,
        "n_particles_2048": n2048,
        "chunked_s": chunked,
        "particles_s": parts,
        "total_s": chunked + parts,
        "text": text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--particles", type=int, default=20)
    parser.add_argument("--radius", type=float, nargs=2, default=[2.6, 2.9], help="um")
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--in-memory", action="store_true", help="time analyze_scene instead")
    parser.add_argument("--write-only", action="store_true", help="only write the phantom")
    parser.add_argument("--clean", action="store_true", help="delete the phantom afterwards")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(machine_context())
    folder = make_zarr(args.size, args.particles, tuple(args.radius))
    if args.write_only:
        return
    files = [str(folder / f"{c}.zarr") for c in CHANNELS]
    input_bytes = 3 * 4 * args.size**3
    opts = {"marker_spacing_um": 2.0, "min_size_um": 0.5}
    record: dict[str, Any] = {"size": args.size, "input_bytes": input_bytes, "runs": {}}
    if args.in_memory:
        import zarr

        from cathodescope.profile import analyze_scene

        data = {c: zarr.open_array(f, mode="r")[:] for c, f in zip(CHANNELS, files, strict=True)}
        times, cpus = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with TreeSampler() as tree:
                res = analyze_scene(data, spacing=SPACING, **opts)
            times.append(time.perf_counter() - t0)
            cpus.append(tree.cpu_s)
        print(
            f"in memory {args.size}^3 x 3, {res.segmentation.n_particles} particles: median "
            f"{statistics.median(times):.1f} s wall of {[round(t, 1) for t in times]}, CPU "
            f"{statistics.median(cpus):.1f} s; peak tree RSS {tree.peak / 2**30:.2f} GiB "
            f"({tree.peak / input_bytes:.2f}x input)"
        )
        return
    from cathodescope.scale import analyze_scene_large

    walls: dict[int, float] = {}
    for w in args.workers:
        times, cpus, peaks, stage_runs = [], [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with TreeSampler() as tree:
                res = analyze_scene_large(
                    files,
                    channel_names=list(CHANNELS),
                    spacing=SPACING,
                    memory_limit=args.memory_limit,
                    workers=w,
                    **opts,
                )
            times.append(time.perf_counter() - t0)
            cpus.append(tree.cpu_s)
            peaks.append(tree.peak)
            stage_runs.append(dict(res.parameters["timings_s"]))
        walls[w] = statistics.median(times)
        i_med = times.index(sorted(times)[len(times) // 2])
        st = stage_runs[i_med]
        peak = max(peaks)
        est = estimate_2048(args.size, res.n_particles, st, w)
        print(
            f"out of core {args.size}^3 x 3 ({input_bytes / 2**30:.2f} GiB), {res.n_particles} "
            f"particles, {w} worker(s), --memory-limit {args.memory_limit}, chunks "
            f"{res.parameters['memory_plan']['chunks']}: wall median {walls[w]:.1f} s of "
            f"{[round(t, 1) for t in times]}, tree CPU {statistics.median(cpus):.1f} s of "
            f"{[round(c, 1) for c in cpus]} (stages of the median run: "
            f"{', '.join(f'{k} {v:.1f} s' for k, v in st.items())}); peak tree RSS "
            f"{peak / 2**30:.2f} GiB = {peak / input_bytes:.3f}x input"
        )
        print("  " + est["text"])
        record["runs"][str(w)] = {
            "wall_s": times,
            "cpu_s": cpus,
            "peak_rss_bytes": peaks,
            "stages_s": stage_runs,
            "n_particles": res.n_particles,
            "estimate_2048": est,
        }
    if 1 in walls and len(walls) > 1:
        for w in walls:
            if w > 1:
                eff = walls[1] / (w * walls[w])
                print(
                    f"  speed-up 1 -> {w} workers {walls[1] / walls[w]:.2f}x, efficiency {eff:.2f}"
                )
                record[f"efficiency_{w}"] = eff
    out = RESULTS / f"bench_scale_{args.size}_{'_'.join(map(str, args.workers))}.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"  numbers in {out}")
    if args.clean:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
