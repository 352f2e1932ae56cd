"""``cathodescope report``: one HTML page per sample from run folders; samples side by side."""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` command."""
    p = subparsers.add_parser(
        "report",
        help="HTML report of run folders (one page per sample), or a comparison of reports",
        description="Write DIR/index.html from run folders of any command: command lines, "
        "inputs with checksums, key numbers with intervals, figures, CSV tables, warnings. "
        "With --compare, overlay like with like from several report folders.",
    )
    p.add_argument("runs", nargs="*", help="run folders (the --out of earlier commands)")
    p.add_argument("--title", default=None, help="title of the report (default: the sample name)")
    p.add_argument(
        "--sample-name", default=None, help="name of the sample the run folders belong to"
    )
    p.add_argument(
        "--sample-file",
        default=None,
        help="TOML file grouping run folders into samples ([[sample]] name, runs, labels)",
    )
    p.add_argument(
        "--compare",
        nargs="+",
        default=None,
        metavar="REPORT_DIR",
        help="report folders to compare (written by 'cathodescope report') instead of runs",
    )
    add_out_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from cathodescope.workflows.report import build_report, compare_reports

    if args.compare:
        page = compare_reports(
            args.compare,
            out=args.out,
            title=args.title or "Samples compared",
            overwrite=args.overwrite,
        )
    else:
        page = build_report(
            args.runs,
            out=args.out,
            title=args.title,
            sample_file=args.sample_file,
            sample_name=args.sample_name,
            overwrite=args.overwrite,
        )
    print(f"report written: {page}")
    return 0
