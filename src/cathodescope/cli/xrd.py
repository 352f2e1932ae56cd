"""``cathodescope xrd peaks|lattice|series``: peak fits, lattice parameters, heating series."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments, open_run


def _window(text: str) -> Any:
    """Parse ``LO:HI:C1[,C2...][:NAME1[,NAME2...]]`` (deg)."""
    from cathodescope.xrd import PeakWindow

    parts = text.split(":")
    try:
        lo, hi = float(parts[0]), float(parts[1])
        centers = (
            tuple(float(v) for v in parts[2].split(","))
            if len(parts) > 2 and parts[2]
            else (0.5 * (lo + hi),)
        )
    except (IndexError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"window must be LO:HI[:C1,C2][:NAME1,NAME2] in deg, got {text!r}"
        ) from exc
    names = tuple(parts[3].split(",")) if len(parts) > 3 else ()
    try:
        return PeakWindow(lo, hi, centers, names)
    except Exception as exc:  # ParameterError -> argparse message
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _common_pattern_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wavelength",
        type=float,
        default=None,
        help="wavelength of the data in Angstrom (default: from the file)",
    )
    p.add_argument(
        "--convert-to",
        type=float,
        default=None,
        metavar="LAMBDA",
        help="convert 2theta to this wavelength (Angstrom, e.g. 1.5406) first",
    )
    p.add_argument("--doublet", action="store_true", help="fit Ka1/Ka2 doublets (lab Cu data)")
    p.add_argument(
        "--ka2-ratio",
        type=float,
        default=None,
        help="I(Ka2)/I(Ka1) (default: from the file, else 0.5)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``xrd`` with sub-commands ``peaks``, ``lattice`` and ``series``."""
    parser = subparsers.add_parser("xrd", help="diffraction: peaks, lattice parameters, series")
    sub = parser.add_subparsers(dest="xrd_command", metavar="SUBCOMMAND")

    p = sub.add_parser("peaks", help="fit pseudo-Voigt peaks in windows of one pattern")
    p.add_argument("pattern", help="pattern file (.xy .xye .dat .uxd .raw .gsa .fxye)")
    p.add_argument(
        "--window",
        type=_window,
        action="append",
        required=True,
        help="LO:HI[:C1,C2][:NAME1,NAME2] in deg; repeat for several windows",
    )
    _common_pattern_args(p)
    add_out_arguments(p)
    p.set_defaults(func=_peaks)

    p = sub.add_parser(
        "lattice", help="a, c, c/a, I(003)/I(104), Williamson-Hall of a layered oxide"
    )
    p.add_argument("pattern", help="pattern file")
    p.add_argument(
        "--a", type=float, default=2.87, help="approximate a (Angstrom) to place windows"
    )
    p.add_argument(
        "--c", type=float, default=14.2, help="approximate c (Angstrom) to place windows"
    )
    p.add_argument("--half-width", type=float, default=0.4, help="window half width (deg)")
    p.add_argument(
        "--correction",
        choices=("none", "zero", "displacement", "both"),
        default="zero",
        help="zero offset and/or sample displacement fitted with a and c",
    )
    p.add_argument(
        "--instrumental-fwhm",
        type=float,
        default=0.0,
        help="instrumental FWHM (deg) subtracted in the Williamson-Hall analysis",
    )
    _common_pattern_args(p)
    add_out_arguments(p)
    p.set_defaults(func=_lattice)

    p = sub.add_parser("series", help="track peaks, lattice and phase transitions through a series")
    p.add_argument("patterns", nargs="+", help="pattern files in frame order")
    p.add_argument(
        "--temperatures",
        default=None,
        help="comma-separated temperatures (C) per frame, or START:STEP",
    )
    p.add_argument("--a", type=float, default=2.87, help="approximate a (Angstrom) of frame 0")
    p.add_argument("--c", type=float, default=14.2, help="approximate c (Angstrom) of frame 0")
    p.add_argument("--half-width", type=float, default=0.4, help="window half width (deg)")
    p.add_argument("--block", type=int, default=128, help="frames fitted per seeded block")
    p.add_argument("--regrid", action="store_true", help="interpolate frames onto frame 0's grid")
    _common_pattern_args(p)
    add_out_arguments(p)
    p.set_defaults(func=_series)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _load(args: argparse.Namespace, run: Any) -> Any:
    from cathodescope.io import read_pattern
    from cathodescope.xrd import convert_wavelength

    pattern = read_pattern(args.pattern, wavelength=args.wavelength)
    run.add_input(args.pattern)
    if args.convert_to is not None:
        pattern = convert_wavelength(pattern, args.convert_to)
    return pattern


