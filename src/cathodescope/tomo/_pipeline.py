"""The whole chain: raw projections at several energies -> aligned elemental volumes -> profiles."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, normalize_spacing
from cathodescope.errors import (
    EdgeBracketError,
    FileFormatError,
    MissingMetadataError,
    ParameterError,
    ProjectionGeometryError,
)
from cathodescope.io._txm import RawProjections


@dataclass(frozen=True)
class ElementalVolumes:
    """Result of :func:`process_energies`.

    Attributes
    ----------
    attenuation : dict[float, xarray.DataArray]
        Registered linear attenuation volume per energy (eV), dims (z, y, x), 1/um.
    channels : dict[str, xarray.DataArray]
        Per-element volumes handed to the depth-profile engine: molar concentration (mol/cm^3)
        for ``method="decomposition"``, edge difference (1/um) for ``method="difference"``.
    differences : dict[str, xarray.DataArray]
        Above-minus-below edge difference per element (1/um), always computed.
    decomposition : Decomposition or None
    registrations : dict[float, ProjectionRegistration]
        Per-angle registration of each energy onto the reference energy.
    centre : CentreResult
    jitter_shifts : ndarray or None, shape (n_angles, 2)
    volume_shifts : dict[float, tuple]
        3D shifts (voxels) applied to each energy's volume (empty if not registered in 3D).
    spacing_um : float
    parameters : dict
    """

    attenuation: dict[float, Any]
    channels: dict[str, Any]
    differences: dict[str, Any]
    decomposition: Any
    registrations: dict[float, Any]
    centre: Any
    jitter_shifts: np.ndarray | None
    volume_shifts: dict[float, tuple[float, float, float]]
    spacing_um: float
    parameters: dict[str, Any] = field(default_factory=dict)

    def registration_table(self) -> pd.DataFrame:
        """Per-energy, per-angle shifts and correlations (columns of ProjectionRegistration + energy_ev)."""
        frames = []
        for e, reg in self.registrations.items():
            df = reg.to_dataframe()
            df.insert(0, "energy_ev", e)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)


def _pair_for(element: str, energies: Sequence[float]) -> tuple[float, float]:
    """Closest energies below and above ``element``'s K edge among ``energies``."""
    import xraydb

    edge = float(xraydb.xray_edge(element, "K").energy)
    below = [e for e in energies if e < edge]
    above = [e for e in energies if e > edge]
    if not below or not above:
        raise EdgeBracketError(
            f"no energy pair brackets the {element} K edge ({edge:.0f} eV, xraydb) among "
            f"{sorted(energies)} eV; add a scan below and one above it, or drop {element}."
        )
    return max(below), min(above)


