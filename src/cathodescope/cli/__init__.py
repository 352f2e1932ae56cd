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
import traceback
from collections.abc import Sequence

from cathodescope import __version__
from cathodescope.errors import CathodescopeError

# Order is the order shown by --help.
_COMMAND_MODULES = (
    "examples",
    "info",
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
    "report",
)


_GLOBAL_FLAGS = {
    "--debug": "debug",
    "-q": "quiet",
    "--quiet": "quiet",
    "-v": "verbose",
    "--verbose": "verbose",
}


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available command group registered."""
    parser = argparse.ArgumentParser(
        prog="cathodescope",
        description="Quantitative analysis of cathode-particle characterization data.",
    )
    parser.add_argument("--version", action="version", version=f"cathodescope {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an unexpected error (also accepted after the command)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="do not print warnings (they stay in manifest.json)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print warnings of the libraries used"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        module_name = f"cathodescope.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    _house_style(parser)
    return parser


class _HelpFormatter(argparse.HelpFormatter):
    """Append ``(default: X)`` to an option's help when it has a default worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def _house_style(parser: argparse.ArgumentParser) -> None:
    """Every sub-command: the formatter above, and its help line as description when none."""
    parser.formatter_class = _HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if not sub.description and helps.get(name):
                    text = str(helps[name]).strip()
                    sub.description = (
                        text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
                    )
                _house_style(sub)


def _split_global_flags(argv: Sequence[str]) -> tuple[list[str], dict[str, bool]]:
    """Take ``--debug``, ``-q`` and ``-v`` from anywhere on the command line."""
    flags = dict.fromkeys(set(_GLOBAL_FLAGS.values()), False)
    rest: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL_FLAGS:
            flags[_GLOBAL_FLAGS[arg]] = True
        else:
            rest.append(arg)
    return rest, flags


def _configure_warnings(*, quiet: bool, verbose: bool) -> None:
    """Warnings go to stderr as ``warning: ...`` as they happen (``-q`` silences them)."""
    import os
    import warnings

    from cathodescope.errors import CathodescopeWarning

    os.environ["CATHODESCOPE_QUIET"] = "1" if quiet else "0"
    warnings.simplefilter("ignore" if quiet else "always", CathodescopeWarning)
    if quiet:
        warnings.simplefilter("ignore")
    elif not verbose:
        # third-party chatter (numpy's "mean of empty slice", dask's performance notes) only
        # with -v; our own warnings always
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)

    def show(message, category, filename, lineno, file=None, line=None):
        where = "" if issubclass(category, CathodescopeWarning) else f" ({category.__name__})"
        print(f"warning: {message}{where}", file=sys.stderr)

    warnings.showwarning = show


def _error_message(exc: BaseException) -> str | None:
    """One line for the errors a user can fix; None for an unexpected failure."""
    if isinstance(exc, CathodescopeError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is None:
        return str(exc)  # raised with a message of its own
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename}: is a folder; give a file"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or folder; check the path"
    if isinstance(exc, NotADirectoryError):
        return f"{exc.filename}: a part of this path is a file, not a folder"
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied; check the file and folder permissions"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a text file is not in the expected encoding ({exc.reason} at byte {exc.start}); "
            "re-export it as UTF-8 or give its encoding"
        )
    if isinstance(exc, MemoryError):
        return (
            "out of memory; process a smaller region, use a machine with more memory, or "
            "lower the resolution"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cathodescope`` command. Returns the process exit status.

    Exit status 0 on success, 2 for an error the user can fix (bad input, bad option: one line
    ``error: ...`` on stderr), 1 for an unexpected failure (a one-line summary; the traceback
    with ``--debug``), 130 when interrupted.
    """
    import os

    from cathodescope.common.command_line import reset_command_line, set_command_line

    raw = list(sys.argv[1:] if argv is None else argv)
    token = set_command_line(raw)
    quiet_before = os.environ.get("CATHODESCOPE_QUIET")
    try:
        return _main(raw)
    finally:
        reset_command_line(token)
        if quiet_before is None:
            os.environ.pop("CATHODESCOPE_QUIET", None)
        else:
            os.environ["CATHODESCOPE_QUIET"] = quiet_before


def _main(raw: list[str]) -> int:
    args_list, flags = _split_global_flags(raw)
    parser = build_parser()
    args = parser.parse_args(args_list)
    flags = {k: v or bool(getattr(args, k, False)) for k, v in flags.items()}
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    import warnings

    with warnings.catch_warnings():
        _configure_warnings(quiet=flags["quiet"], verbose=flags["verbose"])
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            message = _error_message(exc)
            if message is not None:
                if flags["debug"]:
                    traceback.print_exc()
                print(f"error: {message}", file=sys.stderr)
                return 2
            if flags["debug"]:
                traceback.print_exc()
            print(
                f"error: unexpected {type(exc).__name__}: {exc} (this is a bug in cathodescope; "
                "run again with --debug for the traceback and report it)",
                file=sys.stderr,
            )
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
