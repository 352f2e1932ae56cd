"""``cathodescope xrf``: XRF element maps -> ratio images, overlays, profiles, core/shell fits."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments, parse_list, parse_spacing

_EPILOG = """\
examples:
  cathodescope xrf phantom --out cg.h5
  cathodescope xrf ratio cg.h5 --num Mn --den Ni --out run_ratio
  cathodescope xrf overlay cg.h5 --channels Ni,Co,Mn --out run_rgb
  cathodescope xrf profile cg.h5 --start 4,4 --end 4,7 --width 0.5 --out run_prof
  cathodescope xrf coreshell cg.h5 --start 4,4 --end 4,7 --width 0.5 --shell-at end \\
      --compare-ratio Mn/Ni --out run_cs
  cathodescope xrf ratio scan2D_2000.h5 --num Mn --den Ni --scaler i0 --position-units um \\
      --out run_real
"""


def _point(text: str) -> tuple[float, float]:
    try:
        y, x = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected 'y,x' in um, got {text!r}") from exc
    return (y, x)


def _threshold(text: str) -> str | float | None:
    if text in ("otsu", "none"):
        return None if text == "none" else "otsu"
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected 'otsu', 'none' or a number, got {text!r}"
        ) from exc


def _add_read_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="PyXRF or MAPS .h5 file, or a TIFF (stack) export")
    g = p.add_argument_group("reading")
    g.add_argument(
        "--format",
        default="auto",
        choices=("auto", "pyxrf", "maps", "tiff"),
        help="file family (default: auto, detected from the content)",
    )
    g.add_argument("--scaler", default=None, help="normalize by this scaler, e.g. i0 or US_IC")
    g.add_argument(
        "--position-units",
        default=None,
        choices=("nm", "um", "mm", "m"),
        help="units of the stored stage positions when the file does not declare them",
    )
    g.add_argument(
        "--spacing",
        type=parse_spacing,
        default=None,
        help="pixel size in um (dy,dx or one value); overrides the stored positions",
    )
    g.add_argument("--detector", default="detsum", help="PyXRF detector group (default detsum)")
    g.add_argument(
        "--analysis",
        default="Fitted",
        choices=("Fitted", "NNLS", "ROI"),
        help="MAPS analysis to read",
    )
    g.add_argument(
        "--tiff-channels",
        type=parse_list,
        default=None,
        help="page names of a multi-page TIFF, e.g. Ni,Mn,Co",
    )
    g.add_argument("--tiff-units", default="counts", help="what TIFF pixel values are")


def _reading(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "format": args.format,
        "scaler": args.scaler,
        "position_units": args.position_units,
        "spacing": args.spacing,
        "detector": args.detector,
        "analysis": args.analysis,
        "tiff_channels": args.tiff_channels,
        "tiff_units": args.tiff_units,
    }


def _line(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "start": args.start,
        "end": args.end,
        "elements": args.elements,
        "width_um": args.width,
        "min_signal": args.min_signal,
        "compare_ratio": args.compare_ratio,
    }


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "out": args.out,
        "reading": _reading(args),
        "overwrite": args.overwrite,
        "parameters": vars(args),
    }


# -- handlers -------------------------------------------------------------------------------


def _cmd_ratio(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrf import xrf_ratio

    summary = xrf_ratio(
        args.file, num=args.num, den=args.den, min_signal=args.min_signal, **_common(args)
    )
    print(
        f"{summary['ratio'][0]}: median {summary['median'][0]:.4g} over "
        f"{summary['n_pixels'][0]} pixels -> {args.out}"
    )
    return 0


def _cmd_overlay(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrf import xrf_overlay

    xrf_overlay(args.file, channels=args.channels, percentiles=args.percentiles, **_common(args))
    print(f"overlay of {','.join(args.channels)} -> {args.out}")
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrf import xrf_profile

    transect = xrf_profile(args.file, line=_line(args), **_common(args))
    print(f"profile with {len(transect.table)} samples -> {args.out}")
    return 0


def _cmd_coreshell(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrf import xrf_coreshell

    result = xrf_coreshell(
        args.file,
        line=_line(args),
        model=args.model,
        geometry=args.geometry,
        shell_at=args.shell_at,
        **_common(args),
    )
    print(result.table.to_string(index=False))
    return 0


def _cmd_particles(args: argparse.Namespace) -> int:
    from cathodescope.cli.profile import engine_options
    from cathodescope.workflows.xrf import xrf_particles

    options = {
        **engine_options(args),
        "dilate_um": args.dilate_um,
        "progress": not args.no_progress,
    }
    result = xrf_particles(
        args.file,
        elements=args.elements,
        fit=not args.no_fit,
        model=args.model,
        figures=not args.no_figures,
        engine_options=options,
        **_common(args),
    )
    print(f"{result.scene.segmentation.n_particles} particles -> {args.out}")
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xrf import xrf_phantom

    path, truth = xrf_phantom(
        args.out,
        size=args.size,
        spacing=args.spacing,
        interface_depth_um=args.interface_depth_um,
        sigma_um=args.sigma_um,
        particles=args.particles,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    if len(truth["particles"]) > 1:
        print(
            f"wrote {path}: {len(truth['particles'])} core/shell particles (NMC442 "
            f"shell, NMC701515 core), interface {truth['interface_depth_um']:g} um below "
            f"the surface, 10-90 % gradient width {truth['width_10_90_um']:.3g} um"
        )
        return 0
    cy, cx, r = truth["particles"][0]
    print(
        f"wrote {path}: one core/shell particle (NMC442 shell, NMC701515 core) centred "
        f"at y,x = {cy:g},{cx:g} um, radius {r:g} um, interface {truth['interface_depth_um']:g}"
        f" um below the surface, 10-90 % gradient width {truth['width_10_90_um']:.3g} um"
    )
    return 0


# -- parser ---------------------------------------------------------------------------------


def _add_profile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=_point, required=True, help="start point y,x in um")
    p.add_argument("--end", type=_point, required=True, help="end point y,x in um")
    p.add_argument(
        "--width", type=float, default=0.0, help="width in um averaged across the line (default 0)"
    )
    p.add_argument(
        "--elements",
        type=parse_list,
        default=["Ni", "Mn", "Co"],
        help="elements of the fraction E/(sum), default Ni,Mn,Co",
    )
    p.add_argument(
        "--min-signal",
        type=_threshold,
        default="otsu",
        help="mask pixels with a summed signal below this: otsu (default), none, or "
        "a value in the map's units",
    )
    p.add_argument(
        "--compare-ratio", default=None, help="also profile a two-element ratio such as Mn/Ni"
    )


def register(subparsers: Any) -> None:
    """Add ``cathodescope xrf`` and its sub-commands."""
    parser = subparsers.add_parser(
        "xrf",
        help="XRF element maps: ratios, overlays, line profiles, core/shell fits",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="xrf_command", metavar="SUBCOMMAND")

    _add_ratio(sub)
    _add_overlay(sub)
    _add_profile(sub)
    _add_coreshell(sub)
    _add_particles(sub)
    _add_phantom(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _add_ratio(sub: Any) -> None:
    p = sub.add_parser("ratio", help="ratio image (e.g. Mn/Ni) with low-signal masking")
    _add_read_arguments(p)
    p.add_argument("--num", required=True, help="numerator element, e.g. Mn")
    p.add_argument("--den", required=True, help="denominator element, e.g. Ni")
    p.add_argument(
        "--min-signal",
        type=_threshold,
        default="otsu",
        help="mask pixels whose denominator is below this: otsu, none or a value",
    )
    add_out_arguments(p)
    p.set_defaults(func=_cmd_ratio)


def _add_overlay(sub: Any) -> None:
    p = sub.add_parser("overlay", help="three-element RGB overlay")
    _add_read_arguments(p)
    p.add_argument(
        "--channels",
        type=parse_list,
        default=["Ni", "Co", "Mn"],
        help="red,green,blue elements (default Ni,Co,Mn)",
    )
    p.add_argument(
        "--percentiles",
        type=lambda t: [float(v) for v in t.split(",")],
        default=[1.0, 99.5],
        help="per-channel low,high percentiles (default 1,99.5)",
    )
    add_out_arguments(p)
    p.set_defaults(func=_cmd_overlay)


def _add_profile(sub: Any) -> None:
    p = sub.add_parser("profile", help="line profile of signals and fractions with a width")
    _add_read_arguments(p)
    _add_profile_arguments(p)
    add_out_arguments(p)
    p.set_defaults(func=_cmd_profile)


def _add_coreshell(sub: Any) -> None:
    p = sub.add_parser("coreshell", help="core/shell fit of a fraction line profile")
    _add_read_arguments(p)
    _add_profile_arguments(p)
    p.add_argument(
        "--model",
        default="erf",
        choices=("erf", "logistic"),
        help="shape of the core/shell step (default: erf)",
    )
    p.add_argument(
        "--geometry",
        default="edge",
        choices=("edge", "cross"),
        help="edge: one interface; cross: line across a whole particle",
    )
    p.add_argument(
        "--shell-at",
        default="start",
        choices=("start", "end"),
        help="for edge: the shell is at the start (surface inwards) or the end",
    )
    add_out_arguments(p)
    p.set_defaults(func=_cmd_coreshell)


def _add_particles(sub: Any) -> None:
    p = sub.add_parser(
        "particles",
        help="segment particles, depth profiles (engine) and per-particle core/shell fits",
    )
    _add_read_arguments(p)
    p.add_argument(
        "--elements",
        type=parse_list,
        default=["Ni", "Mn", "Co"],
        help="elements of the fractions E/(sum), default Ni,Mn,Co",
    )
    p.add_argument(
        "--model",
        default="erf",
        choices=("erf", "logistic"),
        help="shape of the core/shell step (default: erf)",
    )
    p.add_argument("--no-fit", action="store_true", help="skip the core/shell fits")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--no-figures",
        action="store_true",
        help="skip the per-particle figures of the scene report (tables only)",
    )
    from cathodescope.cli.profile import add_engine_arguments

    add_engine_arguments(p)
    add_out_arguments(p)
    p.set_defaults(func=_cmd_particles)


def _add_phantom(sub: Any) -> None:
    p = sub.add_parser("phantom", help="write a synthetic core/shell map as a PyXRF file")
    p.add_argument("--out", required=True, help="the .h5 file to write")
    p.add_argument("--size", type=int, default=160, help="map size in pixels (default 160)")
    p.add_argument(
        "--spacing",
        type=parse_spacing,
        default=(0.05,),
        help="pixel size in um (dy,dx or one value; default 0.05)",
    )
    p.add_argument(
        "--interface-depth-um",
        type=float,
        default=1.5,
        help="depth of the core/shell interface below the surface in um (default 1.5)",
    )
    p.add_argument(
        "--sigma-um",
        type=float,
        default=1.0 / 6.0,
        help="width (sigma) of the interface in um (default 0.167)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument(
        "--particles",
        type=int,
        default=1,
        help="number of particles (default 1, centred; more are placed at random)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(func=_cmd_phantom)
