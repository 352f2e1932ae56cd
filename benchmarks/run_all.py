"""Run every benchmark script in this folder in turn (``make bench``).

Each ``bench_*.py`` is a standalone script that prints its own figures (median of several runs,
wall time, peak memory, machine context). Pass ``--quick`` to forward it to the scripts that
support a reduced size.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    extra = sys.argv[1:]
    status = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        status |= subprocess.call([sys.executable, str(script), *extra])
    return status


if __name__ == "__main__":
    sys.exit(main())
