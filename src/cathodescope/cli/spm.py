"""``cathodescope spm``: scanning-probe maps (Asylum .ibw, Bruker NanoScope, Gwyddion .gwy).

Sub-commands: ``info``, ``level``, ``dart``, ``particles``, ``soc-series``. Each writes a run
folder (tables as CSV + Parquet, PNG figures, manifest.json).
"""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments, open_run

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

    p = sub.add_parser("info", help="channels, units, scan size and instrument metadata")
    p.add_argument("files", nargs="+", help="SPM files (.ibw, .gwy, NanoScope)")
    add_out_arguments(p)
    p.set_defaults(func=_info)

    p = sub.add_parser("level", help="level a topography channel")
    p.add_argument("file")
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

    p = sub.add_parser("dart", help="per-pixel resonance, Q, drive amplitude, ESM amplitude")
    p.add_argument("file")
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
    p.add_argument("--phase-convention", choices=("lag", "lead"), default="lag")
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

    p = sub.add_parser(
        "particles",
        help="segment particles (topography or ESM), per-particle statistics, boundary vs "
        "core profiles, cross-talk, C-AFM over particles",
    )
    p.add_argument("file")
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
    p.set_defaults(min_size_um=0.0, bin_width_um=None)
    add_out_arguments(p)
    p.set_defaults(func=_particles)

    p = sub.add_parser("soc-series", help="ESM amplitude, current, resonance vs state of charge")
    p.add_argument("table", help="CSV or TOML: file, soc_percent, direction[, q, drive_voltage]")
    p.add_argument(
        "--particles",
        action="store_true",
        help="statistics over particle pixels only (segmented on the topography)",
    )
    p.add_argument("--segment-on", default="height", help="map to segment with --particles")
    p.add_argument("--threshold", default="otsu", help="'otsu' or a value (display units)")
    p.add_argument("--min-size-um", type=float, default=0.0, help="min particle area (um^2)")
    add_out_arguments(p)
    p.set_defaults(func=_soc_series)


def _no_subcommand(parser: argparse.ArgumentParser):
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


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
    import pandas as pd

    from cathodescope.io import read_spm
    from cathodescope.spm._figures import maps_figure

    with open_run(args, "spm info") as run:
        tables, metas = [], {}
        for path in args.files:
            run.add_input(path)
            with run.timer("read"):
                scan = read_spm(path)
            t = scan.to_dataframe()
            t.insert(0, "file", str(path))
            t["pixel_y_um"], t["pixel_x_um"] = scan.spacing
            tables.append(t)
            metas[str(path)] = {k: v for k, v in scan.metadata.items() if k != "raw"}
            stem = _stem(path)
            run.write_figure(f"{stem}_channels", maps_figure(scan.channels, title=str(path)))
            print(
                f"{path}: {scan.shape[0]}x{scan.shape[1]} px, "
                f"{scan.metadata.get('scan_size_um', float('nan')):.4g} um, channels "
                + ", ".join(f"{n} [{scan[n].attrs['units']}]" for n in scan)
            )
        run.write_table("channels", pd.concat(tables, ignore_index=True))
        run.write_json("metadata", metas)
    print(f"run folder: {args.out}")
    return 0


def _stem(path: str) -> str:
    from pathlib import Path

    return Path(path).name.replace(".", "_")


def _write_map_tiff(run, name: str, da) -> None:
    import numpy as np
    import tifffile

    from cathodescope.io import atomic_path

    with atomic_path(run.path / f"{name}.tif") as tmp:
        tifffile.imwrite(
            tmp,
            np.asarray(da.values, dtype=np.float32),
            metadata={
                "units": da.attrs.get("units", ""),
                "spacing_um": list(da.attrs.get("spacing_um", ())),
            },
        )
    run.outputs.append(f"{name}.tif")


