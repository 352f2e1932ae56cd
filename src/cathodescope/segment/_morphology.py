"""Morphology in um: opening/closing by Euclidean balls and label dilation (any spacing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cathodescope._validation import check_positive, resolve_spacing
from cathodescope.segment._common import as_labels, distance_inside, padded_slice, voxels_per_um

# --------------------------------------------------------------------------------------------
# morphology by exact Euclidean distances (balls of radius r um, any spacing)
# --------------------------------------------------------------------------------------------


def _tol(spacing: Sequence[float]) -> float:
    # distances that are exactly r (common for radii of whole voxels) must count as inside the
    # closed ball despite float32 rounding of the distance map
    return 1e-4 * min(spacing)


def _erode(mask: np.ndarray, radius_um: float, spacing: Sequence[float]) -> np.ndarray:
    # a voxel survives if the closed ball of radius r around it holds no background voxel centre
    return distance_inside(mask, spacing, parallel=2) > radius_um + _tol(spacing)


def _dilate(mask: np.ndarray, radius_um: float, spacing: Sequence[float]) -> np.ndarray:
    if not mask.any():
        return mask.copy()
    return distance_inside(~mask, spacing, parallel=2) <= radius_um + _tol(spacing)


def binary_open_um(mask: np.ndarray, radius_um: float, spacing: Sequence[float]) -> np.ndarray:
    """Morphological opening by a Euclidean ball of ``radius_um`` (um), exact for any spacing.

    Parameters
    ----------
    mask : ndarray of bool
        Binary image or volume.
    radius_um : float
        Ball radius in um.
    spacing : sequence of float
        Pixel/voxel size in um, one per axis (array order).

    Returns
    -------
    ndarray of bool
        The opened mask, shape of ``mask``.
    """
    return _dilate(_erode(mask, radius_um, spacing), radius_um, spacing)


def binary_close_um(mask: np.ndarray, radius_um: float, spacing: Sequence[float]) -> np.ndarray:
    """Morphological closing by a Euclidean ball of ``radius_um`` (um), exact for any spacing.

    Parameters
    ----------
    mask : ndarray of bool
        Binary image or volume.
    radius_um : float
        Ball radius in um.
    spacing : sequence of float
        Pixel/voxel size in um, one per axis (array order).

    Returns
    -------
    ndarray of bool
        The closed mask, shape of ``mask``.
    """
    return _erode(_dilate(mask, radius_um, spacing), radius_um, spacing)


# --------------------------------------------------------------------------------------------
# dilation
# --------------------------------------------------------------------------------------------


def dilate_labels(
    labels: Any, distance_um: float, *, spacing: float | Sequence[float] | None = None
) -> np.ndarray:
    """Grow every particle by ``distance_um`` into the background, never into another particle.

    Like ``skimage.segmentation.expand_labels`` but with exact Euclidean distances in um for any
    (anisotropic) spacing, computed on per-particle crops (no full-volume distance or index
    arrays). A background voxel joins the particle whose voxels are nearest to it, provided that
    distance is <= ``distance_um``; ties go to the lower label. Existing particle voxels never
    change. Used to make the mask cover channels that are slightly misregistered.

    Parameters
    ----------
    labels : (nz, ny, nx) or (ny, nx) int array
        0 = background, 1..N particles.
    distance_um : float
        Growth distance in um (>= 0).
    spacing : float or sequence of float, optional
        Voxel size in um, array axis order; may be omitted for a DataArray with coordinates.

    Returns
    -------
    int32 array
        The grown labels (a new array; the input is not modified).

    Raises
    ------
    ParameterError
        If ``labels`` is not an integer image or ``distance_um`` < 0.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((1, 9), dtype=np.int32); lab[0, 2] = 1; lab[0, 6] = 2
    >>> dilate_labels(lab, 0.25, spacing=0.1).tolist()
    [[1, 1, 1, 1, 1, 2, 2, 2, 2]]
    """
    from scipy import ndimage as ndi

    lab = as_labels(labels)
    sp = resolve_spacing(labels, spacing, lab.ndim)
    dist_um = check_positive(distance_um, "distance_um", allow_zero=True)
    out = lab.astype(np.int32, copy=True)
    if dist_um == 0 or not out.any():
        return out
    reach = voxels_per_um(sp, dist_um)
    objects = ndi.find_objects(lab)
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        # crop wide enough that any particle closer than distance_um to a candidate voxel is in
        outer_sl = padded_slice(sl, lab.shape, [2 * r + 1 for r in reach])
        src = lab[outer_sl]
        dk = distance_inside(src != k, sp)
        others = (src != k) & (src != 0)
        d_other = distance_inside(~others, sp) if others.any() else None
        cand = (src == 0) & (dk <= dist_um + _tol(sp))
        if d_other is not None:
            cand &= dk <= d_other
        dst = out[outer_sl]
        cand &= dst == 0  # lower labels were processed first: ties stay with them
        dst[cand] = k
    return out
