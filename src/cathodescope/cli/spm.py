"""``cathodescope spm``: scanning-probe maps (Asylum .ibw, Bruker NanoScope, Gwyddion .gwy).

Sub-commands: ``info``, ``level``, ``dart``, ``particles``, ``soc-series``. Each writes a run
folder (tables as CSV + Parquet, PNG figures, manifest.json).
"""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments

_EPILOG = """\
examples:
  cathodescope spm info scan_0001.ibw --out runs/info
  cathodescope spm level scan.002 --channel Height --method masked --scars --out runs/level
  cathodescope spm dart scan_0001.ibw --out runs/dart
  cathodescope spm particles scan_0001.ibw --segment-on Height --out runs/particles
  cathodescope spm soc-series series.csv --particles --out runs/soc
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spm`` and its sub-commands to the top-level parser."""
    parser = subparsers.add_parser(
        "spm",
        help="scanning-probe maps: levelling, DART/ESM, C-AFM, particles, SOC series",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="spm_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=_no_subcommand(parser))

    _add_info(sub)
    _add_level(sub)
    _add_dart(sub)
    _add_particles(sub)
    _add_soc_series(sub)


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="channels, units, scan size and instrument metadata (images, Igor force curves "
        "and spectroscopy cubes)",
    )
    p.add_argument("files", nargs="+", help="SPM files (.ibw, .gwy, NanoScope)")
    add_out_arguments(p)
    p.set_defaults(func=_info)


