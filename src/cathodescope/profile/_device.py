"""The depth of a particle's voxels and their depth-bin moments on any array module (numpy, CuPy).

What :func:`depth_profiles` does per particle before its confidence intervals (the EDT of the
hull, the sub-voxel depth, the binning and the per-bin count / mean / covariance), written once
against the array API that NumPy and CuPy share, so that ``device="cuda"`` runs the same
arithmetic on a GPU. What stays on the CPU whatever the device:

* the convex-hull fill (:func:`convex_hull_fill`: qhull has no GPU counterpart; the filled
  hull is sent to the device);
* the EDT for anisotropic voxels: CuPy's (cuCIM's) PBA+ transform is exact on the integer
  lattice, its anisotropic variant compares floating-point distances and is not documented as
  exact, so the ``edt`` package computes it and the distances are sent to the device;
* the confidence intervals (ESS correlation functions, bootstrap), which need the voxels'
  positions in the crop and run on the host copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cathodescope.profile._depth import _distance_map, convex_hull_fill, subvoxel_depth
from cathodescope.profile._stats import BinnedData, bin_moments

__all__ = ["device_depth_values"]


def _device_distance(body: Any, sp: tuple[float, ...], xp: Any) -> tuple[Any, str]:
    """Distance (um, float32) of every voxel of the bool ``body`` (host) to the nearest voxel
    centre outside it, the crop border counting as outside, on ``xp``; and where it ran."""
    if xp is np:
        return _distance_map(body, sp, "mask", 1), "cpu (edt)"
    if all(s == sp[0] for s in sp):
        from cupyx.scipy.ndimage import distance_transform_edt

        padded = xp.pad(xp.asarray(body), 1, mode="constant", constant_values=False)
        inner = tuple(slice(1, -1) for _ in sp)
        # PBA+ on the unit lattice (exact integer arithmetic), scaled by the voxel size; the
        # transform measures the distance to the nearest zero, i.e. to the outside voxels
        dist = distance_transform_edt(padded, float64_distances=True) * sp[0]
        return dist[inner].astype(xp.float32), "cuda (PBA+, isotropic)"
    return xp.asarray(_distance_map(body, sp, "mask", 1)), "cpu (edt, anisotropic)"


def device_depth_values(
    mask: np.ndarray,
    spacing: tuple[float, ...],
    xp: Any,
    surface: str = "hull",
    convention: str = "subvoxel",
) -> tuple[Any, Any, str]:
    """Depth of each voxel of one particle's crop, on the CPU (numpy) or a GPU (CuPy).

    Parameters
    ----------
    mask : ndarray of bool, shape (y, x) or (z, y, x)
        One particle's crop, in host memory.
    spacing : tuple of float
        Voxel size in um, one per axis (array order).
    xp : module
        ``numpy`` or ``cupy`` (see :func:`cathodescope.common.device.resolve_device`).
    surface : {"hull", "mask"}
        Depth reference surface, as in :func:`depth_map`.
    convention : {"subvoxel", "centres"}
        Depth convention, as in :func:`depth_map`.

    Returns
    -------
    depth : array of float32, shape (n,)
        Depth (um) of the mask's voxels in C order, on ``xp`` (equal to
        ``depth_map(mask, ...)[mask]``).
    flat_index : array of intp, shape (n,)
        Their flat indices in the crop, on ``xp``.
    edt : str
        Where the distance transform ran.

    Examples
    --------
    >>> m = np.zeros((1, 7, 7), bool); m[0, 1:6, 1:6] = True
    >>> d, flat, where = device_depth_values(m, (1.0, 1.0, 1.0), np, surface="mask",
    ...                                      convention="centres")
    >>> float(d.max()), where
    (1.0, 'cpu (edt)')
    """
    body = convex_hull_fill(mask) if surface == "hull" else mask
    dist, where = _device_distance(body, spacing, xp)
    flat = xp.flatnonzero(xp.asarray(mask))
    d = dist.ravel()[flat]
    if convention == "subvoxel":
        d = subvoxel_depth(d, spacing, xp)
    return d, flat, where


def binned_on_device(
    mask: np.ndarray,
    values: np.ndarray,
    spacing: tuple[float, ...],
    bin_width: float,
    surface: str,
    convention: str,
    xp: Any,
) -> tuple[np.ndarray, BinnedData]:
    """Depths (host, float32) and the binned data of one particle, computed on ``xp``.

    ``values`` (C, n) float64 are the channel values of the mask's voxels in C order. The
    arithmetic is that of the CPU engine (the same functions), so the host copies equal the
    CPU path's arrays.
    """
    d, flat, _ = device_depth_values(mask, spacing, xp, surface, convention)
    bins = xp.floor(d / xp.float32(bin_width)).astype(xp.intp)
    counts, mean, cov, resid, n_bins = bin_moments(bins, xp.asarray(values), xp)
    host = xp.asnumpy
    data = BinnedData(
        host(flat).astype(np.intp),
        host(bins),
        values,
        mask.shape,
        n_bins,
        host(counts),
        host(mean),
        host(cov),
        host(resid).astype(np.float32),
    )
    return host(d), data
