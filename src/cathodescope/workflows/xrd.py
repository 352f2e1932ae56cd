"""Diffraction runs that write a run folder: peak fits, layered-oxide lattice, heating series.

Wiring only: reading is :mod:`cathodescope.io`, fitting and lattice parameters
:mod:`cathodescope.xrd`, figures and the run folder :mod:`cathodescope.report`. Each function
writes ``manifest.json`` (inputs with checksums, parameters, timings, warnings), the tables as
CSV and Parquet and the figures as PNG into ``out``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from cathodescope.errors import CathodescopeError, ParameterError
from cathodescope.io import read_pattern, read_series
from cathodescope.report import (
    RunFolder,
    plot_heating_contour,
    plot_peak_fits,
    plot_williamson_hall,
)
from cathodescope.xrd import (
    LatticeResult,
    PeakFitResult,
    PeakWindow,
    ThermalTransitions,
    WilliamsonHallResult,
    convert_wavelength,
    detect_thermal_transitions,
    fit_peaks,
    layered_oxide_lattice,
    layered_peak_windows,
    pattern_wavelength,
    track_peaks,
    williamson_hall,
)

__all__ = [
    "LatticeRun",
    "SeriesRun",
    "frame_temperatures",
    "xrd_lattice_run",
    "xrd_peaks_run",
    "xrd_series_run",
]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class LatticeRun:
    """What :func:`xrd_lattice_run` computed.

    Attributes
    ----------
    out : pathlib.Path
        The run folder.
    peaks : PeakFitResult
        Fitted layered-oxide reflections.
    lattice : LatticeResult
        a, c (Angstrom), c/a, I(003)/I(104).
    williamson_hall : WilliamsonHallResult or None
        Size (nm) and strain, None when the analysis could not be made (see the warnings).
    """

    out: Path
    peaks: PeakFitResult
    lattice: LatticeResult
    williamson_hall: WilliamsonHallResult | None


@dataclass(frozen=True)
class SeriesRun:
    """What :func:`xrd_series_run` computed.

    Attributes
    ----------
    out : pathlib.Path
        The run folder.
    series : xarray.DataArray
        The series read (dims ``frame, two_theta``).
    peaks : PeakFitResult
        Tracked peaks.
    lattice : LatticeResult
        Lattice parameters per frame.
    transitions : ThermalTransitions or None
        Phase-transition signatures, when temperatures were given.
    """

    out: Path
    series: xr.DataArray
    peaks: PeakFitResult
    lattice: LatticeResult
    transitions: ThermalTransitions | None


def _load(
    run: RunFolder, path: PathLike, wavelength: float | None, convert_to: float | None
) -> xr.DataArray:
    pattern = read_pattern(path, wavelength=wavelength)
    run.add_input(path)
    if convert_to is not None:
        pattern = convert_wavelength(pattern, convert_to)
    return pattern


def _record(parameters: Mapping[str, Any] | None, used: Mapping[str, Any]) -> dict:
    """What the manifest records: the caller's parameters (the CLI's options) or those used."""
    return dict(used if parameters is None else parameters)


def xrd_peaks_run(
    pattern: PathLike,
    windows: Sequence[PeakWindow],
    *,
    out: PathLike,
    wavelength: float | None = None,
    convert_to: float | None = None,
    doublet: bool = False,
    ka2_ratio: float | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> PeakFitResult:
    """Fit peaks in windows of one pattern file; write ``peaks`` and the ``peak_fits`` figure.

    Parameters
    ----------
    pattern : path-like
        Pattern file (any format :func:`~cathodescope.io.read_pattern` reads).
    windows : sequence of PeakWindow
        Fitting windows (2theta in deg).
    out : path-like
        Run folder to create.
    wavelength : float, optional
        Wavelength of the data in Angstrom (default: from the file).
    convert_to : float, optional
        Convert 2theta to this wavelength (Angstrom) before fitting.
    doublet : bool
        Fit Ka1/Ka2 doublets.
    ka2_ratio : float, optional
        I(Ka2)/I(Ka1).
    overwrite : bool
        Replace the contents of a non-empty ``out``.
    parameters : mapping, optional
        Parameters to record in the manifest (default: the arguments above).

    Returns
    -------
    PeakFitResult
    """
    params = _record(
        parameters,
        {
            "pattern": os.fspath(pattern),
            "windows": [dataclasses.asdict(w) for w in windows],
            "wavelength": wavelength,
            "convert_to": convert_to,
            "doublet": doublet,
            "ka2_ratio": ka2_ratio,
        },
    )
    with RunFolder(out, command="xrd peaks", parameters=params, overwrite=overwrite) as run:
        data = _load(run, pattern, wavelength, convert_to)
        with run.timer("fit"):
            result = fit_peaks(data, windows, doublet=doublet, ka2_ratio=ka2_ratio)
        run.write_table("peaks", result.table)
        run.write_figure("peak_fits", plot_peak_fits(data, result, windows))
        run.results["fit_parameters"] = result.parameters
    return result


def xrd_lattice_run(
    pattern: PathLike,
    *,
    out: PathLike,
    a: float = 2.87,
    c: float = 14.2,
    half_width: float = 0.4,
    correction: Literal["none", "zero", "displacement", "both"] = "zero",
    instrumental_fwhm: float = 0.0,
    wavelength: float | None = None,
    convert_to: float | None = None,
    doublet: bool = False,
    ka2_ratio: float | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> LatticeRun:
    """a, c, c/a, I(003)/I(104) and Williamson-Hall size/strain of a layered oxide pattern.

    Parameters
    ----------
    pattern : path-like
        Pattern file.
    out : path-like
        Run folder to create.
    a, c : float
        Approximate lattice parameters (Angstrom) that place the fitting windows.
    half_width : float
        Window half width (deg).
    correction : {"none", "zero", "displacement", "both"}
        Zero offset and/or sample displacement fitted with a and c.
    instrumental_fwhm : float
        Instrumental FWHM (deg) subtracted in the Williamson-Hall analysis.
    wavelength, convert_to, doublet, ka2_ratio, overwrite, parameters
        As in :func:`xrd_peaks_run`.

    Returns
    -------
    LatticeRun
    """
    params = _record(
        parameters,
        {
            "pattern": os.fspath(pattern),
            "a": a,
            "c": c,
            "half_width": half_width,
            "correction": correction,
            "instrumental_fwhm": instrumental_fwhm,
            "wavelength": wavelength,
            "convert_to": convert_to,
            "doublet": doublet,
            "ka2_ratio": ka2_ratio,
        },
    )
    with RunFolder(out, command="xrd lattice", parameters=params, overwrite=overwrite) as run:
        data = _load(run, pattern, wavelength, convert_to)
        wl = pattern_wavelength(data, None)
        windows = layered_peak_windows(a, c, wl, half_width=half_width)
        with run.timer("fit"):
            peaks = fit_peaks(data, windows, doublet=doublet, ka2_ratio=ka2_ratio)
            lattice = layered_oxide_lattice(peaks, wavelength=wl, correction=correction)
        run.write_table("peaks", peaks.table)
        run.write_table("lattice", lattice.table)
        run.write_figure("peak_fits", plot_peak_fits(data, peaks, windows))
        wh = _williamson_hall_step(run, peaks, wl, instrumental_fwhm)
        run.results["lattice"] = lattice.table.iloc[0].to_dict()
    return LatticeRun(Path(out), peaks, lattice, wh)


def _williamson_hall_step(
    run: RunFolder, peaks: PeakFitResult, wl: float, instrumental_fwhm: float
) -> WilliamsonHallResult | None:
    t = peaks.table
    try:
        wh = williamson_hall(
            t.center_deg,
            t.fwhm_deg,
            wl,
            fwhm_err=t.fwhm_err_deg,
            instrumental_fwhm=instrumental_fwhm,
            names=list(t.peak),
        )
    except (CathodescopeError, np.linalg.LinAlgError) as exc:
        run.warn(f"Williamson-Hall analysis skipped: {exc}")
        return None
    run.write_table("williamson_hall", wh.to_dataframe())
    run.write_table("williamson_hall_points", wh.points)
    run.write_figure("williamson_hall", plot_williamson_hall(wh))
    run.results["williamson_hall"] = wh.to_dataframe().iloc[0].to_dict()
    return wh


def frame_temperatures(spec: str | Sequence[float] | None, n: int) -> np.ndarray | None:
    """Per-frame temperatures (C) from ``"T0,T1,..."``, ``"START:STEP"`` or a sequence.

    Parameters
    ----------
    spec : str or sequence of float or None
        Comma-separated temperatures, ``START:STEP`` (C), or the values.
    n : int
        Number of frames.

    Returns
    -------
    numpy.ndarray or None
        Shape (n,) for ``START:STEP``; the given values otherwise (their count is checked
        when the series is built); None for None.

    Raises
    ------
    ParameterError
        Text that is neither form.

    Examples
    --------
    >>> frame_temperatures("150:5", 3).tolist()
    [150.0, 155.0, 160.0]
    """
    if spec is None:
        return None
    if not isinstance(spec, str):
        return np.asarray(spec, dtype=float)
    try:
        if ":" in spec:
            start, step = (float(v) for v in spec.split(":"))
            return start + step * np.arange(n)
        return np.array([float(v) for v in spec.split(",")])
    except ValueError as exc:
        raise ParameterError(
            f"temperatures must be 'T0,T1,...' or 'START:STEP' in C (--temperatures), got {spec!r}."
        ) from exc


def xrd_series_run(
    patterns: Sequence[PathLike],
    *,
    out: PathLike,
    temperatures: str | Sequence[float] | None = None,
    a: float = 2.87,
    c: float = 14.2,
    half_width: float = 0.4,
    block: int = 128,
    regrid: bool = False,
    wavelength: float | None = None,
    convert_to: float | None = None,
    doublet: bool = False,
    ka2_ratio: float | None = None,
    progress: bool = True,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> SeriesRun:
    """Track peaks, lattice parameters and (with temperatures) phase transitions of a series.

    Parameters
    ----------
    patterns : sequence of path-like
        Pattern files in frame order.
    out : path-like
        Run folder to create.
    temperatures : str or sequence of float, optional
        Per-frame temperatures (C), see :func:`frame_temperatures`; needed for transitions.
    a, c, half_width
        As in :func:`xrd_lattice_run` (for frame 0).
    block : int
        Frames fitted per seeded block (:func:`~cathodescope.xrd.track_peaks`).
    regrid : bool
        Interpolate frames onto frame 0's 2theta grid.
    progress : bool
        Show a progress bar.
    wavelength, convert_to, doublet, ka2_ratio, overwrite, parameters
        As in :func:`xrd_peaks_run`.

    Returns
    -------
    SeriesRun
    """
    params = _record(
        parameters,
        {
            "patterns": [os.fspath(p) for p in patterns],
            "temperatures": temperatures
            if isinstance(temperatures, str | None)
            else list(temperatures),
            "a": a,
            "c": c,
            "half_width": half_width,
            "block": block,
            "regrid": regrid,
            "wavelength": wavelength,
            "convert_to": convert_to,
            "doublet": doublet,
            "ka2_ratio": ka2_ratio,
        },
    )
    with RunFolder(out, command="xrd series", parameters=params, overwrite=overwrite) as run:
        temps = frame_temperatures(temperatures, len(patterns))
        series = read_series(patterns, wavelength=wavelength, temperature=temps, regrid=regrid)
        for path in patterns:
            run.add_input(path)
        if convert_to is not None:
            series = convert_wavelength(series, convert_to)
        wl = pattern_wavelength(series, None)
        windows = layered_peak_windows(a, c, wl, half_width=half_width)
        with run.timer("track"):
            peaks = track_peaks(
                series, windows, doublet=doublet, ka2_ratio=ka2_ratio, block=block,
                progress=progress,
            )  # fmt: skip
        run.write_table("peaks", peaks.table)
        with run.timer("lattice"):
            lattice = layered_oxide_lattice(peaks, wavelength=wl)
        run.write_table("lattice", lattice.table)
        tr = _transitions_step(run, series) if temps is not None else None
    return SeriesRun(Path(out), series, peaks, lattice, tr)


def _transitions_step(run: RunFolder, series: xr.DataArray) -> ThermalTransitions:
    with run.timer("transitions"):
        tr = detect_thermal_transitions(series)
    run.write_table("transition_signatures", tr.signatures)
    run.write_table("transition_onsets", tr.onsets)
    run.write_figure("heating_contour", plot_heating_contour(series, tr))
    run.results["onsets_C"] = dict(zip(tr.onsets.event, tr.onsets.temperature_C, strict=True))
    return tr
