"""``cathodescope demo``: the whole depth-profile pipeline on a built-in phantom.

The phantom resembles the 63 % Ni particles of the TXM paper (SCIENCE.md section 1); because
the truth is known, the demo also writes how far the recovered ratios are from it. The work is
done by :mod:`cathodescope.workflows.demo`.
"""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the full pipeline on a built-in phantom (no data needed)",
        description="Build a phantom resembling the paper's 63 %% Ni particles, segment it, "
        "compute depth profiles, ratios and Table-1 metrics, write tables and figures, and "
        "compare the result with the known truth.",
    )
    add_out_arguments(parser, default="demo_output")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="coarser voxels (0.098 um) and a smaller scene: seconds, not minutes",
    )
    parser.add_argument("--n-particles", type=int, default=3, help="particles in the scene")
    parser.add_argument("--seed", type=int, default=0, help="random seed of layout and noise")
    parser.add_argument(
        "--from-projections",
        action="store_true",
        help="start from simulated raw TXM projections (tomography chain)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one of the demos of :mod:`cathodescope.workflows.demo`."""
    if args.from_projections:
        from cathodescope.workflows.demo import run_demo_from_projections

        path = run_demo_from_projections(
            args.out, overwrite=args.overwrite, progress=not args.no_progress, seed=args.seed
        )
        print(f"tables and figures in {path}")
        return 0

    from cathodescope.workflows.demo import run_demo

    analysis, truth, run_folder, worst = run_demo(
        args.out,
        quick=args.quick,
        n_particles=args.n_particles,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(
        f"{analysis.segmentation.n_particles} particles found ({truth.n_particles} in the "
        f"phantom); largest |ratio - truth| in the reliable window: {worst:.4f}\n"
        f"tables, figures and manifest.json in {run_folder.path.resolve()}"
    )
    return 0
