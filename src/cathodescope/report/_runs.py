"""Reading finished run folders back: the manifest, its tables and its figures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cathodescope.errors import FileFormatError, InputNotFoundError, MissingMetadataError


@dataclass(frozen=True)
class RunRecord:
    """A finished run folder as the sample report sees it.

    Parameters
    ----------
    path : Path
        The run folder.
    manifest : dict
        Its ``manifest.json``.
    tables : dict of str to Path
        CSV tables by name (``"ratios"`` for ``ratios.csv``).
    figures : dict of str to Path
        PNG figures by name.
    labels : dict
        Labels given in the sample file (``cycle``, ``probe``, ``soc``...).
    """

    path: Path
    manifest: dict[str, Any]
    tables: dict[str, Path]
    figures: dict[str, Path]
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str:
        """The command that made the run, e.g. ``"xas lcf"``."""
        return str(self.manifest.get("command", "?"))

    @property
    def status(self) -> str:
        """``"ok"`` or ``"failed"``."""
        return str(self.manifest.get("status", "?"))

    @property
    def name(self) -> str:
        """The folder name, used for headings and asset names."""
        return self.path.name

    def table(self, name: str) -> Any:
        """Read table ``name`` as a DataFrame (None when the run has no such table)."""
        import pandas as pd

        path = self.tables.get(name)
        return None if path is None else pd.read_csv(path)


def load_run(path: str | os.PathLike[str], labels: dict[str, Any] | None = None) -> RunRecord:
    """Read a run folder written by any cathodescope command.

    Parameters
    ----------
    path : str or path-like
        The run folder (the ``--out`` of an earlier command).
    labels : dict, optional
        Labels of this run from the sample file (``cycle``, ``probe``, ``soc``...).

    Returns
    -------
    RunRecord
        Manifest, tables and figures of the run.

    Raises
    ------
    InputNotFoundError
        If the folder does not exist.
    MissingMetadataError
        If it has no ``manifest.json`` (not a cathodescope run folder) or the run is still
        going (status ``"running"``).
    FileFormatError
        If the manifest is not valid JSON.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputNotFoundError(f"run folder {folder} does not exist; give the --out of a run.")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise MissingMetadataError(
            f"{folder} has no manifest.json: it is not a cathodescope run folder (give the "
            "--out folder of a cathodescope command)."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FileFormatError(
            f"{manifest_path} is not valid JSON ({exc}); rerun the command."
        ) from exc
    if manifest.get("status") == "running":
        raise MissingMetadataError(
            f"{folder} holds a run that has not finished (status 'running'); wait for it or "
            "rerun it."
        )
    outputs = [str(n) for n in manifest.get("outputs", [])] or [p.name for p in folder.iterdir()]
    tables = {}
    figures = {}
    for name in sorted(outputs):
        p = folder / name
        if not p.is_file():
            continue
        if p.suffix == ".csv":
            tables[p.stem] = p
        elif p.suffix == ".png":
            figures[p.stem] = p
    return RunRecord(folder, manifest, tables, figures, dict(labels or {}))


@dataclass(frozen=True)
class Sample:
    """One sample of a report: a name, a description and its runs.

    Parameters
    ----------
    name : str
        Sample name, used as page title and in comparisons.
    runs : tuple of RunRecord
        Its run folders.
    description : str
        Free text shown under the title.
    """

    name: str
    runs: tuple[RunRecord, ...]
    description: str = ""


def read_sample_file(path: str | os.PathLike[str]) -> tuple[str | None, list[Sample]]:
    """Read a sample file (TOML) that groups run folders into samples.

    Parameters
    ----------
    path : str or path-like
        A TOML file::

            title = "CG NMC622 vs NMC622"
            [[sample]]
            name = "CG NMC622"
            description = "concentration gradient"
            runs = ["runs/cg_profile", "runs/cg_tey"]
            [sample.labels]
            "runs/cg_tey" = { probe = "TEY", cycle = 1 }

        Relative run paths are taken relative to the sample file.

    Returns
    -------
    title : str or None
        The report title, when given.
    samples : list of Sample
        The samples in file order.

    Raises
    ------
    InputNotFoundError
        If the file or a run folder does not exist.
    FileFormatError
        If the TOML is invalid or a sample has no name or no runs.
    """
    import tomllib

    file = Path(path)
    if not file.is_file():
        raise InputNotFoundError(f"sample file {file} does not exist.")
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{file} is not valid TOML ({exc}).") from exc
    samples = []
    for i, entry in enumerate(doc.get("sample", [])):
        name = entry.get("name")
        runs = entry.get("runs")
        if not name or not runs:
            raise FileFormatError(
                f"{file}: [[sample]] number {i + 1} needs a name and a list of runs."
            )
        labels = entry.get("labels", {})
        records = tuple(
            load_run((file.parent / r) if not Path(r).is_absolute() else Path(r), labels.get(r, {}))
            for r in runs
        )
        samples.append(Sample(str(name), records, str(entry.get("description", ""))))
    if not samples:
        raise FileFormatError(f"{file} defines no [[sample]] with runs.")
    return doc.get("title"), samples
