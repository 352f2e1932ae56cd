"""Tomography run folders: one projection file -> volume, and the config-driven multi-energy
pipeline (raw projections per energy -> elemental volumes -> depth profiles).

Every step is a function of :mod:`cathodescope.tomo` (and :mod:`cathodescope.profile` for the
depth profiles); this module reads the inputs, wires the steps, and has
:mod:`cathodescope.report` write tables, figures and the manifest.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from cathodescope._validation import check_choice
from cathodescope.common import check_spacing_plausible
from cathodescope.errors import FileFormatError, ParameterError

__all__ = [
    "Reconstruction",
    "load_config",
    "read_scans",
    "run_pipeline",
    "run_reconstruction",
]

_PROCESS_KEYS = {
    "reference_energy_ev",
    "zinger_threshold",
    "ring_width",
    "min_transmission",
    "centre",
    "centre_method",
    "algorithm",
    "size",
    "upsample_factor",
    "jitter",
    "register_3d",
    "spacing",
}
_SCAN_KEYS = {"file", "reference", "angles", "flats", "darks", "energy_ev", "spacing"}
_RENAMED = {"spacing_um": "spacing", "pixel_size_um": "spacing"}


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a pipeline TOML file (see :func:`run_pipeline` for the layout).

    Parameters
    ----------
    path : path
        The ``.toml`` file; relative scan paths are taken from its folder.

    Returns
    -------
    dict
        The parsed config with ``_base_dir`` set.

    Raises
    ------
    FileFormatError
        If the file is not valid TOML.
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            cfg = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(f"{p} is not valid TOML: {exc}") from exc
    cfg.setdefault("_base_dir", str(p.resolve().parent))
    return cfg


def _check_keys(table: Mapping[str, Any], valid: set[str], where: str) -> None:
    unknown = set(table) - valid
    if not unknown:
        return
    hints = [f"{k!r} is now {_RENAMED[k]!r}" for k in sorted(unknown) if k in _RENAMED]
    raise ParameterError(
        f"unknown {where} keys {sorted(unknown)}; valid keys: {sorted(valid)}"
        + (f" ({'; '.join(hints)})" if hints else "")
        + "."
    )


def read_scans(
    cfg: Mapping[str, Any], *, energies: Mapping[str, float] | None = None, lazy: bool = False
) -> list[Any]:
    """Read the ``[[scan]]`` entries of a pipeline config, one RawProjections per energy.

    Parameters
    ----------
    cfg : mapping
        Parsed config (:func:`load_config`).
    energies : mapping file name -> eV, optional
        Photon energies replacing what the files (and the config) say, keyed by the scan's
        ``file`` entry or its file name (``--energy FILE=EV`` on the command line).
    lazy : bool
        Keep HDF5 projections on disk (dask), read slab by slab (the streaming pipeline).

    Returns
    -------
    list of RawProjections
    """
    from cathodescope.io import read_projections

    base = Path(cfg.get("_base_dir", "."))
    scans_cfg = cfg.get("scan") or cfg.get("scans")
    if not scans_cfg:
        raise ParameterError(
            "the config has no [[scan]] entries; add one per energy with file = '...' "
            "(and energy_ev = ... if the file does not record it)."
        )
    overrides = dict(energies or {})
    known = {e.get("file") for e in scans_cfg} | {Path(e.get("file", "")).name for e in scans_cfg}
    if set(overrides) - known:
        raise ParameterError(
            f"--energy names {sorted(set(overrides) - known)}, which are not [[scan]] files of "
            f"the config ({[e.get('file') for e in scans_cfg]})."
        )
    scans = []
    for entry in scans_cfg:
        if "file" not in entry:
            raise ParameterError(f"[[scan]] entry {entry} has no 'file'.")
        _check_keys(entry, _SCAN_KEYS, "[[scan]]")
        path = base / entry["file"]
        energy = overrides.get(entry["file"], overrides.get(path.name, entry.get("energy_ev")))
        scans.append(
            read_projections(
                path,
                lazy=lazy,
                reference=None if "reference" not in entry else base / entry["reference"],
                angles=None if "angles" not in entry else base / entry["angles"],
                flats=None if "flats" not in entry else base / entry["flats"],
                darks=None if "darks" not in entry else base / entry["darks"],
                energy_ev=energy,
                spacing=entry.get("spacing"),
            )
        )
    return scans


def _save_volumes(run: Any, result: Any, fmt: str) -> None:
    from cathodescope.tomo import write_volume

    stores = {f"attenuation_{e:.1f}eV": v for e, v in result.attenuation.items()}
    stores.update({f"channel_{el}": v for el, v in result.channels.items()})
    suffix = ".zarr" if fmt == "zarr" else ".h5"
    for name, vol in stores.items():
        write_volume(vol, run.file(name + suffix))


def _record_volumes(run: Any, result: Any) -> None:
    """Results, registration tables and slice figures of :func:`process_energies`."""
    from cathodescope.report import plot_registration, plot_volume_slices

    run.results["rotation_centre_px"] = result.centre.centre
    run.results["centre_method"] = result.centre.method
    run.results["registration"] = {str(e): reg.summary() for e, reg in result.registrations.items()}
    if result.decomposition is not None:
        run.results["decomposition_condition_number"] = result.decomposition.condition_number
        run.results["decomposition_residual_rms_per_cm"] = result.decomposition.residual_rms
    if result.registrations:
        run.write_table("registration", result.registration_table())
        run.write_figure("registration", plot_registration(result.registrations))
    if result.volume_shifts:
        run.write_table(
            "volume_registration",
            pd.DataFrame(
                [(e, *s) for e, s in result.volume_shifts.items()],
                columns=["energy_ev", "shift_z_px", "shift_y_px", "shift_x_px"],
            ),
        )
    for el, d in result.differences.items():
        run.results[f"{el}_difference_negative_fraction"] = d.attrs["negative_fraction"]
    run.write_figure(
        "elemental_slices", plot_volume_slices(result.channels, "elemental volumes (middle slice)")
    )
    run.write_figure(
        "difference_slices",
        plot_volume_slices(result.differences, "edge differences (middle slice)"),
    )


def _pipeline_options(
    cfg: Mapping[str, Any], spacing: float | Sequence[float] | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``process_energies`` options, element options and ``analyze_scene`` options."""
    proc = dict(cfg.get("processing", {}))
    _check_keys(proc, _PROCESS_KEYS, "[processing]")
    if proc.get("ring_width") in (0, False):
        proc["ring_width"] = None
    if spacing is not None:
        proc["spacing"] = spacing
    el_cfg = dict(cfg.get("elements", {}))
    elements = {
        "elements": tuple(el_cfg.get("names", ("Ni", "Co", "Mn"))),
        "method": el_cfg.get("method", "decomposition"),
        "matrix_elements": tuple(el_cfg.get("matrix", ("O",))),
    }
    profile_opts = dict(cfg.get("profile", {}))
    if "spacing" in profile_opts:
        raise ParameterError(
            "[profile] spacing is not used: the voxel size comes from the scans or from "
            "[processing] spacing (--spacing)."
        )
    # as the `profile` command: drop reconstruction-noise specks below 0.5 um^3 unless told
    profile_opts.setdefault("min_size_um", 0.5)
    return proc, elements, profile_opts


