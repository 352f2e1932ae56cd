"""``cathodescope tomo``: reconstruct raw TXM projections; run the multi-energy pipeline."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments, parse_spacing


def _centre(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--centre must be 'auto' or a column in pixels, got {text!r}"
        ) from exc


def _optional_float(text: str) -> float | None:
    if text.lower() in ("off", "none", "0"):
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', got {text!r}") from exc


def _rows(text: str) -> slice:
    try:
        a, b = (int(v) for v in text.split(":"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--rows must be START:STOP (detector rows), got {text!r}"
        ) from exc
    if not 0 <= a < b:
        raise argparse.ArgumentTypeError(f"--rows needs 0 <= START < STOP, got {text!r}")
    return slice(a, b)


def _energy_override(text: str) -> tuple[str, float]:
    name, sep, value = text.rpartition("=")
    try:
        energy = float(value)
    except ValueError:
        energy = float("nan")
    if not sep or not name or not energy > 0:
        raise argparse.ArgumentTypeError(
            f"--energy must be FILE=EV (a [[scan]] file of the config and its photon energy in "
            f"eV), got {text!r}"
        )
    return name, energy


def _spacing3(text: str) -> tuple[float, ...]:
    values = parse_spacing(text)
    if len(values) not in (1, 3):
        raise argparse.ArgumentTypeError(
            f"--spacing takes one value or three (z,y,x) in um, got {text!r}"
        )
    return values


def _positive_energy(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"--energy must be a photon energy in eV > 0, got {text!r}"
        )
    return value


def _memory_limit(text: str) -> int:
    from cathodescope.errors import ParameterError
    from cathodescope.tomo import parse_memory_limit

    try:
        return parse_memory_limit(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def register(subparsers: Any) -> None:
    """Add ``tomo reconstruct`` and ``tomo pipeline``."""
    parser = subparsers.add_parser(
        "tomo",
        help="TXM tomography: raw projections -> volumes -> elemental depth profiles",
        description="Transmission X-ray microscopy tomography.",
    )
    sub = parser.add_subparsers(dest="tomo_command", metavar="SUBCOMMAND")
    _add_reconstruct(sub)
    _add_pipeline(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _add_reconstruct(sub: Any) -> None:
    rec = sub.add_parser(
        "reconstruct",
        help="reconstruct one raw projection file (Data Exchange, FXI, Xradia, TIFF)",
        description="Flat/dark-normalize, -log, find the centre and reconstruct slice by slice; "
        "the volume is written chunk by chunk (Zarr or HDF5).",
    )
    rec.add_argument(
        "input", help="projection file (.h5 Data Exchange/FXI, .txrm/.xrm, TIFF folder)"
    )
    add_out_arguments(rec)
    rec.add_argument("--reference", help="Xradia reference (flat) .xrm for the input")
    rec.add_argument("--angles", help="angles file in degrees (TIFF input)")
    rec.add_argument("--flats", help="flat-field TIFF(s) (TIFF input)")
    rec.add_argument("--darks", help="dark TIFF(s) (TIFF input)")
    rec.add_argument(
        "--spacing",
        type=_spacing3,
        help="voxel size in um, one value or z,y,x with y = x (overrides the file's pixel size)",
    )
    rec.add_argument(
        "--energy", type=_positive_energy, help="photon energy in eV (overrides the file)"
    )
    rec.add_argument(
        "--centre", type=_centre, default="auto", help="rotation-axis column in px or 'auto'"
    )
    rec.add_argument(
        "--centre-method",
        default="auto",
        choices=("auto", "mirror", "sinusoid", "sharpness"),
        help="how --centre auto is found: mirrored 0/180 degree projections, sinogram "
        "sinusoid fit, or reconstruction sharpness (auto: mirror when 0/180 degree pairs "
        "exist, else sharpness)",
    )
    rec.add_argument(
        "--algorithm",
        default="fbp",
        choices=("fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"),
        help="fbp/sirt are ours (numba); gridrec is our Fourier-grid reconstructor (fastest at "
        "large sizes); astra_* use astra-toolbox on the CPU (default: fbp)",
    )
    rec.add_argument(
        "--filter",
        default="ramp",
        choices=("ramp", "shepp-logan", "cosine", "hamming", "hann"),
        help="filtered back-projection filter (fbp algorithms only)",
    )
    rec.add_argument("--iterations", type=int, default=100, help="SIRT iterations")
    rec.add_argument("--rows", type=_rows, help="detector rows START:STOP to reconstruct")
    rec.add_argument("--slab", type=int, default=32, help="detector rows per chunk (memory)")
    rec.add_argument(
        "--zinger-threshold",
        type=_optional_float,
        default=0.3,
        help="zinger removal: relative excess over the local median, or 'off'",
    )
    rec.add_argument(
        "--ring-width", type=int, default=0, help="ring suppression width in px (0 = off)"
    )
    rec.add_argument(
        "--min-transmission", type=float, help="clip transmission instead of failing on <= 0"
    )
    rec.add_argument(
        "--volume-format",
        default="zarr",
        choices=("zarr", "h5"),
        help="storage of the reconstructed volume in the run folder",
    )
    rec.add_argument(
        "--keep-projections",
        action="store_true",
        help="keep the normalized -log projections (HDF5) in the run folder",
    )
    _add_device(rec)
    rec.add_argument("--no-progress", action="store_true", help="hide progress bars")
    rec.set_defaults(func=_reconstruct)


def _add_device(parser: Any) -> None:
    parser.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="where fbp/gridrec reconstruct: cuda needs CuPy and a GPU (an error otherwise, "
        "never a fallback to the CPU; default: cpu)",
    )


def _add_pipeline(sub: Any) -> None:
    pipe = sub.add_parser(
        "pipeline",
        help="raw files per energy -> elemental volumes -> depth profiles (TOML config)",
        description="Run the whole chain from a TOML config (see "
        "cathodescope.workflows.tomo.run_pipeline).",
    )
    pipe.add_argument("config", help="pipeline TOML file")
    pipe.add_argument("--out", help="run folder (default: [output] dir of the config)")
    pipe.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    pipe.add_argument(
        "--volumes", default="zarr", choices=("zarr", "h5", "none"), help="store volumes"
    )
    pipe.add_argument(
        "--spacing",
        type=_spacing3,
        help="voxel size in um, one value or z,y,x with y = x (overrides the files and "
        "[processing] spacing)",
    )
    pipe.add_argument(
        "--energy",
        type=_energy_override,
        action="append",
        metavar="FILE=EV",
        help="photon energy in eV of a [[scan]] file that does not record it (repeatable)",
    )
    pipe.add_argument(
        "--memory-limit",
        type=_memory_limit,
        metavar="SIZE",
        help="stream every energy slab by slab through the run folder under this peak memory "
        "(e.g. 6GiB, 512MiB); an impossible limit is refused with the minimum; the depth "
        "profiles then run out of core on the stored volumes under the same limit",
    )
    _add_device(pipe)
    pipe.add_argument("--no-progress", action="store_true", help="hide progress bars")
    pipe.set_defaults(func=_pipeline)


def _reconstruct(args: argparse.Namespace) -> int:
    from cathodescope.workflows.tomo import run_reconstruction

    params = {k: v for k, v in vars(args).items() if k != "func"}
    rec = run_reconstruction(
        args.input,
        args.out,
        reference=args.reference,
        angles=args.angles,
        flats=args.flats,
        darks=args.darks,
        spacing=args.spacing,
        energy_ev=args.energy,
        centre=args.centre,
        centre_method=args.centre_method,
        algorithm=args.algorithm,
        filter_name=args.filter,
        iterations=args.iterations,
        rows=args.rows,
        slab=args.slab,
        zinger_threshold=args.zinger_threshold,
        ring_width=args.ring_width or None,
        min_transmission=args.min_transmission,
        volume_format=args.volume_format,
        keep_projections=args.keep_projections,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        parameters=params,
        device=args.device,
    )
    print(
        f"volume {tuple(rec.volume.shape)} ({rec.volume.attrs['units']}) written to {rec.path}; "
        f"centre {rec.centre_px:.2f} px ({rec.centre_method})"
    )
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from cathodescope.workflows.tomo import run_pipeline

    result, analysis = run_pipeline(
        args.config,
        args.out,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        save_volumes=args.volumes,
        spacing=args.spacing,
        energies=dict(args.energy or []),
        memory_limit=args.memory_limit,
        device=args.device,
    )
    # a SceneAnalysis in memory, a LargeSceneAnalysis (out of core) with --memory-limit
    n_particles = getattr(analysis, "n_particles", None)
    if n_particles is None:
        n_particles = analysis.segmentation.n_particles
    print(
        f"{n_particles} particle(s); centre {result.centre.centre:.2f} px; "
        f"elements {', '.join(result.channels)}; run folder written."
    )
    return 0
