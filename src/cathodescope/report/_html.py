"""The HTML sample report: one self-contained page per sample, every run folder on it.

Everything the page shows lives in the report folder (PNG figures, CSV tables, Plotly's
JavaScript), so it opens offline. The page is plain HTML with a small inline stylesheet.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cathodescope.report import _interactive as interactive
from cathodescope.report._runfolder import RunFolder, safe_name
from cathodescope.report._runs import RunRecord, Sample
from cathodescope.report._summary import key_numbers

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f6fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
figure { display: inline-block; margin: .5em; max-width: 48%; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
.warn { background: #fff4e5; border-left: 4px solid #f0a030; padding: .4em .8em; }
.failed { background: #fde8e8; border-left: 4px solid #d62728; padding: .4em .8em; }
.meta { color: #666; font-size: .9em; }
code { font-size: .92em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if not np.isfinite(v):
        return ""
    return f"{v:.6g}"


def _numbers_table(table: pd.DataFrame, with_run: bool) -> str:
    if table.empty:
        return "<p class='meta'>No key numbers for this run.</p>"
    head = ["run"] if with_run else []
    head += ["quantity", "value", "interval", "units", "note"]
    rows = []
    for _, r in table.iterrows():
        interval = ""
        if np.isfinite(r["ci_low"]) or np.isfinite(r["ci_high"]):
            interval = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        cells = [f"<td>{_e(r['run'])}</td>"] if with_run else []
        cells += [
            f"<td>{_e(r['quantity'])}</td>",
            f"<td class='num'>{_fmt(r['value'])}</td>",
            f"<td class='num'>{_e(interval)}</td>",
            f"<td>{_e(r['units'])}</td>",
            f"<td>{_e(r['note'])}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _command_line(run: RunRecord) -> str:
    argv = run.manifest.get("argv") or []
    if not argv:
        return run.command
    import shlex

    words = ["cathodescope", *[str(a) for a in argv[1:]]] if argv[0] != "cathodescope" else argv
    return shlex.join(words)


class _Assets:
    """Copies a run's files into the report folder under unique, safe names."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.used: set[str] = set()

    def prefix(self, run: RunRecord) -> str:
        base = safe_name(run.name)
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name

    def copy(self, source: Any, name: str) -> str:
        target = self.folder.file(name)
        with open(source, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return target.name


def _interactive_for(run: RunRecord, div_id: str) -> str | None:
    if "ratios" in run.tables:
        table = run.table("ratios")
        curves = {f"particle {pid}": grp for pid, grp in table.groupby("particle_id")}
        return interactive.ratio_profiles_figure(curves, div_id)
    if "fit" in run.tables and run.command.startswith("xas"):
        t = run.table("fit")
        if {"energy_eV", "data", "model"} <= set(t.columns):
            return interactive.xy_figure(
                {
                    "data": (t.energy_eV, t.data),
                    "LCF model": (t.energy_eV, t.model),
                    "residual": (t.energy_eV, t.residual),
                },
                div_id,
                title="LCF fit",
                x_title="energy (eV)",
                y_title="normalized mu(E)",
            )
    if "cycles" in run.tables:
        t = run.table("cycles")
        if {"cycle", "retention_pct"} <= set(t.columns):
            t = t[t["cycle"] > 0]
            return interactive.xy_figure(
                {"retention": (t.cycle, t.retention_pct)},
                div_id,
                title="Capacity retention",
                x_title="cycle",
                y_title="retention (%)",
                mode="lines+markers",
            )
    return None


def _run_section(
    run: RunRecord, assets: _Assets, numbers: pd.DataFrame
) -> tuple[str, dict[str, str]]:
    """The HTML of one run and the names of its tables as copied into the report."""
    prefix = assets.prefix(run)
    copied_tables: dict[str, str] = {}
    parts = [
        f"<section id='run-{_e(prefix)}'><h2>{_e(run.name)}: <code>{_e(run.command)}</code></h2>"
    ]
    m = run.manifest
    meta = f"status <b>{_e(run.status)}</b>, started {_e(m.get('started_at', '?'))}"
    meta += f", cathodescope {_e(m.get('versions', {}).get('cathodescope', '?'))}"
    if run.labels:
        meta += ", " + ", ".join(f"{_e(k)} = {_e(v)}" for k, v in run.labels.items())
    parts.append(f"<p class='meta'>{meta}</p>")
    if run.status == "failed":
        parts.append(f"<p class='failed'>This run failed: {_e(m.get('error'))}</p>")
    parts.append(f"<p>Command line:</p><pre>{_e(_command_line(run))}</pre>")
    inputs = m.get("inputs", [])
    if inputs:
        rows = "".join(
            f"<tr><td>{_e(i.get('path'))}</td><td>{_e(i.get('channel', ''))}</td>"
            f"<td class='num'>{_e(i.get('bytes', ''))}</td><td><code>{_e(i.get('sha256', ''))}"
            "</code></td></tr>"
            for i in inputs
        )
        parts.append(
            "<h3>Inputs</h3><table><tr><th>path</th><th>channel</th><th>bytes</th>"
            f"<th>SHA-256</th></tr>{rows}</table>"
        )
    parts.append("<h3>Key numbers</h3>" + _numbers_table(numbers, with_run=False))
    warnings = m.get("warnings", [])
    if warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
        parts.append(f"<h3>Warnings</h3><div class='warn'><ul>{items}</ul></div>")
    fragment = _interactive_for(run, f"plot-{prefix}")
    if fragment:
        parts.append("<h3>Interactive figure</h3>" + fragment)
    if run.figures:
        figs: list[str] = []
        for name, path in run.figures.items():
            copied = assets.copy(path, f"{prefix}__{name}.png")
            figs.append(
                f"<figure><a href='{_e(copied)}'><img src='{_e(copied)}' "
                f"alt='{_e(name)}' loading='eager'></a><figcaption>{_e(name)}"
                "</figcaption></figure>"
            )
        parts.append("<h3>Figures</h3>" + "".join(figs))
    if run.tables:
        table_items: list[str] = []
        for name, path in run.tables.items():
            copied = assets.copy(path, f"{prefix}__{name}.csv")
            copied_tables[name] = copied
            shape = pd.read_csv(path, nrows=None).shape
            table_items.append(
                f"<li><a href='{_e(copied)}' download>{_e(name)}.csv</a> "
                f"<span class='meta'>({shape[0]} rows x {shape[1]} columns)</span></li>"
            )
        parts.append("<h3>Tables</h3><ul>" + "".join(table_items) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts), copied_tables


def _surface_to_bulk_section(sample: Sample) -> str:
    """The surface layer (``xas layer``) beside the TXM depth profiles, when both exist."""
    from cathodescope.report._compare import particle_mean_ratios

    layers = [r for r in sample.runs if "layer" in r.tables and "probes" in r.tables]
    profiles = [r for r in sample.runs if "ratios" in r.tables]
    if not layers:
        return ""
    ratios = particle_mean_ratios(profiles[0].table("ratios")) if profiles else None
    fragment = interactive.surface_to_bulk_figure(
        layers[0].table("layer"), ratios, f"surface-{safe_name(sample.name)}"
    )
    if fragment is None:
        return ""
    note = (
        "The probes resolve a layer of nanometres; a TXM voxel is tens of nanometres, so the "
        "first TXM bins average over the layer."
        if profiles
        else "No TXM depth profile in this sample."
    )
    return f"<h2>Surface to bulk</h2><p class='meta'>{_e(note)}</p>{fragment}"


def _page(title: str, body: str, generated: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}"
        f"</title><style>{_STYLE}</style>"
        f"<script src='{interactive.PLOTLY_JS_NAME}'></script></head><body>"
        f"<h1>{_e(title)}</h1><p class='meta'>{_e(generated)}</p>\n{body}\n</body></html>\n"
    )


