"""``cathodescope profile``: depth profiles of particles from one file per elemental channel."""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments, parse_list, parse_spacing

_EPILOG = """\
examples:
  cathodescope profile ni.tif mn.tif co.tif --channels Ni,Mn,Co --spacing 0.049 --out run1
  cathodescope profile scan.h5:/ni scan.h5:/mn scan.h5:/co --channels Ni,Mn,Co \\
      --spacing 0.0735,0.049,0.049 --dilate-um 0.1 --out run2
  cathodescope profile ni.zarr mn.zarr co.zarr --channels Ni,Mn,Co --spacing 0.049 \\
      --memory-limit 4GiB --workers 2 --out run3      # out of core; rerun with --resume
"""


def _parse_window(text: str) -> str | tuple[float, float]:
    if text == "auto":
        return "auto"
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or two depths in um like 0.25,2.0, got {text!r}"
        ) from exc
    return (lo, hi)


def _parse_threshold(text: str) -> str | float:
    if text == "otsu":
        return "otsu"
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"threshold must be 'otsu' or a number, got {text!r}"
        ) from exc


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of segmentation and depth profiling, shared by ``profile`` and ``demo``."""
    seg = parser.add_argument_group("segmentation")
    seg.add_argument(
        "--threshold",
        type=_parse_threshold,
        default="otsu",
        help="'otsu' (default) or an intensity value",
    )
    seg.add_argument(
        "--opening-radius-um",
        type=float,
        default=0.0,
        help="morphological opening radius in um (0 = off)",
    )
    seg.add_argument(
        "--closing-radius-um",
        type=float,
        default=0.0,
        help="morphological closing radius in um (0 = off)",
    )
    seg.add_argument(
        "--marker-spacing-um",
        type=float,
        default=1.0,
        help="minimum distance between watershed markers in um",
    )
    seg.add_argument("--no-split", action="store_true", help="do not separate touching particles")
    seg.add_argument(
        "--remove-edge", action="store_true", help="drop particles cut by the field of view"
    )
    seg.add_argument(
        "--min-size-um",
        type=float,
        default=0.5,
        help="drop particles below this volume (um^3, 3D) or area (um^2, 2D); the default 0.5 "
        "removes noise specks but keeps every secondary particle (0 = keep all)",
    )
    seg.add_argument(
        "--dilate-um",
        type=float,
        default=0.0,
        help="grow masks by this distance in um to cover misregistered channels",
    )
    prof = parser.add_argument_group("depth profiles")
    prof.add_argument(
        "--surface",
        choices=("hull", "mask"),
        default="hull",
        help="distance from the convex-hull (default) or the mask surface",
    )
    prof.add_argument("--bin-width-um", type=float, default=0.05, help="depth bin width in um")
    prof.add_argument(
        "--ci-level",
        type=float,
        default=0.99,
        help="confidence level of the depth-bin intervals, between 0 and 1",
    )
    prof.add_argument(
        "--ci-method",
        choices=("ess", "block_bootstrap", "naive"),
        default="ess",
        help="interval method (ess: effective sample size from the spatial "
        "autocorrelation; naive under-covers on correlated data)",
    )
    prof.add_argument(
        "--reliable-window",
        type=_parse_window,
        default="auto",
        help="'auto' or depths in um 'lo,hi' (the paper uses 0.25,2.0)",
    )


def engine_options(args: argparse.Namespace) -> dict:
    """Collect the engine keyword arguments from parsed CLI options."""
    return {
        "threshold": args.threshold,
        "opening_radius_um": args.opening_radius_um,
        "closing_radius_um": args.closing_radius_um,
        "marker_spacing_um": args.marker_spacing_um,
        "split_touching": not args.no_split,
        "remove_edge_particles": args.remove_edge,
        "min_size_um": args.min_size_um,
        "surface": args.surface,
        "bin_width_um": args.bin_width_um,
        "ci_level": args.ci_level,
        "ci_method": args.ci_method,
        "reliable_window": args.reliable_window,
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="depth profiles of particles from elemental images/volumes",
        description="Segment particles, measure them and compute composition vs depth from "
        "the particle surface, with confidence intervals, elemental ratios and Table-1 metrics.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="one file per channel: .tif, .npy, file.h5:/dataset or .zarr",
    )
    parser.add_argument(
        "--channels",
        type=parse_list,
        required=True,
        help="channel names in file order, e.g. Ni,Mn,Co",
    )
    parser.add_argument(
        "--spacing",
        type=parse_spacing,
        required=True,
        help="voxel size in um: one value or z,y,x (e.g. 0.0735,0.049,0.049)",
    )
    parser.add_argument(
        "--segment-on",
        default=None,
        help="channel name or a separate image file to segment (default: sum of channels)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_engine_arguments(parser)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="compute device of each particle's EDT, depths and bin moments (and of the "
        "out-of-core threshold pass); cuda needs CuPy and a GPU: an error otherwise, never a "
        "fallback",
    )
    scale = parser.add_argument_group(
        "out of core (any of these reads the channels lazily and runs on a dask cluster)"
    )
    scale.add_argument(
        "--memory-limit",
        default=None,
        help="memory of the whole process tree, e.g. 1.5GiB or 800MB (sets worker limits and "
        "chunk sizes)",
    )
    scale.add_argument(
        "--workers", type=int, default=None, help="local dask worker processes (default: cores)"
    )
    scale.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="attach to a running dask scheduler, e.g. tcp://10.0.0.5:8786",
    )
    scale.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted out-of-core run into the same --out (skips finished "
        "particles kept in OUT.resume/)",
    )
    add_out_arguments(parser)
    parser.set_defaults(func=run)


def _out_of_core(args: argparse.Namespace) -> bool:
    return (
        args.memory_limit is not None
        or args.workers is not None
        or args.scheduler is not None
        or args.resume
    )


def run(args: argparse.Namespace) -> int:
    """Run :func:`cathodescope.workflows.profile.run_profile`, or the out-of-core
    :func:`cathodescope.workflows.profile_large.run_profile_large` when any of
    ``--memory-limit/--workers/--scheduler/--resume`` is given. ``--device`` applies to both."""
    params = {k: v for k, v in vars(args).items() if k != "func"}
    if _out_of_core(args):
        from cathodescope.errors import ParameterError
        from cathodescope.workflows.profile_large import run_profile_large

        if args.dilate_um:
            raise ParameterError(
                "--dilate-um is not supported out of core yet; drop it or run in memory "
                "(without --memory-limit/--workers/--scheduler/--resume)."
            )
        engine = engine_options(args)
        large, run_folder = run_profile_large(
            args.files,
            args.channels,
            args.out,
            spacing=args.spacing,
            segment_on=args.segment_on,
            memory_limit=args.memory_limit,
            workers=args.workers,
            scheduler=args.scheduler,
            device=args.device or "cpu",
            resume=args.resume,
            engine=engine,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            parameters=params,
        )
        print(f"{large.n_particles} particles; tables in {run_folder.path}")
        return 0
    from cathodescope.workflows.profile import run_profile

    analysis, run_folder = run_profile(
        args.files,
        args.channels,
        args.out,
        spacing=args.spacing,
        segment_on=args.segment_on,
        dilate_um=args.dilate_um,
        engine={**engine_options(args), "device": args.device or "cpu"},
        overwrite=args.overwrite,
        progress=not args.no_progress,
        parameters=params,
    )
    print(f"{analysis.segmentation.n_particles} particles; tables and figures in {run_folder.path}")
    return 0
