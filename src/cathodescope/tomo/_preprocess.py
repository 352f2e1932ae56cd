"""Pre-processing of raw projections: flat/dark normalization, zingers, -log, ring suppression.

Every step is local to a sinogram (one detector row across all angles), so :func:`preprocess`
works in slabs of detector rows: it reads ``slab`` rows of every projection, processes them and
writes them out before reading the next slab. A 2048 x 2048 x 1500 float32 stack (25 GB) is
then processed with ``1500 * slab * 2048 * 4`` bytes in memory (0.4 GB for ``slab = 32``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from cathodescope._validation import check_positive
from cathodescope.errors import (
    NonPositiveIntensityError,
    ProjectionGeometryError,
    ShapeMismatchError,
)
from cathodescope.io import RawProjections


def _reference(frames: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    """Median (>= 3 frames, robust to zingers) or mean of reference frames, float32 (y, x)."""
    arr = np.asarray(getattr(frames, "data", frames), dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[1:] != tuple(shape):
        raise ShapeMismatchError(
            f"{name} frames are {arr.shape[1:]} (y, x) but the projections are {tuple(shape)}; use "
            "reference frames recorded with the same binning and region of interest."
        )
    return np.median(arr, axis=0) if arr.shape[0] >= 3 else arr.mean(axis=0)


def remove_zingers(
    counts: np.ndarray, *, threshold: float = 0.3, size: int = 3, axes: tuple[int, int] = (0, 2)
) -> tuple[np.ndarray, int]:
    """Replace isolated bright outliers (zingers) in raw counts by the local median.

    A pixel is a zinger when it exceeds the median of its ``size x size`` neighbourhood by more
    than ``threshold`` times that median. The neighbourhood lies in the (angle, x) plane of each
    sinogram by default, so that the filter works slab by slab.

    Parameters
    ----------
    counts : ndarray, shape (n_angles, n_rows, n_det)
        Raw counts (projections, or flats/darks with ``frame`` as first axis).
    threshold : float
        Relative excess over the local median that marks a zinger (0.3 = 30 % brighter).
    size : int
        Median filter width in pixels.
    axes : tuple of int
        The two axes spanned by the filter.

    Returns
    -------
    cleaned : ndarray, float32, same shape
    n_replaced : int
        Number of pixels replaced.
    """
    check_positive(threshold, "zinger threshold")
    arr = np.asarray(counts, dtype=np.float32)
    footprint_shape = [1] * arr.ndim
    for ax in axes:
        footprint_shape[ax] = int(size)
    med = ndi.median_filter(arr, size=tuple(footprint_shape), mode="nearest")
    mask = arr > med * (1.0 + threshold)
    out = np.where(mask, med, arr)
    return out, int(np.count_nonzero(mask))


def normalize(counts: np.ndarray, flat: np.ndarray, dark: np.ndarray | None = None) -> np.ndarray:
    """Flat/dark normalization ``(I - D) / (F - D)`` (dimensionless transmission).

    Parameters
    ----------
    counts : ndarray, shape (..., ny, nx)
        Raw projections.
    flat : ndarray, shape (ny, nx)
        Averaged flat field (counts).
    dark : ndarray, shape (ny, nx), optional
        Averaged dark frame (counts); zero if absent.

    Returns
    -------
    ndarray, shape of ``counts``
        Transmission (dimensionless).
    """
    d = 0.0 if dark is None else dark
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((np.asarray(counts, np.float32) - d) / (flat - d)).astype(np.float32)


def minus_log(transmission: np.ndarray, *, where: str = "") -> np.ndarray:
    """Line integrals ``-ln(T)`` of a normalized transmission.

    Parameters
    ----------
    transmission : ndarray
        Flat/dark-normalized transmission (dimensionless).
    where : str
        Where the data come from, for the error message (e.g. a file name).

    Returns
    -------
    ndarray, same shape, float32
        ``-ln(T)`` (dimensionless).

    Raises
    ------
    NonPositiveIntensityError
        If any transmission is <= 0 or not finite (dark >= flat or counts below the dark level):
        the message gives the count and what to check.
    """
    t = np.asarray(transmission, dtype=np.float32)
    bad = ~(t > 0) | ~np.isfinite(t)
    if bad.any():
        n_bad = int(np.count_nonzero(bad))
        raise NonPositiveIntensityError(
            f"{n_bad} of {t.size} normalized intensities{where} are <= 0 or not finite, so -log is "
            "undefined. Check that the dark frames are below the flats and the projections (same "
            "exposure and binning), that the right flats were used, or clip with "
            "preprocess(..., min_transmission=1e-3)."
        )
    return -np.log(t)


def suppress_rings(
    sinograms: np.ndarray, *, width: int = 11, axis_angle: int = 0, axis_det: int = 2
) -> np.ndarray:
    """Remove ring artefacts by flattening the per-column mean of each sinogram.

    The mean over angles of each detector column is compared with its median-smoothed version
    (``width`` pixels); the difference (a column offset that would reconstruct as a ring) is
    subtracted from every angle. Works on -log data.

    Parameters
    ----------
    sinograms : ndarray, shape (n_angles, n_rows, n_det)
        Line integrals.
    width : int
        Width in detector pixels of the median used as the smooth reference (odd, > ring width).
    axis_angle, axis_det : int
        Axes of the angles and of the detector columns.

    Returns
    -------
    ndarray, same shape
        Line integrals with the column offsets removed.
    """
    arr = np.asarray(sinograms, dtype=np.float32)
    mean = arr.mean(axis=axis_angle, keepdims=True)
    size = [1] * arr.ndim
    size[axis_det] = int(width)
    smooth = ndi.median_filter(mean, size=tuple(size), mode="nearest")
    return arr - (mean - smooth)


def _flat_and_dark(
    raw: RawProjections, zinger_threshold: float | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Averaged flat (zingers removed from >= 3 frames) and dark frames, checked against the data."""
    if raw.flats is None:
        raise ProjectionGeometryError(
            f"{raw.source or 'projections'} have no flat-field (white/reference) frames; attach "
            "them with raw.with_flats(...) or read the reference file."
        )
    ny, nx = (int(s) for s in raw.data.shape[1:])
    flats = np.asarray(getattr(raw.flats, "data", raw.flats), np.float32)
    if flats.ndim == 3 and flats.shape[1:] != (ny, nx):
        raise ShapeMismatchError(
            f"flats are {flats.shape[1:]} (y, x) but the projections are {(ny, nx)}; use reference "
            "frames recorded with the same binning and region of interest."
        )
    if zinger_threshold is not None and flats.ndim == 3 and flats.shape[0] >= 3:
        flats, _ = remove_zingers(flats, threshold=zinger_threshold, axes=(1, 2))
    flat = _reference(flats, (ny, nx), "flats")
    dark = None if raw.darks is None else _reference(raw.darks, (ny, nx), "darks")
    return flat, dark