def process_energies(
    scans: Sequence[RawProjections],
    *,
    elements: Sequence[str] = ("Ni", "Co", "Mn"),
    method: Literal["decomposition", "difference"] = "decomposition",
    matrix_elements: Sequence[str] = ("O",),
    reference_energy_ev: float | None = None,
    zinger_threshold: float | None = 0.3,
    ring_width: int | None = None,
    min_transmission: float | None = None,
    centre: float | Literal["auto"] = "auto",
    centre_method: Literal["auto", "mirror", "sinusoid", "sharpness"] = "auto",
    algorithm: Literal["fbp", "sirt", "astra_fbp", "astra_sirt"] = "fbp",
    size: int | None = None,
    upsample_factor: int = 20,
    jitter: bool = False,
    register_3d: bool = False,
    spacing_um: float | None = None,
    progress: bool = False,
) -> ElementalVolumes:
    """Raw projections at several energies -> registered attenuation and elemental volumes.

    Steps: flat/dark normalization and -log (:func:`preprocess`); magnification correction to
    the reference energy's pixel size when the metadata differ; per-angle subpixel registration
    of every energy onto the reference energy; rotation centre from the reference energy;
    optional jitter correction by reprojection (shifts applied to all energies); reconstruction
    of each energy; optional 3D registration of the volumes; edge differences per element and
    the quantitative decomposition with xraydb attenuation coefficients.

    Parameters
    ----------
    scans : sequence of RawProjections
        One per energy (``energy_ev`` set), same angles and detector size.
    elements : sequence of str
        Elements to map; each needs an energy below and above its K edge among the scans.
    method : {"decomposition", "difference"}
        What the returned ``channels`` hold (see :class:`ElementalVolumes`).
    matrix_elements : sequence of str
        Edge-free unknowns of the decomposition.
    reference_energy_ev : float, optional
        Energy everything is registered to (default the highest energy).
    zinger_threshold, ring_width, min_transmission : see :func:`preprocess`
    centre : float or "auto"
        Rotation-axis column in pixels, or found with ``centre_method``.
    algorithm : {"fbp", "sirt", "astra_fbp", "astra_sirt"}
    size : int, optional
        Reconstructed slice size in pixels (default detector width).
    upsample_factor : int
        Subpixel precision of the projection registration.
    jitter : bool
        Correct per-angle jitter by reprojection on the reference energy.
    register_3d : bool
        Register each energy's volume to the reference in 3D (subpixel) after reconstruction.
    spacing_um : float, optional
        Pixel size override in um (else from the files).
    progress : bool
        Progress bars.

    Returns
    -------
    ElementalVolumes

    Raises
    ------
    ProjectionGeometryError
        Scans with different angles or detector shapes.
    MissingMetadataError
        A scan without energy or pixel size (and no override).
    EdgeBracketError
        An element without an energy pair around its K edge.
    """
    from tqdm.auto import tqdm

    from cathodescope.tomo._align import (
        correct_jitter,
        correct_magnification,
        find_rotation_centre,
        register_projections,
        register_volumes,
        shift_projections,
    )
    from cathodescope.tomo._elements import decompose, edge_difference, edge_pair
    from cathodescope.tomo._preprocess import preprocess
    from cathodescope.tomo._recon import check_centre, reconstruct

    check_choice(method, ("decomposition", "difference"), "method")
    if len(scans) < 2:
        raise ParameterError("give at least two scans (energies below and above an edge).")
    energies = []
    for s in scans:
        if s.energy_ev is None:
            raise MissingMetadataError(
                f"{s.source or 'a scan'} has no photon energy; set energy_ev in the config."
            )
        energies.append(float(s.energy_ev))
    if len(set(energies)) != len(energies):
        raise ParameterError(f"two scans share an energy: {sorted(energies)} eV.")
    by_energy = dict(zip(energies, scans, strict=True))
    ref_e = float(reference_energy_ev) if reference_energy_ev is not None else max(energies)
    if ref_e not in by_energy:
        raise ParameterError(
            f"reference energy {ref_e} eV is not one of the scans {sorted(energies)}."
        )
    ref_scan = by_energy[ref_e]
    pixel = spacing_um if spacing_um is not None else ref_scan.pixel_size_um
    if pixel is None:
        raise MissingMetadataError(
            "the pixel size is unknown (not in the files); give spacing_um (um)."
        )
    pixel = normalize_spacing(pixel, 1)[0]
    for e, s in by_energy.items():
        if s.data.shape[1:] != ref_scan.data.shape[1:]:
            raise ProjectionGeometryError(
                f"scan at {e} eV has frames {s.data.shape[1:]}, reference {ref_scan.data.shape[1:]}; "
                "use the same detector binning and region of interest for all energies."
            )
        if (
            s.angles.shape != ref_scan.angles.shape
            or np.abs(s.angles - ref_scan.angles).max() > 0.05
        ):
            raise ProjectionGeometryError(
                f"scan at {e} eV was taken at other angles than the reference ({ref_e} eV); "
                "dual-energy registration needs the same angles for every energy."
            )
    for el in elements:
        below, above = _pair_for(el, energies)
        edge_pair(below, above, element=el)

    lines = {}
    for e in tqdm(sorted(energies), desc="normalize", disable=not progress):
        lines[e] = preprocess(
            by_energy[e],
            zinger_threshold=zinger_threshold,
            ring_width=ring_width,
            min_transmission=min_transmission,
        )
        p_e = by_energy[e].pixel_size_um
        p_ref = ref_scan.pixel_size_um
        if spacing_um is None and p_e and p_ref and abs(p_e / p_ref - 1.0) > 1e-6:
            lines[e] = lines[e].copy(data=correct_magnification(lines[e], p_e / p_ref))
    registrations = {}
    for e in tqdm(sorted(energies), desc="register", disable=not progress):
        if e == ref_e:
            continue
        reg = register_projections(lines[ref_e], lines[e], upsample_factor=upsample_factor)
        registrations[e] = reg
        lines[e] = lines[e].copy(data=shift_projections(lines[e], reg.shifts))
    angles = ref_scan.angles
    if centre == "auto":
        centre_res = find_rotation_centre(lines[ref_e], angles, method=centre_method)
    else:
        from cathodescope.tomo._align import CentreResult

        centre_res = CentreResult(check_centre(centre, lines[ref_e].shape[2]), "given")
    jitter_shifts = None
    if jitter:
        _, jitter_shifts = correct_jitter(lines[ref_e], angles, centre=centre_res.centre)
        for e in energies:
            lines[e] = lines[e].copy(data=shift_projections(lines[e], jitter_shifts))
    attenuation = {}
    for e in tqdm(sorted(energies), desc="reconstruct", disable=not progress):
        attenuation[e] = reconstruct(
            lines[e],
            angles,
            centre=centre_res.centre,
            algorithm=algorithm,
            size=size,
            pixel_size_um=pixel,
        )
        attenuation[e].attrs["energy_ev"] = e
    volume_shifts: dict[float, tuple[float, float, float]] = {}
    if register_3d:
        for e in energies:
            if e == ref_e:
                continue
            reg3, moved = register_volumes(attenuation[ref_e], attenuation[e])
            volume_shifts[e] = reg3.shift
            attenuation[e] = attenuation[e].copy(data=moved)
    differences = {}
    for el in elements:
        below, above = _pair_for(el, energies)
        differences[el] = edge_difference(
            attenuation[below], attenuation[above], pair=edge_pair(below, above, element=el)
        )
    dec = None
    if method == "decomposition":
        dec = decompose(attenuation, elements=elements, matrix_elements=matrix_elements)
        channels = {el: dec.molar.sel(channel=el).drop_vars("channel") for el in elements}
    else:
        channels = dict(differences)
    params = {
        "energies_ev": sorted(energies),
        "reference_energy_ev": ref_e,
        "elements": list(elements),
        "method": method,
        "matrix_elements": list(matrix_elements),
        "zinger_threshold": zinger_threshold,
        "ring_width": ring_width,
        "centre": centre_res.centre,
        "centre_method": centre_res.method,
        "algorithm": algorithm,
        "size": size,
        "upsample_factor": upsample_factor,
        "jitter": jitter,
        "register_3d": register_3d,
        "spacing_um": pixel,
    }
    return ElementalVolumes(
        attenuation=attenuation,
        channels=channels,
        differences=differences,
        decomposition=dec,
        registrations=registrations,
        centre=centre_res,
        jitter_shifts=jitter_shifts,
        volume_shifts=volume_shifts,
        spacing_um=pixel,
        parameters=params,
    )


