"""Cycling-data runs: read cycler files, analyse, write a run folder (tables, figures, manifest).

Wiring only: reading is :func:`cathodescope.io.read_cycler`, the analysis lives in
:mod:`cathodescope.echem`, the figures in :mod:`cathodescope.report`. Each function is what one
``cathodescope echem ...`` command runs, and can be called as well from a script or notebook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

__all__ = ["EchemRun", "run_dqdv", "run_gitt", "run_ici", "run_summary"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class EchemRun:
    """What an echem run wrote.

    Attributes
    ----------
    path : pathlib.Path
        The run folder.
    table : DataFrame
        The main table of the run (per-cycle summary, peak-track summary or GITT pulses).
    tables : dict of str to DataFrame
        Every table written, by name (file ``<name>.csv`` and ``<name>.parquet``).
    """

    path: Path
    table: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _open(out: PathLike, command: str, parameters: Mapping[str, Any] | None, overwrite: bool):
    from cathodescope.report import RunFolder

    return RunFolder(out, command=command, parameters=dict(parameters or {}), overwrite=overwrite)


def _read(files: Sequence[PathLike], run: Any, **options: Any) -> pd.DataFrame:
    from cathodescope.io import read_cycler

    for f in files:
        run.add_input(f)
    with run.timer("read"):
        df = read_cycler(list(files), **options)
    run.results["n_rows"] = len(df)
    run.results["n_cycles"] = int(df["cycle"].max())
    run.results["instrument"] = df.attrs.get("instrument")
    return df


def run_summary(
    files: Sequence[PathLike],
    out: PathLike,
    *,
    format: str = "auto",
    active_mass_g: float | None = None,
    gap_s: float = 0.0,
    csv_options: Mapping[str, Any] | None = None,
    specific: bool | None = None,
    reference_cycle: int | None = None,
    nominal_capacity_mAh: float | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> EchemRun:
    """Per-cycle summary of cycler files: ``cycles`` table, capacity and voltage figures.

    Parameters
    ----------
    files : sequence of path-like
        Cycler files of one experiment, in order (see :func:`cathodescope.io.read_cycler`).
    out : path-like
        Run folder to create.
    format : str
        Reader, as ``read_cycler``'s ``format``.
    active_mass_g : float, optional
        Active mass, g.
    gap_s : float
        Time between joined files without timestamps, s.
    csv_options : mapping, optional
        ``columns`` and ``units`` of a generic CSV (see :func:`cathodescope.io.read_cycler_csv`).
    specific, reference_cycle, nominal_capacity_mAh
        As :func:`cathodescope.echem.cycle_summary`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest (default: the keywords of this call).

    Returns
    -------
    EchemRun
        ``table`` is the per-cycle summary.
    """
    from cathodescope.echem import cycle_summary
    from cathodescope.report import plot_cycle_summary, plot_voltage_capacity

    if parameters is None:
        parameters = {"files": [os.fspath(f) for f in files], "format": format}
    with _open(out, "echem summary", parameters, overwrite) as run:
        df = _read(
            files,
            run,
            format=format,
            active_mass_g=active_mass_g,
            gap_s=gap_s,
            **dict(csv_options or {}),
        )
        with run.timer("summary"):
            s = cycle_summary(
                df,
                active_mass_g=active_mass_g,
                specific=specific,
                reference_cycle=reference_cycle,
                nominal_capacity_mAh=nominal_capacity_mAh,
            )
        run.write_table("cycles", s)
        run.write_figure("capacity", plot_cycle_summary(s))
        run.write_figure("voltage_capacity", plot_voltage_capacity(df))
        run.results["reference_cycle"] = s.attrs["reference_cycle"]
    return EchemRun(run.path, s, {"cycles": s})


def run_dqdv(
    files: Sequence[PathLike],
    out: PathLike,
    *,
    format: str = "auto",
    active_mass_g: float | None = None,
    gap_s: float = 0.0,
    csv_options: Mapping[str, Any] | None = None,
    grid_step_V: float | Literal["auto"] = "auto",
    smoothing: Literal["savgol", "spline", "none"] = "savgol",
    window_bins: int | None = None,
    specific: bool = False,
    peak_shape: Literal["gaussian", "sech2"] = "gaussian",
    direction: Literal["charge", "discharge"] = "charge",
    targets_V: list[float] | None = None,
    max_shift_V: float = 0.05,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> EchemRun:
    """dQ/dV curves, peaks and peak tracks of cycler files, with figures.

    Parameters
    ----------
    files, out, format, active_mass_g, gap_s, csv_options, overwrite, parameters
        As :func:`run_summary`.
    grid_step_V, smoothing, window_bins, specific
        As :func:`cathodescope.echem.dqdv`.
    peak_shape : {"gaussian", "sech2"}
        As ``shape`` of :func:`cathodescope.echem.find_dqdv_peaks`.
    direction, targets_V, max_shift_V
        As :func:`cathodescope.echem.track_peaks`.

    Returns
    -------
    EchemRun
        ``table`` is the peak-track summary (empty when no peak could be tracked; the reason is
        in the manifest's warnings).
    """
    from cathodescope.echem import dqdv, find_dqdv_peaks, track_peaks
    from cathodescope.errors import NoCyclesError
    from cathodescope.report import plot_dqdv, plot_voltage_capacity

    if parameters is None:
        parameters = {"files": [os.fspath(f) for f in files], "format": format}
    with _open(out, "echem dqdv", parameters, overwrite) as run:
        df = _read(
            files,
            run,
            format=format,
            active_mass_g=active_mass_g,
            gap_s=gap_s,
            **dict(csv_options or {}),
        )
        with run.timer("dqdv"):
            res = dqdv(
                df,
                grid_step_V=grid_step_V,
                smoothing=smoothing,
                window_bins=window_bins,
                specific=specific,
                active_mass_g=active_mass_g,
            )
        with run.timer("peaks"):
            peaks = find_dqdv_peaks(res, shape=peak_shape)
        tables = {"dqdv": res.to_dataframe(), "halfcycles": res.halfcycles, "peaks": peaks}
        for name, table in tables.items():
            run.write_table(name, table)
        tracks = None
        try:
            tracks = track_peaks(
                peaks, direction=direction, targets_V=targets_V, max_shift_V=max_shift_V
            )
        except NoCyclesError as exc:
            run.warn(f"no peak tracking: {exc}")
        summary = pd.DataFrame()
        if tracks is not None:
            summary = tracks.summary
            tables.update(peak_tracks=tracks.tracks, peak_track_summary=summary)
            run.write_table("peak_tracks", tracks.tracks)
            run.write_table("peak_track_summary", summary)
            vanish = summary["vanish_cycle"]
            run.results["vanish_cycles"] = (
                vanish.astype(object).where(vanish.notna(), None).tolist()
            )
        run.write_figure("dqdv", plot_dqdv(res, tracks=tracks))
        run.write_figure("voltage_capacity", plot_voltage_capacity(df))
    return EchemRun(run.path, summary, tables)


def run_gitt(
    files: Sequence[PathLike],
    out: PathLike,
    *,
    format: str = "auto",
    active_mass_g: float | None = None,
    gap_s: float = 0.0,
    csv_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
    **gitt_options: Any,
) -> EchemRun:
    """GITT analysis of cycler files: ``gitt_pulses`` table and the D(SOC) figure.

    Parameters
    ----------
    files, out, format, active_mass_g, gap_s, csv_options, overwrite, parameters
        As :func:`run_summary`.
    **gitt_options
        Keywords of :func:`cathodescope.echem.gitt_analysis` (``radius_um``, ``mass_g``,
        ``molar_volume_cm3_mol``, ``molar_mass_g_mol``, ``area_cm2``, ``capacity_mAh``,
        ``max_tau_ratio``, ...).

    Returns
    -------
    EchemRun
        ``table`` is the per-pulse table.
    """
    from cathodescope.echem import gitt_analysis
    from cathodescope.report import plot_gitt

    if parameters is None:
        parameters = {"files": [os.fspath(f) for f in files], "format": format, **gitt_options}
    with _open(out, "echem gitt", parameters, overwrite) as run:
        df = _read(
            files,
            run,
            format=format,
            active_mass_g=active_mass_g,
            gap_s=gap_s,
            **dict(csv_options or {}),
        )
        with run.timer("gitt"):
            res = gitt_analysis(df, **gitt_options)
        run.write_table("gitt_pulses", res.pulses)
        run.write_figure("gitt_D_vs_soc", plot_gitt(res))
        run.results["n_pulses"] = len(res.pulses)
        run.results["n_valid"] = int(res.pulses["valid"].sum())
    return EchemRun(run.path, res.pulses, {"gitt_pulses": res.pulses})


def run_ici(
    files: Sequence[PathLike],
    out: PathLike,
    *,
    format: str = "auto",
    active_mass_g: float | None = None,
    gap_s: float = 0.0,
    csv_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
    **ici_options: Any,
) -> EchemRun:
    """ICI analysis of cycler files: ``ici_interruptions`` table and the D(time) figure.

    Parameters
    ----------
    files, out, format, active_mass_g, gap_s, csv_options, overwrite, parameters
        As :func:`run_summary`.
    **ici_options
        Keywords of :func:`cathodescope.echem.ici_analysis` (``radius_um``, ``mass_g``, ...,
        ``max_interruption_s``, ``max_tau_ratio``).

    Returns
    -------
    EchemRun
        ``table`` is the per-interruption table.
    """
    from cathodescope.echem import ici_analysis
    from cathodescope.report import plot_ici

    if parameters is None:
        parameters = {"files": [os.fspath(f) for f in files], "format": format, **ici_options}
    with _open(out, "echem ici", parameters, overwrite) as run:
        df = _read(
            files,
            run,
            format=format,
            active_mass_g=active_mass_g,
            gap_s=gap_s,
            **dict(csv_options or {}),
        )
        with run.timer("ici"):
            res = ici_analysis(df, **ici_options)
        run.write_table("ici_interruptions", res.interruptions)
        run.write_figure("ici_R_and_D", plot_ici(res))
        run.results["n_interruptions"] = len(res.interruptions)
        run.results["n_valid"] = int(res.interruptions["valid"].sum())
    return EchemRun(run.path, res.interruptions, {"ici_interruptions": res.interruptions})
