"""Benchmark of gridrec (Fourier-grid reconstruction) against our numba FBP and astra's CPU FBP.

For each case ``N x N`` slices from ``A`` projections over 180 degrees: slices per second (wall
and CPU time per slice, median of --runs runs) of gridrec and our FBP on a batch of slices (the
same analytic sinogram repeated: the cost does not depend on the content), astra-toolbox's CPU
FBP on one slice (and on all cores through a thread pool, one slice per thread), and the RMSE
of each against the continuous-geometry truth: the projections are exact chord lengths of
uniform discs, the truth is each pixel's area fraction inside the discs.

Acceptance (issue 16): gridrec >= 3x faster than our FBP in wall time at 768 px / 1201 angles,
with an RMSE within 1.1x of FBP's.

    python benchmarks/bench_gridrec.py                      # 512 x 361, 768 x 1201, 2048 x 1500
    python benchmarks/bench_gridrec.py --cases 768x1201 --batch 32 --runs 3
    python benchmarks/bench_gridrec.py --device cuda      # also on the GPU (CuPy), where one is
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from _common import machine_context, peak_rss_gib  # benchmarks/ is on sys.path when run


def discs_for(n: int) -> list[tuple[float, float, float, float]]:
    """A particle-like scene scaled to the slice: (x0, y0, radius, mu) in px and 1/px."""
    s = n / 256.0
    return [
        (0.0, 0.0, 90.0 * s, 0.01),
        (30.0 * s, 20.0 * s, 25.0 * s, 0.02),
        (-40.0 * s, -30.0 * s, 15.0 * s, -0.005),
        (50.0 * s, -50.0 * s, 8.0 * s, 0.03),
    ]


def disc_sinogram(n_det: int, angles_deg: np.ndarray, discs: list) -> np.ndarray:
    """Exact line integrals (n_angles, n_det) of uniform discs, axis on the detector centre."""
    t = np.arange(n_det) - (n_det - 1) / 2
    theta = np.radians(angles_deg)[:, None]
    sino = np.zeros((angles_deg.size, n_det))
    for x0, y0, radius, mu in discs:
        s0 = x0 * np.cos(theta) + y0 * np.sin(theta)
        sino += 2.0 * mu * np.sqrt(np.clip(radius**2 - (t[None] - s0) ** 2, 0.0, None))
    return sino.astype(np.float32)


def disc_truth(n: int, discs: list, sup: int = 4) -> np.ndarray:
    """Area fraction of each pixel inside each disc (``sup`` x ``sup`` sub-samples) times mu."""
    h = (n - 1) / 2
    sub = (np.arange(sup) + 0.5) / sup - 0.5
    img = np.zeros((n, n))
    x = (np.arange(n) - h)[None, :, None] + sub[None, None, :]  # (1, n, sup)
    for i in range(sup):
        y = (h - np.arange(n))[:, None, None] - sub[i]  # (n, 1, 1)
        for x0, y0, radius, mu in discs:
            img += mu * ((x - x0) ** 2 + (y - y0) ** 2 < radius**2).mean(axis=2) / sup
    return img


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (all threads) of ``runs`` calls, in seconds."""
    walls, cpus = [], []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def bench_case(
    n: int, n_angles: int, batch: int, runs: int, astra_runs: int, device: str = "cpu"
) -> dict:
    from cathodescope.tomo import astra_reconstruct_slice, fbp, gridrec, reconstruct_batch

    angles = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    discs = discs_for(n)
    sino = disc_sinogram(n, angles, discs)
    truth = disc_truth(n, discs)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    mask = np.hypot(yy, xx) < n / 2 - 4

    def rmse(rec: np.ndarray) -> float:
        return float(np.sqrt(np.mean((rec - truth)[mask] ** 2)))

    # gridrec reads the layout reconstruct_batch holds, (angle, slice, det), as a transposed
    # view; FBP gets its own (angle, det, slice) layout: no copy is timed for either
    asd = np.ascontiguousarray(np.repeat(sino[:, None, :], batch, axis=1))
    stack_g = asd.transpose(0, 2, 1)
    stack_f = np.ascontiguousarray(stack_g)
    gridrec(stack_g, angles)  # compilation (cached on disk) and first touch of the buffers
    fbp(stack_f, angles)  # are left out of the timing, for both
    rows = []
    wall, cpu = timed(lambda: gridrec(stack_g, angles), runs)
    rows.append(
        (f"gridrec (batch {batch})", wall / batch, cpu / batch, rmse(gridrec(sino, angles)))
    )
    wall, cpu = timed(lambda: fbp(stack_f, angles), runs)
    rows.append((f"our FBP (batch {batch})", wall / batch, cpu / batch, rmse(fbp(sino, angles))))
    if astra_runs:
        rec_astra = astra_reconstruct_slice(sino, angles)
        wall, cpu = timed(lambda: astra_reconstruct_slice(sino, angles), astra_runs)
        rows.append(("astra CPU FBP (1 slice)", wall, cpu, rmse(rec_astra)))
        workers = os.cpu_count() or 1

        def astra_pool() -> None:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda _: astra_reconstruct_slice(sino, angles), range(workers)))

        wall, cpu = timed(astra_pool, astra_runs)
        rows.append((f"astra CPU FBP ({workers} threads)", wall / workers, cpu / workers, rmse(rec_astra)))  # fmt: skip
    if device != "cpu":
        # reconstruct_batch on the GPU: host -> device -> host copies included; the first call
        # (left out) builds gridrec's gridding matrix, which later slabs of a volume reuse
        for algorithm in ("gridrec", "fbp"):
            ref = gridrec(sino, angles) if algorithm == "gridrec" else fbp(sino, angles)

            def on_device(algorithm: str = algorithm) -> np.ndarray:
                return reconstruct_batch(asd, angles, algorithm=algorithm, device=device)  # type: ignore[arg-type]

            first = on_device()
            diff = float(np.abs(first[0] - ref).max() / np.abs(ref).max())
            wall, cpu = timed(on_device, runs)
            rows.append((f"{algorithm} {device} (batch {batch})", wall / batch, cpu / batch, rmse(first[0])))  # fmt: skip
            print(f"{algorithm} on {device}: max |difference| to the CPU path {diff:.1e} of max")
    print(f"\n== {n} x {n} slices, {n_angles} angles: median of {runs} runs ==")
    print(f"{'method':<30}{'wall s/slice':>13}{'slices/s':>10}{'CPU s/slice':>13}{'RMSE 1/px':>12}")
    for name, wall, cpu, err in rows:
        print(f"{name:<30}{wall:>13.4f}{1 / wall:>10.3g}{cpu:>13.4f}{err:>12.3e}")
    g, f = rows[0], rows[1]
    print(
        f"gridrec vs our FBP: {f[1] / g[1]:.1f}x in wall time, {f[2] / g[2]:.1f}x in CPU time; "
        f"RMSE ratio {g[3] / f[3]:.3f}"
        + (f"; vs astra (1 slice) {rows[2][1] / g[1]:.1f}x in wall time" if astra_runs else "")
    )
    return {"n": n, "angles": n_angles, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases",
        default="512x361,768x1201,2048x1500",
        help="comma-separated NxA: slice side (px) x projections",
    )
    parser.add_argument("--batch", type=int, default=32, help="slices per call (N <= 1024)")
    parser.add_argument("--big-batch", type=int, default=4, help="slices per call (N > 1024)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument(
        "--astra-big-runs",
        type=int,
        default=1,
        help="astra repetitions for N > 1024 (0 skips astra there; ~1 min a slice)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="512x361 and 768x1201 only, one run, batch 8"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="cuda: also time reconstruct_batch(device='cuda') for gridrec and FBP (needs a GPU)",
    )
    args = parser.parse_args()
    if args.quick:
        args.cases, args.runs, args.batch = "512x361,768x1201", 1, 8
    print(f"machine: {machine_context()}")
    print(f"numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    for case in args.cases.split(","):
        n, n_angles = (int(v) for v in case.lower().split("x"))
        big = n > 1024
        bench_case(
            n,
            n_angles,
            args.big_batch if big else args.batch,
            args.runs,
            args.astra_big_runs if big else args.runs,
            args.device,
        )
    print(f"\npeak RSS {peak_rss_gib():.2f} GiB; load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
