"""Conventions of the command line, checked on every parser rather than by memory."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from cathodescope import __version__
from cathodescope.cli import build_parser, main

# one name per idea: these spellings were unified to --spacing and --active-mass-g
FORBIDDEN_OPTIONS = {"--pixel-size", "--pixel-um", "--pixel-size-um", "--mass-g"}
MARKUP = re.compile(r"``|:func:|:class:|:mod:|\\n|\s{3,}")


def _walk(parser: argparse.ArgumentParser, prefix: str = "cathodescope"):
    """Yield (command path, parser, help line given by the parent) for every sub-command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                path = f"{prefix} {name}"
                yield path, sub, helps.get(name)
                yield from _walk(sub, path)


COMMANDS = list(_walk(build_parser()))

# Command groups owned by a branch not yet merged into main: their fixes arrive with the branch
# (remove the entry when it is merged).
WAITS_FOR_BRANCH: dict[str, str] = {}


def _skip_if_waiting(path: str) -> None:
    group = path.split()[1]
    if group in WAITS_FOR_BRANCH:
        pytest.skip(f"{path}: waits for branch {WAITS_FOR_BRANCH[group]}")


def _is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


@pytest.mark.parametrize("path,parser,line", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_has_a_one_line_description(path, parser, line):
    _skip_if_waiting(path)
    assert line and line.strip(), f"{path}: no help line in the list of commands"
    assert "\n" not in line.strip() and not MARKUP.search(line), f"{path}: {line!r}"
    assert parser.description, f"{path}: no description for --help"


@pytest.mark.parametrize("path,parser,line", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_option_has_help_and_the_house_spelling(path, parser, line):
    _skip_if_waiting(path)
    problems = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help or not action.help.strip():
            problems.append(f"{name}: no help text")
        elif MARKUP.search(action.help):
            problems.append(f"{name}: markup in help {action.help!r}")
        forbidden = FORBIDDEN_OPTIONS.intersection(action.option_strings)
        if forbidden:
            problems.append(f"{name}: use --spacing (um) / --active-mass-g, not {forbidden}")
        if not action.option_strings and action.dest in ("out", "output", "out_dir"):
            problems.append("the run folder is given with --out, not as a positional argument")
    assert not problems, f"{path}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "path,parser", [(p, s) for p, s, _ in COMMANDS if _is_leaf(s)], ids=lambda x: str(x)
)
def test_commands_that_write_take_out(path, parser):
    _skip_if_waiting(path)
    writes = any("--out" in a.option_strings for a in parser._actions)
    prints_only = path.split()[-1] in ("info", "examples-list")
    assert writes or prints_only, f"{path}: every command that writes takes --out DIR"


def test_version_and_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "cathodescope", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == f"cathodescope {__version__}"


def test_errors_are_one_line_with_exit_2(tmp_path, capsys):
    code = main(
        [
            "profile",
            str(tmp_path / "missing.tif"),
            "--channels",
            "Ni",
            "--spacing",
            "0.05",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "missing.tif" in err[0]


def test_folder_given_as_input_is_one_line(tmp_path, capsys):
    code = main(
        [
            "profile",
            str(tmp_path),
            "--channels",
            "Ni",
            "--spacing",
            "0.05",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ")


def test_unexpected_errors_exit_1_with_a_summary_and_traceback_only_with_debug(
    monkeypatch, tmp_path, capsys
):
    import cathodescope.cli as cli

    parser = cli.build_parser()

    def boom(args):
        raise ZeroDivisionError("division by zero")

    args = parser.parse_args(
        ["profile", "x.tif", "--channels", "Ni", "--spacing", "0.05", "--out", str(tmp_path / "r")]
    )
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", lambda self, a=None: args)
    args.func = boom
    assert main(["profile"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected ZeroDivisionError" in err and "--debug" in err
    assert main(["profile", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
