"""``cathodescope xas normalize|calibrate|lcf|map|selfabs|merge``: thin CLI over :mod:`cathodescope.workflows.xas`.

Each handler parses its options, calls one workflow and prints where the results are. Sub-commands of other modules hook into the ``xas`` sub-parsers
returned by :func:`register` (``add_parser(subparsers)``).
"""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments, parse_list, parse_spacing

_NORM_KEYS = ("e0", "pre1", "pre2", "norm1", "norm2", "nnorm")


def _parse_named(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"{what} must be NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _norm_options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in _NORM_KEYS if getattr(args, k, None) is not None}


def _report(run: Any, text: str) -> int:
    # the run's warnings reached stderr as they happened (RunFolder); here only the results
    print(text)
    return 0


def _add_channel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--channels",
        type=parse_list,
        help="detector channels to sum, e.g. 'fe_ka_mca*' (XDI names or patterns) or 3,4,5 "
        "(column numbers of a column file, from 0)",
    )
    p.add_argument("--i0", help="column dividing the summed channels (XDI default: i0)")
    p.add_argument(
        "--dead-time",
        action="store_true",
        help="dead-time correct each channel (dtfactor or icr/ocr columns of the XDI file)",
    )


def _add_norm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--e0", type=float, help="edge energy in eV (default: found)")
    p.add_argument(
        "--e0-method",
        default="derivative_max",
        choices=["derivative_max", "first_inflection", "half_step"],
        help="how e0 is found when --e0 is not given: maximum of the derivative, first "
        "inflection point, or half the edge step",
    )
    for name, hlp in (
        ("pre1", "pre-edge start"),
        ("pre2", "pre-edge end"),
        ("norm1", "post-edge start"),
        ("norm2", "post-edge end"),
    ):
        p.add_argument(f"--{name}", type=float, help=f"{hlp}, eV relative to e0")
    p.add_argument("--nnorm", type=int, help="post-edge polynomial order (ATHENA nnorm - 1)")
    p.add_argument(
        "--energy-units",
        default="auto",
        choices=["auto", "eV", "keV"],
        help="unit of the energy column (auto: as the file declares, or as the values allow)",
    )


