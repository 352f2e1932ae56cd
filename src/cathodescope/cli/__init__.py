"""Command-line interface: ``cathodescope COMMAND ...``.

Each command group lives in its own module ``cathodescope.cli.<group>`` exposing
``register(subparsers)``, which adds an argparse sub-parser whose ``func(args) -> int`` does the
work by calling the library. Heavy libraries are imported inside ``func`` so that ``--help`` is
instant.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from cathodescope import __version__
from cathodescope.errors import CathodescopeError

# Order is the order shown by --help.
_COMMAND_MODULES = (
    "profile",
    "demo",
    "tomo",
    "xas",
    "echem",
    "xrf",
    "spm",
    "xrd",
    "thermal",
    "diffusion",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available command group registered."""
    parser = argparse.ArgumentParser(
        prog="cathodescope",
        description="Quantitative analysis of cathode-particle characterization data.",
    )
    parser.add_argument("--version", action="version", version=f"cathodescope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        module_name = f"cathodescope.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cathodescope`` command. Returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CathodescopeError as exc:
        print(f"cathodescope {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
