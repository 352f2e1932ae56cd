"""``cathodescope echem summary|dqdv|gitt|ici FILE...``: cycling data to tables, figures, manifest.

Several FILEs are one experiment, joined in the order given (time, charge and cycles continue).
"""

from __future__ import annotations

import argparse

from cathodescope.cli._common import add_out_arguments

_FORMATS = ("auto", "mpr", "mpt", "maccor", "arbin", "neware", "csv")


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from exc


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="cycler file(s); several files are joined in order as one experiment",
    )
    p.add_argument("--format", choices=_FORMATS, default="auto", help="reader (default: auto)")
    p.add_argument(
        "--active-mass-g",
        type=float,
        default=None,
        help="active-material mass in g (for mAh/g; GITT/ICI: m_B of the mass-based form)",
    )
    p.add_argument(
        "--gap-s", type=float, default=0.0, help="time between joined files without timestamps, s"
    )
    p.add_argument(
        "--units",
        type=_parse_pairs,
        default=None,
        metavar="QTY=UNIT,...",
        help="units of generic CSV columns whose names do not carry them, e.g. "
        "time=s,current=A,voltage=V,charge=mAh",
    )
    p.add_argument(
        "--columns",
        type=_parse_pairs,
        default=None,
        metavar="QTY=NAME,...",
        help="generic CSV column names for time, voltage, current, charge, step, cycle, e.g. "
        "time=Test_Time,current=I",
    )


