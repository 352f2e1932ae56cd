"""Benchmark: track 5 peaks through N frames (default 10^4) with the batched fitter.

Prints the median wall time of >= 3 runs, peak memory (ru_maxrss) and the machine context.
Usage: python benchmarks/bench_xrd.py --frames 10000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import numpy as np


def make_series(n_frames: int, seed: int = 0):
    from cathodescope.io import make_series as _make
    from cathodescope.xrd import pseudo_voigt

    rng = np.random.default_rng(seed)
    x = np.arange(15.0, 70.0, 0.02)
    base = {"003": 18.73, "101": 36.68, "104": 44.46, "108": 64.45, "110": 64.93}
    t = np.linspace(25, 500, n_frames)
    drift = -0.2 * (t - 25) / 475  # peaks shift by up to 0.2 deg (thermal expansion)
    frames = np.empty((n_frames, x.size), dtype=np.float64)
    for i in range(n_frames):
        y = 60.0 + np.zeros_like(x)
        for c, a in zip(base.values(), (800, 400, 650, 180, 170), strict=True):
            y += pseudo_voigt(x, c + drift[i], 0.1, 0.4, a)
        frames[i] = rng.poisson(y)
    return _make(frames, x, wavelength=1.5406, temperature=t), base, drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--block", type=int, default=128)
    args = parser.parse_args()

    from cathodescope.xrd import PeakWindow, track_peaks

    t0 = time.perf_counter()
    series, base, drift = make_series(args.frames)
    t_gen = time.perf_counter() - t0
    windows = [
        PeakWindow.around(base["003"], 0.4, "003"),
        PeakWindow.around(base["101"], 0.4, "101"),
        PeakWindow.around(base["104"], 0.4, "104"),
        PeakWindow(64.0, 65.4, (base["108"], base["110"]), ("108", "110")),
    ]
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        res = track_peaks(series, windows, block=args.block)
        times.append(time.perf_counter() - t0)
    tab = res.table
    err = max(
        float(np.max(np.abs(tab[tab.peak == k].center_deg.to_numpy() - (v + drift))))
        for k, v in base.items()
    )
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    print(f"frames: {args.frames}, peaks: 5 (4 windows), points/frame: {series.sizes['two_theta']}")
    print(
        f"runs: {[round(t, 2) for t in times]} s; median {statistics.median(times):.2f} s "
        f"(data generation {t_gen:.1f} s, not timed)"
    )
    print(f"converged: {tab.converged.mean() * 100:.2f} %; max |center - truth| = {err:.4f} deg")
    print(
        f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores visible, "
        f"affinity {len(os.sched_getaffinity(0))}, CPU {cpu}, load {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
