"""``cathodescope thermal``: gas-release (MS) curves on heating, optionally joined with XRD."""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments, parse_list


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``thermal`` command."""
    p = subparsers.add_parser(
        "thermal", help="gas release vs temperature (onset, peak, FWHM, amount, sharp/broad)"
    )
    p.add_argument("trace", help="CSV with a temperature column and one column per m/z channel")
    p.add_argument(
        "--temperature-column", default="temperature_C", help="name of the temperature column (C)"
    )
    p.add_argument("--time-column", default=None, help="optional time column (s)")
    p.add_argument(
        "--channels",
        type=parse_list,
        default=None,
        help="comma-separated channel columns (default: all other numeric columns)",
    )
    p.add_argument(
        "--onset",
        choices=("tangent", "threshold"),
        default="tangent",
        help="extrapolated (tangent) onset or threshold crossing",
    )
    p.add_argument(
        "--sharp-fwhm",
        type=float,
        default=30.0,
        help="peaks narrower than this FWHM (C) are classified 'sharp'",
    )
    p.add_argument("--smooth", type=float, default=3.0, help="smoothing window (C), 0 = none")
    p.add_argument(
        "--xrd-table",
        default=None,
        help="per-frame XRD table (CSV with temperature_C, e.g. lattice.csv) to join",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=2.5,
        help="largest temperature difference (C) when joining with the XRD table",
    )
    add_out_arguments(p)
    p.set_defaults(func=_thermal)


def _thermal(args: argparse.Namespace) -> int:
    from cathodescope.workflows.thermal import thermal_run

    result = thermal_run(
        args.trace,
        out=args.out,
        temperature_column=args.temperature_column,
        time_column=args.time_column,
        channels=args.channels,
        onset=args.onset,
        sharp_fwhm=args.sharp_fwhm,
        smooth=args.smooth,
        xrd_table=args.xrd_table,
        tolerance=args.tolerance,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    for _, row in result.summary.iterrows():
        print(
            f"{row.channel}: onset {row.onset_C:.1f} C, peak {row.peak_C:.1f} C, FWHM "
            f"{row.fwhm_C:.1f} C ({row.classification})"
        )
    print(f"-> {args.out}")
    return 0
