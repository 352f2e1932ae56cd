"""``cathodescope xas normalize|calibrate|lcf|map``: thin CLI over :mod:`cathodescope.xas`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cathodescope.cli._common import add_out_arguments, open_run


def _read_spectra(path: str, units: str, group: str | None) -> dict[str, Any]:
    """Spectra of a file, keyed by name (ATHENA projects give every group, or ``group``)."""
    from cathodescope.errors import MissingMetadataError
    from cathodescope.io import read_athena, read_xas_columns, read_xdi

    p = Path(path)
    if p.suffix.lower() == ".prj":
        groups = read_athena(p)
        if group is not None:
            if group not in groups:
                raise MissingMetadataError(f"no group {group!r} in {p}; groups: {list(groups)}")
            groups = {group: groups[group]}
        return dict(groups)
    if p.suffix.lower() == ".xdi":
        return {p.stem: read_xdi(p)}
    return {p.stem: read_xas_columns(p, energy_units=units)}


def _parse_named(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"{what} must be NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _norm_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: getattr(args, k)
        for k in ("e0", "pre1", "pre2", "norm1", "norm2", "nnorm")
        if getattr(args, k, None) is not None
    }


def _add_norm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--e0", type=float, help="edge energy in eV (default: found)")
    p.add_argument(
        "--e0-method",
        default="derivative_max",
        choices=["derivative_max", "first_inflection", "half_step"],
    )
    for name, hlp in (
        ("pre1", "pre-edge start"),
        ("pre2", "pre-edge end"),
        ("norm1", "post-edge start"),
        ("norm2", "post-edge end"),
    ):
        p.add_argument(f"--{name}", type=float, help=f"{hlp}, eV relative to e0")
    p.add_argument("--nnorm", type=int, help="post-edge polynomial order (ATHENA nnorm - 1)")
    p.add_argument("--energy-units", default="auto", choices=["auto", "eV", "keV"])


def _plot_norm(results: dict[str, Any]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in results.items():
        ax.plot(r.energy, r.flat, lw=1, label=name)
    ax.set_xlabel("energy (eV)")
    ax.set_ylabel("flattened mu(E)")
    if len(results) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _cmd_normalize(args: argparse.Namespace) -> int:
    import pandas as pd

    from cathodescope.io import AthenaGroup
    from cathodescope.xas import normalize, normalize_athena_group

    with open_run(args, "xas normalize") as run:
        run.add_input(args.input)
        spectra = _read_spectra(args.input, args.energy_units, args.group)
        results, rows, long = {}, [], []
        with run.timer("normalize"):
            for name, s in spectra.items():
                if isinstance(s, AthenaGroup):
                    r = (
                        normalize_athena_group(s)
                        if args.athena_params
                        else normalize(
                            s.to_dataarray(), e0_method=args.e0_method, **_norm_kwargs(args)
                        )
                    )
                    stored = s.edge_step
                else:
                    r = normalize(s, e0_method=args.e0_method, **_norm_kwargs(args))
                    stored = float("nan")
                results[name] = r
                rows.append(
                    {
                        "spectrum": name,
                        "e0_eV": r.e0,
                        "edge_step": r.edge_step,
                        "stored_edge_step": stored,
                        **{k: r.parameters[k] for k in ("pre1", "pre2", "norm1", "norm2", "nnorm")},
                    }
                )
                df = r.to_dataframe()
                df.insert(0, "spectrum", name)
                long.append(df)
        run.write_table("summary", pd.DataFrame(rows))
        run.write_table("normalized", pd.concat(long, ignore_index=True))
        run.write_figure("normalized", _plot_norm(results))
    print(f"normalized {len(results)} spectra -> {args.out}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from cathodescope.xas import calibrate

    with open_run(args, "xas calibrate") as run:
        run.add_input(args.reference)
        ref = next(iter(_read_spectra(args.reference, args.energy_units, args.group).values()))
        if not hasattr(ref, "dims"):
            ref = ref.to_dataarray()
        cal = calibrate(ref, element=args.element, edge=args.edge)
        run.write_table("calibration", cal.to_dataframe())
        run.results["shift_eV"] = cal.shift
        if args.sample:
            run.add_input(args.sample)
            for name, s in _read_spectra(args.sample, args.energy_units, None).items():
                s = s if hasattr(s, "dims") else s.to_dataarray()
                out = cal.apply(s)
                import pandas as pd

                run.write_table(
                    f"calibrated_{Path(name).stem}",
                    pd.DataFrame({"energy_eV": out.energy.values, "mu": out.values}),
                )
    print(
        f"shift {cal.shift:+.3f} eV (measured {cal.measured_e0:.3f}, tabulated "
        f"{cal.tabulated_e0:.3f}) -> {args.out}"
    )
    return 0


def _load_standards(items: list[str], units: str) -> dict[str, Any]:
    out = {}
    for name, path in _parse_named(items, "--standard").items():
        s = next(iter(_read_spectra(path, units, None).values()))
        out[name] = s if hasattr(s, "dims") else s.to_dataarray()
    return out


def _cmd_lcf(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from cathodescope.xas import average_valence, lcf, lcf_combinations, normalize

    with open_run(args, "xas lcf") as run:
        run.add_input(args.spectrum)
        for item in args.standard:
            run.add_input(item.split("=", 1)[-1])
        spec = next(iter(_read_spectra(args.spectrum, args.energy_units, args.group).values()))
        spec = spec if hasattr(spec, "dims") else spec.to_dataarray()
        stds = _load_standards(args.standard, args.energy_units)
        if args.normalize:
            spec = normalize(spec, **_norm_kwargs(args)).to_dataarray("flat")
            stds = {k: normalize(v).to_dataarray("flat") for k, v in stds.items()}
        kw = {
            "fit_range": tuple(args.fit_range),
            "fit_shifts": args.fit_shifts,
            "max_shift": args.max_shift,
        }
        ukw = {"uncertainty": args.uncertainty}
        with run.timer("lcf"):
            res = lcf(spec, stds, **kw, **ukw)
            if args.combinations:
                table, _ = lcf_combinations(spec, stds, **kw)
                run.write_table("combinations", table)
        weights = res.to_dataframe()
        run.write_table("weights", weights)
        import pandas as pd

        run.write_table(
            "fit",
            pd.DataFrame(
                {
                    "energy_eV": res.energy,
                    "data": res.data,
                    "model": res.model,
                    "residual": res.residual,
                }
            ),
        )
        if args.valence:
            vals = {k: float(v) for k, v in _parse_named(args.valence, "--valence").items()}
            v, s = average_valence(
                dict(zip(res.standards, res.weights, strict=True)),
                vals,
                uncertainties=dict(zip(res.standards, res.stderr, strict=True)),
            )
            run.results["average_valence"] = v
            run.results["average_valence_stderr"] = s
        run.results.update({"r_factor": res.r_factor, "reduced_chi2": res.reduced_chi2})
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(res.energy, res.data, "k.", ms=3, label="data")
        ax.plot(res.energy, res.model, "r-", label="LCF")
        ax.plot(res.energy, res.residual, "b-", lw=0.8, label="residual")
        ax.set_xlabel("energy (eV)")
        ax.set_ylabel("normalized mu(E)")
        ax.legend(fontsize=8)
        run.write_figure("lcf", fig)
    print(weights.to_string(index=False))
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from cathodescope.common.atomic import atomic_path
    from cathodescope.io import read_xanes_stack
    from cathodescope.xas import xanes_maps

    with open_run(args, "xas map") as run:
        run.add_input(args.stack)
        stack = read_xanes_stack(
            args.stack,
            args.energies,
            pixel_size_um=args.pixel_size,
            energy_units=args.energy_units,
            dataset=args.dataset,
        )
        stds = _load_standards(args.standard, "auto")
        kw = {
            k: getattr(args, k)
            for k in ("e0", "pre1", "pre2", "norm1", "norm2", "nnorm")
            if getattr(args, k) is not None
        }
        with run.timer("maps"):
            maps = xanes_maps(
                stack,
                stds,
                fit_range=tuple(args.fit_range),
                chunks=args.chunks,
                progress=True,
                **kw,
            )
        run.write_table("pixels", maps.to_dataframe())
        ds = maps.fractions.to_dataset(dim="channel")
        for name, da in (
            ("edge_energy", maps.edge_energy),
            ("edge_step", maps.edge_step),
            ("r_factor", maps.r_factor),
            ("low_edge_jump", maps.mask),
        ):
            ds[name] = da.astype("float64") if name == "low_edge_jump" else da
        with atomic_path(run.file("maps.nc")) as tmp:
            ds.to_netcdf(tmp, engine="scipy")
        names = list(maps.fractions.channel.values)
        fig, axes = plt.subplots(1, len(names) + 2, figsize=(3.2 * (len(names) + 2), 3))
        for ax, name in zip(axes, names, strict=False):
            maps.fraction(name).plot(ax=ax, vmin=0, vmax=1)
            ax.set_title(f"fraction {name}")
        maps.edge_energy.plot(ax=axes[-2])
        axes[-2].set_title("edge energy (eV)")
        maps.r_factor.plot(ax=axes[-1])
        axes[-1].set_title("R-factor")
        fig.tight_layout()
        run.write_figure("maps", fig)
        run.results["masked_pixels"] = int(maps.mask.values.sum())
    print(f"mapped {stack.sizes['y']}x{stack.sizes['x']} pixels -> {args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``xas`` with sub-commands normalize, calibrate, lcf and map."""
    p = subparsers.add_parser("xas", help="X-ray absorption: normalize, calibrate, LCF, maps")
    sub = p.add_subparsers(dest="xas_command", metavar="SUBCOMMAND")

    n = sub.add_parser("normalize", help="ATHENA/larch normalization of spectra")
    n.add_argument("input", help="XDI, column file, or ATHENA .prj")
    n.add_argument("--group", help="one group of an ATHENA project")
    n.add_argument(
        "--athena-params",
        action="store_true",
        help="use the parameters stored in the ATHENA project",
    )
    _add_norm_options(n)
    add_out_arguments(n)
    n.set_defaults(func=_cmd_normalize)

    c = sub.add_parser("calibrate", help="shift a reference foil to the tabulated edge")
    c.add_argument("reference", help="reference-foil spectrum (or .prj with --group)")
    c.add_argument("--element", required=True)
    c.add_argument("--edge", default="K")
    c.add_argument("--group")
    c.add_argument("--sample", help="sample spectrum to shift by the same amount")
    c.add_argument("--energy-units", default="auto", choices=["auto", "eV", "keV"])
    add_out_arguments(c)
    c.set_defaults(func=_cmd_calibrate)

    f = sub.add_parser("lcf", help="linear combination fit (weights >= 0, sum = 1)")
    f.add_argument("spectrum")
    f.add_argument("--standard", action="append", required=True, metavar="NAME=FILE")
    f.add_argument("--fit-range", nargs=2, type=float, required=True, metavar=("EMIN", "EMAX"))
    f.add_argument("--fit-shifts", action="store_true")
    f.add_argument("--max-shift", type=float, default=2.0)
    f.add_argument("--combinations", action="store_true", help="rank all combinations")
    f.add_argument(
        "--uncertainty",
        default="profile",
        choices=["profile", "bootstrap", "none"],
        help="68%% intervals of the weights: profile likelihood or block bootstrap",
    )
    f.add_argument("--normalize", action="store_true", help="normalize inputs first")
    f.add_argument(
        "--valence",
        action="append",
        metavar="NAME=V",
        help="oxidation state of each standard, for the average valence",
    )
    f.add_argument("--group")
    _add_norm_options(f)
    add_out_arguments(f)
    f.set_defaults(func=_cmd_lcf)

    m = sub.add_parser("map", help="per-pixel XANES fraction / edge-energy maps")
    m.add_argument("stack", help="TIFF or HDF5 stack (energy, y, x)")
    m.add_argument("--energies", required=True, help="text file, one energy per frame")
    m.add_argument("--pixel-size", type=float, required=True, help="pixel size in um")
    m.add_argument("--dataset", help="HDF5 dataset path")
    m.add_argument("--standard", action="append", required=True, metavar="NAME=FILE")
    m.add_argument("--fit-range", nargs=2, type=float, required=True, metavar=("EMIN", "EMAX"))
    m.add_argument("--chunks", type=int, help="image rows per dask block (stacks > RAM)")
    _add_norm_options(m)
    add_out_arguments(m)
    m.set_defaults(func=_cmd_map)
    __import__("cathodescope.cli.xas_layer", fromlist=["add_parser"]).add_parser(sub)
