"""The sample report: run folders of any modality on one page, and samples side by side."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cathodescope.errors import FileFormatError, InputNotFoundError, ParameterError
from cathodescope.report import (
    RunFolder,
    Sample,
    load_run,
    read_sample_file,
    write_comparison_page,
    write_sample_pages,
)

__all__ = ["build_report", "compare_reports"]

PathLike = str | os.PathLike[str]


def build_report(
    run_dirs: Sequence[PathLike],
    *,
    out: PathLike,
    title: str | None = None,
    sample_file: PathLike | None = None,
    sample_name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an HTML report of run folders: ``out/index.html`` (one page per sample).

    Parameters
    ----------
    run_dirs : sequence of path-like
        Run folders (the ``--out`` of earlier commands), all of one sample; may be empty when
        ``sample_file`` names the runs.
    out : path-like
        The report folder (a run folder of its own, with ``manifest.json`` and ``report.json``).
    title : str, optional
        Title of the report (default: the sample file's title, or the sample name).
    sample_file : path-like, optional
        TOML file grouping run folders into samples (see
        :func:`cathodescope.report.read_sample_file`).
    sample_name : str, optional
        Name of the one sample formed by ``run_dirs`` (default ``"sample"``).
    overwrite : bool
        Replace an existing report in ``out``.

    Returns
    -------
    Path
        The report's ``index.html``.

    Raises
    ------
    ParameterError
        If neither run folders nor a sample file are given.
    """
    samples: list[Sample] = []
    file_title = None
    if sample_file is not None:
        file_title, samples = read_sample_file(sample_file)
    if run_dirs:
        name = sample_name or title or "sample"
        samples.append(Sample(name, tuple(load_run(d) for d in run_dirs)))
    if not samples:
        raise ParameterError("give run folders or --sample-file to make a report from.")
    title = title or file_title or samples[0].name
    params = {
        "runs": [str(d) for d in run_dirs],
        "title": title,
        "sample_file": None if sample_file is None else str(sample_file),
    }
    with RunFolder(out, command="report", parameters=params, overwrite=overwrite) as run:
        for sample in samples:
            for r in sample.runs:
                run.add_input(r.path / "manifest.json", run=r.name, command=r.command)
        index = write_sample_pages(run, samples, title)
        run.results["samples"] = [s["name"] for s in index["samples"]]
        run.results["runs"] = sum(len(s.runs) for s in samples)
    return Path(run.path) / "index.html"


def compare_reports(
    report_dirs: Sequence[PathLike],
    *,
    out: PathLike,
    title: str = "Samples compared",
    overwrite: bool = False,
) -> Path:
    """Overlay like with like from several sample reports: ``out/index.html``.

    Parameters
    ----------
    report_dirs : sequence of path-like
        Folders written by :func:`build_report` (each holds ``report.json``).
    out : path-like
        The comparison folder.
    title : str
        Title of the page.
    overwrite : bool
        Replace an existing comparison in ``out``.

    Returns
    -------
    Path
        The comparison's ``index.html``.

    Raises
    ------
    InputNotFoundError
        If a folder has no ``report.json`` (not a report folder).
    """
    reports = []
    for d in report_dirs:
        doc = Path(d) / "report.json"
        if not doc.is_file():
            raise InputNotFoundError(
                f"{d} has no report.json: give folders written by 'cathodescope report'."
            )
        try:
            report = json.loads(doc.read_text(encoding="utf-8"))
            report["folder"] = str(Path(d).resolve())  # tables are named relative to it
            reports.append(report)
        except ValueError as exc:
            raise FileFormatError(f"{doc} is not valid JSON ({exc}); remake the report.") from exc
    if not reports:
        raise ParameterError("give at least one report folder to --compare.")
    with RunFolder(
        out,
        command="report --compare",
        parameters={"reports": [str(d) for d in report_dirs]},
        overwrite=overwrite,
    ) as run:
        for d in report_dirs:
            run.add_input(Path(d) / "report.json")
        run.results["figures"] = write_comparison_page(run, reports, title)
    return Path(run.path) / "index.html"
