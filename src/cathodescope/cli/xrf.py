"""``cathodescope xrf``: XRF element maps -> ratio images, overlays, profiles, core/shell fits."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments, open_run, parse_list, parse_spacing

_EPILOG = """\
examples:
  cathodescope xrf phantom cg.h5
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
    g.add_argument("--format", default="auto", choices=("auto", "pyxrf", "maps", "tiff"))
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


def _read(args: argparse.Namespace, run: Any):
    from cathodescope.io._xrf import read_xrf_map

    fmt = args.format
    if fmt == "auto":
        fmt = "tiff" if str(args.file).lower().endswith((".tif", ".tiff")) else "auto"
    options: dict[str, Any] = {"spacing": args.spacing}
    if fmt == "tiff":
        options.update(channels=args.tiff_channels, units=args.tiff_units)
    else:
        options.update(scaler=args.scaler, position_units=args.position_units)
    run.add_input(args.file)
    with run.timer("read"):
        if fmt == "auto":
            from cathodescope.io._xrf import _open_h5

            with _open_h5(args.file) as h5:
                fmt = "pyxrf" if "xrfmap" in h5 else "maps" if "MAPS" in h5 else "auto"
        if fmt == "pyxrf":
            options["detector"] = args.detector
        elif fmt == "maps":
            options["analysis"] = args.analysis
        maps = read_xrf_map(args.file, format=fmt, **options)
    run.results["map"] = {
        "channels": [str(c) for c in maps["channel"].values],
        "shape": list(maps.shape[1:]),
        "spacing_um": list(maps.attrs["spacing_um"]),
        "units": maps.attrs["units"],
        "scaler": maps.attrs.get("scaler"),
    }
    return maps


def _extent(da) -> list[float]:
    from cathodescope.xrf._maps import map_spacing

    dy, dx = map_spacing(da)
    x, y = da["x"].values, da["y"].values
    return [x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2]


def _write_map_tiff(run: Any, name: str, da) -> None:
    import numpy as np
    import tifffile

    from cathodescope.common.atomic import atomic_path

    path = run.file(f"{name}.tif")
    dy, dx = da.attrs.get("spacing_um", (1.0, 1.0))
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            np.asarray(da.values, dtype=np.float32),
            imagej=True,
            resolution=(1.0 / dx, 1.0 / dy),
            metadata={"unit": "um"},
        )


# -- handlers -------------------------------------------------------------------------------


