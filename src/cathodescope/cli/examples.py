"""``cathodescope examples --out DIR``: the input files of the README tour (phantoms and copies)."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments


def register(subparsers: Any) -> None:
    """Add the ``examples`` command."""
    p = subparsers.add_parser(
        "examples",
        help="write every input file the README tour needs (phantoms, copies of real files)",
        description="Write seeded phantom inputs (channel images, a TXM config with simulated "
        "projections, an XRF map, cycler, GITT and ICI exports, a heating series, an O2 trace, "
        "precursor and probe files) and copy the real example files of the shared data folder.",
    )
    add_out_arguments(p, default="examples")
    p.add_argument(
        "--shared-data",
        default=None,
        metavar="DIR",
        help="folder of the real example files to copy into DIR/shared (default: "
        "$CATHODESCOPE_SHARED_DATA, else ../shared/data when it exists)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the phantoms")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from cathodescope.workflows.examples import write_examples

    run = write_examples(
        args.out, shared_data=args.shared_data, seed=args.seed, overwrite=args.overwrite
    )
    files = run.results["files"]
    print(f"{len(files)} example files written to {run.path}")
    return 0
