"""Benchmark: per-pixel normalization + exact 3-standard LCF on N spectra x M energies.

Usage: python benchmarks/bench_xas.py --n 1000000 --m 100 --repeats 3 [--larch-python PATH]

Prints the median wall time of the repeats, spectra per second, peak RSS and machine context.
With --larch-python (a separate venv with xraylarch), also times larch's pre_edge +
lincombo_fit per spectrum on a sample of the same spectra.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import cpu_model  # benchmarks/ is on sys.path when run

LARCH_SCRIPT = r"""
import sys, time, numpy as np
from larch import Group
from larch.xafs import pre_edge
from larch.math import lincombo_fit
d = np.load(sys.argv[1])
e, spectra, stds = d["energy"], d["spectra"], d["standards"]
groups = []
for s in stds:
    g = Group(energy=e, mu=s); pre_edge(g, e0=float(d["e0"]), pre1=-40, pre2=-12, norm1=30, nnorm=1)
    groups.append(g)
t0 = time.perf_counter()
for y in spectra:
    g = Group(energy=e, mu=y)
    pre_edge(g, e0=float(d["e0"]), pre1=-40, pre2=-12, norm1=30, nnorm=1)
    lincombo_fit(g, groups, xmin=float(d["xmin"]), xmax=float(d["xmax"]), arrayname="norm", sum_to_one=True)
dt = time.perf_counter() - t0
print(dt / len(spectra))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="number of spectra (pixels)")
    ap.add_argument("--m", type=int, default=100, help="energies per spectrum")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--chunk-pixels", type=int, default=1 << 15)
    ap.add_argument("--threads", type=int, default=2, help="threads over pixel blocks")
    ap.add_argument("--larch-python", help="python of a separate venv with xraylarch")
    ap.add_argument("--larch-sample", type=int, default=200)
    args = ap.parse_args()

    from cathodescope.phantom import k_edge_standards, xanes_stack_phantom
    from cathodescope.xas import xanes_maps

    energy = np.linspace(8290.0, 8420.0, args.m)
    std = k_edge_standards(energy, n_standards=3)
    side = math.isqrt(args.n)
    ny, nx = side, args.n // side
    t0 = time.perf_counter()
    stack, truth = xanes_stack_phantom(
        std, shape=(ny, nx), noise=0.01, dtype=np.float32 if args.dtype == "float32" else np.float64
    )
    t_gen = time.perf_counter() - t0
    kw = {"fit_range": (8320.0, 8400.0), "pre1": -40.0, "pre2": -12.0, "norm1": 30.0, "nnorm": 1}
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        maps = xanes_maps(
            stack,
            std,
            dtype=args.dtype,
            chunk_pixels=args.chunk_pixels,
            n_threads=args.threads,
            **kw,
        )
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    n = ny * nx
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ins = truth["inside"]
    frac_ok = np.isfinite(maps.fractions.values[:, ins]).all()
    print(
        f"spectra: {n} ({ny}x{nx}) x {args.m} energies, 3 standards, dtype {args.dtype}, "
        f"{args.threads} threads, blocks of {args.chunk_pixels} pixels"
    )
    print(f"stack generation: {t_gen:.2f} s; stack size {stack.nbytes / 1e6:.0f} MB")
    print(f"normalization + exact LCF + edge map: runs {[round(t, 2) for t in times]} s")
    print(
        f"median {med:.2f} s  ->  {n / med / 1e6:.2f} M spectra/s, {med / n * 1e6:.2f} us/spectrum"
    )
    print(f"all in-particle pixels fitted: {frac_ok}")
    print(f"peak RSS {peak_mb:.0f} MB")
    print(
        f"machine: {os.cpu_count()} logical CPUs visible, {cpu_model()}, python "
        f"{platform.python_version()}, numpy {np.__version__}, "
        f"affinity {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} cores"
    )
    try:
        print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    except OSError:
        pass
    if args.larch_python:
        flat = stack.values.reshape(args.m, -1)
        rng = np.random.default_rng(0)
        idx = rng.choice(np.flatnonzero(ins.ravel()), size=args.larch_sample, replace=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "d.npz")
            np.savez(
                path,
                energy=energy,
                spectra=flat[:, idx].T.astype(float),
                standards=np.stack([s.values for s in std.values()]),
                e0=maps.parameters["e0"],
                xmin=8320.0,
                xmax=8400.0,
            )
            script = os.path.join(tmp, "larch_bench.py")
            with open(script, "w") as fh:
                fh.write(LARCH_SCRIPT)
            out = subprocess.run(
                [args.larch_python, script, path], capture_output=True, text=True, check=False
            )
        if out.returncode == 0:
            per = float(out.stdout.strip().splitlines()[-1])
            print(
                f"larch pre_edge + lincombo_fit: {per * 1e3:.2f} ms/spectrum on {args.larch_sample} "
                f"spectra -> {per * n / 3600:.2f} h for {n} spectra "
                f"(cathodescope {med / n * 1e6:.2f} us/spectrum, x{per / (med / n):.0f})"
            )
        else:
            print("larch run failed:", out.stderr[-2000:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
