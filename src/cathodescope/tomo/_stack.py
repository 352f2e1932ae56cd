"""Reconstruction of whole projection stacks, slab by slab of detector rows, into chunked stores.

The volume's spacing in um is ``(z, y, x)``: ``z`` is the detector row pitch, ``y`` and ``x``
the detector column pitch (the slice grid of a parallel-beam reconstruction has the column
pitch on both axes, so ``y`` and ``x`` must agree; ``z`` may differ, e.g. after binning rows).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cathodescope._validation import (
    check_choice,
    check_finite,
    check_positive,
    normalize_spacing,
)
from cathodescope.errors import ProjectionGeometryError, SpacingError, UndersamplingWarning
from cathodescope.tomo._astra import astra_reconstruct_slice
from cathodescope.tomo._device import Device, check_device
from cathodescope.tomo._recon import (
    _ALGORITHMS,
    Algorithm,
    FilterName,
    angular_sampling_problems,
    check_centre,
    fbp,
    sirt,
)
from cathodescope.tomo._store import _volume_store, open_volume


def volume_spacing(
    spacing: float | Sequence[float] | None, projections: Any = None
) -> tuple[float, float, float] | None:
    """The ``(z, y, x)`` voxel spacing in um of a volume reconstructed from ``projections``.

    Parameters
    ----------
    spacing : float or sequence of float, optional
        Explicit spacing in um: one value, or ``(z, y, x)`` with ``y == x``.
    projections : DataArray or RawProjections, optional
        Source of the detector pitch ``attrs["spacing_um"] = (dy, dx)`` (or
        ``RawProjections.spacing``) when ``spacing`` is not given: the volume gets
        ``(dy, dx, dx)``.

    Returns
    -------
    tuple of float or None
        ``(z, y, x)`` in um, or None when nothing says what the pixel size is.

    Raises
    ------
    SpacingError
        If the spacing is not positive, has the wrong length, or ``y != x``.

    Examples
    --------
    >>> volume_spacing(0.05)
    (0.05, 0.05, 0.05)
    >>> volume_spacing((0.1, 0.05, 0.05))
    (0.1, 0.05, 0.05)
    """
    if spacing is None and projections is not None:
        detector = getattr(projections, "spacing", None)
        if detector is None:
            detector = getattr(projections, "attrs", {}).get("spacing_um")
        if detector is None:
            return None
        dy, dx = normalize_spacing(detector, 2)
        return (dy, dx, dx)
    if spacing is None:
        return None
    sz, sy, sx = normalize_spacing(spacing, 3)
    if abs(sy - sx) > 1e-6 * sx:
        raise SpacingError(
            f"spacing (z, y, x) = {(sz, sy, sx)} um: a reconstructed slice has the detector "
            "column pitch on both y and x, so y and x must be equal (only z, the detector row "
            "pitch, may differ)."
        )
    return (sz, sy, sx)


def reconstruct_batch(
    sinograms: np.ndarray,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    algorithm: Algorithm = "fbp",
    filter_name: FilterName = "ramp",
    size: int | None = None,
    iterations: int = 100,
    n_threads: int | None = None,
    device: Device = "cpu",
) -> np.ndarray:
    """Reconstruct a batch of sinograms ``(n_angles, n_slices, n_det)`` (projection order).

    Parameters
    ----------
    sinograms : ndarray, shape (n_angles, n_slices, n_det)
        Line integrals.
    angles_deg : ndarray, shape (n_angles,)
        Degrees.
    centre : float, optional
        Rotation-axis column in pixels.
    algorithm : {"fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"}
        Reconstructor.
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
        FBP filter.
    size : int, optional
        Slice side in pixels.
    iterations : int
        SIRT iterations.
    n_threads : int, optional
        Threads for astra (one slice each).
    device : {"cpu", "cuda"}
        ``"cuda"``: FBP or gridrec on the GPU with CuPy (the array-module code of
        :mod:`cathodescope.tomo._xp_recon`, equal to the CPU reconstructors to float32
        rounding); an error when CuPy or a GPU is missing, never a fallback to the CPU.

    Returns
    -------
    ndarray, shape (n_slices, size, size), float32
        Attenuation in 1/pixel.

    Raises
    ------
    DeviceUnavailableError
        For ``device="cuda"`` without CuPy or a visible GPU.
    ParameterError
        For ``device="cuda"`` with an algorithm other than fbp or gridrec.
    """
    check_choice(algorithm, _ALGORITHMS, "algorithm")
    xp = check_device(device, algorithm)
    arr = np.asarray(sinograms, dtype=np.float32)
    if arr.ndim != 3:
        raise ProjectionGeometryError(
            f"expected (n_angles, n_slices, n_det), got shape {arr.shape}."
        )
    if xp is not np:
        from cathodescope.tomo._xp_recon import reconstruct_xp

        check_finite(arr, "sinogram")  # as fbp and gridrec check on the CPU
        return reconstruct_xp(
            arr,
            angles_deg,
            xp=xp,
            algorithm=algorithm,  # type: ignore[arg-type]
            centre=centre,
            filter_name=filter_name,
            size=size,
        )
    if algorithm == "gridrec":
        from cathodescope.tomo._gridrec import gridrec

        rec = gridrec(
            arr.transpose(0, 2, 1), angles_deg, centre=centre, filter_name=filter_name, size=size
        )
        return np.ascontiguousarray(rec.transpose(2, 0, 1))
    if algorithm in ("fbp", "sirt"):
        batch = np.ascontiguousarray(arr.transpose(0, 2, 1))  # (angle, det, slice)
        if algorithm == "fbp":
            rec = fbp(batch, angles_deg, centre=centre, filter_name=filter_name, size=size)
        else:
            rec = sirt(batch, angles_deg, centre=centre, size=size, iterations=iterations)
        return np.ascontiguousarray(rec.transpose(2, 0, 1))
    name: Literal["FBP", "SIRT"] = "FBP" if algorithm == "astra_fbp" else "SIRT"
    astra_filter = {"ramp": "ram-lak"}.get(filter_name, filter_name)

    def one(k: int) -> np.ndarray:
        return astra_reconstruct_slice(
            arr[:, k, :],
            angles_deg,
            centre=centre,
            size=size,
            algorithm=name,
            iterations=iterations,
            filter_name=astra_filter,
        )

    workers = n_threads or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        slices = list(pool.map(one, range(arr.shape[1])))
    return np.stack(slices)


def _projection_inputs(
    projections: Any, angles_deg: np.ndarray | None, spacing: Any
) -> tuple[Any, np.ndarray, tuple[float, float, float] | None]:
    """Array, angles (degrees) and volume spacing of the input of :func:`reconstruct`."""
    import xarray as xr

    data = projections
    sp = volume_spacing(spacing)
    if isinstance(projections, xr.DataArray):
        if angles_deg is None and "angle" in projections.coords:
            angles_deg = np.asarray(projections["angle"].values, dtype=float)
        if sp is None:
            sp = volume_spacing(None, projections)
        data = projections.data
    if angles_deg is None:
        raise ProjectionGeometryError(
            "no projection angles: pass angles_deg (degrees) or a DataArray with an 'angle' coordinate."
        )
    angles = np.asarray(angles_deg, dtype=float).ravel()
    shape = tuple(int(s) for s in data.shape)
    if len(shape) != 3:
        raise ProjectionGeometryError(
            f"projections must be (n_angles, n_rows, n_det), got shape {shape}."
        )
    if shape[0] != angles.size:
        raise ProjectionGeometryError(
            f"{shape[0]} projections but {angles.size} angles; give one angle per projection."
        )
    return data, angles, sp


def reconstruct(
    projections: Any,
    angles_deg: np.ndarray | None = None,
    *,
    centre: float | None = None,
    algorithm: Algorithm = "fbp",
    filter_name: FilterName = "ramp",
    size: int | None = None,
    iterations: int = 100,
    slab: int = 32,
    spacing: float | Sequence[float] | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
    device: Device = "cpu",
) -> Any:
    """Reconstruct a stack of -log projections slice by slice, in slabs of detector rows.

    Each slab of ``slab`` detector rows is read, reconstructed (all its slices together for our
    FBP/SIRT, in a thread pool for astra) and written before the next is read, so the volume
    never has to fit in memory when ``out`` is given. An :class:`UndersamplingWarning` says
    when the angles are far too few for the detector width or span much less than 180 degrees.

    Parameters
    ----------
    projections : DataArray or array-like, shape (n_angles, n_rows, n_det)
        Line integrals (-log transmission), dims ``(angle, y, x)``. h5py/zarr/dask arrays are read
        slab by slab. A DataArray supplies ``angle`` (degrees) and, through
        ``attrs["spacing_um"]`` (detector ``(dy, dx)`` in um), the spacing.
    angles_deg : ndarray, shape (n_angles,), optional
        Angles in degrees (required unless ``projections`` is a DataArray with an ``angle`` coord).
    centre : float, optional
        Rotation-axis column in pixels (default detector centre).
    algorithm : {"fbp", "gridrec", "sirt", "astra_fbp", "astra_sirt"}
        Reconstructor.
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
        FBP filter.
    size : int, optional
        Side of each reconstructed slice in pixels (default ``n_det``).
    iterations : int
        SIRT iterations.
    slab : int
        Detector rows per chunk (memory: ``n_angles * slab * n_det * 4`` bytes plus the output).
    spacing : float or (z, y, x), optional
        Voxel size in um (``y == x``, see :func:`volume_spacing`): values are converted to 1/um
        and coordinates to um. Default: from the projections' detector pitch.
    out : path, optional
        ``.h5``/``.hdf5`` (dataset ``volume``) or ``.zarr`` store written chunk by chunk (under a
        temporary name, renamed when complete); the returned DataArray is then backed lazily by it.
    progress : bool
        Show a tqdm progress bar over slabs.
    device : {"cpu", "cuda"}
        ``"cuda"``: FBP/gridrec of each slab on the GPU (CuPy); see :func:`reconstruct_batch`.

    Returns
    -------
    xarray.DataArray, dims (z, y, x), float32
        Linear attenuation in 1/um (``attrs["units"]``) when the spacing is known, else
        1/pixel; ``attrs["spacing_um"]`` is the ``(z, y, x)`` spacing (None when unknown).
    """
    import xarray as xr
    from tqdm.auto import tqdm

    check_choice(algorithm, _ALGORITHMS, "algorithm")
    check_device(device, algorithm)  # a GPU that is not there: refused before reading
    slab = int(check_positive(slab, "slab"))
    data, angles, sp = _projection_inputs(projections, angles_deg, spacing)
    _, n_rows, n_det = (int(s) for s in data.shape)
    c = check_centre(centre, n_det)
    n = int(size or n_det)
    for problem in angular_sampling_problems(angles, n_det):
        warnings.warn(f"reconstruction: {problem}.", UndersamplingWarning, stacklevel=2)
    scale = 1.0 if sp is None else 1.0 / sp[2]
    sz, _, sx = (1.0, 1.0, 1.0) if sp is None else sp
    # Without a pixel size the coordinates are pixel indices and say so: the engine ignores
    # them (and asks for a spacing) instead of reading 1 pixel as 1 um.
    axis_units = {"units": "pixel" if sp is None else "um"}
    coords = {
        "z": ("z", np.arange(n_rows) * sz, axis_units),
        "y": ("y", (np.arange(n) - (n - 1) / 2) * sx, axis_units),
        "x": ("x", (np.arange(n) - (n - 1) / 2) * sx, axis_units),
    }
    attrs = {
        "units": "1/pixel" if sp is None else "1/um",
        "long_name": "linear attenuation coefficient",
        "algorithm": algorithm,
        "centre_px": c,
        "filter": filter_name,
        "spacing_um": sp,
        "device": device,
    }
    starts = range(0, n_rows, slab)
    bar = tqdm(starts, desc=f"reconstruct ({algorithm})", unit="slab", disable=not progress)

    def run_slab(y0: int) -> tuple[slice, np.ndarray]:
        sl = slice(y0, min(y0 + slab, n_rows))
        block = np.asarray(data[:, sl, :], dtype=np.float32)
        rec = reconstruct_batch(
            block,
            angles,
            centre=c,
            algorithm=algorithm,
            filter_name=filter_name,
            size=n,
            iterations=iterations,
            device=device,
        )
        return sl, rec * np.float32(scale)

    if out is None:
        volume = np.empty((n_rows, n, n), np.float32)
        for y0 in bar:
            sl, rec = run_slab(y0)
            volume[sl] = rec
        return xr.DataArray(volume, dims=("z", "y", "x"), coords=coords, attrs=attrs)
    path = Path(out)
    with _volume_store(path, (n_rows, n, n), (min(slab, n_rows), n, n)) as write:
        for y0 in bar:
            sl, rec = run_slab(y0)
            write(sl, rec)
    return open_volume(path).assign_coords(coords).assign_attrs(attrs)
