"""Benchmark of the depth-profile engine (cathodescope.profile).

1. ``depth_profiles`` (hull fill, EDT depth maps, binning, ESS intervals, ratios, metrics,
   density) on an N^3 volume with P spherical particles (radius ~2.8 um at 0.049 um, with
   central voids), 3 float32 channels with correlated noise: median wall time of >= 3 runs and
   peak RSS (total, and above the resident input).
2. The convex-hull fill of one M^3 particle with ``convex_hull_fill`` vs scikit-image's
   ``convex_hull_image`` on a smaller K^3 particle (scikit-image tests every voxel against
   every facet and takes minutes at 192^3).
3. ``--pipeline``: the whole in-memory ``analyze_scene`` (segment -> split -> measure ->
   porosity -> per-particle hull/EDT/binning/statistics) on the scene of
   ``bench_pipeline.py`` (issue 15 target 1: 512^3 x 3 channels, 20 particles, <= 12 s on 2
   cores): median wall and CPU time of ``--repeats`` runs, then one run with the wall and CPU
   time of each stage. CPU time (user + system, all threads) is reported next to wall time
   because the benchmark machine may be shared: wall time then depends on the other load.

Run: ``PYTHONPATH=src python benchmarks/bench_profile.py`` (defaults: N=512, P=20, M=192,
K=96); ``--size 256 --particles 4`` for a quick check;
``--pipeline --skip-profiles --skip-hull`` for the issue-15 pipeline timing alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
from scipy import ndimage as ndi

from _common import cpu_model as _cpu_model  # benchmarks/ is on sys.path when run
from _common import cpu_seconds as _cpu_s


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_scene(size: int, n_particles: int, radius_um: float, spacing: float, seed: int = 0):
    """Labels (uint8) and Ni/Mn/Co float32 volumes, painted crop by crop (no big temporaries)."""
    rng = np.random.default_rng(seed)
    r_vox = radius_um / spacing
    cell = int(np.ceil(2 * r_vox + 4))
    per_axis = size // cell
    if per_axis**3 < n_particles:
        raise SystemExit(f"{n_particles} particles of radius {radius_um} um do not fit in {size}^3")
    slots = rng.choice(per_axis**3, size=n_particles, replace=False)
    labels = np.zeros((size,) * 3, dtype=np.uint8)
    chans = {c: np.zeros((size,) * 3, dtype=np.float32) for c in ("Ni", "Mn", "Co")}
    for pid, slot in enumerate(slots, start=1):
        corner = np.array(np.unravel_index(slot, (per_axis,) * 3)) * cell
        sl = tuple(slice(c, c + cell) for c in corner)
        rad = radius_um * rng.uniform(0.95, 1.05)
        g = np.meshgrid(*[(np.arange(cell) - (cell - 1) / 2) * spacing] * 3, indexing="ij")
        r = np.sqrt(g[0] ** 2 + g[1] ** 2 + g[2] ** 2)
        solid = r < rad
        void = r < 0.3
        d = np.clip(rad - r, 0, None)
        ni = 0.57 + 0.17 * (1 - np.exp(-d / 0.8))
        mn = 0.21 - 0.08 * (1 - np.exp(-d / 0.8))
        co = 1 - ni - mn
        labels[sl][solid] = pid
        for c, frac in (("Ni", ni), ("Mn", mn), ("Co", co)):
            noise = ndi.gaussian_filter(rng.standard_normal(solid.shape).astype(np.float32), 1.5)
            val = np.where(solid & ~void, 100 * frac, 0) + 40 * noise
            chans[c][sl] = val.astype(np.float32)
    return labels, chans


def bench_profiles(args) -> None:
    from cathodescope.profile import depth_profiles

    t0 = time.perf_counter()
    labels, chans = build_scene(args.size, args.particles, args.radius, args.spacing)
    build_s = time.perf_counter() - t0
    input_mb = (labels.nbytes + sum(v.nbytes for v in chans.values())) / 2**20
    rss_in = _rss_mb()
    print(
        f"scene: {args.size}^3, {args.particles} particles r~{args.radius} um at "
        f"{args.spacing} um, 3 float32 channels + uint8 labels = {input_mb:.0f} MiB "
        f"(built in {build_s:.1f} s; RSS {rss_in:.0f} MiB, peak so far {_peak_mb():.0f} MiB)"
    )
    for method in args.methods:
        times = []
        cpu = []
        for _ in range(args.repeats):
            c0 = _cpu_s()
            t = time.perf_counter()
            res = depth_profiles(labels, chans, spacing=args.spacing, ci_method=method)
            times.append(time.perf_counter() - t)
            cpu.append(_cpu_s() - c0)
        print(
            f"depth_profiles ci_method={method}: median {statistics.median(times):.2f} s wall, "
            f"{statistics.median(cpu):.2f} s CPU (runs: {', '.join(f'{x:.2f}' for x in times)}); "
            f"{len(res.profiles)} profile rows, {res.reliable_windows.shape[0]} particles"
        )
    peak = _peak_mb()
    print(
        f"peak RSS {peak:.0f} MiB = input-resident RSS {rss_in:.0f} MiB + "
        f"{peak - rss_in:.0f} MiB for the engine ({(peak - rss_in) / input_mb:.2f} x input)"
    )


def bench_hull(args) -> None:
    from skimage.morphology import convex_hull_image

    from cathodescope.profile import convex_hull_fill, depth_map

    def particle(n: int) -> np.ndarray:
        z, y, x = np.ogrid[:n, :n, :n]
        c = (n - 1) / 2
        r = np.sqrt((z - c) ** 2 + 1.2 * (y - c) ** 2 + (x - c) ** 2)
        m = r < 0.48 * n
        m &= ~((x > 0.8 * n) & (np.abs(y - c) < 0.1 * n))  # a notch: hull != mask
        m &= r > 0.1 * n  # central void
        return m

    m = particle(args.hull_size)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        h = convex_hull_fill(m)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    depth_map(m, spacing=args.spacing)
    dm = time.perf_counter() - t
    print(
        f"convex_hull_fill {args.hull_size}^3 particle: median {statistics.median(times):.2f} s "
        f"(hull {int(h.sum())} voxels vs mask {int(m.sum())}); depth_map incl. hull + EDT "
        f"{dm:.2f} s"
    )
    small = particle(args.skimage_size)
    t = time.perf_counter()
    ref = convex_hull_image(small, offset_coordinates=False)
    sk = time.perf_counter() - t
    t = time.perf_counter()
    ours = convex_hull_fill(small)
    us = time.perf_counter() - t
    print(
        f"{args.skimage_size}^3 particle: skimage convex_hull_image {sk:.2f} s vs "
        f"convex_hull_fill {us:.3f} s ({sk / us:.0f}x), identical: {np.array_equal(ref, ours)}"
    )


# Stages of analyze_scene timed by --pipeline: (module, function, label); nested stages are
# indented under their parent in the report.
_STAGES = (
    ("cathodescope.profile._pipeline", "_as_float_arrays", "check channels"),
    ("cathodescope.profile._pipeline", "_segmentation_image", "segmentation image (sum)"),
    ("cathodescope.segment", "segment_particles", "segment_particles"),
    ("cathodescope.segment._segment", "_threshold_used", "  threshold (Otsu)"),
    ("cathodescope.segment._segment", "_label_components", "  connected components"),
    ("cathodescope.segment._segment", "_split_components", "  fill holes + split"),
    ("cathodescope.segment._segment", "distance_inside", "    distance maps (edt)"),
    ("cathodescope.segment._segment", "_find_markers", "    markers"),
    ("cathodescope.segment._watershed", "watershed_markers", "    watershed"),
    ("cathodescope.segment._segment", "_filter_and_relabel", "  filter + relabel"),
    ("cathodescope.segment", "measure_particles", "measure_particles"),
    ("cathodescope.profile._pipeline", "_with_internal_porosity", "internal porosity"),
    ("cathodescope.profile._profiles", "_depth_profiles", "depth profiles (all particles)"),
    ("cathodescope.profile._particle", "_depth_values", "  EDT + depths (cpu)"),
    ("cathodescope.profile._particle", "binned_on_device", "  EDT + depths + moments (device)"),
    ("cathodescope.profile._particle", "correlation_functions", "  correlation FFTs"),
)


def bench_pipeline(args) -> None:
    import functools
    import importlib
    import importlib.util
    import warnings

    from bench_pipeline import CHANNELS, make_phantom  # benchmarks/ is on sys.path
    from cathodescope.errors import CathodescopeRunWarning
    from cathodescope.profile import analyze_scene

    radius = (2.0, 2.6) if args.size >= 512 else (2.6, 2.9)
    folder = make_phantom(args.size, args.particles, radius, seed=1)
    channels = {c: np.load(folder / f"{c}.npy") for c in CHANNELS}

    def run():
        with warnings.catch_warnings():  # too-shallow particles are reported, not needed here
            warnings.simplefilter("ignore", CathodescopeRunWarning)
            return analyze_scene(
                channels,
                spacing=0.049,
                marker_spacing_um=2.0,
                min_size_um=0.5,
                device=args.device,
            )

    times, cpu = [], []
    for _ in range(args.repeats):
        c0, t0 = _cpu_s(), time.perf_counter()
        res = run()
        times.append(time.perf_counter() - t0)
        cpu.append(_cpu_s() - c0)
    load = os.getloadavg()
    print(
        f"analyze_scene {args.size}^3 x 3 channels on {args.device}, "
        f"{res.segmentation.n_particles} particles "
        f"(of {args.particles}): median {statistics.median(times):.2f} s wall, "
        f"{statistics.median(cpu):.2f} s CPU (runs wall {', '.join(f'{x:.2f}' for x in times)}; "
        f"CPU {', '.join(f'{x:.2f}' for x in cpu)}); load average after "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; peak RSS {_peak_mb():.0f} MiB"
    )
    if args.no_stages:
        return
    acc: dict[str, list[float]] = {}
    originals = []
    for module, name, label in _STAGES:
        mod = importlib.import_module(module) if importlib.util.find_spec(module) else None
        func = getattr(mod, name, None)
        if func is None:  # an older version of the engine (for before/after comparisons)
            continue

        def timed(*a, _f=func, _label=label, **k):
            c0, t0 = _cpu_s(), time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                rec = acc.setdefault(_label, [0.0, 0.0, 0])
                rec[0] += time.perf_counter() - t0
                rec[1] += _cpu_s() - c0
                rec[2] += 1

        originals.append((mod, name, func))
        setattr(mod, name, functools.wraps(func)(timed))
    try:
        c0, t0 = _cpu_s(), time.perf_counter()
        run()
        wall, total_cpu = time.perf_counter() - t0, _cpu_s() - c0
    finally:
        for mod, name, func in originals:
            setattr(mod, name, func)
    print(
        f"stages of one more run ({wall:.2f} s wall, {total_cpu:.2f} s CPU). CPU = the process"
        "'s, all threads: measure_particles runs beside the depth profiles, so their rows overlap:"
    )
    for _, _, label in _STAGES:
        if label in acc:
            w, c, n = acc[label]
            print(f"  {label:34s} {w:6.2f} s wall {c:6.2f} s CPU  ({n} call{'s' * (n > 1)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="volume edge, voxels")
    ap.add_argument("--particles", type=int, default=20)
    ap.add_argument("--radius", type=float, default=2.8, help="particle radius, um")
    ap.add_argument("--spacing", type=float, default=0.049, help="voxel size, um")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["ess"], help="ci methods to time")
    ap.add_argument("--hull-size", type=int, default=192)
    ap.add_argument("--skimage-size", type=int, default=96)
    ap.add_argument("--skip-profiles", action="store_true")
    ap.add_argument("--skip-hull", action="store_true")
    ap.add_argument("--pipeline", action="store_true", help="time analyze_scene (issue 15)")
    ap.add_argument("--no-stages", action="store_true", help="--pipeline without the stage run")
    ap.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="--pipeline: device of the per-particle EDT, depths and bin moments",
    )
    args = ap.parse_args()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    load = os.getloadavg()
    print(
        f"machine: {cores} cores available, {_cpu_model()}, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (shared machine), numpy {np.__version__}"
    )
    if not args.skip_hull:
        bench_hull(args)
    if not args.skip_profiles:
        bench_profiles(args)
    if args.pipeline:
        bench_pipeline(args)


if __name__ == "__main__":
    main()