def preprocess(
    raw: RawProjections,
    *,
    zinger_threshold: float | None = 0.3,
    ring_width: int | None = None,
    min_transmission: float | None = None,
    slab: int = 32,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Any:
    """Raw counts -> line integrals ``-ln((I - D) / (F - D))``, slab by slab.

    Parameters
    ----------
    raw : RawProjections
        Projections with flats (required) and darks (optional, zero if absent).
    zinger_threshold : float or None
        Relative threshold of :func:`remove_zingers` applied to projections and flats; ``None``
        turns it off.
    ring_width : int or None
        Width of :func:`suppress_rings` in pixels; ``None`` turns ring suppression off.
    min_transmission : float or None
        Clip the normalized transmission from below at this value instead of raising
        :class:`NonPositiveIntensityError` (e.g. 1e-3 for opaque regions).
    slab : int
        Detector rows per chunk.
    out : path, optional
        HDF5 file (dataset ``projections``, dims angle, y, x) written chunk by chunk under a
        temporary name; the result is then a lazy DataArray backed by it.
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.DataArray, dims (angle, y, x), float32
        Line integrals (dimensionless), same coordinates as ``raw.data``;
        ``attrs["n_zingers"]`` counts replaced pixels.

    Raises
    ------
    ProjectionGeometryError
        If there are no flats.
    ShapeMismatchError
        If flats or darks have another shape than the projections.
    NonPositiveIntensityError
        If a normalized intensity is <= 0 and ``min_transmission`` is None.
    """
    import xarray as xr
    from tqdm.auto import tqdm

    slab = int(check_positive(slab, "slab"))
    n_ang, ny, nx = (int(s) for s in raw.data.shape)
    flat, dark = _flat_and_dark(raw, zinger_threshold)
    source = raw.data.data

    n_zingers = 0
    bar = tqdm(range(0, ny, slab), desc="pre-process", unit="slab", disable=not progress)

    def run_slab(y0: int) -> tuple[slice, np.ndarray]:
        nonlocal n_zingers
        sl = slice(y0, min(y0 + slab, ny))
        block = np.asarray(source[:, sl, :], dtype=np.float32)
        if zinger_threshold is not None:
            block, nz = remove_zingers(block, threshold=zinger_threshold)
            n_zingers += nz
        trans = normalize(block, flat[sl], None if dark is None else dark[sl])
        if min_transmission is not None:
            trans = np.where(
                np.isfinite(trans), np.maximum(trans, min_transmission), min_transmission
            )
        lines = minus_log(trans, where=f" in detector rows {sl.start}-{sl.stop - 1}")
        if ring_width is not None:
            lines = suppress_rings(lines, width=ring_width)
        return sl, lines.astype(np.float32)

    attrs = {
        **{k: v for k, v in raw.data.attrs.items() if k != "units"},
        "units": "dimensionless",
        "long_name": "-ln(transmission)",
        "zinger_threshold": zinger_threshold,
        "ring_width": ring_width,
    }
    if out is None:
        result = np.empty((n_ang, ny, nx), np.float32)
        for y0 in bar:
            sl, block = run_slab(y0)
            result[:, sl, :] = block
        attrs["n_zingers"] = n_zingers
        return xr.DataArray(result, dims=("angle", "y", "x"), coords=raw.data.coords, attrs=attrs)

    import dask.array as da
    import h5py

    from cathodescope.common.atomic import atomic_path
    from cathodescope.common.hdf5 import open_h5

    path = Path(out)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        dset = fh.create_dataset(
            "projections", shape=(n_ang, ny, nx), dtype="f4", chunks=(n_ang, min(slab, ny), nx)
        )
        dset.attrs["axes"] = "theta:y:x"
        fh.create_dataset("angle", data=raw.angles)
        for y0 in bar:
            sl, block = run_slab(y0)
            dset[:, sl, :] = block
    attrs["n_zingers"] = n_zingers
    fh = open_h5(path, "-log projection")
    lazy = da.from_array(fh["projections"], chunks=(n_ang, min(slab, ny), nx))
    return xr.DataArray(lazy, dims=("angle", "y", "x"), coords=raw.data.coords, attrs=attrs)
