"""XRF runs that write a run folder: ratio image, RGB overlay, line profile, core/shell fit,
per-particle analysis; and the synthetic core/shell map (a PyXRF file).

Wiring only: reading is :mod:`cathodescope.io`, the analysis :mod:`cathodescope.xrf`, the
figures and tables :mod:`cathodescope.report`. Every run function takes the map file and a
``reading`` mapping of reader options (``format``, ``scaler``, ``position_units``, ``spacing``,
``detector``, ``analysis``, ``tiff_channels``, ``tiff_units``) and returns its result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

__all__ = [
    "read_map",
    "xrf_coreshell",
    "xrf_overlay",
    "xrf_particles",
    "xrf_phantom",
    "xrf_profile",
    "xrf_ratio",
]

PathLike = str | os.PathLike[str]


def _run(out: PathLike, command: str, parameters: Mapping[str, Any] | None, overwrite: bool):
    from cathodescope.report import RunFolder

    return RunFolder(out, command=command, parameters=dict(parameters or {}), overwrite=overwrite)


def read_map(file: PathLike, reading: Mapping[str, Any] | None = None) -> Any:
    """Read an XRF map with the options that apply to its format.

    Parameters
    ----------
    file : path-like
        PyXRF or MAPS HDF5 file, or a TIFF (stack) export.
    reading : mapping, optional
        ``format`` ("auto", "pyxrf", "maps", "tiff"), ``spacing`` (um), and per format:
        ``scaler``, ``position_units`` (HDF5), ``detector`` (PyXRF), ``analysis`` (MAPS),
        ``tiff_channels``, ``tiff_units`` (TIFF).

    Returns
    -------
    xarray.DataArray
        ``(channel, y, x)`` maps, coordinates in um.
    """
    from cathodescope.io import detect_xrf_format, read_xrf_map

    opts = dict(reading or {})
    fmt = opts.get("format", "auto")
    if fmt == "auto":
        fmt = detect_xrf_format(file)
    options: dict[str, Any] = {"spacing": opts.get("spacing")}
    if fmt == "tiff":
        options.update(channels=opts.get("tiff_channels"), units=opts.get("tiff_units", "counts"))
    else:
        options.update(scaler=opts.get("scaler"), position_units=opts.get("position_units"))
    if fmt == "pyxrf":
        options["detector"] = opts.get("detector", "detsum")
    elif fmt == "maps":
        options["analysis"] = opts.get("analysis", "Fitted")
    return read_xrf_map(file, format=fmt, **options)


def _read(run: Any, file: PathLike, reading: Mapping[str, Any] | None) -> Any:
    run.add_input(file)
    with run.timer("read"):
        maps = read_map(file, reading)
    run.results["map"] = {
        "channels": [str(c) for c in maps["channel"].values],
        "shape": list(maps.shape[1:]),
        "spacing_um": list(maps.attrs["spacing_um"]),
        "units": maps.attrs["units"],
        "scaler": maps.attrs.get("scaler"),
    }
    return maps


def xrf_ratio(
    file: PathLike,
    *,
    out: PathLike,
    num: str,
    den: str,
    min_signal: float | Literal["otsu"] | None = "otsu",
    reading: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Ratio image ``num/den`` with low-signal masking: table, TIFF and figure.

    Parameters
    ----------
    file : path-like
        XRF map file.
    out : path-like
        Run folder to create.
    num, den : str
        Elements (``"Mn"``, ``"Ni"``) or channel names.
    min_signal : float, "otsu" or None
        Mask pixels whose denominator is below this (map units).
    reading : mapping, optional
        Reader options, see :func:`read_map`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    pandas.DataFrame
        The ``ratio_summary`` table (see :func:`cathodescope.xrf.ratio_summary`).
    """
    from cathodescope.report import ratio_figure, write_xrf_map_tiff
    from cathodescope.xrf import ratio_map, ratio_summary

    with _run(out, "xrf ratio", parameters, overwrite) as run:
        maps = _read(run, file, reading)
        with run.timer("ratio"):
            ratio = ratio_map(maps, num, den, min_signal=min_signal)
        summary = ratio_summary(ratio)
        run.write_table("ratio_summary", summary)
        write_xrf_map_tiff(run, "ratio", ratio)
        run.write_figure("ratio", ratio_figure(ratio))
        run.results["ratio"] = summary.iloc[0].to_dict()
    return summary


