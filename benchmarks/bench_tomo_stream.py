"""Benchmark of the streaming multi-energy tomography pipeline (``tomo pipeline --memory-limit``).

1. End to end: the six-energy (Mn/Co/Ni K-edge pairs) simulated dataset of bench_tomo.py at
   N^3 voxels, written as FXI HDF5 files, run by ``run_pipeline`` from a TOML config, streamed
   under ``--memory-limit`` (and, with --in-memory, without it): wall time per stage and the peak
   RSS of the process that ran it.
2. Large: analytic projections of layered spheres (exact chord lengths, Poisson counts, per-angle
   shifts between energies), N^2 detector x n_angles x 6 energies as uint16 HDF5, streamed to
   elemental volumes by ``stream_energies`` under a memory limit: time per pass and peak RSS
   against the plan's estimate. With --large-pipeline the whole ``run_pipeline`` instead, end to
   end under the memory limit (the depth profiles by the out-of-core engine on the stored
   volumes). ``--large-scene particles`` replaces the two big spheres (the larger one's crop at
   1024 px, ~238 M voxels, cannot fit one profile worker under 6 GiB) by many layered spheres of
   31-61 px radius at a 0.05 um TXM pixel; ``--large-rows R`` makes only the middle R detector
   rows of that N-row detector (a slab of the full dataset: every pass costs in proportion to
   the rows, so the full run can be extrapolated from it).

Every run happens in a fresh child process whose peak RSS (ru_maxrss) is reported, and the
peak RSS of its whole process tree (child plus dask workers, sampled every 0.2 s) with its
CPU time (user + system of the tree); the data are written to --workdir and deleted at the end.

    python benchmarks/bench_tomo_stream.py --e2e-size 256 --large-size 512 --large-angles 450 \\
        --large-limit 2GiB
    python benchmarks/bench_tomo_stream.py --e2e-size 0 --large-size 1024 --large-angles 900 \\
        --large-limit 6GiB --large-scene particles --large-rows 128 --large-pipeline \\
        --large-algorithm gridrec
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import machine_context, peak_rss_gib  # benchmarks/ is on sys.path when run

ELEMENTS = ("Ni", "Co", "Mn")


def _energies() -> list[float]:
    from cathodescope.tomo import edge_energy_pairs

    return [e for pair in edge_energy_pairs(ELEMENTS).values() for e in pair]


def _write_fxi(path: Path, data, flats, darks, angles, energy_ev: float, pixel_um: float) -> None:
    import h5py

    with h5py.File(path, "w") as fh:
        fh["img_tomo"] = data
        fh["img_bkg"] = flats
        fh["img_dark"] = darks
        fh["angle"] = angles
        fh["X_eng"] = energy_ev / 1000.0
        fh["Pixel Size"] = f"{pixel_um * 1000:.3f}nm"


def _config(folder: Path, n_files: int, size: int, bin_um: float, algorithm: str = "fbp") -> Path:
    lines = [f'[[scan]]\nfile = "scan{k}.h5"\n' for k in range(n_files)]
    cfg = folder / "run.toml"
    cfg.write_text(
        "\n".join(lines)
        + f'\n[processing]\nsize = {size}\nalgorithm = "{algorithm}"\n'
        + '\n[elements]\nnames = ["Ni", "Co", "Mn"]\n'
        + f"\n[profile]\nbin_width_um = {bin_um}\n"
    )
    return cfg


# -- data ------------------------------------------------------------------------------------------


def make_e2e(folder: Path, n: int, n_angles: int) -> None:
    """The bench_tomo.py six-energy dataset at n^3, as FXI files plus a TOML config."""
    from cathodescope.tomo import demo_particle_densities, simulate_projections

    spacing = 0.1 * 64 / n
    densities, _ = demo_particle_densities(n, spacing=spacing)
    energies = _energies()
    scans, _ = simulate_projections(
        densities,
        spacing=spacing,
        energies_ev=energies,
        n_angles=n_angles,
        flat_counts=1e5,
        max_shift_px=1.5,
        centre_offset_px=1.7,
        seed=0,
        reference_energy_ev=max(energies),
    )
    for k, s in enumerate(scans):
        _write_fxi(
            folder / f"scan{k}.h5",
            s.data.values.astype(np.float32),
            s.flats.values.astype(np.float32),
            s.darks.values.astype(np.float32),
            s.angles,
            s.energy_ev,
            s.spacing[1],
        )
    _config(folder, len(scans), n, spacing)


def _chords(u: np.ndarray, z: np.ndarray, uc: float, zc: float, radius: float) -> np.ndarray:
    """Exact chord lengths (px) through a sphere of ``radius`` px centred at (zc, uc)."""
    r2 = (u[None, :] - uc) ** 2 + (z[:, None] - zc) ** 2
    return 2.0 * np.sqrt(np.clip(radius**2 - r2, 0.0, None))


def _particle_scene(n: int, rng: np.random.Generator, count: int) -> list[tuple]:
    """``count`` non-overlapping layered spheres (31-61 px radius at n = 1024) inside the
    rotation cylinder: ((x, y, z) px, outer radius px, core radius px)."""
    spheres: list[tuple] = []
    tries = 0
    while len(spheres) < count and tries < 200 * count:
        tries += 1
        r = rng.uniform(0.03, 0.06) * n
        x, y = rng.uniform(-0.45 * n + r, 0.45 * n - r, 2)
        if np.hypot(x, y) > 0.45 * n - r:
            continue
        z = rng.uniform(-0.5 * n + r, 0.5 * n - r)
        if all(np.linalg.norm(np.subtract((x, y, z), c)) > r + ro + 2 for c, ro, _ in spheres):
            spheres.append(((x, y, z), r, 0.6 * r))
    return spheres


def make_large(
    folder: Path,
    n: int,
    n_angles: int,
    seed: int = 0,
    *,
    scene: str = "spheres",
    rows: int = 0,
    algorithm: str = "fbp",
) -> None:
    """Analytic layered spheres: n rows x (n + 16) columns x n_angles x 6 energies, uint16.

    ``scene="particles"``: 160 spheres scaled to n (at a 0.05 um pixel); ``rows`` > 0 writes
    only the middle ``rows`` detector rows of the n-row detector (a slab of the full dataset).
    """
    import h5py
    import xraydb

    from cathodescope.tomo import composition_to_densities

    rng = np.random.default_rng(seed)
    energies = _energies()
    ref_e = max(energies)
    n_det = n + 16
    n_rows = rows or n
    row0 = (n - n_rows) // 2
    angles = np.linspace(0.0, 180.0, n_angles)
    theta = np.radians(angles)
    u = np.arange(n_det) - (n_det - 1) / 2.0 - 1.3  # rotation axis 1.3 px off the centre
    z = np.arange(row0, row0 + n_rows) - (n - 1) / 2.0
    if scene == "particles":
        pixel_um = 0.05
        spheres = _particle_scene(n, rng, 160)
    else:
        pixel_um = 0.1 * 64 / n
        # (x, y, z) centre, outer radius, core radius in px
        spheres = [
            ((0.0, 0.0, 0.0), 0.30 * n, 0.18 * n),
            ((0.22 * n, -0.1 * n, 0.25 * n), 0.1 * n, 0.05 * n),
        ]
    # only the spheres that the rows see (a margin for the per-angle shifts)
    spheres = [sp for sp in spheres if abs(sp[0][2] - z.mean()) < sp[1] + n_rows / 2 + 3]
    px_cm = pixel_um * 1e-4
    # shell 6:2:2, core 9:0.5:0.5 (Ni:Co:Mn)
    shell = composition_to_densities(
        {"Ni": np.array(0.6), "Co": np.array(0.2), "Mn": np.array(0.2)}, np.array(1.0)
    )
    core = composition_to_densities(
        {"Ni": np.array(0.9), "Co": np.array(0.05), "Mn": np.array(0.05)}, np.array(1.0)
    )
    names = list(shell)
    mu_shell = {e: sum(xraydb.mu_elam(el, e) * float(shell[el]) for el in names) for e in energies}
    mu_core = {e: sum(xraydb.mu_elam(el, e) * float(core[el]) for el in names) for e in energies}
    flat_counts = 2e4
    beam = flat_counts * (1.0 + 0.1 * np.exp(-((u[None, :] / n_det) ** 2) - (z[:, None] / n) ** 2))
    for k, e in enumerate(energies):
        shifts = (
            np.zeros((n_angles, 2)) if e == ref_e else rng.uniform(-1.5, 1.5, size=(n_angles, 2))
        )
        with h5py.File(folder / f"scan{k}.h5", "w") as fh:
            data = fh.create_dataset("img_tomo", shape=(n_angles, n_rows, n_det), dtype="u2")
            for a in range(n_angles):
                line = np.zeros((n_rows, n_det))
                for (x, y, zc), r_out, r_in in spheres:
                    uc = x * np.cos(theta[a]) - y * np.sin(theta[a]) - shifts[a, 1]
                    zz = zc - shifts[a, 0]
                    # the window of detector pixels the sphere covers (exact chords inside)
                    c0 = max(0, int(np.searchsorted(u, uc - r_out - 1)))
                    c1 = int(np.searchsorted(u, uc + r_out + 1))
                    r0 = max(0, int(np.searchsorted(z, zz - r_out - 1)))
                    r1 = int(np.searchsorted(z, zz + r_out + 1))
                    if c1 <= c0 or r1 <= r0:
                        continue
                    outer = _chords(u[c0:c1], z[r0:r1], uc, zz, r_out)
                    inner = _chords(u[c0:c1], z[r0:r1], uc, zz, r_in)
                    line[r0:r1, c0:c1] += mu_shell[e] * (outer - inner) + mu_core[e] * inner
                counts = rng.poisson(beam * np.exp(-line * px_cm)) + rng.poisson(100.0, line.shape)
                data[a] = np.clip(counts, 0, 65535).astype(np.uint16)
            shape = (10, n_rows, n_det)
            flats = rng.poisson(beam[None], shape) + rng.poisson(100.0, shape)
            fh["img_bkg"] = flats.astype(np.uint16)
            fh["img_dark"] = rng.poisson(100.0, shape).astype(np.uint16)
            fh["angle"] = angles
            fh["X_eng"] = e / 1000.0
            fh["Pixel Size"] = f"{pixel_um * 1000:.3f}nm"
    _config(folder, len(energies), n, pixel_um, algorithm)


# -- children --------------------------------------------------------------------------------------


def child_pipeline(folder: Path, limit: str | None) -> dict:
    from cathodescope.workflows.tomo import run_pipeline

    out = folder / ("run_stream" if limit else "run_memory")
    t0 = time.perf_counter()
    _, analysis = run_pipeline(folder / "run.toml", out, memory_limit=limit, overwrite=True)
    wall = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "wall_s": wall,
        "timings_s": manifest["timings_s"],
        "stream": manifest["results"].get("stream"),
        # SceneAnalysis in memory, LargeSceneAnalysis (out-of-core profiles) under a limit
        "particles": int(
            getattr(analysis, "n_particles", None) or analysis.segmentation.n_particles
        ),
        "peak_rss_gib": peak_rss_gib(),
    }


def child_stream(folder: Path, limit: str) -> dict:
    from cathodescope.tomo import stream_energies
    from cathodescope.workflows.tomo import load_config, read_scans

    cfg = load_config(folder / "run.toml")
    scans = read_scans(cfg, lazy=True)
    proc = cfg["processing"]
    t0 = time.perf_counter()
    result = stream_energies(
        scans,
        folder / "volumes",
        memory_limit=limit,
        size=int(proc["size"]),
        algorithm=proc.get("algorithm", "fbp"),
        progress=True,
    )
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "stream": result.parameters["stream"],
        "centre_px": result.centre.centre,
        "peak_rss_gib": peak_rss_gib(),
    }


def _tree_rss(proc) -> int:
    """Resident bytes of ``proc`` and all its descendants (dask nannies and workers)."""
    import psutil

    total = 0
    try:
        root = psutil.Process(proc.pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in members:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _run_child(*args: str) -> dict:
    """Run a child; its result plus the peak RSS of its process tree and the tree's CPU time."""
    import threading

    cmd = [sys.executable, __file__, "--child", *args]
    err_path = Path(tempfile.mkstemp(prefix="bench_child.", suffix=".err")[1])
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _tree_rss(proc))
                time.sleep(0.2)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        thread.join()
    stderr = err_path.read_text()
    err_path.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{stderr[-4000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["tree_peak_rss_gib"] = peak[0] / 2**30
    res["tree_cpu_s"] = usage.ru_utime + usage.ru_stime  # the child and its reaped workers
    return res


def _du_gib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--e2e-size", type=int, default=256, help="end-to-end cube side (0: skip)")
    parser.add_argument("--e2e-angles", type=int, default=181)
    parser.add_argument("--e2e-limit", default="2GiB", help="--memory-limit of the end-to-end run")
    parser.add_argument("--in-memory", action="store_true", help="also run without a limit")
    parser.add_argument("--large-size", type=int, default=512, help="detector rows (0: skip)")
    parser.add_argument("--large-angles", type=int, default=450)
    parser.add_argument("--large-limit", default="2GiB")
    parser.add_argument("--large-scene", choices=("spheres", "particles"), default="spheres")
    parser.add_argument("--large-rows", type=int, default=0, help="middle rows only (0: all)")
    parser.add_argument("--large-algorithm", default="fbp", help="fbp or gridrec")
    parser.add_argument(
        "--large-pipeline", action="store_true", help="run_pipeline end to end (with profiles)"
    )
    parser.add_argument("--workdir", default=None, help="folder for the data (deleted after)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, *rest = args.child
        if kind == "make_e2e":
            make_e2e(Path(folder), int(rest[0]), int(rest[1]))
            print(json.dumps({"peak_rss_gib": peak_rss_gib()}))
        elif kind == "make_large":
            make_large(
                Path(folder),
                int(rest[0]),
                int(rest[1]),
                scene=rest[2],
                rows=int(rest[3]),
                algorithm=rest[4],
            )
            print(json.dumps({"peak_rss_gib": peak_rss_gib()}))
        elif kind == "pipeline":
            print(json.dumps(child_pipeline(Path(folder), rest[0] if rest else None)))
        else:
            print(json.dumps(child_stream(Path(folder), rest[0])))
        return
    print(f"machine: {machine_context()}")
    base = Path(tempfile.mkdtemp(prefix="bench_tomo_stream.", dir=args.workdir))
    try:
        if args.e2e_size:
            folder = base / "e2e"
            folder.mkdir()
            n = args.e2e_size
            t0 = time.perf_counter()
            made = _run_child("make_e2e", str(folder), str(n), str(args.e2e_angles))
            print(
                f"\n== end to end: {n}^3 voxels, 6 energies, {args.e2e_angles} angles "
                f"(simulated in {time.perf_counter() - t0:.0f} s, peak {made['peak_rss_gib']:.2f} "
                f"GiB; files {_du_gib(folder):.2f} GiB) =="
            )
            runs = [("--memory-limit " + args.e2e_limit, args.e2e_limit)]
            if args.in_memory:
                runs.append(("in memory", None))
            for label, limit in runs:
                res = _run_child("pipeline", str(folder), *([limit] if limit else []))
                print(
                    f"{label:<24} wall {res['wall_s']:7.1f} s   peak RSS "
                    f"{res['peak_rss_gib']:.2f} GiB   particles {res['particles']}"
                )
                for k, v in res["timings_s"].items():
                    print(f"    {k:<26}{v:8.1f} s")
                if res["stream"]:
                    print(f"    plan: {res['stream']}")
            shutil.rmtree(folder)
        if args.large_size:
            folder = base / "large"
            folder.mkdir()
            n, na = args.large_size, args.large_angles
            t0 = time.perf_counter()
            made = _run_child(
                "make_large", str(folder), str(n), str(na), args.large_scene,
                str(args.large_rows), args.large_algorithm,
            )  # fmt: skip
            rows = args.large_rows or n
            print(
                f"\n== large ({args.large_scene}): {rows} of {n} rows x {n + 16} columns x {na} "
                f"angles x 6 energies, {args.large_algorithm} (uint16 files "
                f"{_du_gib(folder):.2f} GiB, written in {time.perf_counter() - t0:.0f} s, peak "
                f"{made['peak_rss_gib']:.2f} GiB) =="
            )
            if args.large_pipeline:
                res = _run_child("pipeline", str(folder), args.large_limit)
                what, stores = "run_pipeline", folder / "run_stream"
            else:
                res = _run_child("stream", str(folder), args.large_limit)
                what, stores = "stream_energies", folder / "volumes"
            print(
                f"{what} --memory-limit {args.large_limit}: wall {res['wall_s']:.1f} s, CPU "
                f"{res['tree_cpu_s']:.1f} s (process tree), peak RSS {res['peak_rss_gib']:.2f} "
                f"GiB (child), {res['tree_peak_rss_gib']:.2f} GiB (process tree; plan estimate "
                f"{res['stream']['estimated_peak_gib']:.2f} GiB for the streamed passes), "
                f"stores {_du_gib(stores):.2f} GiB"
            )
            for k, v in res.get("timings_s", {}).items():
                print(f"    {k:<26}{v:8.1f} s")
            if "particles" in res:
                print(f"    particles {res['particles']}")
            print(f"    plan: {res['stream']}")
            if rows < n:
                print(
                    f"    a slab of {rows}/{n} rows: every pass scales with the rows; the full "
                    f"detector x{n / rows:.1f}: ~{res['wall_s'] * n / rows / 60:.0f} min wall"
                )
            shutil.rmtree(folder)
        from cathodescope.tomo import plan_stream

        big = plan_stream((900, 1024, 1040), "6GiB", n_energies=6, n_unknowns=4, size=1024)
        print(f"\nplan for 1024^2 x 900 x 6 under 6GiB: {big.summary()}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
