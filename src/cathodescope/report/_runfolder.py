"""The run folder every command writes: tables (CSV + Parquet), figures (PNG), manifest.json.

Usage pattern, shared by every CLI command::

    with RunFolder(out_dir, command="profile", parameters=vars(args)) as run:
        run.add_input(path)                       # checksum recorded
        with run.timer("segment"):
            ...
        run.write_table("profiles", df)           # profiles.csv + profiles.parquet
        run.write_figure("profiles", fig)         # profiles.png
        run.warn("particle 3 is cut by the field of view")
    # manifest.json is written last, atomically, when the block exits without error.

Every file is written atomically (temporary file + rename), so an interrupted run never leaves a
half-written table. If the block raises, the manifest records ``status: "failed"`` and the
error, so a partial folder is never mistaken for a finished one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from cathodescope.common.atomic import atomic_path, atomic_write_text, current_umask, sha256_file
from cathodescope.common.command_line import command_line
from cathodescope.errors import CathodescopeWarning, OutputExistsError, OutputPathError

_VERSIONED_PACKAGES = (
    "cathodescope",
    "numpy",
    "scipy",
    "scikit-image",
    "xarray",
    "pandas",
    "pyarrow",
    "h5py",
    "tifffile",
    "zarr",
    "edt",
    "matplotlib",
    "xraydb",
    "lmfit",
    "dask",
    "numba",
    "galvani",
    "igor2",
    "gwyfile",
    "NewareNDA",
    "access-parser",
    "distributed",
    "astra-toolbox",
)


def _show_warning(message: str) -> None:
    """Print a run warning on stderr as ``warning: ...`` unless ``-q`` asked for quiet."""
    if os.environ.get("CATHODESCOPE_QUIET") == "1":
        return
    print(f"warning: {message}", file=sys.stderr)


def package_versions() -> dict[str, str]:
    """Versions of cathodescope and the libraries whose numbers it relies on (installed ones)."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def _jsonable(value: Any) -> Any:
    """Convert parameters (paths, numpy scalars, tuples, dataclasses) to JSON-friendly values."""
    import dataclasses

    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+=-]+")


def safe_name(name: str) -> str:
    """Return ``name`` as a file name that cannot leave its folder.

    Output names are often derived from user input (channel, group and sample names): path
    separators, ``..``, leading dots and any other character outside ``[A-Za-z0-9._+=-]``
    become ``_``.

    Parameters
    ----------
    name : str
        A name such as ``"Ni/Mn ratio"`` or ``"../../x"``.

    Returns
    -------
    str
        A non-empty file name without separators, e.g. ``"Ni_Mn_ratio"``.

    Examples
    --------
    >>> safe_name("../../../ESCAPED")
    'ESCAPED'
    >>> safe_name("Ni/Mn ratio")
    'Ni_Mn_ratio'
    """
    cleaned = _SAFE_NAME.sub("_", str(name)).replace("..", "_")
    cleaned = cleaned.strip("._") or "unnamed"
    return cleaned


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _run_state(folder: Path) -> str:
    """``"empty"``, ``"missing"``, ``"ok"``, ``"failed"``, ``"interrupted"`` or ``"foreign"``.

    ``"interrupted"`` is a manifest still saying ``running`` whose process is gone;
    ``"foreign"`` a folder with files but no manifest of ours.
    """
    if not folder.exists():
        return "missing"
    if not folder.is_dir():
        return "foreign"
    if not any(folder.iterdir()):
        return "empty"
    manifest = _read_manifest(folder)
    if manifest is None or "status" not in manifest:
        return "foreign"
    status = manifest["status"]
    if status == "running":
        return "running" if _pid_alive(manifest.get("pid")) else "interrupted"
    return "failed" if status == "failed" else "ok"


def _only_run_files(folder: Path) -> bool:
    """True when every entry of ``folder`` is listed by its manifest (a pure run folder)."""
    manifest = _read_manifest(folder) or {}
    listed = {str(n) for n in manifest.get("outputs", [])} | {"manifest.json"}
    return all(p.name in listed for p in folder.iterdir())