def write_sample_pages(folder: RunFolder, samples: Sequence[Sample], title: str) -> dict[str, Any]:
    """Write ``index.html`` (and one page per sample when there are several) into a run folder.

    Parameters
    ----------
    folder : RunFolder
        The report's own run folder (open).
    samples : sequence of Sample
        The samples and their run folders.
    title : str
        Title of the report.

    Returns
    -------
    dict
        What the report holds, also written as ``report.json`` for ``report --compare``:
        samples, their pages, runs (command, status, copied tables) and key numbers.
    """
    from cathodescope import __version__

    folder.file(interactive.PLOTLY_JS_NAME).write_text(interactive.plotly_js(), encoding="utf-8")
    assets = _Assets(folder)
    generated = f"made by cathodescope {__version__} on {folder._started_at}"
    index: dict[str, Any] = {"title": title, "samples": []}
    links = []
    for sample in samples:
        numbers = {id(r): key_numbers(r) for r in sample.runs}
        summary = pd.concat(list(numbers.values()), ignore_index=True)
        built = [_run_section(r, assets, numbers[id(r)]) for r in sample.runs]
        sections = [html_text for html_text, _ in built]
        toc = "".join(
            f"<li><a href='#run-{_e(safe_name(r.name))}'>{_e(r.name)}</a>: <code>"
            f"{_e(r.command)}</code> ({_e(r.status)})</li>"
            for r in sample.runs
        )
        body = (
            (f"<p>{_e(sample.description)}</p>" if sample.description else "")
            + f"<h2>Summary</h2>{_numbers_table(summary, with_run=True)}"
            + _surface_to_bulk_section(sample)
            + f"<h2>Runs</h2><ul>{toc}</ul>"
            + "\n".join(sections)
        )
        page_name = "index.html" if len(samples) == 1 else f"{safe_name(sample.name)}.html"
        page_title = title if len(samples) == 1 else f"{title}: {sample.name}"
        folder.file(page_name).write_text(_page(page_title, body, generated), encoding="utf-8")
        folder.write_table(f"summary_{safe_name(sample.name)}", summary)
        links.append(
            f"<li><a href='{_e(page_name)}'>{_e(sample.name)}</a> ({len(sample.runs)} runs)</li>"
        )
        index["samples"].append(
            {
                "name": sample.name,
                "page": page_name,
                "summary": f"summary_{safe_name(sample.name)}.csv",
                "runs": [
                    {
                        "name": r.name,
                        "command": r.command,
                        "status": r.status,
                        "labels": r.labels,
                        "path": str(r.path),
                        "tables": {t: str(p) for t, p in r.tables.items()},
                    }
                    for r in sample.runs
                ],
            }
        )
    if len(samples) > 1:
        body = f"<h2>Samples</h2><ul>{''.join(links)}</ul>"
        folder.file("index.html").write_text(_page(title, body, generated), encoding="utf-8")
    folder.write_json("report", index)
    return index