def _add_level(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("level", help="level a topography channel")
    p.add_argument("file", help="SPM scan (.ibw, .gwy or NanoScope)")
    p.add_argument("--channel", default="Height", help="channel to level (default Height)")
    p.add_argument(
        "--method",
        choices=("plane", "polynomial", "rows", "masked"),
        default="masked",
        help="plane fit, polynomial, median row alignment, or masked iterative "
        "levelling that excludes particles (default)",
    )
    p.add_argument("--order", type=int, default=1, help="polynomial order (default 1)")
    p.add_argument(
        "--threshold",
        type=float,
        default=2.5,
        help="masked: particle threshold in robust standard deviations",
    )
    p.add_argument("--align-rows", action="store_true", help="also align rows (median)")
    p.add_argument("--scars", action="store_true", help="remove scan-line scars afterwards")
    add_out_arguments(p)
    p.set_defaults(func=_level)


def _add_dart(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dart", help="per-pixel resonance, Q, drive amplitude, ESM amplitude")
    p.add_argument("file", help="SPM scan (.ibw, .gwy or NanoScope)")
    p.add_argument(
        "--width",
        type=float,
        default=None,
        help="DART frequency separation f2 - f1 in Hz (default: from the file)",
    )
    p.add_argument(
        "--drive-voltage",
        type=float,
        default=None,
        help="AC drive amplitude in V (default: from the file)",
    )
    p.add_argument(
        "--phase-convention",
        choices=("lag", "lead"),
        default="lag",
        help="sign of the DART phases: lag (Asylum's) or lead (default: lag)",
    )
    p.add_argument(
        "--q",
        type=float,
        default=None,
        help="single-frequency data: contact-resonance Q for A/(Q V)",
    )
    p.add_argument(
        "--amplitude-channel",
        default="Amplitude",
        help="single-frequency data: amplitude channel (default Amplitude)",
    )
    add_out_arguments(p)
    p.set_defaults(func=_dart)


def _add_particles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "particles",
        help="segment particles (topography or ESM), per-particle statistics, boundary vs "
        "core profiles, cross-talk, C-AFM over particles",
    )
    p.add_argument("file", help="SPM scan (.ibw, .gwy or NanoScope)")
    p.add_argument(
        "--segment-on",
        default="height",
        help="map to segment: height (default), esm_amplitude, or a channel name",
    )
    p.add_argument("--q", type=float, default=None, help="single-frequency data: Q")
    p.add_argument("--drive-voltage", type=float, default=None, help="AC drive in V")
    p.add_argument(
        "--boundary-um",
        type=float,
        default=0.2,
        help="rim band (um from the particle surface) for boundary vs core",
    )
    p.add_argument("--bins", type=int, default=50, help="histogram bins per channel")
    p.add_argument(
        "--k-sigma",
        type=float,
        default=3.0,
        help="C-AFM noise floor in robust standard deviations of the background",
    )
    _add_engine_arguments(p)
    # SPM defaults: particles down to 3 x 3 pixels and one-pixel depth bins (the library
    # chooses both from the scan's pixel size when these are left unset)
    _set_option(
        p,
        "min_size_um",
        None,
        "drop particles smaller than this area in um^2 (default: 3 x 3 pixels of the scan)",
    )
    _set_option(p, "bin_width_um", None, "depth bin width in um (default: one pixel)")
    add_out_arguments(p)
    p.set_defaults(func=_particles)


def _add_soc_series(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("soc-series", help="ESM amplitude, current, resonance vs state of charge")
    p.add_argument("table", help="CSV or TOML: file, soc_percent, direction[, q, drive_voltage]")
    p.add_argument(
        "--particles",
        action="store_true",
        help="statistics over particle pixels only (segmented on the topography)",
    )
    p.add_argument("--segment-on", default="height", help="map to segment with --particles")
    p.add_argument(
        "--threshold", type=_threshold, default="otsu", help="'otsu' or a value (display units)"
    )
    p.add_argument(
        "--min-size-um",
        type=float,
        default=None,
        help="min particle area in um^2 (default: 3 x 3 pixels of each scan)",
    )
    add_out_arguments(p)
    p.set_defaults(func=_soc_series)


def _no_subcommand(parser: argparse.ArgumentParser):
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


def _threshold(text: str) -> str | float:
    if text == "otsu":
        return text
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected 'otsu' or a number, got {text!r}") from exc


def _set_option(parser: argparse.ArgumentParser, dest: str, default, help_text: str) -> None:
    """Give an engine option its SPM default and a help text that says what it is."""
    for action in parser._actions:
        if action.dest == dest:
            action.default = default
            action.help = help_text
    parser.set_defaults(**{dest: default})


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        from cathodescope.cli.profile import add_engine_arguments
    except ImportError:  # pragma: no cover - engine CLI not available
        return
    add_engine_arguments(parser)


def _engine_options(args: argparse.Namespace) -> dict:
    try:
        from cathodescope.cli.profile import engine_options
    except ImportError:  # pragma: no cover
        return {}
    return {k: v for k, v in engine_options(args).items() if v is not None}


def _info(args: argparse.Namespace) -> int:
    from cathodescope.workflows.spm import spm_info

    infos = spm_info(args.files, out=args.out, overwrite=args.overwrite, parameters=vars(args))
    for info in infos:
        print(f"{info.path}: {info.line}")
    print(f"run folder: {args.out}")
    return 0


def _level(args: argparse.Namespace) -> int:
    from cathodescope.workflows.spm import spm_level

    res = spm_level(
        args.file,
        out=args.out,
        channel=args.channel,
        method=args.method,
        order=args.order,
        threshold=args.threshold,
        align=args.align_rows,
        scars=args.scars,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    stats = res.summary
    print(
        f"levelled {args.channel} of {args.file}: rms {stats['rms'][0]:.3g} "
        f"{stats['units'][0]}; run folder {args.out}"
    )
    return 0


def _dart(args: argparse.Namespace) -> int:
    from cathodescope.workflows.spm import spm_dart

    table = spm_dart(
        args.file,
        out=args.out,
        width=args.width,
        drive_voltage=args.drive_voltage,
        phase_convention=args.phase_convention,
        q=args.q,
        amplitude_channel=args.amplitude_channel,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    print(table.to_string(index=False))
    print(f"run folder: {args.out}")
    return 0


def _particles(args: argparse.Namespace) -> int:
    from cathodescope.workflows.spm import spm_particles

    analysis = spm_particles(
        args.file,
        out=args.out,
        segment_on=args.segment_on,
        q=args.q,
        drive_voltage=args.drive_voltage,
        boundary_um=args.boundary_um,
        bins=args.bins,
        k_sigma=args.k_sigma,
        engine_options=_engine_options(args),
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    n = analysis.scene.segmentation.n_particles
    print(f"{args.file}: {n} particles; maps {list(analysis.maps)}")
    print(analysis.boundary_core.to_string(index=False, max_rows=20))
    print(f"run folder: {args.out}")
    return 0


def _soc_series(args: argparse.Namespace) -> int:
    from cathodescope.workflows.spm import spm_soc_series

    series = spm_soc_series(
        args.table,
        out=args.out,
        particles=args.particles,
        segment_on=args.segment_on,
        threshold=args.threshold,
        min_size_um=args.min_size_um,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    cols = ["soc_percent", "direction", "n_files"] + [
        c for c in series.summary.columns if c.endswith(("_mean", "_std"))
    ]
    print(series.summary[cols].to_string(index=False))
    print(f"run folder: {args.out}")
    return 0