def register(subparsers) -> None:
    """Add the ``echem`` command group and its ``summary``, ``dqdv``, ``gitt`` and ``ici`` commands."""
    parser = subparsers.add_parser(
        "echem",
        help="cycling data: per-cycle summary, dQ/dV peaks, GITT and ICI diffusion",
        description=__doc__,
    )
    sub = parser.add_subparsers(dest="echem_command", metavar="SUBCOMMAND")
    _add_summary(sub)
    _add_dqdv(sub)
    _add_gitt(sub)
    _add_ici(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _add_summary(sub) -> None:
    """The ``echem summary`` command."""

    p = sub.add_parser("summary", help="per-cycle capacities, efficiency, retention, energy")
    _add_input_arguments(p)
    p.add_argument(
        "--reference-cycle",
        type=int,
        default=None,
        help="cycle of 100 %% retention (default: first complete cycle)",
    )
    p.add_argument(
        "--nominal-capacity-mAh", type=float, default=None, help="nominal capacity for C-rates, mAh"
    )
    p.add_argument("--specific", action="store_true", help="require mAh/g (needs the mass)")
    add_out_arguments(p)
    p.set_defaults(func=_summary)


def _add_dqdv(sub) -> None:
    """The ``echem dqdv`` command."""
    p = sub.add_parser("dqdv", help="dQ/dV curves, peaks and peak tracking across cycles")
    _add_input_arguments(p)
    p.add_argument(
        "--grid-step-V",
        type=float,
        default=None,
        help="voltage bin width, V (default: from the sampling density, >= 2 mV)",
    )
    p.add_argument(
        "--smoothing",
        choices=("savgol", "spline", "none"),
        default="savgol",
        help="smoothing of Q(V) before the derivative: Savitzky-Golay, smoothing spline, none",
    )
    p.add_argument(
        "--window-bins",
        type=int,
        default=None,
        help="fixed Savitzky-Golay window (default: chosen by GCV)",
    )
    p.add_argument(
        "--track-V",
        type=_float_list,
        default=None,
        help="peak positions to track, V, e.g. 3.75 (default: first cycle's peaks)",
    )
    p.add_argument(
        "--direction",
        choices=("charge", "discharge"),
        default="charge",
        help="half-cycles whose peaks are tracked",
    )
    p.add_argument(
        "--max-shift-V",
        type=float,
        default=0.05,
        help="largest peak move between consecutive cycles, V",
    )
    p.add_argument("--specific", action="store_true", help="dQ/dV per gram (needs the mass)")
    p.add_argument(
        "--peak-shape",
        choices=("gaussian", "sech2"),
        default="gaussian",
        help="peak model fitted to each dQ/dV peak",
    )
    add_out_arguments(p)
    p.set_defaults(func=_dqdv)


def _add_gitt(sub) -> None:
    """The ``echem gitt`` command."""
    p = sub.add_parser("gitt", help="Weppner-Huggins diffusion coefficients from GITT")
    _add_input_arguments(p)
    _add_length_arguments(p)
    p.add_argument("--capacity-mAh", type=float, default=None, help="capacity for the SOC axis")
    p.add_argument(
        "--max-tau-ratio", type=float, default=0.01, help="validity limit on tau D / L^2"
    )
    add_out_arguments(p)
    p.set_defaults(func=_gitt)


def _add_ici(sub) -> None:
    """The ``echem ici`` command."""
    p = sub.add_parser("ici", help="resistance and diffusion from current interruptions (ICI)")
    _add_input_arguments(p)
    _add_length_arguments(p)
    p.add_argument(
        "--max-interruption-s",
        type=float,
        default=30.0,
        help="longest rest counted as an interruption, s",
    )
    p.add_argument(
        "--max-tau-ratio", type=float, default=0.01, help="validity limit on duration D / L^2"
    )
    add_out_arguments(p)
    p.set_defaults(func=_ici)


def _add_length_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--radius-um", type=float, default=None, help="particle radius, um")
    p.add_argument("--molar-volume", type=float, default=None, help="molar volume, cm3/mol")
    p.add_argument("--molar-mass", type=float, default=None, help="molar mass, g/mol")
    p.add_argument("--area-cm2", type=float, default=None, help="contact area S, cm2")


def _parse_pairs(text: str) -> dict[str, str]:
    """``time=s,current=A`` -> ``{"time": "s", "current": "A"}`` for argparse."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"expected QTY=VALUE pairs, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _common(args) -> dict:
    csv_options = {k: getattr(args, k) for k in ("units", "columns") if getattr(args, k)}
    return {
        "format": args.format,
        "active_mass_g": args.active_mass_g,
        "gap_s": args.gap_s,
        "csv_options": csv_options,
        "overwrite": args.overwrite,
        "parameters": vars(args),
    }


def _summary(args) -> int:
    from cathodescope.workflows.echem import run_summary

    res = run_summary(
        args.files,
        args.out,
        specific=True if args.specific else None,
        reference_cycle=args.reference_cycle,
        nominal_capacity_mAh=args.nominal_capacity_mAh,
        **_common(args),
    )
    print(res.table.to_string(index=False, max_rows=40))
    print(f"results in {res.path}")
    return 0


def _dqdv(args) -> int:
    from cathodescope.workflows.echem import run_dqdv

    res = run_dqdv(
        args.files,
        args.out,
        grid_step_V=args.grid_step_V or "auto",
        smoothing=args.smoothing,
        window_bins=args.window_bins,
        specific=args.specific,
        peak_shape=args.peak_shape,
        direction=args.direction,
        targets_V=args.track_V,
        max_shift_V=args.max_shift_V,
        **_common(args),
    )
    if len(res.table):
        print(res.table.to_string(index=False))
    print(f"results in {res.path}")
    return 0


def _gitt(args) -> int:
    from cathodescope.workflows.echem import run_gitt

    res = run_gitt(
        args.files,
        args.out,
        radius_um=args.radius_um,
        mass_g=args.active_mass_g,
        molar_volume_cm3_mol=args.molar_volume,
        molar_mass_g_mol=args.molar_mass,
        area_cm2=args.area_cm2,
        capacity_mAh=args.capacity_mAh,
        max_tau_ratio=args.max_tau_ratio,
        **_common(args),
    )
    cols = ["pulse", "soc_mid", "tau_s", "dEs_V", "dEt_V", "D_m2_s", "D_sqrt_m2_s", "valid"]
    print(res.table[cols].to_string(index=False, max_rows=40))
    print(f"results in {res.path}")
    return 0


def _ici(args) -> int:
    from cathodescope.workflows.echem import run_ici

    res = run_ici(
        args.files,
        args.out,
        radius_um=args.radius_um,
        mass_g=args.active_mass_g,
        molar_volume_cm3_mol=args.molar_volume,
        molar_mass_g_mol=args.molar_mass,
        area_cm2=args.area_cm2,
        max_interruption_s=args.max_interruption_s,
        max_tau_ratio=args.max_tau_ratio,
        **_common(args),
    )
    cols = ["interruption", "start_time_s", "R_ohm", "R_err_ohm", "D_m2_s", "D_err_m2_s", "valid"]
    print(res.table[cols].to_string(index=False, max_rows=40))
    print(f"results in {res.path}")
    return 0
