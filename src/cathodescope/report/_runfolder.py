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
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from cathodescope.common.atomic import atomic_path, atomic_write_text, sha256_file
from cathodescope.errors import CathodescopeWarning, OutputExistsError

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
    "astra-toolbox",
)


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


def _remove_previous_run(path: Path) -> None:
    """Delete the outputs listed by an earlier run's manifest (and the manifest) in ``path``.

    Only files that the earlier run wrote are removed, so pointing ``--out`` at a folder of
    unrelated files with ``--overwrite`` never deletes them.
    """
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return
    try:
        listed = json.loads(manifest.read_text()).get("outputs", [])
    except (OSError, ValueError):
        listed = []
    for name in listed:
        target = (path / str(name)).resolve()
        if target.parent == path.resolve() and target.is_file():
            target.unlink()
    manifest.unlink()


class RunFolder:
    """One output folder of one run, with its manifest.

    Parameters
    ----------
    path : path-like
        Folder to create. It may exist only if it is empty or ``overwrite`` is true.
    command : str
        Name of the command or pipeline (recorded in the manifest).
    parameters : mapping, optional
        Every parameter of the run, recorded verbatim in the manifest.
    overwrite : bool
        Allow writing into a folder that already holds files.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        command: str,
        parameters: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise OutputExistsError(
                f"{self.path} exists and is not a folder; choose another --out."
            )
        if self.path.is_dir() and any(self.path.iterdir()):
            if not overwrite:
                raise OutputExistsError(
                    f"output folder {self.path} is not empty; choose a new --out or pass "
                    "--overwrite to replace its contents."
                )
            _remove_previous_run(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
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
        self._caught: list[warnings.WarningMessage] = []

    # -- context manager: capture cathodescope warnings, write manifest at the end ------------
    def __enter__(self) -> RunFolder:
        self._catcher = warnings.catch_warnings(record=True)
        self._caught = self._catcher.__enter__()
        warnings.simplefilter("always", CathodescopeWarning)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        caught = list(self._caught)
        self._catcher.__exit__(exc_type, exc, tb)
        for w in caught:
            if issubclass(w.category, CathodescopeWarning):
                self.warnings.append(str(w.message))
            else:  # not ours: pass it on unchanged
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        status = "ok" if exc_type is None else "failed"
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        self.write_manifest(status=status, error=error)

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
        """Save a matplotlib figure as ``name.png`` atomically (and close it if pyplot made it)."""
        path = self.path / f"{name}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=dpi, bbox_inches="tight")
        if getattr(figure.canvas, "manager", None) is not None:  # a pyplot figure: release it
            import matplotlib.pyplot as plt

            plt.close(figure)
        self.outputs.append(path.name)
        return path

    def write_json(self, name: str, data: Any) -> Path:
        """Write a JSON document ``name.json`` atomically."""
        path = self.path / f"{name}.json"
        atomic_write_text(path, json.dumps(_jsonable(data), indent=2))
        self.outputs.append(path.name)
        return path

    def file(self, name: str) -> Path:
        """Path of an extra output file inside the run folder (caller writes it atomically)."""
        self.outputs.append(name)
        return self.path / name

    def write_manifest(self, *, status: str = "ok", error: str | None = None) -> Path:
        """Write ``manifest.json``: inputs, parameters, versions, timings, warnings, outputs."""
        manifest = {
            "command": self.command,
            "status": status,
            "error": error,
            "started_at": self._started_at,
            "finished_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "argv": sys.argv,
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