# -- figures -------------------------------------------------------------------------------------


def _slices_figure(volumes: Mapping[str, Any], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(volumes)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        vol = np.asarray(volumes[name])
        img = vol[vol.shape[0] // 2] if vol.ndim == 3 else vol
        im = ax.imshow(img, cmap="viridis")
        units = getattr(volumes[name], "attrs", {}).get("units", "")
        ax.set_title(f"{name} [{units}]", fontsize=9)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    return fig


def _registration_figure(result: ElementalVolumes) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for e, reg in result.registrations.items():
        axes[0].plot(reg.angles, reg.shifts[:, 1], ".", ms=2, label=f"{e:.0f} eV x")
        axes[0].plot(reg.angles, reg.shifts[:, 0], "x", ms=2, label=f"{e:.0f} eV y")
        axes[1].plot(reg.angles, reg.correlation_after, ".", ms=2, label=f"{e:.0f} eV")
    axes[0].set(xlabel="angle (deg)", ylabel="shift applied (px)", title="inter-energy shifts")
    axes[1].set(xlabel="angle (deg)", ylabel="correlation after", title="registration quality")
    axes[0].legend(fontsize=6, ncol=2)
    return fig


# -- config-driven run ---------------------------------------------------------------------------

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
    "spacing_um",
}


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a pipeline TOML file (see :func:`run_pipeline` for the layout)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            cfg = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(f"{p} is not valid TOML: {exc}") from exc
    cfg.setdefault("_base_dir", str(p.resolve().parent))
    return cfg


def _read_scans(cfg: Mapping[str, Any]) -> list[RawProjections]:
    from cathodescope.io._txm import read_projections, read_tiff_stack, read_xradia

    base = Path(cfg.get("_base_dir", "."))
    scans_cfg = cfg.get("scan") or cfg.get("scans")
    if not scans_cfg:
        raise ParameterError(
            "the config has no [[scan]] entries; add one per energy with file = '...' "
            "(and energy_ev = ... if the file does not record it)."
        )
    scans = []
    for entry in scans_cfg:
        if "file" not in entry:
            raise ParameterError(f"[[scan]] entry {entry} has no 'file'.")
        path = base / entry["file"]
        if path.suffix.lower() in (".xrm", ".txrm"):
            ref = entry.get("reference")
            scan = read_xradia(path, reference=None if ref is None else base / ref)
        elif path.suffix.lower() in (".tif", ".tiff") or path.is_dir():
            scan = read_tiff_stack(
                path,
                base / entry["angles"],
                flats=None if "flats" not in entry else base / entry["flats"],
                darks=None if "darks" not in entry else base / entry["darks"],
                energy_ev=entry.get("energy_ev"),
                pixel_size_um=entry.get("pixel_size_um"),
            )
        else:
            scan = read_projections(path)
        if "energy_ev" in entry or "pixel_size_um" in entry:
            from dataclasses import replace

            scan = replace(
                scan,
                energy_ev=float(entry.get("energy_ev", scan.energy_ev)),
                pixel_size_um=entry.get("pixel_size_um", scan.pixel_size_um),
            )
        scans.append(scan)
    return scans


def run_pipeline(
    config: Mapping[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
    scans: Sequence[RawProjections] | None = None,
    save_volumes: Literal["zarr", "h5", "none"] = "zarr",
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
) -> tuple[ElementalVolumes, Any]:
    """Run raw projections -> elemental volumes -> depth profiles, writing one run folder.

    Config layout (TOML)::

        [output]
        dir = "run_txm"                 # or --out on the command line
        [[scan]]                        # one per energy
        file = "ni_below.h5"            # Data Exchange / FXI HDF5, .txrm/.xrm, TIFF folder
        energy_ev = 8293.0              # only if the file does not record it
        # reference = "ref.xrm"         # Xradia flats; angles/flats/darks for TIFF
        [processing]                    # options of process_energies
        centre = "auto"
        algorithm = "fbp"
        register_3d = true
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

    Returns
    -------
    (ElementalVolumes, SceneAnalysis)
    """
    from cathodescope.profile import analyze_scene
    from cathodescope.report import RunFolder, write_scene_report

    check_choice(save_volumes, ("zarr", "h5", "none"), "save_volumes")
    cfg = load_config(config) if isinstance(config, str | os.PathLike) else dict(config)
    out = out_dir or cfg.get("output", {}).get("dir")
    if out is None:
        raise ParameterError("no output folder: give --out or [output] dir in the config.")
    proc = dict(cfg.get("processing", {}))
    unknown = set(proc) - _PROCESS_KEYS
    if unknown:
        raise ParameterError(
            f"unknown [processing] keys {sorted(unknown)}; valid keys: {sorted(_PROCESS_KEYS)}."
        )
    if proc.get("ring_width") in (0, False):
        proc["ring_width"] = None
    el_cfg = cfg.get("elements", {})
    elements = tuple(el_cfg.get("names", ("Ni", "Co", "Mn")))
    profile_opts = dict(cfg.get("profile", {}))
    # as the `profile` command: drop reconstruction-noise specks below 0.5 um^3 unless told
    profile_opts.setdefault("min_size_um", 0.5)
    params = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with RunFolder(out, command="tomo pipeline", parameters=params, overwrite=overwrite) as run:
        if scans is None:
            with run.timer("read"):
                scans = _read_scans(cfg)
            for s in scans:
                if s.source and Path(s.source).exists():
                    run.add_input(s.source, energy_ev=s.energy_ev)
        with run.timer("projections_to_volumes"):
            result = process_energies(
                scans,
                elements=elements,
                method=el_cfg.get("method", "decomposition"),
                matrix_elements=tuple(el_cfg.get("matrix", ("O",))),
                progress=progress,
                **proc,
            )
        run.results["rotation_centre_px"] = result.centre.centre
        run.results["centre_method"] = result.centre.method
        run.results["registration"] = {
            str(e): reg.summary() for e, reg in result.registrations.items()
        }
        if result.decomposition is not None:
            run.results["decomposition_condition_number"] = result.decomposition.condition_number
            run.results["decomposition_residual_rms_per_cm"] = result.decomposition.residual_rms
        if result.registrations:
            run.write_table("registration", result.registration_table())
            run.write_figure("registration", _registration_figure(result))
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
            "elemental_slices", _slices_figure(result.channels, "elemental volumes (middle slice)")
        )
        run.write_figure(
            "difference_slices",
            _slices_figure(result.differences, "edge differences (middle slice)"),
        )
        if save_volumes != "none":
            with run.timer("save_volumes"):
                _save_volumes(run, result, save_volumes)
        with run.timer("depth_profiles"):
            spacing = (result.spacing_um,) * 3
            analysis = analyze_scene(
                result.channels, spacing=spacing, progress=progress, **profile_opts
            )
            write_scene_report(analysis, run, channels=result.channels)
        for name, table in (extra_tables or {}).items():
            run.write_table(name, table)
    return result, analysis


def _save_volumes(run: Any, result: ElementalVolumes, fmt: str) -> None:
    from cathodescope.tomo._recon import _volume_store

    stores = {f"attenuation_{e:.1f}eV": v for e, v in result.attenuation.items()}
    stores.update({f"channel_{el}": v for el, v in result.channels.items()})
    for name, vol in stores.items():
        arr = np.asarray(vol.values, np.float32)
        suffix = ".zarr" if fmt == "zarr" else ".h5"
        path = run.file(name + suffix)
        with _volume_store(path, arr.shape, (min(32, arr.shape[0]), *arr.shape[1:])) as write:
            write(slice(0, arr.shape[0]), arr)


# -- demo -----------------------------------------------------------------------------------------


def demo_particle_densities(
    size: int = 64, *, spacing_um: float = 0.1, radius_um: float | None = None
) -> tuple[dict[str, np.ndarray], Any]:
    """Ground truth of the demo: one NMC sphere with the paper-like layered Ni/Mn/Co profile.

    Rendered with :func:`cathodescope.phantom.render_particles` (composition
    :func:`cathodescope.phantom.paper_profile` versus depth) and converted to partial densities of
    ``Li(Ni,Mn,Co)O2`` at 4.75 g/cm^3 (:func:`composition_to_densities`).

    Parameters
    ----------
    size : int
        Cube side in voxels.
    spacing_um : float
        Voxel size in um.
    radius_um : float, optional
        Sphere radius (default 0.41 of the box side).

    Returns
    -------
    densities : dict element -> (size, size, size) float32, g/cm^3
    truth : cathodescope.phantom.ParticleTruth
    """
    from cathodescope.phantom import Spheroid, render_particles
    from cathodescope.tomo._simulate import composition_to_densities

    c = (size - 1) * spacing_um / 2.0
    r = radius_um if radius_um is not None else 0.41 * size * spacing_um
    images, truth = render_particles(
        [Spheroid((c, c, c), (r, r, r))],
        (size, size, size),
        spacing=spacing_um,
        channels=("Ni", "Mn", "Co"),
    )
    occ = sum(np.asarray(v, dtype=np.float64) for v in images.values())
    fractions = {
        k: np.where(occ > 0, np.asarray(v) / np.maximum(occ, 1e-12), 0.0) for k, v in images.items()
    }
    return composition_to_densities(fractions, occ), truth


def true_depth_ratios(truth: Any, *, bin_width_um: float, max_depth_um: float) -> pd.DataFrame:
    """Ground-truth ratios of particle 1 at depth-bin centres (the phantom's exact profile).

    Returns
    -------
    pandas.DataFrame
        Columns: element, depth_um (bin centre, um), ratio (true molar fraction).
    """
    centres = np.arange(bin_width_um / 2, max_depth_um, bin_width_um)
    rows = [(el, float(d), float(fn(d))) for el, fn in truth.profiles[1].items() for d in centres]
    return pd.DataFrame(rows, columns=["element", "depth_um", "ratio"])


def run_demo_from_projections(
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
    size: int = 64,
    overwrite: bool = False,
    seed: int = 0,
) -> Path:
    """Simulate a six-energy TXM tomography of a gradient particle and run the whole chain.

    Ground truth particle -> projections at Mn/Co/Ni K-edge pairs (xraydb edges, 40 eV below
    and 30 eV above) with flats, darks, Poisson noise, random inter-energy shifts and an off-centre
    rotation axis -> :func:`run_pipeline`. The run folder also holds ``truth_ratios`` (true
    Ni/Co/Mn fractions per depth bin) beside the measured ratios.

    Parameters
    ----------
    out_dir : path
        Run folder.
    progress : bool
        Progress bars.
    size : int
        Volume side in voxels (64 runs in seconds).
    overwrite : bool
    seed : int

    Returns
    -------
    pathlib.Path
        The run folder (use :func:`run_pipeline` directly for the result objects).
    """
    from cathodescope.tomo._elements import edge_energy_pairs
    from cathodescope.tomo._simulate import simulate_projections

    spacing = 0.1
    densities, truth = demo_particle_densities(size, spacing_um=spacing)
    energies = [e for pair in edge_energy_pairs(("Mn", "Co", "Ni")).values() for e in pair]
    scans, sim = simulate_projections(
        densities,
        spacing_um=spacing,
        energies_ev=energies,
        n_angles=121,
        flat_counts=1e5,
        max_shift_px=1.5,
        centre_offset_px=1.7,
        seed=seed,
    )
    cfg = {
        "processing": {"centre": "auto", "size": size},
        "elements": {"names": ["Ni", "Co", "Mn"], "method": "decomposition"},
        "profile": {"bin_width_um": spacing},
        "demo": {
            "size": size,
            "spacing_um": spacing,
            "energies_ev": energies,
            "seed": seed,
            "true_centre_px": sim.centre_px,
            "phantom": "cathodescope.phantom.paper_profile sphere",
        },
    }
    radius = float(truth.semi_axes_um[0, 0])
    truth_table = true_depth_ratios(truth, bin_width_um=spacing, max_depth_um=radius)
    shift_rows = [
        (e, k, *sim.shifts_px[e][k]) for e in energies for k in range(sim.angles_deg.size)
    ]
    injected = pd.DataFrame(
        shift_rows,
        columns=["energy_ev", "angle_index", "injected_shift_y_px", "injected_shift_x_px"],
    )
    run_pipeline(
        cfg,
        out_dir,
        overwrite=overwrite,
        progress=progress,
        scans=scans,
        extra_tables={"truth_ratios": truth_table, "truth_shifts": injected},
    )
    return Path(out_dir)