def run_pipeline(
    config: Mapping[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
    scans: Sequence[Any] | None = None,
    save_volumes: Literal["zarr", "h5", "none"] = "zarr",
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    spacing: float | Sequence[float] | None = None,
    energies: Mapping[str, float] | None = None,
    memory_limit: int | str | None = None,
    device: Literal["cpu", "cuda"] = "cpu",
) -> tuple[Any, Any]:
    """Run raw projections -> elemental volumes -> depth profiles, writing one run folder.

    With ``memory_limit`` the chain is streamed (:func:`cathodescope.tomo.stream_energies`):
    every energy is normalised, aligned and reconstructed slab by slab into the run folder's
    stores, and the differences and decomposition run chunk by chunk on them, with the same
    numbers as the in-memory run. The run folder then also holds ``difference_{element}`` (and
    ``molar_{matrix element}``) stores, and the manifest the slab plan (``results.stream``).

    Config layout (TOML)::

        [output]
        dir = "run_txm"                 # or --out on the command line
        [[scan]]                        # one per energy
        file = "ni_below.h5"            # Data Exchange / FXI HDF5, .txrm/.xrm, TIFF folder
        energy_ev = 8293.0              # only if the file does not record it
        # spacing = 0.05                # detector pitch (um, one value or [dy, dx]) if unknown
        # reference = "ref.xrm"         # Xradia flats; angles/flats/darks for TIFF
        [processing]                    # options of cathodescope.tomo.process_energies
        centre = "auto"
        algorithm = "fbp"
        register_3d = true
        # spacing = [0.1, 0.05, 0.05]   # voxel (z, y, x) in um, overrides the files
        [elements]
        names = ["Ni", "Co", "Mn"]
        method = "decomposition"        # or "difference"
        matrix = ["O"]
        [profile]                       # options of cathodescope.profile.analyze_scene
        dilate_um = 0.1
        min_size_um = 0.5               # default: drop specks below 0.5 um^3

    Parameters
    ----------
    config : mapping or path to TOML
        The config (see above).
    out_dir : path, optional
        Run folder (overrides ``[output] dir``).
    overwrite : bool
        Replace an earlier run in ``out_dir``.
    progress : bool
        Progress bars.
    scans : sequence of RawProjections, optional
        Use these instead of reading ``[[scan]]`` files (simulations, notebooks).
    save_volumes : {"zarr", "h5", "none"}
        Store the attenuation and elemental volumes in the run folder.
    extra_tables : mapping name -> DataFrame, optional
        More tables for the run folder (e.g. the ground truth of a simulation).
    spacing : float or (z, y, x), optional
        Voxel size in um overriding ``[processing] spacing`` and the files (``--spacing``).
    energies : mapping file -> eV, optional
        Photon energies of ``[[scan]]`` files overriding the files (``--energy FILE=EV``).
    memory_limit : int or str, optional
        Bytes or e.g. ``"6GiB"`` (``--memory-limit``): stream the chain under this peak memory,
        and profile the stored elemental volumes with the out-of-core engine
        (:func:`cathodescope.scale.analyze_scene_large`) under the same limit: same tables as
        in memory; no per-particle figures or line scans (they need the labels in memory).
        ``save_volumes`` must then be "zarr" or "h5".
    device : {"cpu", "cuda"}
        Where the volumes are reconstructed (``--device``; ``"cuda"``: FBP/gridrec with CuPy,
        an error without a GPU, never a fallback).

    Returns
    -------
    (ElementalVolumes, SceneAnalysis or LargeSceneAnalysis)
        The volumes reach :func:`cathodescope.profile.analyze_scene` (or, with
        ``memory_limit``, :func:`cathodescope.scale.analyze_scene_large`) with their
        ``(z, y, x)`` spacing, anisotropic or not.

    Raises
    ------
    DeviceUnavailableError
        For ``device="cuda"`` without CuPy or a visible GPU (before anything is read).
    """
    from cathodescope.profile import analyze_scene
    from cathodescope.report import RunFolder, write_scene_report
    from cathodescope.tomo import check_device, process_energies
    from cathodescope.workflows._tomo_stream import profile_out_of_core, stream_volumes

    check_choice(save_volumes, ("zarr", "h5", "none"), "save_volumes")
    if memory_limit is not None and save_volumes == "none":
        raise ParameterError(
            "--memory-limit streams the volumes through the run folder: use --volumes zarr or "
            "--volumes h5 (not none)."
        )
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else dict(config)
    out = out_dir or cfg.get("output", {}).get("dir")
    if out is None:
        raise ParameterError("no output folder: give --out or [output] dir in the config.")
    proc, element_opts, profile_opts = _pipeline_options(cfg, spacing)
    check_device(device, proc.get("algorithm", "fbp"))  # a missing GPU: refused before reading
    proc["device"] = device
    params = {k: v for k, v in cfg.items() if not k.startswith("_")}
    if spacing is not None or energies:
        params["overrides"] = {"spacing": spacing, "energies_ev": dict(energies or {})}
    if memory_limit is not None:
        params["memory_limit"] = memory_limit
    params["device"] = device
    with RunFolder(out, command="tomo pipeline", parameters=params, overwrite=overwrite) as run:
        if scans is None:
            with run.timer("read"):
                scans = read_scans(cfg, energies=energies, lazy=memory_limit is not None)
            for s in scans:
                if s.source and Path(s.source).exists():
                    run.add_input(s.source, energy_ev=s.energy_ev)
        with run.timer("projections_to_volumes"):
            if memory_limit is None:
                result = process_energies(scans, progress=progress, **element_opts, **proc)
            else:
                options = {**element_opts, **proc, "progress": progress}
                fmt = "h5" if save_volumes == "h5" else "zarr"
                result = stream_volumes(run, scans, memory_limit, fmt, **options)
        _record_volumes(run, result)
        if save_volumes != "none" and memory_limit is None:
            with run.timer("save_volumes"):
                _save_volumes(run, result, save_volumes)
        with run.timer("depth_profiles"):
            if memory_limit is None:
                analysis = analyze_scene(
                    result.channels, spacing=result.spacing, progress=progress, **profile_opts
                )
                write_scene_report(analysis, run, channels=result.channels)
            else:  # the stored volumes, chunk by chunk, under the same limit
                analysis = profile_out_of_core(
                    run, result, memory_limit, profile_opts, progress=progress
                )
        for name, table in (extra_tables or {}).items():
            run.write_table(name, table)
    if memory_limit is not None:  # the stores moved with the run folder into place
        from cathodescope.tomo import reopen_volumes

        result = reopen_volumes(result, run.path)
    return result, analysis


@dataclass(frozen=True)
class Reconstruction:
    """What :func:`run_reconstruction` produced.

    Attributes
    ----------
    volume : xarray.DataArray
        The volume, dims (z, y, x), lazily backed by the store in the run folder.
    centre_px : float
        Rotation-axis column in detector pixels.
    centre_method : str
        How the centre was found (``"given"`` when passed).
    path : pathlib.Path
        The run folder.
    """

    volume: Any
    centre_px: float
    centre_method: str
    path: Path


def _middle_rows_centre(lines: Any, angles: Any, method: str) -> tuple[float, str]:
    """Rotation centre from at most 16 rows around the middle of the detector."""
    from cathodescope.tomo import find_rotation_centre

    mid, ny = lines.shape[1] // 2, lines.shape[1]
    middle = lines.isel(y=slice(max(0, mid - 8), min(ny, mid + 8)))
    found = find_rotation_centre(middle, angles, method=method)  # type: ignore[arg-type]
    return found.centre, found.method


def _read_input(run: Any, path: Path, **options: Any) -> Any:
    """Read the projections (lazily where the format allows) and record the inputs."""
    from cathodescope.io import read_projections

    run.add_input(path)
    raw = read_projections(path, lazy=True, **options)
    if options.get("reference") is not None and path.suffix.lower() in (".xrm", ".txrm"):
        run.add_input(options["reference"], role="reference")
    return raw


def _report_volume(run: Any, volume: Any, title: str, *, slab: int) -> None:
    """Per-slice statistics (read slab by slab), units, spacing and the middle slice."""
    from cathodescope.report import plot_volume_slices
    from cathodescope.tomo import slice_statistics

    run.write_table("slices", slice_statistics(volume, slab=slab))
    run.results["units"] = volume.attrs["units"]
    run.results["spacing_um"] = volume.attrs["spacing_um"]
    run.write_figure("middle_slice", plot_volume_slices({"attenuation": volume}, title))


def run_reconstruction(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    angles: str | os.PathLike[str] | None = None,
    flats: str | os.PathLike[str] | None = None,
    darks: str | os.PathLike[str] | None = None,
    spacing: float | Sequence[float] | None = None,
    energy_ev: float | None = None,
    centre: float | Literal["auto"] = "auto",
    centre_method: Literal["auto", "mirror", "sinusoid", "sharpness"] = "auto",
    algorithm: Literal["fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"] = "fbp",
    filter_name: Literal["ramp", "shepp-logan", "cosine", "hamming", "hann"] = "ramp",
    iterations: int = 100,
    rows: slice | None = None,
    slab: int = 32,
    zinger_threshold: float | None = 0.3,
    ring_width: int | None = None,
    min_transmission: float | None = None,
    volume_format: Literal["zarr", "h5"] = "zarr",
    keep_projections: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    parameters: Mapping[str, Any] | None = None,
    device: Literal["cpu", "cuda"] = "cpu",
) -> Reconstruction:
    """One raw projection file -> normalized -log stack -> centre -> volume, out of core.

    The -log stack and the volume are written slab by slab (never the whole stack in memory);
    the -log stack is kept in the run folder only with ``keep_projections``. The run folder
    holds ``volume.zarr`` (or ``.h5``), ``slices`` (per-slice statistics) and ``middle_slice``.

    Parameters
    ----------
    input_path : path
        Projection file (Data Exchange/FXI HDF5, ``.txrm``/``.xrm``, TIFF stack or folder).
    out_dir : path
        Run folder to create.
    reference : path, optional
        Xradia flat-field ``.xrm``.
    angles, flats, darks : path, optional
        TIFF input: angles file (degrees), flat and dark frames.
    spacing : float or (z, y, x), optional
        Voxel size in um replacing the file's pixel size (``y == x``).
    energy_ev : float, optional
        Photon energy in eV replacing the file's (recorded with the volume).
    centre : float or "auto"
        Rotation-axis column in pixels, or found from the middle detector rows.
    centre_method : {"auto", "mirror", "sinusoid", "sharpness"}
        See :func:`cathodescope.tomo.find_rotation_centre`.
    algorithm : {"fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"}
        Reconstructor.
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
        FBP filter.
    iterations : int
        SIRT iterations.
    rows : slice, optional
        Detector rows to reconstruct.
    slab : int
        Detector rows per chunk (memory).
    zinger_threshold, ring_width, min_transmission : optional
        Pre-processing options of :func:`cathodescope.tomo.preprocess`.
    volume_format : {"zarr", "h5"}
        Store of the volume.
    keep_projections : bool
        Keep the normalized -log projections (HDF5) in the run folder.
    overwrite : bool
        Replace an earlier run in ``out_dir``.
    progress : bool
        Progress bars.
    parameters : mapping, optional
        What to record as the run's parameters (default: the arguments of this call).
    device : {"cpu", "cuda"}
        Where the slabs are reconstructed (``--device``; ``"cuda"``: FBP/gridrec with CuPy, an
        error without a GPU, never a fallback).

    Returns
    -------
    Reconstruction

    Raises
    ------
    DeviceUnavailableError
        For ``device="cuda"`` without CuPy or a visible GPU (before the run folder is made).
    """
    from cathodescope.report import RunFolder
    from cathodescope.tomo import check_device, preprocess, reconstruct, volume_spacing

    check_choice(volume_format, ("zarr", "h5"), "volume_format")
    check_device(device, algorithm)
    path = Path(input_path)
    voxel = volume_spacing(spacing)
    if parameters is None:
        parameters = {"input": os.fspath(path), "spacing": voxel, "energy_ev": energy_ev}
        parameters.update(centre=centre, centre_method=centre_method, algorithm=algorithm)
        parameters.update(filter=filter_name, iterations=iterations, slab=slab)
        parameters.update(rows=None if rows is None else (rows.start, rows.stop))
        parameters.update(zinger_threshold=zinger_threshold, ring_width=ring_width)
        parameters.update(min_transmission=min_transmission, volume_format=volume_format)
        parameters.update(device=device)
    with RunFolder(
        out_dir, command="tomo reconstruct", parameters=parameters, overwrite=overwrite
    ) as run:
        if voxel is not None:
            check_spacing_plausible(voxel)
        with run.timer("read"):
            raw = _read_input(
                run,
                path,
                reference=reference,
                angles=angles,
                flats=flats,
                darks=darks,
                energy_ev=energy_ev,
                spacing=None if voxel is None else (voxel[0], voxel[2]),
            )
        if rows is not None:
            raw = raw.select_rows(rows)
        run.results["energy_ev"] = raw.energy_ev
        # the -log stack goes to disk slab by slab (never the whole stack in memory); it is kept
        # in the run folder only with keep_projections
        log_path = (
            run.file("projections_minus_log.h5")
            if keep_projections
            else run.path / ".projections_minus_log.tmp.h5"
        )
        with run.timer("preprocess"):
            lines = preprocess(
                raw,
                zinger_threshold=zinger_threshold,
                ring_width=ring_width or None,
                min_transmission=min_transmission,
                slab=slab,
                out=log_path,
                progress=progress,
            )
        run.results["n_zingers"] = lines.attrs.get("n_zingers")
        with run.timer("centre"):
            if centre == "auto":
                centre_px, method = _middle_rows_centre(lines, raw.angles, centre_method)
            else:
                centre_px, method = float(centre), "given"
        run.results["rotation_centre_px"] = centre_px
        run.results["centre_method"] = method
        suffix = ".zarr" if volume_format == "zarr" else ".h5"
        with run.timer("reconstruct"):
            volume = reconstruct(
                lines,
                raw.angles,
                centre=centre_px,
                algorithm=algorithm,
                filter_name=filter_name,
                iterations=iterations,
                slab=slab,
                out=run.file("volume" + suffix),
                progress=progress,
                device=device,
            )
        if not keep_projections:
            del lines
            log_path.unlink(missing_ok=True)
        _report_volume(run, volume, f"{path.name}, centre {centre_px:.2f} px", slab=slab)
    return Reconstruction(volume=volume, centre_px=centre_px, centre_method=method, path=run.path)
