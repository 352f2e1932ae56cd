"""The multi-energy chain of :func:`process_energies`, streamed through disk under a memory limit.

:func:`stream_energies` gives the numbers of :func:`process_energies` (identical, or equal to
float rounding where a sum is split into chunks) without ever holding a whole energy's
projections or volume in memory. Four passes, each sized from the memory limit
(:func:`plan_stream`):

1. normalise (per energy, slabs of detector rows across all angles): flat/dark, zingers,
   -log, rings, written to a scratch HDF5 stack per energy, chunked ``(angles, rows, x)`` so
   that both row slabs and angle blocks are read whole chunks;
2. align (blocks of angles, all energies at once): the energy-to-energy registration needs the
   projections of both energies at the *same* angle, so each block of angles is read for every
   energy, magnification-corrected, registered onto the reference energy and shifted in place.
   Per-angle streaming was chosen over shifts estimated on a decimated pass: the shifts are
   then exactly those of the in-memory pipeline (full resolution, same subpixel precision);
3. reconstruct (per energy, slabs of rows) into chunked Zarr/HDF5 attenuation volumes, the
   rotation centre found from the stored reference stack (opposite-view pairs read two
   projections at a time);
4. differences and decomposition (slabs of ``z``, all energies): edge differences and the
   xraydb least squares run chunk by chunk on the stored volumes and are written to stores.

Per-angle jitter correction and 3D registration of whole volumes need a volume in memory and
are refused here (turn them off, or run without a memory limit).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import ParameterError, RotationCentreError
from cathodescope.io import RawProjections
from cathodescope.tomo._align import (
    CentreResult,
    ProjectionRegistration,
    _centre_mirror,
    _centre_sharpness,
    _centre_sinusoid,
    _mirror_pairs,
    correct_magnification,
    register_projections,
    shift_projections,
)
from cathodescope.tomo._device import check_device
from cathodescope.tomo._elements import decompose, edge_difference, edge_pair
from cathodescope.tomo._energies import ElementalVolumes, _pair_for, _prepare, _run_parameters
from cathodescope.tomo._preprocess import _flat_and_dark, preprocess
from cathodescope.tomo._recon import check_centre
from cathodescope.tomo._stack import reconstruct
from cathodescope.tomo._store import _volume_store, open_volume
from cathodescope.tomo._stream_plan import StreamPlan, plan_stream

# -- pass 1: normalise ------------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch_stack(path: Path, shape: tuple[int, ...], chunks: tuple[int, ...]):
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    fh = h5py.File(path, "w")
    try:
        yield fh.create_dataset("projections", shape=shape, dtype="f4", chunks=chunks)
    finally:
        fh.close()


def _normalise(
    raw: RawProjections, dset: Any, plan: StreamPlan, *, bar: Any, **options: Any
) -> int:
    """-log projections of one energy written slab by slab of rows; returns the zinger count."""
    import xarray as xr

    ny = int(raw.data.shape[1])
    flat, dark = _flat_and_dark(raw, options["zinger_threshold"])
    n_zingers = 0
    for y0 in range(0, ny, plan.row_slab):
        sl = slice(y0, min(y0 + plan.row_slab, ny))
        # the averaged (zinger-free) reference of the whole detector, cut to the slab: the
        # flats' 2D zinger filter would otherwise see the slab border
        part = replace(
            raw.select_rows(sl),
            flats=xr.DataArray(flat[None, sl], dims=("frame", "y", "x")),
            darks=None if dark is None else xr.DataArray(dark[None, sl], dims=("frame", "y", "x")),
        )
        lines = preprocess(part, slab=sl.stop - sl.start, **options)
        n_zingers += int(lines.attrs["n_zingers"])
        dset[:, sl, :] = lines.values
        bar.update(1)
    return n_zingers


# -- pass 2: align ----------------------------------------------------------------------------------


def _align(
    stacks: dict[float, Any],
    ref_e: float,
    scales: dict[float, float],
    angles: np.ndarray,
    plan: StreamPlan,
    *,
    upsample_factor: int,
    bar: Any,
) -> dict[float, ProjectionRegistration]:
    """Magnification and per-angle registration onto the reference energy, block by block."""
    n_ang = angles.size
    parts: dict[float, list[ProjectionRegistration]] = {e: [] for e in stacks if e != ref_e}
    for a0 in range(0, n_ang, plan.angle_block):
        blk = slice(a0, min(a0 + plan.angle_block, n_ang))
        ref = np.asarray(stacks[ref_e][blk])
        for e in parts:
            moving = np.asarray(stacks[e][blk])
            if e in scales:
                moving = correct_magnification(moving, scales[e])
            reg = register_projections(ref, moving, upsample_factor=upsample_factor)
            parts[e].append(reg)
            stacks[e][blk] = shift_projections(moving, reg.shifts)
        bar.update(1)
    out = {}
    for e, regs in parts.items():
        out[e] = ProjectionRegistration(
            np.concatenate([r.shifts for r in regs]),
            np.concatenate([r.correlation_before for r in regs]),
            np.concatenate([r.correlation_after for r in regs]),
            np.concatenate([r.error for r in regs]),
            angles.copy(),
            regs[0].parameters,
        )
    return out


def _centre(
    dset: Any, angles: np.ndarray, centre: float | str, method: str, plan: StreamPlan
) -> CentreResult:
    """:func:`find_rotation_centre` on a stored stack, reading only what each method needs."""
    n_ang, ny, nx = (int(s) for s in dset.shape)
    if centre != "auto":
        return CentreResult(check_centre(centre, nx), "given")  # type: ignore[arg-type]
    check_choice(method, ("auto", "mirror", "sinusoid", "sharpness"), "centre_method")
    pairs = _mirror_pairs(angles, 0.05)
    if method == "auto":
        method = "mirror" if len(pairs) >= 3 else "sharpness"
    if method == "mirror":
        found, details = _centre_mirror(dset, pairs)  # two projections at a time
    elif method == "sinusoid":
        profile = np.zeros((n_ang, nx), np.float32)
        for y0 in range(0, ny, plan.row_slab):
            profile += np.asarray(dset[:, y0 : y0 + plan.row_slab, :]).sum(axis=1)
        found, details = _centre_sinusoid(profile[:, None, :], angles)
    else:
        found, details = _centre_sharpness(np.asarray(dset[:, ny // 2, :]), angles, None)
    if not (0 <= found <= nx - 1):
        raise RotationCentreError(
            f"rotation centre found at {found:.2f} px, outside the detector (0..{nx - 1}); the "
            "projections may not cover the rotation axis: give the centre explicitly."
        )
    return CentreResult(centre=found, method=method, details=details)


# -- pass 4: differences and decomposition ----------------------------------------------------------


def _lazy(path: Path, template: Any, attrs: dict[str, Any]) -> Any:
    """The store at ``path`` as a lazy DataArray with the coordinates of ``template``;
    ``attrs["store"]`` names the store (see :func:`reopen_volumes`)."""
    coords = {k: template[k].values for k in ("z", "y", "x")}
    return open_volume(path).assign_coords(coords).assign_attrs({**attrs, "store": path.name})


def _molar_stack(per_name: list[Any], names: list[str]) -> tuple[Any, Any]:
    """Molar concentrations (channel, z, y, x) and partial densities of the decomposition."""
    import xarray as xr
    import xraydb

    molar = xr.concat(per_name, dim="channel").assign_coords(channel=names)
    molar.attrs = {"units": "mol/cm^3", "long_name": "molar concentration"}
    masses = xr.DataArray([xraydb.atomic_mass(nm) for nm in names], dims="channel")
    densities = (molar * masses).astype(np.float32)
    densities.attrs = {"units": "g/cm^3", "long_name": "partial density"}
    return molar, densities


def reopen_volumes(result: ElementalVolumes, folder: str | os.PathLike[str]) -> ElementalVolumes:
    """The volumes of a :func:`stream_energies` result re-opened from the stores in ``folder``.

    For stores that were moved (e.g. a run folder renamed into place when complete).

    Parameters
    ----------
    result : ElementalVolumes
        A result of :func:`stream_energies`.
    folder : path
        Folder now holding its stores (same names).

    Returns
    -------
    ElementalVolumes
        The same values and parameters, backed by the stores in ``folder``.
    """
    base = Path(folder)

    def again(vol: Any) -> Any:
        return _lazy(base / vol.attrs["store"], vol, dict(vol.attrs))

    attenuation = {e: again(v) for e, v in result.attenuation.items()}
    channels = {el: again(v) for el, v in result.channels.items()}
    differences = {el: again(v) for el, v in result.differences.items()}
    dec = result.decomposition
    if dec is not None:
        names = [str(n) for n in dec.molar["channel"].values]
        suffix = Path(next(iter(channels.values())).attrs["store"]).suffix
        template = next(iter(attenuation.values()))
        per_name = [
            channels[nm] if nm in channels else _lazy(base / f"molar_{nm}{suffix}", template, {})
            for nm in names
        ]
        molar, densities = _molar_stack(per_name, names)
        dec = replace(dec, molar=molar, densities=densities)
    return replace(
        result,
        attenuation=attenuation,
        channels=channels,
        differences=differences,
        decomposition=dec,
    )


def _molar_key(name: str, elements: Sequence[str]) -> str:
    """Store name of a decomposed unknown: the elements are the channels."""
    return f"channel_{name}" if name in elements else f"molar_{name}"


def _elements_by_chunk(
    attenuation: dict[float, Any],
    work: Path,
    suffix: str,
    plan: StreamPlan,
    *,
    elements: Sequence[str],
    method: str,
    matrix_elements: Sequence[str],
    bar: Any,
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Edge differences and the decomposition, slab by slab of ``z``, into stores."""

    from cathodescope.tomo._elements import Decomposition

    energies = sorted(attenuation)
    first = attenuation[energies[0]]
    nz, ny, nx = (int(s) for s in first.shape)
    pairs = {}
    for el in elements:
        below, above = _pair_for(el, energies)
        pairs[el] = edge_pair(below, above, element=el)
    names = list(elements) + [m for m in matrix_elements if m not in elements]
    diff_name = "channel" if method == "difference" else "difference"
    keys = [f"{diff_name}_{el}" for el in elements]
    if method == "decomposition":
        keys += [_molar_key(nm, elements) for nm in names]
    outputs = {k: work / f"{k}{suffix}" for k in keys}
    negatives = dict.fromkeys(elements, 0)
    sum_sq, dec = 0.0, None
    shape, chunks = (nz, ny, nx), (plan.row_slab, ny, nx)
    with contextlib.ExitStack() as stack:
        writers = {
            k: stack.enter_context(_volume_store(p, shape, chunks)) for k, p in outputs.items()
        }
        for z0 in range(0, nz, plan.row_slab):
            sl = slice(z0, min(z0 + plan.row_slab, nz))
            block = {e: attenuation[e].isel(z=sl).compute() for e in energies}
            for el, pair in pairs.items():
                d = edge_difference(block[pair.below_ev], block[pair.above_ev], pair=pair)
                negatives[el] += int(np.count_nonzero(d.values < 0))
                writers[f"{diff_name}_{el}"](sl, d.values)
            if method == "decomposition":
                dec = decompose(block, elements=elements, matrix_elements=matrix_elements)
                sum_sq += dec.residual_rms**2 * (len(energies) * (sl.stop - sl.start) * ny * nx)
                for nm in names:
                    writers[_molar_key(nm, elements)](sl, dec.molar.sel(channel=nm).values)
            del block
            bar.update(1)
    n_vox = nz * ny * nx
    differences = {}
    for el, pair in pairs.items():
        attrs = {
            "units": first.attrs.get("units", "1/um"),
            "long_name": "edge difference (above - below)",
            "negative_fraction": negatives[el] / n_vox,
            "element": pair.element,
            "edge": pair.edge,
            "edge_energy_ev": pair.edge_energy_ev,
            "below_ev": pair.below_ev,
            "above_ev": pair.above_ev,
        }
        differences[el] = _lazy(outputs[f"{diff_name}_{el}"], first, attrs)
    if method == "difference":
        return dict(differences), differences, None
    molar_attrs = {"units": "mol/cm^3", "long_name": "molar concentration"}
    per_name = [_lazy(outputs[_molar_key(nm, elements)], first, molar_attrs) for nm in names]
    molar, densities = _molar_stack(per_name, names)
    if dec is None:  # pragma: no cover - the decomposition ran on every chunk above
        raise RuntimeError("no chunk was decomposed")
    decomposition = Decomposition(
        densities=densities,
        molar=molar,
        residual_rms=float(np.sqrt(sum_sq / (len(energies) * n_vox))),
        condition_number=dec.condition_number,
        matrix=dec.matrix,
        parameters=dec.parameters,
    )
    channels = {el: per_name[i] for i, el in enumerate(elements)}
    return channels, differences, decomposition