def _remove_previous_run(path: Path) -> None:
    """Delete the outputs listed by an earlier run's manifest (and the manifest) in ``path``.

    Only files that the earlier run wrote are removed, so pointing ``--out`` at a folder of
    unrelated files with ``--overwrite`` never deletes them.
    """
    manifest = _read_manifest(path) or {}
    for name in manifest.get("outputs", []):
        target = (path / str(name)).resolve()
        if target.parent != path.resolve():
            continue
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.is_file():
            target.unlink()
    with contextlib.suppress(FileNotFoundError):
        (path / "manifest.json").unlink()


def _clean_stale_staging(final: Path) -> None:
    """Remove hidden staging folders of earlier runs into ``final`` whose process is gone."""
    for staged in final.parent.glob(f".{final.name}.run-*"):
        manifest = _read_manifest(staged) or {}
        if not _pid_alive(manifest.get("pid")):
            shutil.rmtree(staged, ignore_errors=True)


class RunFolder:
    """One output folder of one run, with its manifest.

    The run is built in a hidden sibling folder (``.NAME.run-PID``) whose manifest says
    ``"status": "running"`` (pid, start time, command line) from the start; it is moved onto
    the final name only when the run ends, so a killed run never leaves a half run under the
    final name and ``overwrite`` never loses the previous run before the new one is complete.
    A failed run is moved into place too (its manifest says ``"failed"`` and why) unless that
    would replace a good previous run, which is then kept.

    Parameters
    ----------
    path : path-like
        Folder to create. It may exist only if it is empty, holds only a failed or
        interrupted run, or ``overwrite`` is true.
    command : str
        Name of the command or pipeline (recorded in the manifest).
    parameters : mapping, optional
        Every parameter of the run, recorded verbatim in the manifest.
    overwrite : bool
        Allow replacing a finished run (or writing into a folder that holds other files; only
        the outputs of an earlier run are removed then).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        command: str,
        parameters: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.final_path = Path(path).absolute()
        self._check_target(overwrite)
        self.overwrite = overwrite
        self.command = command
        # callables (e.g. argparse's ``func``) are code, not parameters: leave them out
        self.parameters: dict[str, Any] = {
            k: v for k, v in dict(parameters or {}).items() if not callable(v)
        }
        self.inputs: list[dict[str, Any]] = []
        self.outputs: list[str] = []
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        self.results: dict[str, Any] = {}
        self._start = time.perf_counter()
        self._started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self._catcher: Any = None
        self.path = self._make_staging()
        self.write_manifest(status="running")

    def _check_target(self, overwrite: bool) -> None:
        final = self.final_path
        if final.exists() and not final.is_dir():
            raise OutputExistsError(f"{final} exists and is not a folder; choose another --out.")
        state = _run_state(final)
        if state == "running":
            raise OutputExistsError(
                f"another cathodescope run is still writing {final} (see its manifest.json); "
                "wait for it to finish or choose another --out."
            )
        if state in ("ok", "foreign") and not overwrite:
            raise OutputExistsError(
                f"output folder {final} is not empty; choose a new --out or pass "
                "--overwrite to replace its contents."
            )

    def _make_staging(self) -> Path:
        parent = self.final_path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            _clean_stale_staging(self.final_path)
            staging = parent / f".{self.final_path.name}.run-{os.getpid()}-{time.time_ns()}"
            staging.mkdir()
        except (NotADirectoryError, FileExistsError) as exc:
            raise OutputPathError(
                f"cannot create the run folder {self.final_path}: a parent of it is a file; "
                "choose another --out."
            ) from exc
        except PermissionError as exc:
            raise OutputPathError(
                f"cannot create the run folder {self.final_path}: permission denied ({exc}); "
                "choose a writable --out."
            ) from exc
        os.chmod(staging, 0o777 & ~current_umask())
        return staging

    # -- context manager: capture cathodescope warnings, write manifest at the end ------------
    def __enter__(self) -> RunFolder:
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("always", CathodescopeWarning)
        passthrough = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, CathodescopeWarning):
                # recorded in the manifest and shown on the terminal as it happens
                self.warnings.append(str(message))
                _show_warning(str(message))
            else:  # not ours: shown as usual
                passthrough(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._catcher.__exit__(exc_type, exc, tb)
        status = "ok" if exc_type is None else "failed"
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        self.write_manifest(status=status, error=error)
        self._move_into_place(status)

    def _move_into_place(self, status: str) -> None:
        """Move the finished staging folder onto the final name (see the class docstring)."""
        final, staging = self.final_path, self.path
        state = _run_state(final)
        if status != "ok" and state == "ok":
            # a failed rerun never replaces a good run: keep the previous one
            shutil.rmtree(staging, ignore_errors=True)
            self.path = final
            return
        if state in ("missing", "empty"):
            with contextlib.suppress(FileNotFoundError):
                final.rmdir()
            os.replace(staging, final)
        elif state in ("ok", "failed", "interrupted") and _only_run_files(final):
            old = final.parent / f".{final.name}.old-{os.getpid()}-{time.time_ns()}"
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:  # a folder with files of the user's: replace our outputs one by one
            _remove_previous_run(final)
            for entry in staging.iterdir():
                if entry.name != "manifest.json":
                    os.replace(entry, final / entry.name)
            os.replace(staging / "manifest.json", final / "manifest.json")
            staging.rmdir()
        self.path = final

    # -- recording ----------------------------------------------------------------------------
    def add_input(self, path: str | os.PathLike[str], **info: Any) -> None:
        """Record an input file with its size and SHA-256 (and any extra info, e.g. channel)."""
        p = Path(path)
        entry: dict[str, Any] = {"path": os.fspath(p.resolve()), **_jsonable(info)}
        if p.is_file():
            entry["bytes"] = p.stat().st_size
            entry["sha256"] = sha256_file(p)
        elif p.is_dir():  # e.g. a Zarr store: record that it is a folder
            entry["folder"] = True
        self.inputs.append(entry)

    def warn(self, message: str) -> None:
        """Record a warning in the manifest (and show it to the user)."""
        warnings.warn(message, CathodescopeWarning, stacklevel=2)

    @contextlib.contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time a block; the wall time in s goes to ``manifest['timings_s'][name]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    # -- writing ------------------------------------------------------------------------------
    def write_table(self, name: str, table: Any, *, parquet: bool = True) -> Path:
        """Write a pandas DataFrame as ``name.csv`` (and ``name.parquet``), atomically."""
        name = safe_name(name)
        csv_path = self.path / f"{name}.csv"
        with atomic_path(csv_path) as tmp:
            table.to_csv(tmp, index=False)
        self.outputs.append(csv_path.name)
        if parquet:
            pq_path = self.path / f"{name}.parquet"
            with atomic_path(pq_path) as tmp:
                table.to_parquet(tmp, index=False)
            self.outputs.append(pq_path.name)
        return csv_path

    def write_figure(self, name: str, figure: Any, *, dpi: int = 150) -> Path:
        """Save a matplotlib figure as ``name.png`` atomically.

        Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state to close).
        """
        path = self.path / f"{safe_name(name)}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=dpi, bbox_inches="tight")
        self.outputs.append(path.name)
        return path

    def write_json(self, name: str, data: Any) -> Path:
        """Write a JSON document ``name.json`` atomically."""
        path = self.path / f"{safe_name(name)}.json"
        atomic_write_text(path, json.dumps(_jsonable(data), indent=2))
        self.outputs.append(path.name)
        return path

    def file(self, name: str) -> Path:
        """Path of an extra output file inside the run folder (caller writes it atomically).

        ``name`` is sanitised with :func:`safe_name` (its extension kept), so it cannot leave
        the folder.
        """
        name = safe_name(name)
        self.outputs.append(name)
        return self.path / name

    def write_manifest(self, *, status: str = "ok", error: str | None = None) -> Path:
        """Write ``manifest.json``: inputs, parameters, versions, timings, warnings, outputs."""
        manifest = {
            "command": self.command,
            "status": status,
            "error": error,
            "pid": os.getpid(),
            "folder": os.fspath(self.final_path),
            "started_at": self._started_at,
            "finished_at": None
            if status == "running"
            else _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "argv": command_line(),
            "inputs": self.inputs,
            "parameters": _jsonable(self.parameters),
            "versions": package_versions(),
            "machine": {
                "platform": platform.platform(),
                "processor": platform.machine(),
                "cpu_count": os.cpu_count(),
            },
            "timings_s": {**self.timings, "total": time.perf_counter() - self._start},
            "warnings": self.warnings,
            "results": _jsonable(self.results),
            "outputs": sorted(set(self.outputs)),
        }
        return atomic_write_text(self.path / "manifest.json", json.dumps(manifest, indent=2))
