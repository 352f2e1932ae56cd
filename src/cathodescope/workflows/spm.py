"""SPM runs that write a run folder: info, levelling, DART/ESM, particles, SOC series.

Wiring only: reading is :mod:`cathodescope.io`, the analysis :mod:`cathodescope.spm`, the
figures and tables :mod:`cathodescope.report`. Each function opens one run folder (``out``),
records its inputs, timings and warnings in ``manifest.json`` and returns the analysis result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cathodescope.errors import MissingMetadataError, SPMChannelMissingError

__all__ = [
    "SPMFileInfo",
    "spm_dart",
    "spm_info",
    "spm_level",
    "spm_particles",
    "spm_soc_series",
]

PathLike = str | os.PathLike[str]
_DART_CHANNELS = ("Amplitude1", "Amplitude2", "Phase1", "Phase2", "Frequency")


def _run(out: PathLike, command: str, parameters: Mapping[str, Any] | None, overwrite: bool):
    from cathodescope.report import RunFolder

    return RunFolder(out, command=command, parameters=dict(parameters or {}), overwrite=overwrite)


def _stem(path: PathLike) -> str:
    return Path(path).name.replace(".", "_")


@dataclass(frozen=True)
class SPMFileInfo:
    """What ``spm info`` read from one file.

    Attributes
    ----------
    path : str
        The file.
    kind : str
        ``"image"``, ``"force curve"``, ``"curve"`` or ``"spectroscopy cube"``.
    data : SPMScan or pandas.DataFrame or xarray.DataArray
        The scan, the curve table or the ``(bias, y, x)`` cube.
    line : str
        One-line description (pixels, size, channels with units).
    """

    path: str
    kind: str
    data: Any
    line: str


def _describe_cube(cube: Any) -> str:
    axis = cube.dims[0]
    values = cube[axis].values
    return (
        f"spectroscopy cube {cube.sizes[axis]} {axis} x {cube.sizes['y']} x {cube.sizes['x']} "
        f"px, {cube.attrs['spacing_um'][1]:.4g} um pixels, {cube.attrs['channel']} "
        f"[{cube.attrs['units']}], {axis} {values[0]:.4g} to {values[-1]:.4g} "
        f"{cube[axis].attrs.get('units', '')}"
    )


def _info_image(run: Any, path: PathLike) -> tuple[SPMFileInfo, Any, dict]:
    from cathodescope.io import read_spm
    from cathodescope.report import MAX_INFO_PANELS, maps_figure

    with run.timer("read"):
        scan = read_spm(path)
    table = scan.to_dataframe()
    table.insert(0, "file", str(path))
    table["pixel_y_um"], table["pixel_x_um"] = scan.spacing
    meta = {k: v for k, v in scan.metadata.items() if k != "raw"}
    figure = maps_figure(scan.channels, title=str(path), max_panels=MAX_INFO_PANELS)
    run.write_figure(f"{_stem(path)}_channels", figure)
    return SPMFileInfo(str(path), "image", scan, scan.describe()), table, meta


def _info_cube(run: Any, path: PathLike) -> tuple[SPMFileInfo, Any, dict]:
    import pandas as pd

    from cathodescope.io import read_ibw_cube
    from cathodescope.report import cube_figure
    from cathodescope.spm import cube_statistics

    with run.timer("read"):
        cube = read_ibw_cube(path)
    stats = cube_statistics(cube)
    table = pd.DataFrame([{"file": str(path), "kind": "spectroscopy cube", **stats}])
    meta = {k: v for k, v in cube.attrs.items() if k not in ("note",)}
    run.write_figure(f"{_stem(path)}_channels", cube_figure(cube, title=str(path)))
    return SPMFileInfo(str(path), "spectroscopy cube", cube, _describe_cube(cube)), table, meta


def _info_curve(run: Any, path: PathLike, kind: str) -> tuple[SPMFileInfo, Any, dict]:
    from cathodescope.io import read_ibw_curve
    from cathodescope.report import curve_figure
    from cathodescope.spm import curve_statistics

    with run.timer("read"):
        curve = read_ibw_curve(path)
    table = curve_statistics(curve)
    table.insert(0, "kind", kind)
    table.insert(0, "file", str(path))
    units = curve.attrs["units"]
    line = f"{kind}, {len(curve):,} points, columns " + ", ".join(
        f"{c} [{u}]" for c, u in units.items()
    )
    run.write_figure(f"{_stem(path)}_channels", curve_figure(curve, title=str(path)))
    return SPMFileInfo(str(path), kind, curve, line), table, dict(curve.attrs["metadata"])


def spm_info(
    files: Sequence[PathLike],
    *,
    out: PathLike,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> list[SPMFileInfo]:
    """Channels, units, scan size and metadata of SPM files, with a figure of each.

    Parameters
    ----------
    files : sequence of path-like
        SPM files: images (Asylum .ibw, Gwyddion .gwy 2.x/1.x, Bruker NanoScope), Igor force
        curves (a table) and spectroscopy cubes (``(bias, y, x)``).
    out : path-like
        Run folder to create.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    list of SPMFileInfo
        What was read, per file. Tables: ``channels`` (one row per channel and file),
        ``metadata`` (JSON); figures ``<file>_channels`` with at most
        :data:`cathodescope.report.MAX_INFO_PANELS` panels each (a 256-slice cube draws 12).

    Raises
    ------
    NotAnImageError
        A NanoScope force-curve file (not read).
    """
    import pandas as pd

    from cathodescope.io import spm_kind

    infos: list[SPMFileInfo] = []
    with _run(out, "spm info", parameters, overwrite) as run:
        tables, metas = [], {}
        for path in files:
            run.add_input(path)
            kind = spm_kind(path)
            if kind == "spectroscopy cube":
                info, table, meta = _info_cube(run, path)
            elif kind in ("force curve", "curve") and str(path).lower().endswith(".ibw"):
                info, table, meta = _info_curve(run, path, kind)
            else:  # images; NanoScope force files are refused by the reader with their name
                info, table, meta = _info_image(run, path)
            tables.append(table)
            metas[str(path)] = meta
            infos.append(info)
        run.write_table("channels", pd.concat(tables, ignore_index=True))
        run.write_json("metadata", metas)
    return infos


def spm_level(
    file: PathLike,
    *,
    out: PathLike,
    channel: str = "Height",
    method: Literal["plane", "polynomial", "rows", "masked"] = "masked",
    order: int = 1,
    threshold: float = 2.5,
    align: bool = False,
    scars: bool = False,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Level one channel of an SPM file; table ``levelling``, TIFF and figure.

    Parameters
    ----------
    file : path-like
        SPM file.
    out : path-like
        Run folder to create.
    channel, method, order, threshold, align, scars
        See :func:`cathodescope.spm.level_channel`.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    cathodescope.spm.LevelledChannel
    """
    from cathodescope.io import read_spm
    from cathodescope.report import maps_figure, write_spm_map_tiff
    from cathodescope.spm import level_channel

    with _run(out, "spm level", parameters, overwrite) as run:
        run.add_input(file)
        scan = read_spm(file)
        raw = scan[channel]
        with run.timer("level"):
            res = level_channel(
                raw,
                channel=channel,
                method=method,
                order=order,
                threshold=threshold,
                align=align,
                scars=scars,
            )
        run.results.update(res.info)
        if res.info.get("converged") is False:
            run.warn("masked levelling did not converge; check --threshold")
        run.write_table("levelling", res.summary)
        write_spm_map_tiff(run, f"{channel}_levelled", res.image)
        maps = {f"{channel} (raw)": raw, f"{channel} (levelled)": res.image}
        run.write_figure("levelling", maps_figure(maps, ncols=2, title=str(file)))
    return res


