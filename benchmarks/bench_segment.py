"""Benchmark: phantom generation + segmentation + particle measures on a large scene.

Default: a 512^3 volume (0.049 um voxels, 25 um box) with 22 paper-like particles (Ni, Mn, Co
channels, central voids, some touching). Each repetition runs in a fresh process so that the
peak RSS (``resource.getrusage(...).ru_maxrss``) and the timings are per run; numba's one-off
compilation is done (and timed separately) before the timed section.

Usage::

    python benchmarks/bench_segment.py                 # 512^3, 22 particles, 3 runs
    python benchmarks/bench_segment.py --size 256 --particles 4 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from _common import cpu_model as _cpu_model  # benchmarks/ is on sys.path when run
from _common import cpu_seconds as _cpu_seconds


def one_run(size: int, n_particles: int, spacing: float, seed: int) -> dict[str, float]:
    """Generate, segment and measure once; return timings (s) and peak RSS (GiB)."""
    import numpy as np

    from cathodescope.phantom import Spheroid, make_scene, render_particles
    from cathodescope.segment import measure_particles, segment_particles

    t0 = time.perf_counter()
    render_particles(
        [Spheroid((1, 1, 1), (1.0, 0.8, 0.8), void_radius_um=0.2)], (21, 21, 21), spacing=0.1
    )  # numba compilation, not part of the timed work
    compile_s = time.perf_counter() - t0
    box = [(size - 1) * spacing] * 3
    t1, c1 = time.perf_counter(), _cpu_seconds()
    scene = make_scene(
        n_particles,
        box,
        radius_um=(2.3, 2.8),
        aspect=(1.2, 1.5),
        void_radius_um=(0.3, 0.5),
        touching_fraction=0.4,
        seed=seed,
    )
    data, truth = render_particles(scene, (size,) * 3, spacing=spacing, keep_depth=False, seed=seed)
    t2, c2 = time.perf_counter(), _cpu_seconds()
    total = data["Ni"].values.copy()
    total += data["Mn"].values
    total += data["Co"].values
    seg = segment_particles(total, spacing=spacing, fill_holes=False)
    del total
    t3, c3 = time.perf_counter(), _cpu_seconds()
    df = measure_particles(seg.labels, data, spacing=spacing)
    t4, c4 = time.perf_counter(), _cpu_seconds()
    vol_err = float("nan")
    if seg.n_particles == truth.n_particles:
        # match by centroid, then compare volumes with the analytic ones
        c = df[["centroid_z_um", "centroid_y_um", "centroid_x_um"]].to_numpy()
        d = np.linalg.norm(c[:, None, :] - truth.centres_um[None, :, :], axis=2)
        j = d.argmin(axis=1)
        vol_err = float(np.max(np.abs(df.volume_um3.to_numpy() / truth.volumes_um3[j] - 1)))
    return {
        "compile_s": compile_s,
        "phantom_s": t2 - t1,
        "segment_s": t3 - t2,
        "measure_s": t4 - t3,
        "total_s": t4 - t1,
        "cpu_s": c4 - c1,
        "phantom_cpu_s": c2 - c1,
        "segment_cpu_s": c3 - c2,
        "measure_cpu_s": c4 - c3,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "n_true": truth.n_particles,
        "n_found": seg.n_particles,
        "max_volume_rel_error": vol_err,
        "input_gib": 3 * size**3 * 4 / 2**30,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="edge of the cubic volume (voxels)")
    ap.add_argument("--particles", type=int, default=22)
    ap.add_argument(
        "--spacing",
        type=float,
        default=None,
        help="voxel size (um); default: the 25 um box of the 512^3 scene at any --size",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.spacing is None:  # keep the particles' physical size: a smaller grid, coarser voxels
        args.spacing = 25.0 / (args.size - 1)
    if args._child:
        print(json.dumps(one_run(args.size, args.particles, args.spacing, args.seed)))
        return 0
    runs = []
    for i in range(args.repeat):
        cmd = [
            sys.executable,
            __file__,
            "--_child",
            "--size",
            str(args.size),
            "--particles",
            str(args.particles),
            "--spacing",
            str(args.spacing),
            "--seed",
            str(args.seed),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        out = proc.stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        r = runs[-1]
        print(
            f"run {i + 1}: total {r['total_s']:.1f} s (phantom {r['phantom_s']:.1f}, segment "
            f"{r['segment_s']:.1f}, measure {r['measure_s']:.1f}), cpu {r['cpu_s']:.1f} s, "
            f"peak {r['peak_rss_gib']:.2f} GiB, particles {r['n_found']}/{r['n_true']}",
            flush=True,
        )
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        f"\nvolume {args.size}^3 at {args.spacing} um, {args.particles} particles, "
        f"3 float32 channels = {med['input_gib']:.2f} GiB input"
    )
    print(
        f"median of {len(runs)} runs: total {med['total_s']:.1f} s wall "
        f"(phantom {med['phantom_s']:.1f} s, segmentation {med['segment_s']:.1f} s, measures "
        f"{med['measure_s']:.1f} s); process CPU {med['cpu_s']:.1f} s "
        f"(phantom {med['phantom_cpu_s']:.1f}, segment {med['segment_cpu_s']:.1f}, measure "
        f"{med['measure_cpu_s']:.1f}); numba compile {med['compile_s']:.1f} s (untimed)"
    )
    print(
        f"peak RSS {med['peak_rss_gib']:.2f} GiB ({med['peak_rss_gib'] / med['input_gib']:.1f}x "
        f"the input channels); particles found {med['n_found']:.0f} of {med['n_true']:.0f}; "
        f"max volume error vs analytic {100 * med['max_volume_rel_error']:.2f} %"
    )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {_cpu_model()}, load average {load[0]:.1f} "
        f"{load[1]:.1f} {load[2]:.1f} (shared machine: wall times inflate with the load)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
