"""``cathodescope tomo``: reconstruct raw TXM projections; run the multi-energy pipeline."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments, open_run


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


def register(subparsers: Any) -> None:
    """Add ``tomo reconstruct`` and ``tomo pipeline``."""
    parser = subparsers.add_parser(
        "tomo",
        help="TXM tomography: raw projections -> volumes -> elemental depth profiles",
        description="Transmission X-ray microscopy tomography.",
    )
    sub = parser.add_subparsers(dest="tomo_command", metavar="SUBCOMMAND")

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
    rec.add_argument("--pixel-size", type=float, help="pixel size in um (overrides the file)")
    rec.add_argument(
        "--centre", type=_centre, default="auto", help="rotation-axis column in px or 'auto'"
    )
    rec.add_argument(
        "--centre-method",
        default="auto",
        choices=("auto", "mirror", "sinusoid", "sharpness"),
    )
    rec.add_argument(
        "--algorithm",
        default="fbp",
        choices=("fbp", "sirt", "astra_fbp", "astra_sirt"),
        help="fbp/sirt are ours (numba); astra_* use astra-toolbox on the CPU",
    )
    rec.add_argument(
        "--filter", default="ramp", choices=("ramp", "shepp-logan", "cosine", "hamming", "hann")
    )
    rec.add_argument("--iterations", type=int, default=100, help="SIRT iterations")
    rec.add_argument("--rows", type=_rows, help="detector rows START:STOP to reconstruct")
    rec.add_argument("--slab", type=int, default=32, help="detector rows per chunk (memory)")
    rec.add_argument(
        "--zinger-threshold", type=_optional_float, default=0.3, help="relative, or 'off'"
    )
    rec.add_argument(
        "--ring-width", type=int, default=0, help="ring suppression width in px (0 = off)"
    )
    rec.add_argument(
        "--min-transmission", type=float, help="clip transmission instead of failing on <= 0"
    )
    rec.add_argument("--volume-format", default="zarr", choices=("zarr", "h5"))
    rec.add_argument(
        "--keep-projections",
        action="store_true",
        help="keep the normalized -log projections (HDF5) in the run folder",
    )
    rec.add_argument("--no-progress", action="store_true", help="hide progress bars")
    rec.set_defaults(func=_reconstruct)

    pipe = sub.add_parser(
        "pipeline",
        help="raw files per energy -> elemental volumes -> depth profiles (TOML config)",
        description="Run the whole chain from a TOML config (see cathodescope.tomo.run_pipeline).",
    )
    pipe.add_argument("config", help="pipeline TOML file")
    pipe.add_argument("--out", help="run folder (default: [output] dir of the config)")
    pipe.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    pipe.add_argument(
        "--volumes", default="zarr", choices=("zarr", "h5", "none"), help="store volumes"
    )
    pipe.add_argument("--no-progress", action="store_true", help="hide progress bars")
    pipe.set_defaults(func=_pipeline)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _reconstruct(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from cathodescope.io._txm import read_projections, read_tiff_stack, read_xradia
    from cathodescope.tomo import find_rotation_centre, preprocess, reconstruct
    from cathodescope.tomo._pipeline import _slices_figure

    progress = not args.no_progress
    path = Path(args.input)
    params = {k: v for k, v in vars(args).items() if k != "func"}
    with open_run(args, "tomo reconstruct", params) as run:
        run.add_input(path)
        with run.timer("read"):
            if path.suffix.lower() in (".xrm", ".txrm"):
                raw = read_xradia(path, reference=args.reference)
                if args.reference:
                    run.add_input(args.reference, role="reference")
            elif path.suffix.lower() in (".tif", ".tiff") or path.is_dir():
                raw = read_tiff_stack(path, args.angles, flats=args.flats, darks=args.darks)
            else:
                raw = read_projections(path, lazy=True)
        if args.pixel_size is not None:
            from dataclasses import replace

            raw = replace(raw, pixel_size_um=args.pixel_size)
        if args.rows is not None:
            from dataclasses import replace

            rows = args.rows
            raw = replace(
                raw,
                data=raw.data.isel(y=rows),
                flats=None if raw.flats is None else raw.flats.isel(y=rows),
                darks=None if raw.darks is None else raw.darks.isel(y=rows),
            )
        # the -log stack goes to disk slab by slab (never the whole stack in memory); it is kept
        # in the run folder only with --keep-projections
        log_path = (
            run.file("projections_minus_log.h5")
            if args.keep_projections
            else run.path / ".projections_minus_log.tmp.h5"
        )
        with run.timer("preprocess"):
            lines = preprocess(
                raw,
                zinger_threshold=args.zinger_threshold,
                ring_width=args.ring_width or None,
                min_transmission=args.min_transmission,
                slab=args.slab,
                out=log_path,
                progress=progress,
            )
        run.results["n_zingers"] = lines.attrs.get("n_zingers")
        with run.timer("centre"):
            if args.centre == "auto":  # from at most 16 rows around the middle of the detector
                mid, ny = lines.shape[1] // 2, lines.shape[1]
                rows = slice(max(0, mid - 8), min(ny, mid + 8))
                found = find_rotation_centre(
                    np.asarray(lines[:, rows, :].values), raw.angles, method=args.centre_method
                )
                centre, method = found.centre, found.method
            else:
                centre, method = float(args.centre), "given"
        run.results["rotation_centre_px"] = centre
        run.results["centre_method"] = method
        suffix = ".zarr" if args.volume_format == "zarr" else ".h5"
        with run.timer("reconstruct"):
            volume = reconstruct(
                lines,
                raw.angles,
                centre=centre,
                algorithm=args.algorithm,
                filter_name=args.filter,
                iterations=args.iterations,
                slab=args.slab,
                pixel_size_um=raw.pixel_size_um,
                out=run.file("volume" + suffix),
                progress=progress,
            )
        if not args.keep_projections:
            del lines
            log_path.unlink(missing_ok=True)
        values = np.asarray(volume.values)
        stats = pd.DataFrame(
            {
                "z_index": np.arange(values.shape[0]),
                "mean": values.mean(axis=(1, 2)),
                "std": values.std(axis=(1, 2)),
                "min": values.min(axis=(1, 2)),
                "max": values.max(axis=(1, 2)),
            }
        )
        run.write_table("slices", stats)
        run.results["units"] = volume.attrs["units"]
        run.write_figure(
            "middle_slice",
            _slices_figure({"attenuation": volume}, f"{path.name}, centre {centre:.2f} px"),
        )
        print(
            f"volume {values.shape} ({volume.attrs['units']}) written to {run.path}; centre {centre:.2f} px ({method})"
        )
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    from cathodescope.tomo import run_pipeline

    result, analysis = run_pipeline(
        args.config,
        args.out,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        save_volumes=args.volumes,
    )
    print(
        f"{analysis.segmentation.n_particles} particle(s); centre {result.centre.centre:.2f} px; "
        f"elements {', '.join(result.channels)}; run folder written."
    )
    return 0