def spm_dart(
    file: PathLike,
    *,
    out: PathLike,
    width: float | None = None,
    drive_voltage: float | None = None,
    phase_convention: Literal["lag", "lead"] = "lag",
    q: float | None = None,
    amplitude_channel: str = "Amplitude",
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """DART per-pixel resonance, Q, drive and ESM amplitude (or single-frequency ESM).

    Parameters
    ----------
    file : path-like
        SPM file; a DART scan has Amplitude1/2, Phase1/2 and Frequency.
    out : path-like
        Run folder to create.
    width : float, optional
        DART frequency separation f2 - f1 in Hz (default: from the file).
    drive_voltage : float, optional
        AC drive in V (default: from the file).
    phase_convention : {"lag", "lead"}
        Sign convention of the phases.
    q : float, optional
        Single-frequency data: contact-resonance Q for ``A / (Q V)``.
    amplitude_channel : str
        Single-frequency data: the amplitude channel.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    pandas.DataFrame
        ``dart_summary`` (DART) or ``esm_summary`` (single frequency), as written.

    Raises
    ------
    SPMChannelMissingError
        Not a DART scan and no ``q``.
    MissingMetadataError
        Single frequency and the drive voltage is unknown.
    """
    from cathodescope.io import read_spm
    from cathodescope.report import maps_figure, write_spm_map_tiff
    from cathodescope.spm import dart_from_scan, esm_summary, normalize_esm

    with _run(out, "spm dart", parameters, overwrite) as run:
        run.add_input(file)
        scan = read_spm(file)
        if all(c in scan for c in _DART_CHANNELS):
            with run.timer("dart"):
                res = dart_from_scan(
                    scan,
                    frequency_width=width,
                    drive_voltage=drive_voltage,
                    phase_convention=phase_convention,
                )
            table = res.to_dataframe()
            run.write_table("dart_summary", table)
            maps = res.maps()
            for name, da in maps.items():
                write_spm_map_tiff(run, name, da)
            run.write_figure("dart_maps", maps_figure(maps, title=str(file)))
            run.results.update(valid_fraction=res.valid_fraction, **res.parameters)
            if res.valid_fraction < 0.9:
                run.warn(
                    f"only {res.valid_fraction:.1%} of pixels have a physical DART "
                    "solution; check --phase-convention and the channel order"
                )
            return table
        if q is None:
            raise SPMChannelMissingError(
                f"{file} is not a DART scan (needs {list(_DART_CHANNELS)}); for "
                "single-frequency data give --q (and --drive-voltage if not in the file)."
            )
        dv = drive_voltage or scan.metadata.get("drive_amplitude_V")
        if dv is None or not dv == dv:
            raise MissingMetadataError("the AC drive voltage is unknown; pass --drive-voltage.")
        esm = normalize_esm(scan[amplitude_channel], q=q, drive_voltage=dv)
        table = esm_summary(esm, q=q, drive_voltage=dv)
        run.write_table("esm_summary", table)
        write_spm_map_tiff(run, "esm_amplitude", esm)
        run.write_figure("esm_map", maps_figure({"esm_amplitude": esm}))
        return table


def spm_particles(
    file: PathLike,
    *,
    out: PathLike,
    segment_on: str = "height",
    q: float | None = None,
    drive_voltage: float | None = None,
    boundary_um: float = 0.2,
    bins: int = 50,
    k_sigma: float = 3.0,
    engine_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """Particles of an SPM scan through the depth-profile engine, with the SPM tables.

    Parameters
    ----------
    file : path-like
        SPM file.
    out : path-like
        Run folder to create.
    segment_on, q, drive_voltage, boundary_um, bins, k_sigma
        See :func:`cathodescope.spm.analyze_spm_scene`.
    engine_options : mapping, optional
        Engine keywords (``threshold``, ``min_size_um`` in um^2, ``bin_width_um``...); unset
        ones take the SPM defaults (particles of at least 3 x 3 pixels, one-pixel bins).
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    cathodescope.spm.SPMSceneAnalysis
    """
    from cathodescope.io import read_spm
    from cathodescope.report import write_spm_scene_report
    from cathodescope.spm import analyze_spm_scene

    options = {k: v for k, v in dict(engine_options or {}).items() if v is not None}
    with _run(out, "spm particles", parameters, overwrite) as run:
        run.add_input(file)
        scan = read_spm(file)
        with run.timer("analysis"):
            analysis = analyze_spm_scene(
                scan,
                segment_on=segment_on,
                q=q,
                drive_voltage=drive_voltage,
                boundary_um=boundary_um,
                bins=bins,
                k_sigma=k_sigma,
                **options,
            )
        with run.timer("report"):
            write_spm_scene_report(analysis, run)
    return analysis


def spm_soc_series(
    table: PathLike,
    *,
    out: PathLike,
    particles: bool = False,
    segment_on: str = "height",
    threshold: float | str = "otsu",
    min_size_um: float | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """ESM amplitude, current and resonance vs state of charge over the files of a table.

    Parameters
    ----------
    table : path-like
        CSV or TOML SOC table (see :func:`cathodescope.spm.read_soc_table`).
    out : path-like
        Run folder to create.
    particles : bool
        Statistics over particle pixels only (segmented on ``segment_on``).
    segment_on : str
        Map to segment with ``particles``.
    threshold : float or "otsu"
        Segmentation threshold in display units.
    min_size_um : float, optional
        Minimum particle area in um^2 (default 3 x 3 pixels).
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    cathodescope.spm.SocSeries
    """
    from cathodescope.report import soc_series_figure
    from cathodescope.spm import particles_from_scan, read_soc_table, soc_series

    with _run(out, "spm soc-series", parameters, overwrite) as run:
        run.add_input(table)
        rows = read_soc_table(table)
        for f in rows["file"]:
            run.add_input(f)
        labels_of = None
        if particles:
            labels_of = particles_from_scan(
                segment_on=segment_on, threshold=threshold, min_size_um=min_size_um
            )
        with run.timer("series"):
            series = soc_series(rows, particles=labels_of, progress=True)
        run.write_table("soc_per_file", series.per_file)
        run.write_table("soc_summary", series.summary)
        run.write_figure("soc_series", soc_series_figure(series))
        run.results.update(series.parameters)
    return series
