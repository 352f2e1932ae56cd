"""``cathodescope xrd peaks|lattice|series``: peak fits, lattice parameters, heating series."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments


def _window(text: str) -> Any:
    """Parse ``LO:HI:C1[,C2...][:NAME1[,NAME2...]]`` (deg)."""
    from cathodescope.errors import ParameterError
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
    except ParameterError as exc:  # -> argparse message
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
    p.add_argument(
        "pattern",
        help="pattern file (xy/xye/dat, pyFAI, Fit2D .chi, UXD, Bruker or Stoe RAW, GSAS), "
        "format recognised from its content",
    )
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


def _peaks(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrd import xrd_peaks_run

    result = xrd_peaks_run(
        args.pattern,
        args.window,
        out=args.out,
        wavelength=args.wavelength,
        convert_to=args.convert_to,
        doublet=args.doublet,
        ka2_ratio=args.ka2_ratio,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    print(f"{len(result.table)} peaks fitted -> {args.out}")
    return 0


def _lattice(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrd import xrd_lattice_run

    run = xrd_lattice_run(
        args.pattern,
        out=args.out,
        a=args.a,
        c=args.c,
        half_width=args.half_width,
        correction=args.correction,
        instrumental_fwhm=args.instrumental_fwhm,
        wavelength=args.wavelength,
        convert_to=args.convert_to,
        doublet=args.doublet,
        ka2_ratio=args.ka2_ratio,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    row = run.lattice.table.iloc[0]
    print(
        f"a = {row.a_A:.5f} +/- {row.a_err_A:.5f} A, c = {row.c_A:.5f} +/- {row.c_err_A:.5f} A "
        f"-> {args.out}"
    )
    return 0


def _series(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrd import xrd_series_run

    run = xrd_series_run(
        args.patterns,
        out=args.out,
        temperatures=args.temperatures,
        a=args.a,
        c=args.c,
        half_width=args.half_width,
        block=args.block,
        regrid=args.regrid,
        wavelength=args.wavelength,
        convert_to=args.convert_to,
        doublet=args.doublet,
        ka2_ratio=args.ka2_ratio,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    print(f"{run.series.sizes['frame']} frames tracked -> {args.out}")
    return 0
