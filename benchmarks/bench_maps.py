"""Benchmark: a big XRF map with many core/shell particles through the depth-profile engine.

Stages (each timed, median of ``--repeats`` runs):

1. segmentation      ``cathodescope.segment.segment_particles`` on the summed Ni+Mn+Co map
                     (Otsu, watershed, specks < 0.5 um^2 dropped as in ``analyze_particles``)
2. particle stats    ``cathodescope.segment.measure_particles`` (area, Feret, composition...)
3. depth profiles    ``cathodescope.profile.depth_profiles`` (fractions vs depth, CIs, metrics)
4. core/shell fits   ``cathodescope.xrf.fit_depth_profiles`` on every particle's profiles

The synthetic map (``cathodescope.xrf.core_shell_map``: NMC442 shell, NMC701515 core, interface
1.5 um below the surface) is generated once, outside the timings. Prints the medians, the total,
peak memory (ru_maxrss) and the machine (cores, CPU model, load).

    python benchmarks/bench_maps.py                    # 4096 x 4096, 500 particles
    python benchmarks/bench_maps.py --size 1024 --particles 32 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import numpy as np


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{cores} cores ({os.cpu_count()} visible), CPU {model}, load average "
        f"{' '.join(f'{v:.2f}' for v in load)}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="map size in pixels (square)")
    parser.add_argument("--particles", type=int, default=500)
    parser.add_argument("--spacing", type=float, default=0.05, help="pixel size in um")
    parser.add_argument("--radius-um", type=float, nargs=2, default=(2.0, 3.0))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bin-width-um", type=float, default=0.05)
    parser.add_argument("--no-fit", action="store_true", help="skip the core/shell fits")
    args = parser.parse_args()

    from cathodescope.profile import depth_profiles
    from cathodescope.segment import measure_particles, segment_particles
    from cathodescope.xrf import core_shell_map, fit_depth_profiles, random_discs

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    discs = random_discs(
        (args.size, args.size),
        args.particles,
        spacing=args.spacing,
        radius_um=tuple(args.radius_um),
        gap_um=1.0,
        rng=rng,
    )
    maps, truth = core_shell_map(
        (args.size, args.size),
        spacing=args.spacing,
        particles=discs,
        rng=rng,
        dtype=np.float32,
        background=5.0,
    )
    channels = {str(c): maps.sel(channel=c).values for c in maps["channel"].values}
    total = channels["Ni"] + channels["Mn"] + channels["Co"]
    t_gen = time.perf_counter() - t0
    sp = (args.spacing, args.spacing)
    print(
        f"map {args.size} x {args.size} px ({args.size * args.spacing:.1f} um), "
        f"{len(discs)} particles, 3 channels float32; generated in {t_gen:.1f} s (not timed)"
    )

    stages: dict[str, list[float]] = {
        "segmentation": [],
        "particle stats": [],
        "depth profiles": [],
        "core/shell fits": [],
        "total": [],
    }
    result = None
    cpu: dict[str, list[float]] = {k: [] for k in stages}
    for r in range(args.repeats):
        clock = [(time.perf_counter(), time.process_time())]
        seg = segment_particles(total, spacing=sp, marker_spacing_um=2.0, min_size_um=0.5)
        clock.append((time.perf_counter(), time.process_time()))
        table = measure_particles(seg.labels, channels, spacing=sp)
        clock.append((time.perf_counter(), time.process_time()))
        depth = depth_profiles(seg.labels, channels, spacing=sp, bin_width_um=args.bin_width_um)
        clock.append((time.perf_counter(), time.process_time()))
        fits = None if args.no_fit else fit_depth_profiles(depth.ratios)
        clock.append((time.perf_counter(), time.process_time()))
        for i, k in enumerate(list(stages)[:-1]):
            stages[k].append(clock[i + 1][0] - clock[i][0])
            cpu[k].append(clock[i + 1][1] - clock[i][1])
        stages["total"].append(clock[-1][0] - clock[0][0])
        cpu["total"].append(clock[-1][1] - clock[0][1])
        print(
            f"run {r + 1}: "
            + ", ".join(f"{k} {stages[k][-1]:.2f} s (CPU {cpu[k][-1]:.2f} s)" for k in stages)
        )
        result = (seg, table, depth, fits)

    seg, table, depth, fits = result
    print(
        f"\nparticles found: {seg.n_particles} (truth {len(discs)}), rows in particle table "
        f"{len(table)}, depth-profile rows {len(depth.profiles)}"
    )
    if fits is not None:
        ok = fits[fits["status"] == "ok"]
        mn = ok[ok["element"] == "Mn"]
        print(
            f"core/shell fits ok for {ok['particle_id'].nunique()} particles; Mn shell "
            f"{mn['shell'].median():.3f} (truth {truth['shell']['Mn']}), core "
            f"{mn['core'].median():.3f} (truth {truth['core']['Mn']}), interface depth "
            f"{mn['interface_depth_um'].median():.3f} um (truth "
            f"{truth['interface_depth_um']}) [medians over particles]"
        )
    print(
        f"\nmedian of {args.repeats} runs (wall time; CPU = process CPU seconds, all threads:"
        " on a shared, oversubscribed machine CPU is closer to the unloaded wall time):"
    )
    for k, v in stages.items():
        print(
            f"  {k:16s} wall {statistics.median(v):7.2f} s   CPU {statistics.median(cpu[k]):7.2f}"
            f" s   (wall runs: {', '.join(f'{x:.2f}' for x in v)})"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss): {peak:.0f} MiB")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
