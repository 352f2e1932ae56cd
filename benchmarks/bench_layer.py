"""Benchmark: surface-layer fits (t, x_s, x_b with profile-likelihood intervals) for a series.

Usage: python benchmarks/bench_layer.py --points 100 --repeats 3 [--tey-depth-stderr 1.0]

A series of ``--points`` points (the layer thickens from 5 to 40 nm over the series), each with
TEY (5 nm escape depth), FY (probing depth from xraydb for NMC622 at the Ni L3 edge) and hard
XAS transmission through a 5 um sphere, weights with 0.005 noise. Prints the median wall and
CPU time of the repeats, the time per point, peak RSS and the machine context (load average).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _common import cpu_seconds, machine_context, peak_rss_gib  # benchmarks/ is on sys.path


def build_series(points: int, tey_sd: float, seed: int = 0) -> dict[int, list]:
    from cathodescope.xas import (
        ExponentialKernel,
        LayerProfile,
        Probe,
        SphereKernel,
        fluorescence_depth,
        forward_weight,
    )

    fy = fluorescence_depth("LiNi0.6Mn0.2Co0.2O2", 4.7, edge="Ni L3", line="Ni La").kernel()
    kernels = {"TEY": ExponentialKernel(5.0), "FY": fy, "hard XAS": SphereKernel(5000.0)}
    rng = np.random.default_rng(seed)
    sets = {}
    for i, t in enumerate(np.linspace(5.0, 40.0, points)):
        truth = LayerProfile(float(t), 0.8, 0.2)
        sets[i] = [
            Probe(
                n,
                k,
                forward_weight(truth, k) + rng.normal(0, 0.005),
                0.005,
                depth_stderr_nm=tey_sd if n == "TEY" else 0.0,
            )
            for n, k in kernels.items()
        ]
    return sets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=100, help="points of the series")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--tey-depth-stderr", type=float, default=0.0, help="TEY escape-depth uncertainty, nm"
    )
    args = ap.parse_args()

    from cathodescope.xas import fit_layer_series

    print(machine_context())
    sets = build_series(args.points, args.tey_depth_stderr)
    walls, cpus = [], []
    series = None
    for _ in range(args.repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        series = fit_layer_series(sets, index_name="cycle", warn=False)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    table = series.to_dataframe()
    t = table[table.parameter == "thickness_nm"]
    truth = np.linspace(5.0, 40.0, args.points)
    err = np.abs(t.value.to_numpy() / truth - 1)
    print(
        f"fit_layer_series, {args.points} points x 3 probes, TEY depth stderr "
        f"{args.tey_depth_stderr} nm: median {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"(runs: {', '.join(f'{w:.2f}' for w in walls)}); {1e3 * wall / args.points:.1f} ms per "
        f"point; median |t/t_true - 1| = {np.median(err):.3f}; peak RSS {peak_rss_gib():.2f} GiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
