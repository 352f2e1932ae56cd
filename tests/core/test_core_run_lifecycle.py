"""Run folders a job scheduler can kill: staging, atomic moves, umask, safe names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from cathodescope.errors import OutputExistsError, OutputPathError
from cathodescope.report import RunFolder, safe_name


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_manifest_says_running_from_the_start_and_final_name_appears_at_the_end(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out, command="x", parameters={"a": 1}) as run:
        staged = json.loads((run.path / "manifest.json").read_text())
        assert staged["status"] == "running" and staged["pid"] == os.getpid()
        assert staged["started_at"] and staged["command"] == "x"
        assert not out.exists()  # nothing under the final name while the run is going
        run.write_table("t", pd.DataFrame({"a": [1]}))
    assert run.path == out.absolute()
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    assert _names(tmp_path) == {"run"}  # no staging folder, no temp file left


def test_failed_rerun_keeps_the_previous_good_run(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out, command="x") as run:
        run.write_table("good", pd.DataFrame({"a": [1]}))
    with pytest.raises(RuntimeError), RunFolder(out, command="x", overwrite=True) as run:
        run.write_table("half", pd.DataFrame({"a": [1]}))
        raise RuntimeError("boom")
    assert "good.csv" in _names(out) and "half.csv" not in _names(out)
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    assert _names(tmp_path) == {"run"}


_KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from cathodescope.report import RunFolder
    with RunFolder(sys.argv[1], command="slow", overwrite=True) as run:
        run.write_table("partial", pd.DataFrame({"a": [1]}))
        print("started", flush=True)
        time.sleep(60)
    """
)


def _start_and_kill(out: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def test_sigkill_during_overwrite_keeps_previous_run_and_next_run_cleans_up(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out, command="x") as run:
        run.write_table("good", pd.DataFrame({"a": [1]}))
    before = _names(out)
    _start_and_kill(out)
    assert _names(out) == before  # the previous run is intact under its name
    leftovers = [p for p in tmp_path.iterdir() if p.name != "run"]
    assert leftovers and all(p.name.startswith(".run.run-") for p in leftovers)
    with RunFolder(out, command="x", overwrite=True) as run:
        run.write_table("new", pd.DataFrame({"a": [1]}))
    assert "new.csv" in _names(out) and "good.csv" not in _names(out)
    assert _names(tmp_path) == {"run"}  # the killed run's staging folder was removed


def test_interrupted_run_under_final_name_may_be_reused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead_pid = 2**22 + 12345  # above the kernel's default pid_max: no such process
    (out / "manifest.json").write_text(json.dumps({"status": "running", "pid": dead_pid}))
    with RunFolder(out, command="x") as run:
        run.write_table("t", pd.DataFrame({"a": [1]}))
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"


def test_running_folder_of_a_live_process_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))
    with pytest.raises(OutputExistsError, match="still writing"):
        RunFolder(out, command="x", overwrite=True)


def test_outputs_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with RunFolder(tmp_path / "run", command="x") as run:
            run.write_table("t", pd.DataFrame({"a": [1]}))
    finally:
        os.umask(old)
    for p in (tmp_path / "run").iterdir():
        assert p.stat().st_mode & 0o777 == 0o644, p
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755


def test_names_from_user_input_cannot_leave_the_folder(tmp_path):
    out = tmp_path / "sub" / "run"
    with RunFolder(out, command="x") as run:
        run.write_table("../../../ESCAPED", pd.DataFrame({"a": [1]}))
        run.write_json("/etc/x", {"a": 1})
        run.file("../evil.txt").write_text("x")
    assert {p.parent for p in tmp_path.rglob("ESCAPED*")} == {out}
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} == {out}
    assert safe_name("..") == "unnamed"
    assert safe_name("Ni Mn/Co") == "Ni_Mn_Co"


def test_out_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        RunFolder(tmp_path / "afile" / "run", command="x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        RunFolder(tmp_path / "afile", command="x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputPathError, match="permission"):
        RunFolder(locked / "run", command="x")


def test_warnings_reach_stderr_as_they_happen(tmp_path, capfd):
    import warnings

    from cathodescope.errors import CathodescopeWarning

    with RunFolder(tmp_path / "run", command="x") as run:
        warnings.warn("spacing looks like nm", CathodescopeWarning, stacklevel=1)
        assert "warning: spacing looks like nm" in capfd.readouterr().err
        time.sleep(0)
    assert run.warnings == ["spacing looks like nm"]