def _level(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from cathodescope.io import read_spm
    from cathodescope.spm import align_rows, masked_level, polynomial_level, remove_scars
    from cathodescope.spm._figures import maps_figure

    with open_run(args, "spm level") as run:
        run.add_input(args.file)
        scan = read_spm(args.file)
        raw = scan[args.channel]
        excluded = None
        with run.timer("level"):
            if args.method == "plane":
                out = polynomial_level(raw, order=1)
            elif args.method == "polynomial":
                out = polynomial_level(raw, order=args.order)
            elif args.method == "rows":
                out = align_rows(raw, method="median")
            else:
                res = masked_level(
                    raw, order=args.order, threshold=args.threshold, align=args.align_rows
                )
                out, excluded = res.image, res.excluded
                run.results.update(
                    n_iter=res.n_iter,
                    converged=res.converged,
                    excluded_fraction=float(excluded.mean()),
                )
                if not res.converged:
                    run.warn("masked levelling did not converge; check --threshold")
            if args.align_rows and args.method != "masked":
                out = align_rows(out, method="median", mask=excluded)
            if args.scars:
                out, scars = remove_scars(out)
                run.results["scar_pixels"] = int(scars.sum())
        v = out.values
        stats = pd.DataFrame(
            [
                {
                    "channel": args.channel,
                    "units": out.attrs.get("units", ""),
                    "method": args.method,
                    "rms": float(np.nanstd(v)),
                    "ptp": float(np.nanmax(v) - np.nanmin(v)),
                    "rms_background": float(np.nanstd(v[~excluded]))
                    if excluded is not None
                    else float(np.nanstd(v)),
                    "steps": "; ".join(out.attrs.get("levelling", [])),
                }
            ]
        )
        run.write_table("levelling", stats)
        _write_map_tiff(run, f"{args.channel}_levelled", out)
        maps = {f"{args.channel} (raw)": raw, f"{args.channel} (levelled)": out}
        run.write_figure("levelling", maps_figure(maps, ncols=2, title=str(args.file)))
    print(
        f"levelled {args.channel} of {args.file}: rms {stats['rms'][0]:.3g} "
        f"{stats['units'][0]}; run folder {args.out}"
    )
    return 0


def _dart(args: argparse.Namespace) -> int:
    from cathodescope.io import read_spm
    from cathodescope.spm import dart_from_scan, normalize_esm
    from cathodescope.spm._figures import maps_figure

    with open_run(args, "spm dart") as run:
        run.add_input(args.file)
        scan = read_spm(args.file)
        dart_channels = ("Amplitude1", "Amplitude2", "Phase1", "Phase2", "Frequency")
        if all(c in scan for c in dart_channels):
            with run.timer("dart"):
                res = dart_from_scan(
                    scan,
                    frequency_width=args.width,
                    drive_voltage=args.drive_voltage,
                    phase_convention=args.phase_convention,
                )
            table = res.to_dataframe()
            run.write_table("dart_summary", table)
            maps = res.maps()
            for name, da in maps.items():
                _write_map_tiff(run, name, da)
            run.write_figure("dart_maps", maps_figure(maps, title=str(args.file)))
            run.results.update(valid_fraction=res.valid_fraction, **res.parameters)
            if res.valid_fraction < 0.9:
                run.warn(
                    f"only {res.valid_fraction:.1%} of pixels have a physical DART "
                    "solution; check --phase-convention and the channel order"
                )
            print(table.to_string(index=False))
        else:
            if args.q is None:
                from cathodescope.errors import SPMChannelMissingError

                raise SPMChannelMissingError(
                    f"{args.file} is not a DART scan (needs {list(dart_channels)}); for "
                    "single-frequency data give --q (and --drive-voltage if not in the file)."
                )
            dv = args.drive_voltage or scan.metadata.get("drive_amplitude_V")
            if dv is None or not dv == dv:
                from cathodescope.errors import MissingMetadataError

                raise MissingMetadataError("the AC drive voltage is unknown; pass --drive-voltage.")
            esm = normalize_esm(scan[args.amplitude_channel], q=args.q, drive_voltage=dv)
            import pandas as pd

            v = esm.values
            table = pd.DataFrame(
                [
                    {
                        "quantity": "esm_amplitude",
                        "units": esm.attrs["units"],
                        "mean": float(v.mean()),
                        "std": float(v.std(ddof=1)),
                        "q": args.q,
                        "drive_voltage_V": dv,
                    }
                ]
            )
            run.write_table("esm_summary", table)
            _write_map_tiff(run, "esm_amplitude", esm)
            run.write_figure("esm_map", maps_figure({"esm_amplitude": esm}))
            print(table.to_string(index=False))
    print(f"run folder: {args.out}")
    return 0


def _particles(args: argparse.Namespace) -> int:
    from cathodescope.io import read_spm
    from cathodescope.spm import analyze_spm_scene, write_spm_scene_report

    with open_run(args, "spm particles") as run:
        run.add_input(args.file)
        scan = read_spm(args.file)
        with run.timer("analysis"):
            analysis = analyze_spm_scene(
                scan,
                segment_on=args.segment_on,
                q=args.q,
                drive_voltage=args.drive_voltage,
                boundary_um=args.boundary_um,
                bins=args.bins,
                k_sigma=args.k_sigma,
                **_engine_options(args),
            )
        with run.timer("report"):
            write_spm_scene_report(analysis, run)
        n = analysis.scene.segmentation.n_particles
        print(f"{args.file}: {n} particles; maps {list(analysis.maps)}")
        print(analysis.boundary_core.to_string(index=False, max_rows=20))
    print(f"run folder: {args.out}")
    return 0


def _soc_series(args: argparse.Namespace) -> int:
    from cathodescope.spm import read_soc_table, soc_series

    with open_run(args, "spm soc-series") as run:
        run.add_input(args.table)
        table = read_soc_table(args.table)
        for f in table["file"]:
            run.add_input(f)
        particles = None
        if args.particles:
            from cathodescope.spm import particles_from_scan

            threshold = args.threshold if args.threshold == "otsu" else float(args.threshold)
            particles = particles_from_scan(
                segment_on=args.segment_on, threshold=threshold, min_size_um=args.min_size_um
            )
        with run.timer("series"):
            series = soc_series(table, particles=particles, progress=True)
        run.write_table("soc_per_file", series.per_file)
        run.write_table("soc_summary", series.summary)
        run.write_figure("soc_series", series.figure())
        run.results.update(series.parameters)
        cols = ["soc_percent", "direction", "n_files"] + [
            c for c in series.summary.columns if c.endswith(("_mean", "_std"))
        ]
        print(series.summary[cols].to_string(index=False))
    print(f"run folder: {args.out}")
    return 0
