"""Benchmark of the out-of-core depth-profile path (issue 15).

    python benchmarks/bench_scale.py --size 384 --particles 20 --memory-limit 4GiB --workers 1 2
    python benchmarks/bench_scale.py --size 512 --particles 20 --in-memory

Writes a phantom (``paper_scene``, 0.049 um voxels, three channels) once as Zarr under
``benchmarks/results/`` (delete it afterwards: ``--clean``), then times
:func:`cathodescope.scale.analyze_scene_large` per worker count (median of ``--repeats``) and
samples the resident memory of the whole process tree (driver, nannies, workers) every 0.1 s.
Prints per-voxel and per-particle costs and a 2048^3 estimate from them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_context

RESULTS = Path(__file__).resolve().parent / "results"


def tree_rss() -> int:
    """Resident bytes of this process and all its descendants."""
    import psutil

    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakSampler:
    """Background thread recording the peak of :func:`tree_rss`."""

    def __init__(self, every: float = 0.1) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss())
            time.sleep(self.every)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_zarr(size: int, n_particles: int, radius: tuple[float, float], seed: int = 0) -> Path:
    import zarr

    from cathodescope.phantom import paper_scene

    folder = RESULTS / f"scale_{size}_{n_particles}_{radius[0]}_{radius[1]}_{seed}"
    if (folder / "Co.zarr").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    data, _ = paper_scene(
        (size,) * 3,
        n_particles=n_particles,
        radius_um=radius,
        spacing=0.049,
        seed=seed,
        noise_std=0.03,
        noise_psf_um=0.1,
        phase_artefact=0.05,
        keep_depth=False,
    )
    for name, arr in data.items():
        z = zarr.open_array(
            str(folder / f"{name}.zarr"),
            mode="w",
            shape=arr.shape,
            chunks=(128, 128, 128),
            dtype="float32",
        )
        z[:] = arr.values.astype("float32")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--particles", type=int, default=20)
    parser.add_argument("--radius", type=float, nargs=2, default=[2.6, 2.9], help="um")
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--in-memory", action="store_true", help="time analyze_scene instead")
    parser.add_argument("--clean", action="store_true", help="delete the phantom afterwards")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(machine_context())
    folder = make_zarr(args.size, args.particles, tuple(args.radius))
    files = [str(folder / f"{c}.zarr") for c in ("Ni", "Mn", "Co")]
    input_bytes = 3 * 4 * args.size**3
    opts = {"marker_spacing_um": 2.0, "min_size_um": 0.5}
    if args.in_memory:
        import zarr

        from cathodescope.profile import analyze_scene

        data = {
            c: zarr.open_array(f, mode="r")[:]
            for c, f in zip(("Ni", "Mn", "Co"), files, strict=True)
        }
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with PeakSampler() as peak:
                res = analyze_scene(data, spacing=0.049, **opts)
            times.append(time.perf_counter() - t0)
        print(
            f"in memory {args.size}^3 x 3, {res.segmentation.n_particles} particles: median "
            f"{statistics.median(times):.1f} s of {[round(t, 1) for t in times]}, peak tree RSS "
            f"{peak.peak / 2**30:.2f} GiB ({peak.peak / input_bytes:.2f}x input)"
        )
    else:
        from cathodescope.scale import analyze_scene_large

        walls = {}
        for w in args.workers:
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                with PeakSampler() as peak:
                    res = analyze_scene_large(
                        files,
                        channel_names=["Ni", "Mn", "Co"],
                        spacing=0.049,
                        memory_limit=args.memory_limit,
                        workers=w,
                        **opts,
                    )
                times.append(time.perf_counter() - t0)
            walls[w] = statistics.median(times)
            st = res.parameters["timings_s"]
            print(
                f"out of core {args.size}^3 x 3, {res.n_particles} particles, {w} worker(s), "
                f"--memory-limit {args.memory_limit}, chunks {res.parameters['memory_plan']['chunks']}: "
                f"median {walls[w]:.1f} s (stages {', '.join(f'{k} {v:.1f} s' for k, v in st.items())}); "
                f"peak tree RSS {peak.peak / 2**30:.2f} GiB = {peak.peak / input_bytes:.2f}x input"
            )
            voxel_s = st["components"] / args.size**3
            part_s = (st["split"] + st["particles"]) / max(res.n_particles, 1)
            print(
                f"  per voxel {voxel_s * 1e9:.1f} ns (chunked passes), per particle {part_s:.2f} s "
                f"(split + profile); 2048^3 with 1000 particles at {w} worker(s): "
                f"~{(voxel_s * 2048**3 + part_s * 1000) / 60:.0f} min"
            )
        if 1 in walls and 2 in walls:
            print(f"  2-worker efficiency: {walls[1] / (2 * walls[2]):.2f}")
    if args.clean:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