def xrf_overlay(
    file: PathLike,
    *,
    out: PathLike,
    channels: Sequence[str] = ("Ni", "Co", "Mn"),
    percentiles: Sequence[float] = (1.0, 99.5),
    reading: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Three-element RGB overlay: ``overlay_limits`` table and figure.

    Parameters
    ----------
    file : path-like
        XRF map file.
    out : path-like
        Run folder to create.
    channels : sequence of three str
        Red, green, blue elements.
    percentiles : (float, float)
        Per-channel low/high percentiles of the colour scale.
    reading : mapping, optional
        Reader options, see :func:`read_map`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    xarray.DataArray
        The RGB image (see :func:`cathodescope.xrf.rgb_overlay`).
    """
    import pandas as pd

    from cathodescope.report import overlay_figure
    from cathodescope.xrf import rgb_overlay

    with _run(out, "xrf overlay", parameters, overwrite) as run:
        maps = _read(run, file, reading)
        rgb = rgb_overlay(
            maps, list(channels), percentiles=cast("tuple[float, float]", tuple(percentiles))
        )
        limits = pd.DataFrame(
            [
                {"colour": c, "channel": n, "low": lo, "high": hi, "units": maps.attrs["units"]}
                for c, (n, (lo, hi)) in zip("RGB", rgb.attrs["limits"].items(), strict=True)
            ]
        )
        run.write_table("overlay_limits", limits)
        run.write_figure("overlay", overlay_figure(rgb, list(channels)))
    return rgb


def _transect(maps: Any, line: Mapping[str, Any]) -> Any:
    from cathodescope.xrf import fraction_transect

    return fraction_transect(
        maps,
        line["start"],
        line["end"],
        elements=line.get("elements", ("Ni", "Mn", "Co")),
        width_um=line.get("width_um", 0.0),
        min_signal=line.get("min_signal", "otsu"),
        compare_ratio=line.get("compare_ratio"),
    )


def xrf_profile(
    file: PathLike,
    *,
    out: PathLike,
    line: Mapping[str, Any],
    reading: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Line profile of signals and fractions: ``profile`` table and figure.

    Parameters
    ----------
    file : path-like
        XRF map file.
    out : path-like
        Run folder to create.
    line : mapping
        ``start``, ``end`` ((y, x) in um) and optionally ``elements``, ``width_um``,
        ``min_signal``, ``compare_ratio`` (see :func:`cathodescope.xrf.fraction_transect`).
    reading : mapping, optional
        Reader options, see :func:`read_map`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    cathodescope.xrf.FractionTransect
    """
    from cathodescope.report import transect_figure

    with _run(out, "xrf profile", parameters, overwrite) as run:
        maps = _read(run, file, reading)
        with run.timer("profile"):
            transect = _transect(maps, line)
        run.write_table("profile", transect.table)
        run.write_figure("profile", transect_figure(transect))
        run.results["width_um_used"] = transect.width_um
    return transect


def xrf_coreshell(
    file: PathLike,
    *,
    out: PathLike,
    line: Mapping[str, Any],
    model: Literal["erf", "logistic"] = "erf",
    geometry: Literal["edge", "cross"] = "edge",
    shell_at: Literal["start", "end"] = "start",
    reading: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Core/shell fit of a fraction line profile (and of the ratio, for comparison).

    Parameters
    ----------
    file : path-like
        XRF map file.
    out : path-like
        Run folder to create.
    line : mapping
        The line, see :func:`xrf_profile`.
    model, geometry, shell_at : str
        See :func:`cathodescope.xrf.fit_core_shell`.
    reading : mapping, optional
        Reader options, see :func:`read_map`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    cathodescope.xrf.CoreShellTransect
        Tables written: ``profile``, ``coreshell``, ``coreshell_curves`` and, with a ratio,
        ``coreshell_ratio``.
    """
    from cathodescope.report import coreshell_figure
    from cathodescope.xrf import fit_transect

    with _run(out, "xrf coreshell", parameters, overwrite) as run:
        maps = _read(run, file, reading)
        transect = _transect(maps, line)
        run.write_table("profile", transect.table)
        with run.timer("fit"):
            result = fit_transect(transect, model=model, geometry=geometry, shell_at=shell_at)
        run.write_table("coreshell", result.table)
        run.write_table("coreshell_curves", result.fit.curves())
        run.results["coreshell"] = result.table.to_dict(orient="records")
        if result.ratio_table is not None:
            run.write_table("coreshell_ratio", result.ratio_table)
            run.results["coreshell_ratio"] = result.ratio_table.to_dict(orient="records")
        run.write_figure("coreshell", coreshell_figure(result.fit, transect.elements))
    return result


def xrf_particles(
    file: PathLike,
    *,
    out: PathLike,
    elements: Sequence[str] = ("Ni", "Mn", "Co"),
    fit: bool = True,
    model: Literal["erf", "logistic"] = "erf",
    figures: bool = True,
    engine_options: Mapping[str, Any] | None = None,
    reading: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Particles of an XRF map through the engine, with per-particle core/shell fits.

    Parameters
    ----------
    file : path-like
        XRF map file.
    out : path-like
        Run folder to create.
    elements : sequence of str
        Elements of the fractions E/(sum).
    fit : bool
        Fit core/shell steps per particle.
    model : {"erf", "logistic"}
        Step shape.
    figures : bool
        Per-particle figures of the scene report.
    engine_options : mapping, optional
        Keywords for :func:`cathodescope.xrf.analyze_particles` (engine options,
        ``dilate_um``, ``progress``).
    reading : mapping, optional
        Reader options, see :func:`read_map`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    cathodescope.xrf.XRFParticleAnalysis
    """
    from cathodescope.report import core_shell_particles_figure, write_scene_report
    from cathodescope.xrf import analyze_particles, summarize_core_shell

    with _run(out, "xrf particles", parameters, overwrite) as run:
        maps = _read(run, file, reading)
        with run.timer("engine and fits"):
            result = analyze_particles(
                maps, list(elements), fit=fit, model=model, **dict(engine_options or {})
            )
        channels = {
            e: maps.sel(channel=c).values
            for e, c in zip(elements, result.parameters["channels"], strict=True)
        }
        with run.timer("report"):
            write_scene_report(result.scene, run, channels=channels, figures=figures)
            if fit:
                run.write_table("core_shell", result.core_shell)
                summary = summarize_core_shell(result.core_shell)
                run.write_table("core_shell_summary", summary)
                run.results["core_shell_summary"] = summary.to_dict(orient="records")
                figure = core_shell_particles_figure(result.core_shell)
                if figure is not None:
                    run.write_figure("core_shell", figure)
    return result


def xrf_phantom(
    output: PathLike,
    *,
    size: int = 160,
    spacing: float | Sequence[float] = 0.05,
    interface_depth_um: float = 1.5,
    sigma_um: float = 1.0 / 6.0,
    particles: int = 1,
    seed: int = 0,
    overwrite: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Write a synthetic core/shell map (NMC442 shell, NMC701515 core) as a PyXRF file.

    Parameters
    ----------
    output : path-like
        The ``.h5`` file to write.
    size : int
        Map size in pixels (square).
    spacing : float or (float, float)
        Pixel size in um.
    interface_depth_um : float
        Depth of the core/shell interface below the particle surface (um).
    sigma_um : float
        Gradient sigma (um) of the erf step.
    particles : int
        Number of particles: 1 is centred, more are placed at random (radius 2.5-3.2 um).
    seed : int
        RNG seed.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    (pathlib.Path, dict)
        The file written and the ground truth of :func:`cathodescope.xrf.core_shell_map`.
    """
    import numpy as np

    from cathodescope.io import write_pyxrf_h5
    from cathodescope.xrf import core_shell_map, random_discs

    rng = np.random.default_rng(seed)
    discs = None
    if particles > 1:
        discs = random_discs(
            (size, size), particles, spacing=spacing, radius_um=(2.5, 3.2), gap_um=0.5, rng=rng
        )
    maps, truth = core_shell_map(
        (size, size),
        particles=discs,
        spacing=spacing,
        interface_depth_um=interface_depth_um,
        sigma_um=sigma_um,
        rng=rng,
    )
    return write_pyxrf_h5(output, maps, overwrite=overwrite), truth