def _cmd_normalize(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas import run_normalize

    run = run_normalize(
        args.input,
        out=args.out,
        group=args.group,
        athena_params=args.athena_params,
        e0_method=args.e0_method,
        energy_units=args.energy_units,
        normalize_options=_norm_options(args),
        channels=args.channels,
        i0=args.i0,
        dead_time=args.dead_time,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    return _report(run, f"normalized {run.results['n_spectra']} spectra -> {run.path}")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas import run_calibrate

    run = run_calibrate(
        args.reference,
        out=args.out,
        element=args.element,
        edge=args.edge,
        group=args.group,
        sample=args.sample,
        energy_units=args.energy_units,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    return _report(run, f"{run.summary} -> {run.path}")


def _cmd_lcf(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas_lcf import run_lcf

    run = run_lcf(
        args.spectrum,
        _parse_named(args.standard, "--standard"),
        out=args.out,
        fit_range=tuple(args.fit_range),
        group=args.group,
        athena_params=args.athena_params,
        normalize_first=args.normalize,
        normalize_options=_norm_options(args),
        fit_shifts=args.fit_shifts,
        max_shift=args.max_shift,
        uncertainty=args.uncertainty,
        combinations=args.combinations,
        valences={k: float(v) for k, v in _parse_named(args.valence, "--valence").items()},
        energy_units=args.energy_units,
        r_factor_threshold=args.r_factor_max,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    return _report(run, f"{run.summary}\n-> {run.path}")


def _cmd_map(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas import run_map

    run = run_map(
        args.stack,
        args.energies,
        _parse_named(args.standard, "--standard"),
        out=args.out,
        spacing=args.spacing,
        fit_range=tuple(args.fit_range),
        dataset=args.dataset,
        chunks=args.chunks,
        energy_units=args.energy_units,
        normalize_options=_norm_options(args),
        normalize_standards=not args.standards_normalized,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    return _report(run, f"{run.summary} -> {run.path}")


def _cmd_selfabs(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas_selfabs import run_selfabs

    run = run_selfabs(
        args.fluorescence,
        out=args.out,
        formula=args.formula,
        density=args.density,
        element=args.element,
        edge=args.edge,
        line=args.line,
        incidence_deg=args.incidence,
        exit_deg=args.exit,
        thickness_um=args.thickness,
        transmission=args.transmission,
        transmission_incidence_deg=args.transmission_incidence,
        baseline=args.baseline,
        diluent=args.diluent,
        diluent_ratio=args.diluent_ratio,
        athena_params=not args.default_normalization,
        energy_units=args.energy_units,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    return _report(run, f"{run.summary} -> {run.path}")


def _cmd_merge(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas import run_merge

    run = run_merge(
        args.input,
        out=args.out,
        groups=args.groups,
        reference=args.reference,
        e0_method=args.e0_method,
        max_shift=args.max_shift,
        energy_units=args.energy_units,
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    return _report(run, f"{run.summary} -> {run.path}")


def _add_merge(sub: Any) -> None:
    m = sub.add_parser("merge", help="align repeat scans (derivative), merge, one e0 for all")
    m.add_argument("input", help="ATHENA project holding the repeat scans")
    m.add_argument("--groups", type=parse_list, help="the repeats, comma-separated (default: all)")
    m.add_argument("--reference", help="group to align on (default: the first)")
    m.add_argument(
        "--e0-method",
        default="derivative_max",
        choices=["derivative_max", "first_inflection", "half_step"],
        help="how e0 is found when --e0 is not given: maximum of the derivative, first "
        "inflection point, or half the edge step",
    )
    m.add_argument("--max-shift", type=float, default=10.0, help="largest shift of a repeat, eV")
    m.add_argument(
        "--energy-units",
        default="auto",
        choices=["auto", "eV", "keV"],
        help="unit of the energy column (auto: as the file declares, or as the values allow)",
    )
    add_out_arguments(m)
    m.set_defaults(func=_cmd_merge)


def _add_selfabs(sub: Any) -> None:
    s = sub.add_parser("selfabs", help="self-absorption correction of fluorescence XANES")
    s.add_argument("fluorescence", help="fluorescence spectrum: FILE or FILE:GROUP")
    s.add_argument("--formula", required=True, help="sample composition, e.g. MnO")
    s.add_argument("--density", type=float, required=True, help="g/cm^3 of the dense solid")
    s.add_argument("--element", required=True, help="absorber, e.g. Mn")
    s.add_argument("--edge", default="K", help="absorption edge of the absorber (K, L3...)")
    s.add_argument("--line", default="Ka1", help="fluorescence line (xraydb name)")
    s.add_argument("--incidence", type=float, default=45.0, help="beam to surface, degrees")
    s.add_argument("--exit", type=float, default=45.0, help="surface to detector, degrees")
    s.add_argument(
        "--thickness",
        type=float,
        help="thickness in um (default: from --transmission, else infinitely thick)",
    )
    s.add_argument(
        "--transmission",
        help="transmission spectrum of the same sample (FILE or FILE:GROUP): its edge step "
        "gives the thickness, and the result is compared with it",
    )
    s.add_argument(
        "--transmission-incidence",
        type=float,
        default=90.0,
        help="beam-to-surface angle of the transmission scan, degrees (90: normal)",
    )
    s.add_argument(
        "--baseline",
        help="transmission scan (FILE or FILE:GROUP) of the same compound without diluent, "
        "same detectors: the excess pre-edge absorbance of --transmission over it is taken as "
        "a diluent mixed into the sample (ground with BN, binder...)",
    )
    s.add_argument(
        "--diluent",
        default="C6H10O5",
        help="diluent formula (only its energy dependence matters)",
    )
    s.add_argument(
        "--diluent-ratio",
        type=float,
        help="diluent absorbance at the edge / transmission edge step, when known "
        "(default: measured with --baseline, else 0)",
    )
    s.add_argument(
        "--default-normalization",
        action="store_true",
        help="normalize ATHENA groups with the defaults instead of their stored parameters",
    )
    s.add_argument(
        "--energy-units",
        default="auto",
        choices=["auto", "eV", "keV"],
        help="unit of the energy column (auto: as the file declares, or as the values allow)",
    )
    add_out_arguments(s)
    s.set_defaults(func=_cmd_selfabs)


def _add_normalize(sub: Any) -> None:
    n = sub.add_parser("normalize", help="ATHENA/larch normalization of spectra")
    n.add_argument("input", help="XDI, column file, or ATHENA .prj")
    n.add_argument("--group", help="one group of an ATHENA project")
    n.add_argument(
        "--athena-params",
        action="store_true",
        help="use the parameters stored in the ATHENA project",
    )
    _add_channel_options(n)
    _add_norm_options(n)
    add_out_arguments(n)
    n.set_defaults(func=_cmd_normalize)


def _add_calibrate(sub: Any) -> None:
    c = sub.add_parser("calibrate", help="shift a reference foil to the tabulated edge")
    c.add_argument("reference", help="reference-foil spectrum: FILE, or FILE:GROUP of a project")
    c.add_argument("--element", required=True, help="element of the reference foil, e.g. Ni")
    c.add_argument("--edge", default="K", help="absorption edge of the foil (K, L3...)")
    c.add_argument("--group", help="group of the reference's ATHENA project (or FILE:GROUP)")
    c.add_argument("--sample", help="sample spectrum to shift by the same amount")
    c.add_argument(
        "--energy-units",
        default="auto",
        choices=["auto", "eV", "keV"],
        help="unit of the energy column (auto: as the file declares, or as the values allow)",
    )
    add_out_arguments(c)
    c.set_defaults(func=_cmd_calibrate)


def _add_lcf(sub: Any) -> None:
    f = sub.add_parser("lcf", help="linear combination fit (weights >= 0, sum = 1)")
    f.add_argument("spectrum", help="spectrum file, or FILE:GROUP for an ATHENA project group")
    f.add_argument(
        "--standard",
        action="append",
        required=True,
        metavar="NAME=FILE[:GROUP]",
        help="a standard; a project with several groups needs :GROUP",
    )
    f.add_argument(
        "--fit-range",
        nargs=2,
        type=float,
        required=True,
        metavar=("EMIN", "EMAX"),
        help="energy window of the fit, eV (absolute energies)",
    )
    f.add_argument(
        "--fit-shifts", action="store_true", help="fit an energy shift of each standard too"
    )
    f.add_argument("--max-shift", type=float, default=2.0, help="largest shift of a standard, eV")
    f.add_argument("--combinations", action="store_true", help="rank all combinations")
    f.add_argument(
        "--uncertainty",
        default="profile",
        choices=["profile", "bootstrap", "none"],
        help="68%% intervals of the weights: profile likelihood or block bootstrap",
    )
    f.add_argument("--normalize", action="store_true", help="normalize inputs first")
    f.add_argument(
        "--athena-params",
        action="store_true",
        help="normalize ATHENA groups (data and standards) with their stored parameters",
    )
    f.add_argument(
        "--r-factor-max",
        type=float,
        default=0.02,
        help="warn when the fit's R-factor is above this (default 0.02)",
    )
    f.add_argument(
        "--valence",
        action="append",
        metavar="NAME=V",
        help="oxidation state of each standard, for the average valence",
    )
    f.add_argument("--group", help="group of the spectrum's ATHENA project (or FILE:GROUP)")
    _add_norm_options(f)
    add_out_arguments(f)
    f.set_defaults(func=_cmd_lcf)


def _add_map(sub: Any) -> None:
    m = sub.add_parser("map", help="per-pixel XANES fraction / edge-energy maps")
    m.add_argument("stack", help="TIFF or HDF5 stack (energy, y, x)")
    m.add_argument("--energies", required=True, help="text file, one energy per frame")
    m.add_argument(
        "--spacing",
        type=parse_spacing,
        required=True,
        help="pixel size in um: one value, or y,x",
    )
    m.add_argument("--dataset", help="HDF5 dataset path")
    m.add_argument(
        "--standard",
        action="append",
        required=True,
        metavar="NAME=FILE",
        help="a standard spectrum (repeat the option for each standard)",
    )
    m.add_argument(
        "--fit-range",
        nargs=2,
        type=float,
        required=True,
        metavar=("EMIN", "EMAX"),
        help="energy window of the per-pixel fit, eV (absolute energies)",
    )
    m.add_argument("--chunks", type=int, help="image rows per dask block (stacks > RAM)")
    m.add_argument(
        "--standards-normalized",
        action="store_true",
        help="the standards are already normalized: do not normalize them like the stack",
    )
    _add_norm_options(m)
    add_out_arguments(m)
    m.set_defaults(func=_cmd_map)


def register(subparsers: Any) -> Any:
    """Add ``xas`` with sub-commands normalize, calibrate, lcf, map, selfabs and merge.

    Returns the ``xas`` sub-parsers object, so that other modules can add sub-commands.
    """
    p = subparsers.add_parser(
        "xas", help="X-ray absorption: normalize, calibrate, LCF, maps, self-absorption, merge"
    )
    sub = p.add_subparsers(dest="xas_command", metavar="SUBCOMMAND")
    _add_normalize(sub)
    _add_calibrate(sub)
    _add_lcf(sub)
    _add_map(sub)
    _add_selfabs(sub)
    _add_merge(sub)
    # the surface-layer model lives in its own module: one hook
    __import__("cathodescope.cli.xas_layer", fromlist=["add_parser"]).add_parser(sub)
    return sub
