"""Helpers shared by CLI modules: argument types for spacing and channel lists, progress."""

from __future__ import annotations

import argparse


def parse_spacing(text: str) -> tuple[float, ...]:
    """Parse ``0.049`` or ``0.0735,0.049,0.049`` (um, array axis order) for argparse."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"spacing must be numbers in um separated by commas, got {text!r}"
        ) from exc
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"spacing must be > 0 um, got {text!r}")
    return values


def parse_list(text: str) -> list[str]:
    """Parse a comma-separated list such as ``Ni,Mn,Co``."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. Ni,Mn,Co")
    return items


def open_run(args: argparse.Namespace, command: str, parameters: dict | None = None):
    """Open the run folder of a command: ``--out``, ``--overwrite`` and every CLI option.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options; must hold ``out`` and ``overwrite`` (see :func:`add_out_arguments`).
    command : str
        Command name recorded in the manifest, e.g. ``"xas lcf"``.
    parameters : dict, optional
        Parameters to record (default: every parsed option; callables are left out by
        :class:`~cathodescope.report.RunFolder`).
    """
    from cathodescope.report import RunFolder

    params = vars(args) if parameters is None else parameters
    return RunFolder(args.out, command=command, parameters=params, overwrite=args.overwrite)


def add_out_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """Add the ``--out`` and ``--overwrite`` options every command shares."""
    parser.add_argument(
        "--out",
        default=default,
        required=default is None,
        help="run folder to create for tables, figures and manifest.json",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="write into --out even if it is not empty"
    )
