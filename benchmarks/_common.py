"""Helpers shared by the benchmark scripts: machine context, timing and peak memory."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads): robust to a loaded machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_context() -> str:
    """One line naming the CPU, core count, memory and Python version."""
    cpu = cpu_model()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}; {os.cpu_count()} cores; {mem_gib:.0f} GiB RAM; "
        f"Python {platform.python_version()}; load avg {os.getloadavg()[0]:.1f}"
    )


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def time_runs(func: Callable[[], Any], repeats: int = 3) -> tuple[float, list[float], Any]:
    """Run ``func`` ``repeats`` times; return (median s, all times s, last result)."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result