# -- the chain --------------------------------------------------------------------------------------


def _bar(progress: bool, total: int, desc: str, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not progress)


def _plan_for(
    reference: RawProjections,
    scans: list[RawProjections],
    memory_limit: int | str,
    **options: Any,
) -> StreamPlan:
    """:func:`plan_stream` for these scans (shape of the reference, most flat frames)."""
    n_flats = max(int(s.flats.shape[0]) if s.flats is not None else 1 for s in scans)
    shape = tuple(int(s) for s in reference.data.shape)
    return plan_stream(shape, memory_limit, n_energies=len(scans), n_flats=n_flats, **options)


def _magnification_scales(
    by_energy: dict[float, RawProjections], ref_e: float
) -> dict[float, float]:
    """Pixel-size ratios to the reference energy where the metadata differ (as
    :func:`process_energies` corrects them)."""
    scales = {}
    p_ref = by_energy[ref_e].spacing
    for e, scan in by_energy.items():
        p_e = scan.spacing
        if p_e and p_ref and abs(p_e[1] / p_ref[1] - 1.0) > 1e-6:
            scales[e] = p_e[1] / p_ref[1]
    return scales


def _projections_to_volumes(
    by_energy: dict[float, RawProjections],
    ref_e: float,
    plan: StreamPlan,
    work: Path,
    suffix: str,
    *,
    scales: dict[float, float],
    centre: float | str,
    centre_method: str,
    upsample_factor: int,
    progress: bool,
    options: dict[str, Any],
    **recon: Any,
) -> tuple[dict[float, Any], CentreResult, dict[float, Any], dict[float, int]]:
    """Passes 1-3 through scratch -log stacks (removed at the end, also on errors)."""
    order = sorted(by_energy)
    n_ang, ny, nx = (int(s) for s in by_energy[ref_e].data.shape)
    shape = (n_ang, ny, nx)
    angles = by_energy[ref_e].angles
    paths = {e: work / f".minus_log_{e:.1f}eV.tmp.h5" for e in order}
    chunks = (plan.angle_block, plan.row_slab, nx)
    try:
        with contextlib.ExitStack() as stack:
            scratch = {
                e: stack.enter_context(_scratch_stack(paths[e], shape, chunks)) for e in order
            }
            n_zingers = {}
            total = len(order) * math.ceil(ny / plan.row_slab)
            with _bar(progress, total, "normalise", "slab") as bar:
                for e in order:
                    bar.set_postfix_str(f"{e:.1f} eV")
                    n_zingers[e] = _normalise(by_energy[e], scratch[e], plan, bar=bar, **options)
            with _bar(progress, math.ceil(n_ang / plan.angle_block), "align", "block") as bar:
                registrations = _align(
                    scratch, ref_e, scales, angles, plan, upsample_factor=upsample_factor, bar=bar
                )
            centre_res = _centre(scratch[ref_e], angles, centre, centre_method, plan)
            attenuation = _reconstruct_all(
                scratch, angles, centre_res.centre, work, suffix, plan, progress=progress, **recon
            )
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)
    return registrations, centre_res, attenuation, n_zingers