def write_comparison_page(folder: RunFolder, reports: Sequence[dict[str, Any]], title: str) -> int:
    """Write ``index.html`` that overlays like with like across samples of several reports.

    Parameters
    ----------
    folder : RunFolder
        The comparison's run folder (open).
    reports : sequence of dict
        The ``report.json`` of each report folder.
    title : str
        Title of the comparison.

    Returns
    -------
    int
        Number of overlaid figures.
    """
    from cathodescope import __version__
    from cathodescope.report._compare import comparison_figures

    folder.file(interactive.PLOTLY_JS_NAME).write_text(interactive.plotly_js(), encoding="utf-8")
    figures = comparison_figures(reports)
    body = "".join(f"<section><h2>{_e(name)}</h2>{frag}</section>" for name, frag in figures)
    if not figures:
        body = "<p>These reports share no kind of result to overlay.</p>"
    samples = [s["name"] for r in reports for s in r["samples"]]
    body = f"<p>Samples: {_e(', '.join(samples))}</p>" + body
    generated = f"made by cathodescope {__version__} on {folder._started_at}"
    folder.file("index.html").write_text(_page(title, body, generated), encoding="utf-8")
    folder.write_json(
        "comparison", {"title": title, "samples": samples, "figures": [n for n, _ in figures]}
    )
    return len(figures)
