"""``cathodescope diffusion``: interdiffusion during sintering (simulate, fit, demo)."""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments, open_run

_EPILOG = """\
examples:
  cathodescope diffusion simulate precursor.toml --D-m2-s 1e-17 --out sim1
  cathodescope diffusion simulate precursor.toml --D-m2-s Ni=2e-17,Mn=2e-18,Co=2e-17 --out sim2
  cathodescope diffusion fit run1/ratios.csv --precursor precursor.toml --out fit1
  cathodescope diffusion demo --out demo_diffusion
"""


def _per_metal(text: str, example: str) -> float | dict[str, float]:
    """Parse one value >= 0 or ``Ni=..,Mn=..,Co=..``; ``example`` goes into the error."""
    try:
        if "=" not in text:
            value = float(text)
            if not value >= 0:
                raise ValueError
            return value
        out = {}
        for item in text.split(","):
            name, number = item.split("=")
            out[name.strip()] = float(number)
            if not out[name.strip()] >= 0:
                raise ValueError
        return out
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one value >= 0 or one per metal ({example}), got {text!r}"
        ) from None


def parse_D(text: str) -> float | dict[str, float]:
    """Parse ``1e-17`` or ``Ni=2e-17,Mn=2e-18,Co=2e-17`` (m^2/s) for argparse."""
    return _per_metal(text, "m^2/s, e.g. 1e-17 or Ni=2e-17,Mn=2e-18,Co=2e-17")


def parse_energy(text: str) -> float | dict[str, float]:
    """Parse ``250`` or ``Ni=250,Mn=300,Co=250`` (kJ/mol) for argparse."""
    return _per_metal(text, "kJ/mol, e.g. 250 or Ni=250,Mn=300,Co=250")


def _parse_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two depths in um like 0.25,2.0, got {text!r}"
        ) from None
    return lo, hi


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=("independent", "multicomponent"),
        default="independent",
        help="independent D per metal with renormalised fractions (default), or the "
        "constrained multicomponent model (fluxes sum to zero; slower)",
    )
    parser.add_argument(
        "--activation-energy-kJ-mol",
        type=parse_energy,
        default=None,
        metavar="EA",
        help="Arrhenius activation energy (kJ/mol, one value or Ni=..,Mn=..,Co=..) for "
        "schedules with ramps (default: the precursor file's)",
    )
    parser.add_argument(
        "--blur-um", type=float, default=0.0, help="Gaussian imaging resolution (sigma, um)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diffusion",
        help="interdiffusion of Ni/Mn/Co during sintering: simulate, fit D, demo",
        description="Forward model of transition-metal interdiffusion in a sphere from "
        "precursor layers, and fits of D to measured depth profiles.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="diffusion_command", metavar="SUBCOMMAND", required=True)

    sim = sub.add_parser("simulate", help="sinter a precursor: profiles.csv on depth bins")
    sim.add_argument("precursor", metavar="PRECURSOR.toml", help="precursor layers + sintering")
    sim.add_argument(
        "--D-m2-s",
        dest="D_m2_s",
        type=parse_D,
        default=None,
        metavar="D",
        help="D in m^2/s at the top temperature: one value or Ni=..,Mn=..,Co=.. "
        "(default: the file's [diffusion] table)",
    )
    sim.add_argument("--bin-width-um", type=float, default=0.05, help="depth bin width in um")
    sim.add_argument("--n-cells", type=int, default=200, help="radial finite volumes")
    _model_arguments(sim)
    add_out_arguments(sim)
    sim.set_defaults(func=run_simulate)

    fit = sub.add_parser("fit", help="fit D to a profile run's ratios.csv: fit.csv")
    fit.add_argument("ratios", metavar="RATIOS.csv", help="ratios.csv of a profile run")
    fit.add_argument(
        "--precursor",
        required=True,
        metavar="PRECURSOR.toml",
        help="precursor layers and sintering schedule the measured profiles started from",
    )
    fit.add_argument("--shared", action="store_true", help="one D for all metals")
    fit.add_argument(
        "--ci-level",
        type=float,
        default=None,
        help="level of the intervals in RATIOS.csv (default: the profile run's, else 0.99)",
    )
    fit.add_argument("--level", type=float, default=0.95, help="level of the D intervals")
    fit.add_argument(
        "--depth-range-um", type=_parse_range, default=None, help="fit only bins in lo,hi (um)"
    )
    fit.add_argument(
        "--no-reliable-window",
        action="store_true",
        help="also fit bins outside each particle's reliable window",
    )
    fit.add_argument(
        "--radius-um",
        type=float,
        default=None,
        help="one model radius for all particles (default: particles.csv, else the precursor's)",
    )
    fit.add_argument("--ndim", type=int, choices=(2, 3), default=None, help="2 for maps/cuts")
    _model_arguments(fit)
    add_out_arguments(fit)
    fit.set_defaults(func=run_fit)

    demo = sub.add_parser("demo", help="precursor -> sintering -> phantom -> engine -> D")
    demo.add_argument("--n-particles", type=int, default=4, help="particles in the scene")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    add_out_arguments(demo, default="demo_diffusion")
    demo.set_defaults(func=run_demo)


def run_simulate(args: argparse.Namespace) -> int:
    from cathodescope.workflows.diffusion import simulate_run

    with open_run(args, "diffusion simulate") as run:
        simulate_run(
            run,
            args.precursor,
            D_m2_s=args.D_m2_s,
            model=args.model,
            activation_energy_kJ_mol=args.activation_energy_kJ_mol,
            bin_width_um=args.bin_width_um,
            blur_um=args.blur_um,
            n_cells=args.n_cells,
        )
    print(f"profiles.csv and profiles.png in {run.path}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    from cathodescope.workflows.diffusion import fit_run

    with open_run(args, "diffusion fit") as run:
        fit = fit_run(
            run,
            args.ratios,
            args.precursor,
            model=args.model,
            shared=args.shared,
            ci_level=args.ci_level,
            level=args.level,
            depth_range_um=args.depth_range_um,
            use_reliable_window=not args.no_reliable_window,
            radius_um=args.radius_um,
            blur_um=args.blur_um,
            ndim=args.ndim,
            activation_energy_kJ_mol=args.activation_energy_kJ_mol,
        )
    n = fit.particles.particle_id.nunique()
    print(f"{n} particles fitted; fit.csv, sample_fit.csv and figures in {run.path}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from cathodescope.workflows.diffusion import run_demo as demo

    with open_run(args, "diffusion demo") as run:
        demo(run, n_particles=args.n_particles, seed=args.seed)
    print(f"recovery.csv (true vs fitted D), fit.csv and figures in {run.path}")
    return 0
