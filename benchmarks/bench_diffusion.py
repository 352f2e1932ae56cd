"""Benchmark of the interdiffusion fits (cathodescope.diffusion).

Fits one D per metal (independent model, 64 shells) to P particles' Ni/Mn/Co ratio profiles on
the engine's 0.05 um bins in the 0.25-2.0 um window (35 bins per metal), with the engine's noise
level (standard error 0.002), radii 2.6-2.9 um, the paper-like four-layer precursor sintered
12 h at 800 C: the per-particle fits, their profile-likelihood intervals (95 %), the
shared-D likelihood-ratio test and the joint sample fit, i.e. everything ``diffusion fit``
computes. Reports the median wall and CPU time of 3 runs, peak RSS, and the recovery.

Run: ``PYTHONPATH=src python benchmarks/bench_diffusion.py`` (default P = 1000; the issue's
target is <= 60 s on 2 cores); ``--particles 200`` for a quick check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

from _common import cpu_seconds, machine_context, peak_rss_gib  # benchmarks/ is on sys.path


def make_ratios(n_particles: int, seed: int = 0) -> tuple[pd.DataFrame, dict[int, float]]:
    """Ratio tables made by the forward model (200 shells) plus Gaussian noise."""
    from cathodescope.diffusion import Schedule, paper_precursor, simulate

    rng = np.random.default_rng(seed)
    d = {"Ni": 2e-18, "Mn": 3e-19, "Co": 3e-18}
    hold = Schedule.isothermal(800.0, 12.0)
    radii = rng.uniform(2.6, 2.9, n_particles)
    frames = []
    for pid, r in enumerate(radii, start=1):
        b = simulate(paper_precursor(r), d, hold, n_cells=200).binned()
        b = b[b.depth_um.between(0.25, 2.0)]
        y = b.fraction.to_numpy() + rng.normal(0.0, 0.002, len(b))
        frames.append(
            pd.DataFrame(
                {
                    "particle_id": pid,
                    "element": b.element.to_numpy(),
                    "depth_um": b.depth_um.to_numpy(),
                    "ratio": y,
                    "ci_low": y - 2.5758 * 0.002,
                    "ci_high": y + 2.5758 * 0.002,
                    "flagged": False,
                }
            )
        )
    return pd.concat(frames, ignore_index=True), dict(enumerate(radii.tolist(), start=1))


def main() -> None:
    from cathodescope.diffusion import Schedule, fit_ratios, paper_precursor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_context())
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    ratios, radii = make_ratios(args.particles)
    hold = Schedule.isothermal(800.0, 12.0)
    walls, cpus = [], []
    fit = None
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), cpu_seconds()
        fit = fit_ratios(ratios, paper_precursor(2.75), hold, radius_um=radii)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    print(
        f"fit {args.particles} particles x 3 metals (+ intervals, shared-D test, sample fit): "
        f"median wall {statistics.median(walls):.1f} s (runs {', '.join(f'{w:.1f}' for w in walls)}), "
        f"median CPU {statistics.median(cpus):.1f} s, peak RSS {peak_rss_gib():.2f} GiB, "
        f"load avg now {os.getloadavg()[0]:.1f}"
    )
    truth = {"Ni": 2e-18, "Mn": 3e-19, "Co": 3e-18}
    tab = fit.particles
    for e, d in truth.items():
        t = tab[tab.element == e]
        cover = ((t.ci_low <= d) & (t.ci_high >= d)).mean()
        print(
            f"  {e}: median D / true {np.median(t.D_m2_s) / d:.4f}, 95 % interval coverage "
            f"{cover:.3f}, converged {t.converged.mean():.3f}"
        )


if __name__ == "__main__":
    main()