def stream_energies(
    scans: Sequence[RawProjections],
    work_dir: str | os.PathLike[str],
    *,
    memory_limit: int | str,
    volume_format: Literal["zarr", "h5"] = "zarr",
    elements: Sequence[str] = ("Ni", "Co", "Mn"),
    method: Literal["decomposition", "difference"] = "decomposition",
    matrix_elements: Sequence[str] = ("O",),
    reference_energy_ev: float | None = None,
    zinger_threshold: float | None = 0.3,
    ring_width: int | None = None,
    min_transmission: float | None = None,
    centre: float | Literal["auto"] = "auto",
    centre_method: Literal["auto", "mirror", "sinusoid", "sharpness"] = "auto",
    algorithm: Literal["fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"] = "fbp",
    size: int | None = None,
    upsample_factor: int = 20,
    jitter: bool = False,
    register_3d: bool = False,
    spacing: float | Sequence[float] | None = None,
    max_row_slab: int | None = None,
    max_angle_block: int | None = None,
    progress: bool = False,
    device: Literal["cpu", "cuda"] = "cpu",
) -> ElementalVolumes:
    """:func:`process_energies` streamed through disk: peak memory bounded by ``memory_limit``.

    Each energy is normalised, aligned, reconstructed and written slab by slab; the edge
    differences and the decomposition run chunk by chunk on the stored volumes (see the module
    docstring for the four passes). The numbers are those of :func:`process_energies`.

    Parameters
    ----------
    scans : sequence of RawProjections
        One per energy; lazy (dask/h5py-backed, ``read_projections(..., lazy=True)``) so that
        only the slab being processed is read.
    work_dir : path
        Folder receiving the stores: ``attenuation_{E}eV``, ``channel_{element}`` (molar
        concentration, or the difference for ``method="difference"``), ``difference_{element}``
        and ``molar_{matrix element}`` (``.zarr`` or ``.h5``); scratch -log stacks are written
        there and removed.
    memory_limit : int or str
        Bytes or e.g. ``"6GiB"`` for the whole process; slab sizes follow from it
        (:func:`plan_stream`).
    volume_format : {"zarr", "h5"}
        Store of the volumes.
    elements, method, matrix_elements, reference_energy_ev, zinger_threshold, ring_width, \
min_transmission, centre, centre_method, algorithm, size, upsample_factor, spacing
        As in :func:`process_energies`.
    jitter, register_3d : bool
        Must be False: both need a whole volume in memory.
    max_row_slab, max_angle_block : int, optional
        Caps on the slab sizes the memory limit allows (see :func:`plan_stream`).
    progress : bool
        Progress bars per pass, energy and slab.
    device : {"cpu", "cuda"}
        Where the slabs are reconstructed (see :func:`process_energies`).

    Returns
    -------
    ElementalVolumes
        Volumes lazily backed by the stores in ``work_dir``; ``parameters["stream"]`` holds the
        plan (:meth:`StreamPlan.summary`).

    Raises
    ------
    DataTooLargeError
        If ``memory_limit`` is below what one row and one angle at a time need (the message
        gives the minimum).
    ParameterError
        If ``jitter`` or ``register_3d`` is asked for.
    """
    check_choice(volume_format, ("zarr", "h5"), "volume_format")
    check_choice(method, ("decomposition", "difference"), "method")
    check_device(device, algorithm)  # a GPU that is not there: refused before any work
    for name, on in (("jitter", jitter), ("register_3d", register_3d)):
        if on:
            raise ParameterError(
                f"{name} needs a whole volume in memory and is not available with a memory limit "
                f"(streaming); set {name} = false in [processing] or run without --memory-limit."
            )
    by_energy, energies, ref_e, voxel = _prepare(scans, reference_energy_ev, spacing, elements)
    n_unknowns = len(list(elements) + [m for m in matrix_elements if m not in elements])
    plan = _plan_for(
        by_energy[ref_e],
        list(by_energy.values()),
        memory_limit,
        n_unknowns=n_unknowns if method == "decomposition" else 2,
        size=size,
        max_row_slab=max_row_slab,
        max_angle_block=max_angle_block,
    )
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    suffix = ".zarr" if volume_format == "zarr" else ".h5"
    options = {
        "zinger_threshold": zinger_threshold,
        "ring_width": ring_width,
        "min_transmission": min_transmission,
    }
    registrations, centre_res, attenuation, n_zingers = _projections_to_volumes(
        by_energy, ref_e, plan, work, suffix,
        scales=_magnification_scales(by_energy, ref_e) if spacing is None else {},
        centre=centre, centre_method=centre_method, algorithm=algorithm, size=size,
        voxel=voxel, upsample_factor=upsample_factor, progress=progress, options=options,
        device=device,
    )  # fmt: skip
    nz = int(attenuation[ref_e].shape[0])
    with _bar(progress, math.ceil(nz / plan.row_slab), "elements", "slab") as bar:
        channels, differences, dec = _elements_by_chunk(
            attenuation, work, suffix, plan,
            elements=elements, method=method, matrix_elements=matrix_elements, bar=bar,
        )  # fmt: skip
    params = _run_parameters(
        energies, ref_e, centre_res, voxel,
        elements=elements, method=method, matrix_elements=matrix_elements,
        zinger_threshold=zinger_threshold, ring_width=ring_width, algorithm=algorithm,
        size=size, upsample_factor=upsample_factor, jitter=False, register_3d=False,
        device=device,
    )  # fmt: skip
    params["stream"] = plan.summary()
    params["n_zingers"] = {str(e): n for e, n in n_zingers.items()}
    return ElementalVolumes(
        attenuation=attenuation,
        channels=channels,
        differences=differences,
        decomposition=dec,
        registrations=registrations,
        centre=centre_res,
        jitter_shifts=None,
        volume_shifts={},
        spacing=voxel,
        parameters=params,
    )


