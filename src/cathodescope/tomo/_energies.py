"""Raw projections at several energies -> registered attenuation volumes -> elemental volumes.

:func:`process_energies` runs the steps of the paper's Figure 2 up to the elemental maps, each a
function of this package: normalization, magnification, per-angle registration, rotation centre,
jitter, reconstruction, 3D registration, edge differences and decomposition. The config-driven
run folder around it lives in :mod:`cathodescope.workflows.tomo`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice
from cathodescope.errors import (
    EdgeBracketError,
    MissingMetadataError,
    ParameterError,
    ProjectionGeometryError,
)
from cathodescope.io import RawProjections
from cathodescope.tomo._align import (
    CentreResult,
    correct_jitter,
    correct_magnification,
    find_rotation_centre,
    register_projections,
    register_volumes,
    shift_projections,
)
from cathodescope.tomo._device import check_device
from cathodescope.tomo._elements import decompose, edge_difference, edge_pair
from cathodescope.tomo._preprocess import preprocess
from cathodescope.tomo._recon import check_centre
from cathodescope.tomo._stack import reconstruct, volume_spacing


@dataclass(frozen=True)
class ElementalVolumes:
    """Result of :func:`process_energies`.

    Parameters
    ----------
    attenuation : dict[float, xarray.DataArray]
        Registered linear attenuation volume per energy (eV), dims (z, y, x), 1/um.
    channels : dict[str, xarray.DataArray]
        Per-element volumes handed to the depth-profile engine: molar concentration (mol/cm^3)
        for ``method="decomposition"``, edge difference (1/um) for ``method="difference"``.
    differences : dict[str, xarray.DataArray]
        Above-minus-below edge difference per element (1/um), always computed.
    decomposition : Decomposition or None
        The per-voxel decomposition (``method="decomposition"``), None otherwise.
    registrations : dict[float, ProjectionRegistration]
        Per-angle registration of each energy onto the reference energy.
    centre : CentreResult
        Rotation centre found on (or given for) the reference energy.
    jitter_shifts : ndarray or None, shape (n_angles, 2)
        ``(dy, dx)`` jitter correction (pixels) applied to every energy; None without
        ``jitter``.
    volume_shifts : dict[float, tuple]
        3D shifts (voxels) applied to each energy's volume (empty if not registered in 3D).
    spacing : tuple of float
        Voxel size ``(z, y, x)`` in um of every volume.
    parameters : dict
        The parameters used.
    """

    attenuation: dict[float, Any]
    channels: dict[str, Any]
    differences: dict[str, Any]
    decomposition: Any
    registrations: dict[float, Any]
    centre: Any
    jitter_shifts: np.ndarray | None
    volume_shifts: dict[float, tuple[float, float, float]]
    spacing: tuple[float, float, float]
    parameters: dict[str, Any] = field(default_factory=dict)

    def registration_table(self) -> pd.DataFrame:
        """Per-energy, per-angle shifts and correlations.

        Returns
        -------
        pandas.DataFrame
            ``energy_ev`` followed by the columns of ``ProjectionRegistration.to_dataframe``.
        """
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


def _energies_of(scans: Sequence[RawProjections]) -> dict[float, RawProjections]:
    """The scans by photon energy (eV); refuses scans without an energy or sharing one."""
    if len(scans) < 2:
        raise ParameterError("give at least two scans (energies below and above an edge).")
    energies = []
    for s in scans:
        if s.energy_ev is None:
            raise MissingMetadataError(
                f"{s.source or 'a scan'} has no photon energy (the file does not record it); "
                "give it with energy_ev = ... in its [[scan]] entry of the pipeline config or "
                "--energy FILE=EV on the command line."
            )
        energies.append(float(s.energy_ev))
    if len(set(energies)) != len(energies):
        raise ParameterError(f"two scans share an energy: {sorted(energies)} eV.")
    return dict(zip(energies, scans, strict=True))


def _check_geometry(by_energy: dict[float, RawProjections], ref_e: float) -> None:
    ref_scan = by_energy[ref_e]
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


def _normalized_lines(
    by_energy: dict[float, RawProjections],
    ref_e: float,
    *,
    magnification: bool,
    progress: bool,
    **options: Any,
) -> dict[float, Any]:
    """-log projections of every energy, rescaled to the reference pixel size when needed."""
    from tqdm.auto import tqdm

    ref_scan = by_energy[ref_e]
    lines = {}
    for e in tqdm(sorted(by_energy), desc="normalize", disable=not progress):
        lines[e] = preprocess(by_energy[e], **options)
        p_e = by_energy[e].spacing
        p_ref = ref_scan.spacing
        if magnification and p_e and p_ref and abs(p_e[1] / p_ref[1] - 1.0) > 1e-6:
            lines[e] = lines[e].copy(data=correct_magnification(lines[e], p_e[1] / p_ref[1]))
    return lines


def _register_energies(
    lines: dict[float, Any], ref_e: float, *, upsample_factor: int, progress: bool
) -> dict[float, Any]:
    """Register every energy's projections onto the reference energy (``lines`` updated)."""
    from tqdm.auto import tqdm

    registrations = {}
    for e in tqdm(sorted(lines), desc="register", disable=not progress):
        if e == ref_e:
            continue
        reg = register_projections(lines[ref_e], lines[e], upsample_factor=upsample_factor)
        registrations[e] = reg
        lines[e] = lines[e].copy(data=shift_projections(lines[e], reg.shifts))
    return registrations


