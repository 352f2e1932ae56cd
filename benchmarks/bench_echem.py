"""Benchmark of the echem pipeline: per-cycle summary and dQ/dV of every cycle on a big table.

The table is a real BioLogic file (biologic_gcpl_7cycles_v3.mpr, 46,102 rows) tiled with time,
charge and step offsets up to ``--rows`` rows (default 10^7), so cycles continue across tiles.
Also times every reader on every file of ../shared/data/echem, and (``--million``) reading
10^6-row files written here: text exports in the EC-Lab .mpt, Maccor and Arbin CSV layouts,
a Neware .ndax and an Arbin .res made from the corpus files by replicating their records
(``benchmarks/_binary_cyclers.py`` says how; the .res one is read by page owner, as access-parser
and our decoder do, not by MS Access). Prints median wall and CPU (process) times of
``--repeats`` runs, peak memory (ru_maxrss) and the machine. ``--million-only`` skips the
pipeline timings (the 10^6 rows then come from a 10^6-row tiled table).

    PYTHONPATH=src python benchmarks/bench_echem.py --rows 10000000 --repeats 3 --million
    PYTHONPATH=src python benchmarks/bench_echem.py --million-only --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DATA = (
    Path(os.environ["CATHODESCOPE_SHARED_DATA"]) / "echem"
    if "CATHODESCOPE_SHARED_DATA" in os.environ
    else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "echem"
)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        n_aff = len(os.sched_getaffinity(0))
    except AttributeError:
        n_aff = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{model}; {os.cpu_count()} logical CPUs ({n_aff} usable); load avg {load:.1f}; "
        f"{platform.platform()}"
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_time(fn, repeats: int) -> tuple[float, list[float], object]:
    med, times, _, out = median_wall_cpu(fn, repeats)
    return med, times, out


def median_wall_cpu(fn, repeats: int) -> tuple[float, list[float], float, object]:
    """(median wall s, wall times, median CPU s of this process, last result)."""
    times, cpus = [], []
    out = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(times), times, statistics.median(cpus), out


def tiled_table(rows: int):
    """Canonical table of ``rows`` rows from the v3 BioLogic file tiled end to end."""
    from cathodescope.io import build_cycling_table, read_cycler

    base = read_cycler(DATA / "biologic_gcpl_7cycles_v3.mpr")
    n = len(base)
    reps = int(np.ceil(rows / n))
    t = base["time_s"].to_numpy()
    q = base["charge_mAh"].to_numpy()
    span_t = t[-1] - t[0] + 1.0
    span_q = q[-1] - q[0]
    k = np.repeat(np.arange(reps), n)[:rows]
    time_s = np.tile(t, reps)[:rows] + k * span_t
    charge = np.tile(q, reps)[:rows] + k * span_q
    step = np.tile(base["instrument_step"].to_numpy().astype(np.int64), reps)[:rows] + k * 10
    return build_cycling_table(
        time_s,
        np.tile(base["voltage_V"].to_numpy(), reps)[:rows],
        np.tile(base["current_mA"].to_numpy(), reps)[:rows],
        charge_mAh=charge,
        instrument_step=step,
        source="tiled",
    )


def write_million(df, folder: Path) -> dict[str, Path]:
    """The first 10^6 rows of ``df`` as an .mpt, a Maccor text and an Arbin CSV export."""
    import pandas as pd

    d = df.iloc[:1_000_000]
    t, v, i = d["time_s"].to_numpy(), d["voltage_V"].to_numpy(), d["current_mA"].to_numpy()
    q = d["charge_mAh"].to_numpy()
    ns = d["step_index"].to_numpy()
    out = {}
    mpt = pd.DataFrame({"Ns": ns, "time/s": t, "Ewe/V": v, "I/mA": i, "(Q-Qo)/mA.h": q})
    body = mpt.to_csv(sep="\t", index=False, float_format="%.9g")
    out["mpt"] = folder / "million.mpt"
    out["mpt"].write_text("EC-Lab ASCII FILE\nNb header lines : 4\n\n" + body, encoding="latin-1")
    state = np.where(i > 0, "C", np.where(i < 0, "D", "R"))
    step_q = q - q[np.r_[0, np.flatnonzero(np.diff(ns)) + 1]][np.cumsum(np.r_[0, np.diff(ns) != 0])]
    mac = pd.DataFrame(
        {
            "Rec#": np.arange(1, len(d) + 1),
            "Cyc#": d["cycle"].to_numpy(),
            "Step": ns,
            "Test (Sec)": t,
            "Amp-hr": np.abs(step_q) / 1000,
            "Amps": np.abs(i) / 1000,
            "Volts": v,
            "State": state,
        }
    )
    out["maccor"] = folder / "million.001"
    out["maccor"].write_text(
        "Today's Date 01/01/2026\n" + mac.to_csv(sep="\t", index=False, float_format="%.9g"),
        encoding="latin-1",
    )
    ch = np.maximum.accumulate(np.where(i > 0, q, 0.0)) / 1000
    arb = pd.DataFrame(
        {
            "Data_Point": np.arange(1, len(d) + 1),
            "Test_Time": t,
            "Step_Index": ns,
            "Cycle_Index": d["cycle"].to_numpy(),
            "Current": i / 1000,
            "Voltage": v,
            "Charge_Capacity": ch,
            "Discharge_Capacity": ch - q / 1000,
        }
    )
    out["arbin"] = folder / "million.csv"
    arb.to_csv(out["arbin"], index=False, float_format="%.9g")
    return out


def million_reads(df, repeats: int) -> None:
    """Median read times of 10^6-row files of every format (written to a temporary folder)."""
    import tempfile

    from _binary_cyclers import write_big_ndax, write_big_res
    from cathodescope.io import read_cycler

    with tempfile.TemporaryDirectory() as tmp:
        files = write_million(df, Path(tmp))
        files["ndax"] = Path(tmp) / "million.ndax"
        write_big_ndax(DATA / "neware_700k_rows.ndax", files["ndax"])
        files["res"] = Path(tmp) / "million.res"
        write_big_res(DATA / "arbin_cc.res", files["res"])
        for fmt, path in files.items():
            med, ts, cpu, got = median_wall_cpu(lambda p=path: read_cycler(p), repeats)
            print(
                f"read 10^6-row {fmt:6s}: median {med:.2f} s wall, {cpu:.2f} s CPU  runs "
                f"{[round(x, 2) for x in ts]}  ({len(got):,} rows, decoder "
                f"{got.attrs.get('decoder', '-')}; target <= 3 s)"
            )
    # the .res one is not a file MS Access would read: also the decoder per row on the real file
    res = DATA / "arbin_cc.res"
    med, _, cpu, got = median_wall_cpu(lambda: read_cycler(res), repeats)
    print(
        f"read {res.name} ({len(got):,} rows): median {med:.3f} s wall, {cpu:.3f} s CPU, "
        f"{med / len(got) * 1e6:.1f} us/row wall incl. fixed costs"
    )


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _binary_cyclers
    from cathodescope.echem import cycle_summary, dqdv, find_dqdv_peaks
    from cathodescope.io import read_cycler

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peaks", action="store_true", help="also time peak fitting of every curve")
    ap.add_argument("--million", action="store_true", help="time reading 10^6-row files")
    ap.add_argument(
        "--million-only", action="store_true", help="only the 10^6-row reads (no pipeline)"
    )
    args = ap.parse_args()

    print(f"machine: {machine()}")
    print("== read time per format (median of", args.repeats, "runs) ==")
    import warnings

    from cathodescope.errors import CathodescopeWarning

    warnings.simplefilter("ignore", CathodescopeWarning)  # counter warnings: read anyway
    for path in sorted(DATA.iterdir()):
        if path.name.lower().endswith("_metadata.csv"):
            continue
        med, _, df = median_time(lambda p=path: read_cycler(p), args.repeats)
        print(
            f"{path.name:34s} {len(df):7d} rows  {med * 1e3:8.1f} ms  "
            f"{len(df) / med / 1e6:6.2f} M rows/s"
        )

    if args.million_only:
        million_reads(tiled_table(1_000_000), args.repeats)
        print(f"peak memory (ru_maxrss): {peak_rss_mib():.0f} MiB")
        return
    t0 = time.perf_counter()
    df = tiled_table(args.rows)
    t_build = time.perf_counter() - t0
    n_cycles = int(df["cycle"].max())
    print(
        f"== {len(df):,} rows, {n_cycles} cycles; canonical table + step/cycle assignment "
        f"{t_build:.2f} s =="
    )
    med_s, ts, summ = median_time(lambda: cycle_summary(df, active_mass_g=0.005), args.repeats)
    print(
        f"cycle_summary: median {med_s:.2f} s  runs {[round(x, 2) for x in ts]}  "
        f"({len(summ)} cycles)"
    )
    med_d, td, res = median_time(lambda: dqdv(df), args.repeats)
    print(
        f"dqdv (GCV Savitzky-Golay, 2 mV grid, every half-cycle): median {med_d:.2f} s  runs "
        f"{[round(x, 2) for x in td]}  ({res.dqdv.shape[0]} curves x {res.dqdv.shape[1]} bins)"
    )
    print(f"summary + dQ/dV: median {med_s + med_d:.2f} s (target <= 10 s)")
    if args.million:
        million_reads(df, args.repeats)
    if args.peaks:
        med_p, _, pk = median_time(lambda: find_dqdv_peaks(res), 1)
        print(f"find_dqdv_peaks (fits): {med_p:.2f} s for {len(pk)} peaks")
    print(f"peak memory (ru_maxrss): {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