def _fit_figure(pattern: Any, result: Any, windows: Any) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    from cathodescope.xrd import kalpha2_position, pseudo_voigt

    n = len(windows)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), squeeze=False)
    x_all = pattern.two_theta.values
    ratio = result.parameters.get("ratio", 0.0)
    for ax, win in zip(axes[0], windows, strict=True):
        sel = (x_all >= win.lo) & (x_all <= win.hi)
        x = x_all[sel]
        ax.plot(x, pattern.values[sel], ".", ms=3, color="k", label="data")
        rows = result.table[result.table["peak"].isin(win.names) & (result.table["frame"] == 0)]
        xm = 0.5 * (x[0] + x[-1])
        model = rows["bg0"].iloc[0] + rows["bg1"].iloc[0] * (x - xm)
        for _, r in rows.iterrows():
            model = model + pseudo_voigt(x, r.center_deg, r.fwhm_deg, r.eta, r.area)
            if ratio:
                c2 = kalpha2_position(
                    r.center_deg, result.parameters["wl1"], result.parameters["wl2"]
                )
                model = model + pseudo_voigt(x, float(c2), r.fwhm_deg, r.eta, ratio * r.area)
        ax.plot(x, model, "-", color="C3", label="fit")
        ax.set_title(", ".join(win.names), fontsize=9)
        ax.set_xlabel("2theta (deg)")
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(bottom=min(0, float(np.min(pattern.values[sel]))))
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _peaks(args: argparse.Namespace) -> int:
    from cathodescope.xrd import fit_peaks

    with open_run(args, "xrd peaks") as run:
        pattern = _load(args, run)
        with run.timer("fit"):
            result = fit_peaks(pattern, args.window, doublet=args.doublet, ka2_ratio=args.ka2_ratio)
        run.write_table("peaks", result.table)
        run.write_figure("peak_fits", _fit_figure(pattern, result, args.window))
        run.results["fit_parameters"] = result.parameters
    print(f"{len(result.table)} peaks fitted -> {args.out}")
    return 0


def _lattice(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from cathodescope.xrd import (
        fit_peaks,
        layered_oxide_lattice,
        layered_peak_windows,
        pattern_wavelength,
        williamson_hall,
    )

    with open_run(args, "xrd lattice") as run:
        pattern = _load(args, run)
        wl = pattern_wavelength(pattern, None)
        windows = layered_peak_windows(args.a, args.c, wl, half_width=args.half_width)
        with run.timer("fit"):
            peaks = fit_peaks(pattern, windows, doublet=args.doublet, ka2_ratio=args.ka2_ratio)
            lattice = layered_oxide_lattice(peaks, wavelength=wl, correction=args.correction)
        run.write_table("peaks", peaks.table)
        run.write_table("lattice", lattice.table)
        run.write_figure("peak_fits", _fit_figure(pattern, peaks, windows))
        t = peaks.table
        try:
            wh = williamson_hall(
                t.center_deg,
                t.fwhm_deg,
                wl,
                fwhm_err=t.fwhm_err_deg,
                instrumental_fwhm=args.instrumental_fwhm,
                names=list(t.peak),
            )
        except Exception as exc:
            run.warn(f"Williamson-Hall analysis skipped: {exc}")
        else:
            run.write_table("williamson_hall", wh.to_dataframe())
            run.write_table("williamson_hall_points", wh.points)
            fig, ax = plt.subplots(figsize=(4, 3))
            ax.plot(wh.points.x_4sin_theta, wh.points.y_beta_cos_theta, "o")
            xs = wh.points.x_4sin_theta
            ax.plot(xs, wh.intercept + wh.slope * xs, "-")
            ax.set_xlabel("4 sin(theta)")
            ax.set_ylabel("beta cos(theta) (rad)")
            run.write_figure("williamson_hall", fig)
            run.results["williamson_hall"] = wh.to_dataframe().iloc[0].to_dict()
        run.results["lattice"] = lattice.table.iloc[0].to_dict()
    row = lattice.table.iloc[0]
    print(
        f"a = {row.a_A:.5f} +/- {row.a_err_A:.5f} A, c = {row.c_A:.5f} +/- {row.c_err_A:.5f} A "
        f"-> {args.out}"
    )
    return 0


def _temperatures(text: str | None, n: int) -> Any:
    import numpy as np

    if text is None:
        return None
    if ":" in text:
        start, step = (float(v) for v in text.split(":"))
        return start + step * np.arange(n)
    return np.array([float(v) for v in text.split(",")])


def _series(args: argparse.Namespace) -> int:
    from cathodescope.io import read_series
    from cathodescope.xrd import (
        convert_wavelength,
        detect_thermal_transitions,
        layered_oxide_lattice,
        layered_peak_windows,
        pattern_wavelength,
        plot_heating_contour,
        track_peaks,
    )

    with open_run(args, "xrd series") as run:
        temps = _temperatures(args.temperatures, len(args.patterns))
        series = read_series(
            args.patterns, wavelength=args.wavelength, temperature=temps, regrid=args.regrid
        )
        for path in args.patterns:
            run.add_input(path)
        if args.convert_to is not None:
            series = convert_wavelength(series, args.convert_to)
        wl = pattern_wavelength(series, None)
        windows = layered_peak_windows(args.a, args.c, wl, half_width=args.half_width)
        with run.timer("track"):
            peaks = track_peaks(
                series,
                windows,
                doublet=args.doublet,
                ka2_ratio=args.ka2_ratio,
                block=args.block,
                progress=True,
            )
        run.write_table("peaks", peaks.table)
        with run.timer("lattice"):
            lattice = layered_oxide_lattice(peaks, wavelength=wl)
        run.write_table("lattice", lattice.table)
        if temps is not None:
            with run.timer("transitions"):
                tr = detect_thermal_transitions(series)
            run.write_table("transition_signatures", tr.signatures)
            run.write_table("transition_onsets", tr.onsets)
            run.write_figure("heating_contour", plot_heating_contour(series, tr))
            run.results["onsets_C"] = dict(
                zip(tr.onsets.event, tr.onsets.temperature_C, strict=True)
            )
    print(f"{series.sizes['frame']} frames tracked -> {args.out}")
    return 0