def _register_volumes(
    attenuation: dict[float, Any], ref_e: float, order: Sequence[float]
) -> dict[float, tuple[float, float, float]]:
    """Register every energy's volume onto the reference in 3D (``attenuation`` updated)."""
    shifts = {}
    for e in order:
        if e == ref_e:
            continue
        reg3, moved = register_volumes(attenuation[ref_e], attenuation[e])
        shifts[e] = reg3.shift
        attenuation[e] = attenuation[e].copy(data=moved)
    return shifts


def _rotation_centre(
    reference: Any, angles: np.ndarray, centre: float | str, method: str
) -> CentreResult:
    if centre == "auto":
        return find_rotation_centre(reference, angles, method=method)  # type: ignore[arg-type]
    return CentreResult(check_centre(centre, reference.shape[2]), "given")  # type: ignore[arg-type]


def _elemental_channels(
    attenuation: dict[float, Any],
    elements: Sequence[str],
    method: str,
    matrix_elements: Sequence[str],
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Edge differences, decomposition and the channels handed to the depth-profile engine."""
    energies = list(attenuation)
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
    return channels, differences, dec


def _prepare(
    scans: Sequence[RawProjections],
    reference_energy_ev: float | None,
    spacing: float | Sequence[float] | None,
    elements: Sequence[str],
) -> tuple[dict[float, RawProjections], list[float], float, tuple[float, float, float]]:
    """Scans by energy, the energies, the reference energy and the voxel, all checked."""
    by_energy = _energies_of(scans)
    energies = list(by_energy)
    ref_e = float(reference_energy_ev) if reference_energy_ev is not None else max(energies)
    if ref_e not in by_energy:
        raise ParameterError(
            f"reference energy {ref_e} eV is not one of the scans {sorted(energies)}."
        )
    voxel = volume_spacing(spacing, by_energy[ref_e])
    if voxel is None:
        raise MissingMetadataError(
            "the pixel size is unknown (not in the files); give spacing (um): [processing] "
            "spacing in the pipeline config or --spacing on the command line."
        )
    _check_geometry(by_energy, ref_e)
    for el in elements:
        below, above = _pair_for(el, energies)
        edge_pair(below, above, element=el)
    return by_energy, energies, ref_e, voxel


def _run_parameters(
    energies: Sequence[float],
    ref_e: float,
    centre_res: CentreResult,
    voxel: tuple[float, float, float],
    **options: Any,
) -> dict[str, Any]:
    """The parameters recorded with an :class:`ElementalVolumes`."""
    return {
        "energies_ev": sorted(energies),
        "reference_energy_ev": ref_e,
        "elements": list(options["elements"]),
        "method": options["method"],
        "matrix_elements": list(options["matrix_elements"]),
        "zinger_threshold": options["zinger_threshold"],
        "ring_width": options["ring_width"],
        "centre": centre_res.centre,
        "centre_method": centre_res.method,
        "algorithm": options["algorithm"],
        "size": options["size"],
        "upsample_factor": options["upsample_factor"],
        "jitter": options["jitter"],
        "register_3d": options["register_3d"],
        "spacing": voxel,
        "device": options.get("device", "cpu"),
    }


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
    algorithm: Literal["fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"] = "fbp",
    size: int | None = None,
    upsample_factor: int = 20,
    jitter: bool = False,
    register_3d: bool = False,
    spacing: float | Sequence[float] | None = None,
    progress: bool = False,
    device: Literal["cpu", "cuda"] = "cpu",
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
        Pre-processing options.
    centre : float or "auto"
        Rotation-axis column in pixels, or found with ``centre_method``.
    centre_method : {"auto", "mirror", "sinusoid", "sharpness"}
        See :func:`find_rotation_centre`.
    algorithm : {"fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"}
        Reconstructor.
    size : int, optional
        Reconstructed slice size in pixels (default detector width).
    upsample_factor : int
        Subpixel precision of the projection registration.
    jitter : bool
        Correct per-angle jitter by reprojection on the reference energy.
    register_3d : bool
        Register each energy's volume to the reference in 3D (subpixel) after reconstruction.
    spacing : float or (z, y, x), optional
        Voxel size in um overriding the files (``y == x``; ``z`` is the detector row pitch);
        default ``(dy, dx, dx)`` from the reference scan's detector pitch. No magnification
        correction is applied when it is given.
    progress : bool
        Progress bars.
    device : {"cpu", "cuda"}
        Where the energies' volumes are reconstructed (``"cuda"``: FBP/gridrec with CuPy, an
        error without a GPU; see :func:`reconstruct_batch`). Jitter correction stays on the CPU.

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

    check_choice(method, ("decomposition", "difference"), "method")
    check_device(device, algorithm)  # a GPU that is not there: refused before any work
    by_energy, energies, ref_e, voxel = _prepare(scans, reference_energy_ev, spacing, elements)
    lines = _normalized_lines(
        by_energy,
        ref_e,
        magnification=spacing is None,
        progress=progress,
        zinger_threshold=zinger_threshold,
        ring_width=ring_width,
        min_transmission=min_transmission,
    )
    registrations = _register_energies(
        lines, ref_e, upsample_factor=upsample_factor, progress=progress
    )
    angles = by_energy[ref_e].angles
    centre_res = _rotation_centre(lines[ref_e], angles, centre, centre_method)
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
            spacing=voxel,
            device=device,
        )
        attenuation[e].attrs["energy_ev"] = e
    volume_shifts = _register_volumes(attenuation, ref_e, energies) if register_3d else {}
    channels, differences, dec = _elemental_channels(attenuation, elements, method, matrix_elements)
    params = _run_parameters(
        energies, ref_e, centre_res, voxel,
        elements=elements, method=method, matrix_elements=matrix_elements,
        zinger_threshold=zinger_threshold, ring_width=ring_width, algorithm=algorithm,
        size=size, upsample_factor=upsample_factor, jitter=jitter, register_3d=register_3d,
        device=device,
    )  # fmt: skip
    return ElementalVolumes(
        attenuation=attenuation,
        channels=channels,
        differences=differences,
        decomposition=dec,
        registrations=registrations,
        centre=centre_res,
        jitter_shifts=jitter_shifts,
        volume_shifts=volume_shifts,
        spacing=voxel,
        parameters=params,
    )
