"""``cathodescope thermal``: gas-release (MS) curves on heating, optionally joined with XRD."""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments, open_run, parse_list


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
    import matplotlib.pyplot as plt
    import pandas as pd

    from cathodescope.errors import FileFormatError
    from cathodescope.xrd import analyze_gas_release, join_on_temperature

    with open_run(args, "thermal") as run:
        try:
            table = pd.read_csv(args.trace)
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"cannot read {args.trace} as CSV: {exc}") from exc
        run.add_input(args.trace)
        if args.temperature_column not in table.columns:
            raise FileFormatError(
                f"{args.trace} has no column {args.temperature_column!r}; columns are "
                f"{list(table.columns)} (use --temperature-column)."
            )
        skip = {args.temperature_column, args.time_column}
        channels = args.channels or [
            c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
        ]
        missing = [c for c in channels if c not in table.columns]
        if missing:
            raise FileFormatError(f"channels {missing} not in {list(table.columns)}.")
        time = table[args.time_column] if args.time_column else None
        with run.timer("analyze"):
            result = analyze_gas_release(
                table[args.temperature_column],
                table[channels],
                time=time,
                onset=args.onset,
                sharp_fwhm_c=args.sharp_fwhm,
                smooth_c=args.smooth,
            )
        run.write_table("gas_release", result.summary)
        run.write_table("gas_curves", result.curves)
        fig, ax = plt.subplots(figsize=(6, 4))
        for _, row in result.summary.iterrows():
            ch = row["channel"]
            ax.plot(result.curves.temperature_C, result.curves[f"{ch}_net"], label=ch)
            ax.axvline(row["onset_C"], ls=":", color="grey")
            ax.axvline(row["peak_C"], ls="--", color="grey")
        ax.set_xlabel("temperature (C)")
        ax.set_ylabel("signal above baseline")
        ax.legend(fontsize=8)
        run.write_figure("gas_release", fig)
        run.results["gas_release"] = result.summary.to_dict(orient="records")
        if args.xrd_table:
            xrd = pd.read_csv(args.xrd_table)
            run.add_input(args.xrd_table)
            run.write_table(
                "xrd_gas_joined",
                join_on_temperature(xrd, result.curves, tolerance_c=args.tolerance),
            )
    for _, row in result.summary.iterrows():
        print(
            f"{row.channel}: onset {row.onset_C:.1f} C, peak {row.peak_C:.1f} C, FWHM "
            f"{row.fwhm_C:.1f} C ({row.classification})"
        )
    return 0
