"""Benchmark of issue 2: the whole depth-profile pipeline (segment, hull, depth, profiles of
three channels) on a 512^3 phantom with >= 20 particles, and the same pipeline built naively
from scikit-image/scipy on a smaller scene, for the speed ratio.

Usage::

    python benchmarks/bench_pipeline.py            # 512^3, 20 particles, 3 repeats
    python benchmarks/bench_pipeline.py --size 256 --particles 4 --repeats 3   # quicker

The phantom is generated once in a child process and stored as .npy files (benchmarks/results/),
so that the peak resident memory reported is that of the pipeline itself (the volumes are loaded
into RAM, not memory-mapped).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_context, peak_rss_gib, time_runs

RESULTS = Path(__file__).parent / "results"
CHANNELS = ("Ni", "Mn", "Co")


def make_phantom(size: int, n_particles: int, radius: tuple[float, float], seed: int) -> Path:
    """Generate (once) and cache a phantom scene; return its folder."""
    folder = RESULTS / f"phantom_{size}_{n_particles}_{radius[0]}_{radius[1]}_{seed}"
    if (folder / "Co.npy").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    code = f"""
import numpy as np
from cathodescope.phantom import paper_scene
data, truth = paper_scene(({size},) * 3, n_particles={n_particles}, spacing=0.049,
                          radius_um={radius!r}, seed={seed}, noise_std=0.03,
                          noise_psf_um=0.1, phase_artefact=0.05, keep_depth=False)
for name, arr in data.items():
    np.save(r"{folder}/" + name + ".npy", arr.values.astype(np.float32))
np.save(r"{folder}/labels.npy", truth.labels)
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    return folder


def ours(channels: dict[str, np.ndarray]):
    from cathodescope.errors import CathodescopeRunWarning
    from cathodescope.profile import analyze_scene

    with warnings.catch_warnings():  # too-shallow particles are reported, not needed here
        warnings.simplefilter("ignore", CathodescopeRunWarning)
        return analyze_scene(channels, spacing=0.049, marker_spacing_um=2.0, min_size_um=0.5)


def naive(channels: dict[str, np.ndarray], bin_width: float = 0.05):
    """The pipeline as one would write it from scikit-image/scipy building blocks."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.morphology import convex_hull_image, remove_small_objects
    from skimage.segmentation import watershed

    total = sum(c.astype(np.float64) for c in channels.values())
    mask = ndi.binary_fill_holes(total > threshold_otsu(total))
    dist = ndi.distance_transform_edt(mask, sampling=0.049)
    coarse, _ = ndi.label(mask)
    peaks = peak_local_max(dist, min_distance=int(2.0 / 0.049), labels=coarse, exclude_border=False)
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-dist, markers, mask=mask)
    labels = remove_small_objects(labels, min_size=int(0.5 / 0.049**3))
    rows = []
    for pid, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        region = labels[sl] == pid
        hull = convex_hull_image(region)
        depth = ndi.distance_transform_edt(hull, sampling=0.049)[region]
        bins = np.floor(depth / bin_width).astype(int)
        for name, values in channels.items():
            v = values[sl][region]
            for b in np.unique(bins):
                sel = v[bins == b]
                rows.append((pid, name, b, sel.size, sel.mean(), sel.std()))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="cube edge in voxels")
    parser.add_argument("--particles", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-size", type=int, default=160)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--quick", action="store_true", help="256^3 with 4 particles")
    args = parser.parse_args()
    if args.quick:
        args.size, args.particles, args.naive_size = 256, 4, 128

    print(machine_context())
    radius = (2.0, 2.6) if args.size >= 512 else (2.6, 2.9)
    folder = make_phantom(args.size, args.particles, radius, seed=1)
    channels = {c: np.load(folder / f"{c}.npy") for c in CHANNELS}
    input_gib = sum(a.nbytes for a in channels.values()) / 2**30
    rss_before = peak_rss_gib()
    median, times, result = time_runs(lambda: ours(channels), args.repeats)
    print(
        f"ours: {args.size}^3 x 3 channels, {result.segmentation.n_particles} particles found "
        f"(of {args.particles}); median {median:.2f} s over {args.repeats} runs "
        f"{[round(t, 2) for t in times]}; peak RSS {peak_rss_gib():.2f} GiB "
        f"(before pipeline {rss_before:.2f} GiB; input volumes {input_gib:.2f} GiB; "
        f"ratio peak/input {peak_rss_gib() / input_gib:.2f})"
    )
    if not args.skip_naive:
        small = make_phantom(args.naive_size, 3, (1.2, 1.4), seed=2)
        small_channels = {c: np.load(small / f"{c}.npy") for c in CHANNELS}
        t_ours, _, _ = time_runs(lambda: ours(small_channels), args.repeats)
        t0 = time.perf_counter()
        naive(small_channels)
        t_naive = time.perf_counter() - t0
        print(
            f"naive skimage/scipy on {args.naive_size}^3 with 3 particles: {t_naive:.2f} s "
            f"(1 run) vs ours {t_ours:.2f} s (median) -> {t_naive / t_ours:.1f}x faster"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