def _cmd_ratio(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from cathodescope.xrf import ratio_map

    with open_run(args, "xrf ratio") as run:
        maps = _read(args, run)
        with run.timer("ratio"):
            ratio = ratio_map(maps, args.num, args.den, min_signal=args.min_signal)
        v = ratio.values[np.isfinite(ratio.values)]
        summary = pd.DataFrame(
            [
                {
                    "ratio": ratio.name,
                    "n_pixels": int(v.size),
                    "masked_fraction": ratio.attrs["masked_fraction"],
                    "min_signal": ratio.attrs["min_signal"],
                    "mean": float(v.mean()),
                    "std": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
                    "p05": float(np.percentile(v, 5)),
                    "median": float(np.median(v)),
                    "p95": float(np.percentile(v, 95)),
                }
            ]
        )
        run.write_table("ratio_summary", summary)
        _write_map_tiff(run, "ratio", ratio)
        fig, ax = plt.subplots(figsize=(5, 4))
        im = ax.imshow(ratio.values, extent=_extent(ratio), cmap="viridis")
        fig.colorbar(im, ax=ax, label=str(ratio.name))
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
        ax.set_title(f"{ratio.name} (low signal masked)")
        run.write_figure("ratio", fig)
        run.results["ratio"] = summary.iloc[0].to_dict()
    print(
        f"{ratio.name}: median {summary['median'][0]:.4g} over {summary['n_pixels'][0]} "
        f"pixels -> {args.out}"
    )
    return 0


def _cmd_overlay(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from cathodescope.xrf import rgb_overlay

    with open_run(args, "xrf overlay") as run:
        maps = _read(args, run)
        rgb = rgb_overlay(maps, args.channels, percentiles=tuple(args.percentiles))
        limits = pd.DataFrame(
            [
                {"colour": c, "channel": n, "low": lo, "high": hi, "units": maps.attrs["units"]}
                for c, (n, (lo, hi)) in zip("RGB", rgb.attrs["limits"].items(), strict=True)
            ]
        )
        run.write_table("overlay_limits", limits)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.imshow(rgb.values, extent=_extent(rgb))
        ax.set_title(" / ".join(f"{n} ({c})" for c, n in zip("RGB", args.channels, strict=True)))
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
        run.write_figure("overlay", fig)
    print(f"overlay of {','.join(args.channels)} -> {args.out}")
    return 0


def _profile_tables(args: argparse.Namespace, maps):
    import pandas as pd

    from cathodescope.xrf import fraction_maps, line_profile, ratio_map

    frac = fraction_maps(maps, args.elements, min_signal=args.min_signal)
    fp = line_profile(frac, args.start, args.end, width_um=args.width)
    sp = line_profile(maps, args.start, args.end, width_um=args.width)
    table = pd.DataFrame(
        {"distance_um": fp["distance"].values, "y_um": fp["y"].values, "x_um": fp["x"].values}
    )
    for c in sp["channel"].values:
        table[f"signal_{c}"] = sp.sel(channel=c).values
    for e in args.elements:
        table[f"fraction_{e}"] = fp.sel(channel=e).values
    ratio_prof = None
    if getattr(args, "compare_ratio", None):
        num, den = args.compare_ratio.split("/")
        ratio = ratio_map(maps, num, den, min_signal=args.min_signal)
        ratio_prof = line_profile(ratio, args.start, args.end, width_um=args.width)
        table[f"ratio_{num}_{den}"] = ratio_prof.values
    return table, fp, ratio_prof


def _cmd_profile(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open_run(args, "xrf profile") as run:
        maps = _read(args, run)
        with run.timer("profile"):
            table, fp, _ = _profile_tables(args, maps)
        run.write_table("profile", table)
        fig, ax = plt.subplots(figsize=(6, 4))
        for e in args.elements:
            ax.plot(table["distance_um"], table[f"fraction_{e}"], label=e)
        if args.compare_ratio:
            name = "ratio_" + args.compare_ratio.replace("/", "_")
            ax.plot(table["distance_um"], table[name], "k--", label=args.compare_ratio)
        ax.set_xlabel("distance along the line (um)")
        ax.set_ylabel(f"fraction of {'+'.join(args.elements)}")
        ax.set_title(f"width {fp.attrs['width_um']:.3g} um")
        ax.legend()
        run.write_figure("profile", fig)
        run.results["width_um_used"] = fp.attrs["width_um"]
    print(f"profile with {len(table)} samples -> {args.out}")
    return 0


def _cmd_coreshell(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cathodescope.xrf import fit_core_shell

    with open_run(args, "xrf coreshell") as run:
        maps = _read(args, run)
        table, fp, ratio_prof = _profile_tables(args, maps)
        run.write_table("profile", table)
        with run.timer("fit"):
            fit = fit_core_shell(
                fp["distance"].values,
                {e: fp.sel(channel=e).values for e in args.elements},
                model=args.model,
                geometry=args.geometry,
                shell_at=args.shell_at,
            )
        result = fit.to_dataframe()
        result.insert(0, "profile", "fraction")
        run.write_table("coreshell", result)
        run.write_table("coreshell_curves", fit.curves())
        run.results["coreshell"] = result.to_dict(orient="records")
        fig, ax = plt.subplots(figsize=(6, 4))
        for e in args.elements:
            ax.plot(fit.distance_um, fit.observed[e], ".", ms=3, label=f"{e} fraction")
            ax.plot(fit.distance_um, fit.best_fit[e], "-", lw=1)
        for xi in [fit.interface_um] if fit.geometry == "edge" else list(fit.interface_um):
            ax.axvline(xi, color="k", ls=":", lw=1)
        if ratio_prof is not None:
            rfit = fit_core_shell(
                ratio_prof["distance"].values,
                {args.compare_ratio: ratio_prof.values},
                model=args.model,
                geometry=args.geometry,
                shell_at=args.shell_at,
            )
            rdf = rfit.to_dataframe()
            rdf.insert(0, "profile", "ratio (midpoint biased, for comparison)")
            run.write_table("coreshell_ratio", rdf)
            run.results["coreshell_ratio"] = rdf.to_dict(orient="records")
        ax.set_xlabel("distance along the line (um)")
        ax.set_ylabel("fraction")
        where = (
            f"{fit.interface_um:.3f}"
            if fit.geometry == "edge"
            else " and ".join(f"{v:.3f}" for v in fit.interface_um)
        )
        ax.set_title(f"interface at {where} um, 10-90 % width {fit.width_um:.3f} um")
        ax.legend(fontsize=7)
        run.write_figure("coreshell", fig)
    print(result.to_string(index=False))
    return 0


def _cmd_particles(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cathodescope.cli.profile import engine_options
    from cathodescope.report import write_scene_report
    from cathodescope.xrf import analyze_particles, summarize_core_shell

    params = {k: v for k, v in vars(args).items() if k != "func"}
    with open_run(args, "xrf particles", params) as run:
        maps = _read(args, run)
        with run.timer("engine and fits"):
            result = analyze_particles(
                maps,
                args.elements,
                fit=not args.no_fit,
                model=args.model,
                dilate_um=args.dilate_um,
                progress=not args.no_progress,
                **engine_options(args),
            )
        channels = {
            e: maps.sel(channel=c).values
            for e, c in zip(args.elements, result.parameters["channels"], strict=True)
        }
        with run.timer("report"):
            write_scene_report(result.scene, run, channels=channels, figures=not args.no_figures)
            if not args.no_fit:
                run.write_table("core_shell", result.core_shell)
                summary = summarize_core_shell(result.core_shell)
                run.write_table("core_shell_summary", summary)
                run.results["core_shell_summary"] = summary.to_dict(orient="records")
                ok = result.core_shell[result.core_shell["status"] == "ok"]
                if len(ok):
                    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
                    for e, g in ok.groupby("element", sort=False):
                        axes[0].plot(g["interface_depth_um"], g["shell"] - g["core"], ".", label=e)
                    axes[0].set_xlabel("interface depth below the surface (um)")
                    axes[0].set_ylabel("shell - core fraction")
                    axes[0].legend()
                    first = ok.drop_duplicates("particle_id")
                    axes[1].hist(first["width_10_90_um"], bins=20)
                    axes[1].set_xlabel("10-90 % gradient width (um)")
                    axes[1].set_ylabel("particles")
                    run.write_figure("core_shell", fig)
    print(f"{result.scene.segmentation.n_particles} particles -> {args.out}")
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    import numpy as np

    from cathodescope.io._xrf import write_pyxrf_h5
    from cathodescope.xrf import core_shell_map, random_discs

    rng = np.random.default_rng(args.seed)
    particles = None
    if args.particles > 1:
        particles = random_discs(
            (args.size, args.size),
            args.particles,
            spacing=args.pixel_um,
            radius_um=(2.5, 3.2),
            gap_um=0.5,
            rng=rng,
        )
    maps, truth = core_shell_map(
        (args.size, args.size),
        particles=particles,
        spacing=args.pixel_um,
        interface_depth_um=args.interface_depth_um,
        sigma_um=args.sigma_um,
        rng=rng,
    )
    write_pyxrf_h5(args.output, maps, overwrite=args.overwrite)
    if len(truth["particles"]) > 1:
        print(
            f"wrote {args.output}: {len(truth['particles'])} core/shell particles (NMC442 "
            f"shell, NMC701515 core), interface {truth['interface_depth_um']:g} um below "
            f"the surface, 10-90 % gradient width {truth['width_10_90_um']:.3g} um"
        )
        return 0
    cy, cx, r = truth["particles"][0]
    print(
        f"wrote {args.output}: one core/shell particle (NMC442 shell, NMC701515 core) centred "
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

    p = sub.add_parser("profile", help="line profile of signals and fractions with a width")
    _add_read_arguments(p)
    _add_profile_arguments(p)
    add_out_arguments(p)
    p.set_defaults(func=_cmd_profile)

    p = sub.add_parser("coreshell", help="core/shell fit of a fraction line profile")
    _add_read_arguments(p)
    _add_profile_arguments(p)
    p.add_argument("--model", default="erf", choices=("erf", "logistic"))
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
    p.add_argument("--model", default="erf", choices=("erf", "logistic"))
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

    p = sub.add_parser("phantom", help="write a synthetic core/shell map as a PyXRF file")
    p.add_argument("output", help="the .h5 file to write")
    p.add_argument("--size", type=int, default=160, help="map size in pixels (default 160)")
    p.add_argument("--pixel-um", type=float, default=0.05, help="pixel size in um")
    p.add_argument("--interface-depth-um", type=float, default=1.5)
    p.add_argument("--sigma-um", type=float, default=1.0 / 6.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--particles",
        type=int,
        default=1,
        help="number of particles (default 1, centred; more are placed at random)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_phantom)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