def _reconstruct_all(
    scratch: dict[float, Any],
    angles: np.ndarray,
    centre: float,
    work: Path,
    suffix: str,
    plan: StreamPlan,
    *,
    algorithm: str,
    size: int | None,
    voxel: tuple[float, float, float],
    progress: bool,
    device: Literal["cpu", "cuda"],
) -> dict[float, Any]:
    """Every energy's stored -log stack -> attenuation store, slab by slab of rows."""
    import dask.array as da
    import xarray as xr

    attenuation = {}
    for e in _energy_bar(sorted(scratch), progress):
        dset = scratch[e]
        lines = xr.DataArray(
            da.from_array(dset, chunks=(dset.shape[0], plan.row_slab, dset.shape[2])),
            dims=("angle", "y", "x"),
        )
        vol = reconstruct(
            lines,
            angles,
            centre=centre,
            algorithm=algorithm,  # type: ignore[arg-type]
            size=size,
            spacing=voxel,
            slab=plan.row_slab,
            out=work / f"attenuation_{e:.1f}eV{suffix}",
            progress=progress,
            device=device,
        )
        vol.attrs["energy_ev"] = e
        vol.attrs["store"] = f"attenuation_{e:.1f}eV{suffix}"
        attenuation[e] = vol
    return attenuation


def _energy_bar(energies: list[float], progress: bool) -> Iterator[float]:
    from tqdm.auto import tqdm

    yield from tqdm(energies, desc="reconstruct energies", unit="energy", disable=not progress)
