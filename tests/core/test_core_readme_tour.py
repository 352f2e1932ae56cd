"""Every command of the README runs as typed, in a fresh folder (issue 11 item 6).

The ```bash blocks of README.md are the tour a new user follows: ``cathodescope examples``
writes its inputs, then each ``cathodescope ...`` command must exit 0, in order, in one
temporary folder, through the same entry point as the console script. ``make`` lines set up a virtualenv (covered by the Makefile itself) and are
not run here; commands that read copies of the shared measurement files are skipped, with the
reason, when that folder is absent.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import shlex
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_commands(text: str) -> list[str]:
    """The shell commands of every ```bash block, continuation lines joined."""
    commands = []
    for block in BLOCK.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [ln.strip() for ln in joined.splitlines() if ln.strip()]
    return commands


def _shared_inputs(command: str) -> list[str]:
    """Paths under examples/shared/ that a command reads (FILE:GROUP and NAME=FILE aware)."""
    found = []
    for word in shlex.split(command, comments=True):
        for part in word.split("="):
            if part.startswith("examples/shared/"):
                path = part.split(":")[0] if part.count(":") else part
                found.append(path)
    return found


def test_readme_commands_are_found():
    commands = readme_commands(README.read_text())
    assert commands[0].startswith("make demo")
    assert any(c.startswith("cathodescope examples --out examples") for c in commands)
    assert sum(c.startswith("cathodescope ") for c in commands) >= 30


def _argv(command: str, cwd: Path) -> list[str]:
    """The arguments after ``cathodescope``, with shell globs expanded as bash would."""
    argv = []
    for word in shlex.split(command, comments=True)[1:]:
        hits = sorted(glob.glob(word, root_dir=cwd)) if any(c in word for c in "*?[") else []
        argv += hits or [word]
    return argv


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, monkeypatch):
    """Each command through the console-script entry point, in one fresh folder, in order."""
    from cathodescope.cli import main

    work = tmp_path / "tour"
    work.mkdir()
    monkeypatch.chdir(work)
    failures, skipped, timings = [], [], []
    for command in readme_commands(README.read_text()):
        if not command.startswith("cathodescope"):
            continue  # make demo / make test: the Makefile's own targets
        missing = [p for p in _shared_inputs(command) if not (work / p).exists()]
        if missing:
            skipped.append(f"{command[:60]}... (no {missing[0]}: shared data absent)")
            continue
        start = time.perf_counter()
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(_argv(command, work))
        timings.append((time.perf_counter() - start, command[:70]))
        if code != 0:
            failures.append(f"{command}\n  exit {code}: {err.getvalue().strip()[-600:]}")
    slowest = "\n".join(f"{t:6.1f} s  {c}" for t, c in sorted(timings, reverse=True)[:5])
    assert not failures, "\n\n".join(failures) + f"\n\nslowest:\n{slowest}"
    if skipped:
        print("skipped:\n" + "\n".join(skipped))


def test_make_demo_then_the_readme_demo_command(tmp_path):
    """``make demo`` writes demo_output; the README's demo command then reuses the folder."""
    from cathodescope.cli import main

    makefile = (ROOT / "Makefile").read_text()
    make_demo = re.search(r"^demo:.*\n\t(.+)$", makefile, re.MULTILINE).group(1)
    readme_demo = next(
        c for c in readme_commands(README.read_text()) if c.startswith("cathodescope demo --out")
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for command in (make_demo, readme_demo):
            argv = shlex.split(command, comments=True)[1:]
            assert main([*argv, "--n-particles", "1", "--no-progress"]) == 0, command
    finally:
        os.chdir(cwd)
    assert (tmp_path / "demo_output" / "manifest.json").is_file()
