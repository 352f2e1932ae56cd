"""``cathodescope xas layer PROBES.toml --out DIR``: surface layer from probes of different depth."""

from __future__ import annotations

import argparse
from typing import Any

from cathodescope.cli._common import add_out_arguments

_PARAMETERS = ("thickness_nm", "surface_fraction", "bulk_fraction")


def _parse_fix(text: str) -> tuple[str, float]:
    """``surface_fraction=0.8`` -> ("surface_fraction", 0.8), for argparse."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in _PARAMETERS:
        raise argparse.ArgumentTypeError(
            f"--fix must be NAME=VALUE with NAME one of {', '.join(_PARAMETERS)}; got {text!r}"
        )
    try:
        return name, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--fix {name}= needs a number, got {value!r}") from exc


def _cmd_layer(args: argparse.Namespace) -> int:
    from cathodescope.workflows.xas_layer import run_xas_layer

    result = run_xas_layer(
        args.probes,
        args.out,
        shape=args.shape,
        width_nm=args.width,
        fixed=dict(args.fix or []),
        overwrite=args.overwrite,
        parameters=vars(args),
    )
    print(result.to_dataframe().to_string(index=False))
    fits = getattr(result, "fits", (result,))
    index = getattr(result, "index", (None,))
    index_name = getattr(result, "index_name", "")
    for i, fit in zip(index, fits, strict=True):
        if fit.message:
            where = "" if i is None else f"{index_name} {i}: "
            print(f"note: {where}{fit.message}")
    print(f"layer.csv, probes.csv and figures -> {args.out}")
    return 0


def add_parser(xas_subparsers: Any) -> None:
    """Add the ``layer`` sub-command to the ``xas`` group's sub-parsers."""
    p = xas_subparsers.add_parser(
        "layer",
        help="surface layer (thickness, surface and bulk fraction) from TEY/FY/transmission weights",
    )
    p.add_argument("probes", help="probe file (TOML, [[probe]] tables; see the README)")
    p.add_argument(
        "--shape", choices=["sharp", "erf"], help="layer profile (default: the file's, else sharp)"
    )
    p.add_argument("--width", type=float, help="erf transition width (standard deviation), nm")
    p.add_argument(
        "--fix",
        action="append",
        type=_parse_fix,
        metavar="NAME=VALUE",
        help="hold a parameter (thickness_nm, surface_fraction, bulk_fraction); repeatable",
    )
    add_out_arguments(p)
    p.set_defaults(func=_cmd_layer)
