"""Distance-from-surface maps of single particles: fast convex-hull fill and exact EDT."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from cathodescope._validation import check_choice, resolve_spacing
from cathodescope.errors import CathodescopeRunWarning, EmptyDataError, ShapeMismatchError

__all__ = ["convex_hull_fill", "depth_map"]

# Tolerance (in voxel-index units) of the half-space test n . p + offset <= tol: voxel centres
# lying on a hull facet must count as inside despite floating-point rounding of the equations.
_HULL_TOL = 1e-6
# Rows x facets evaluated per chunk in the row-wise fill (bounds the temporary to ~64 MB).
_CHUNK_ELEMENTS = 8_000_000
# Voxels per EDT thread: smaller crops use fewer threads (a thread costs more than it saves).
_VOXELS_PER_THREAD = 250_000
# Lattice-sampling excess of the distance to the nearest outside voxel centre over the distance
# to the true surface, a * v * (v / d - c * v / R) ** p (v the voxel size, d the depth, R the
# particle's largest depth): per dimension (a, c, p). The exponent is that of a locally flat
# surface sampled by random points of the lattice density (p = 1/2 in 3D, 1/3 in 2D); a and c
# were fitted on digitised spheres and ellipsoids (radii 20-60 voxels, random sub-voxel
# centres and orientations, isotropic and 1.5:1 anisotropic voxels).
_LATTICE_EXCESS = {3: (0.42, 0.5, 0.5), 2: (0.46, 0.75, 1.0 / 3.0)}
# Bound (voxels) of the mean error of the sub-voxel depth below the first voxel layer, on the
# tests' held-out spheres and ellipsoids (measured <= 0.035): used by the profile intervals.
DEPTH_BIAS_BOUND_VOX = 0.05
DepthConvention = Literal["subvoxel", "centres"]


def _n_threads() -> int:
    """Threads for the EDT: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _as_mask(mask) -> np.ndarray:
    arr = np.asarray(getattr(mask, "values", mask))
    if arr.ndim not in (2, 3):
        raise ShapeMismatchError(
            f"mask must be a 2D (y, x) or 3D (z, y, x) array, got {arr.ndim} dimensions with "
            f"shape {arr.shape}; pass one particle's crop."
        )
    return arr.astype(bool, copy=False)


def convex_hull_fill(mask: np.ndarray) -> np.ndarray:
    """Fill the convex hull of the voxel centres of a 2D or 3D binary mask.

    The hull is computed by qhull (:class:`scipy.spatial.ConvexHull`) on the centres of the
    mask's boundary voxels only (interior voxels can never be hull vertices), and filled row by
    row along the last axis: for each row, the facet half-spaces ``normal . p + offset <= 0``
    reduce to bounds on the last coordinate, whose intersection ``[x_min, x_max]`` is computed
    analytically and vectorised over all rows. The result equals
    ``skimage.morphology.convex_hull_image(mask, offset_coordinates=False)`` but is orders of
    magnitude faster in 3D (scikit-image tests every voxel against every facet: minutes for one
    192^3 particle).

    Parameters
    ----------
    mask : ndarray of bool, shape (y, x) or (z, y, x)
        One particle (non-zero = inside). Works in voxel-index space, so spacing does not matter
        (the convex hull is invariant under axis scaling).

    Returns
    -------
    ndarray of bool, same shape as ``mask``
        True for voxels whose centre lies inside or on the convex hull of the mask's voxel
        centres. Always contains ``mask``.

    Raises
    ------
    EmptyDataError
        If the mask is empty.

    Warns
    -----
    CathodescopeRunWarning
        If the mask is degenerate (all voxels on one line or plane): the mask itself is
        returned.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool)
    >>> m[1, 1] = m[1, 3] = m[3, 1] = m[3, 3] = True
    >>> int(convex_hull_fill(m).sum())
    9
    """
    m = _as_mask(mask)
    if not m.any():
        raise EmptyDataError("convex_hull_fill got an empty mask; pass a mask with the particle.")
    ndim = m.ndim
    # Candidate hull vertices: the first and last voxel of every row along the last axis (a
    # point strictly between two others of its row cannot be a vertex).
    has = m.any(axis=-1)
    first = np.argmax(m, axis=-1)
    last = m.shape[-1] - 1 - np.argmax(m[..., ::-1], axis=-1)
    lead_idx = np.argwhere(has)
    sel = tuple(lead_idx.T)
    coords = np.concatenate(
        [
            np.column_stack([lead_idx, first[sel]]),
            np.column_stack([lead_idx, last[sel]]),
        ]
    ).astype(np.float64)
    try:
        hull = ConvexHull(coords)
    except (QhullError, ValueError):
        warnings.warn(
            f"particle of {int(m.sum())} voxels is flat (all voxels on one line or plane); "
            "its convex hull is taken as the mask itself.",
            CathodescopeRunWarning,
            stacklevel=2,
        )
        return m.copy()
    eq = hull.equations  # one row per (triangulated) facet: unit normal, offset
    out = np.zeros(m.shape, dtype=bool)
    xs = np.arange(m.shape[-1])
    if ndim == 2:
        ys = np.arange(m.shape[0], dtype=np.float64)
        x0, x1 = _row_bounds(ys[:, None], eq, m.shape[-1])
        out[:] = (xs >= x0[:, None]) & (xs <= x1[:, None])
    else:
        # Slice by slice along z, using only the facets whose z-extent reaches the slice: the
        # cross-section is a convex polygon whose edges all lie on such facets, so these
        # half-spaces alone define it (a few hundred facets per slice instead of thousands).
        fz = hull.points[hull.simplices][:, :, 0]
        zmin = fz.min(axis=1) - _HULL_TOL
        zmax = fz.max(axis=1) + _HULL_TOL
        ys = np.arange(m.shape[1], dtype=np.float64)
        for z0 in range(int(np.floor(zmin.min())), int(np.ceil(zmax.max())) + 1):
            if z0 < 0 or z0 >= m.shape[0]:
                continue
            use = (zmin <= z0) & (zmax >= z0)
            if not use.any():
                continue
            e = eq[use]
            # Fold the fixed z into the offset: 2D half-planes in (y, x).
            e2 = np.column_stack([e[:, 1], e[:, 2], e[:, 3] + e[:, 0] * z0])
            x0, x1 = _row_bounds(ys[:, None], e2, m.shape[-1])
            out[z0] = (xs >= x0[:, None]) & (xs <= x1[:, None])
    out |= m  # guard against rounding at the tolerance edge
    return out


def _row_bounds(lead: np.ndarray, eq: np.ndarray, n_last: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last index along the last axis inside ``eq``'s half-spaces, for each row.

    ``lead`` (rows, ndim-1) are the leading coordinates of each row, ``eq`` (facets, ndim+1)
    the half-spaces ``eq[:, :ndim] . p + eq[:, ndim] <= 0``. Empty rows get ``x0 > x1``.
    """
    ndim = eq.shape[1] - 1
    normal_last = eq[:, ndim - 1]
    pos = normal_last > 1e-12
    neg = normal_last < -1e-12
    par = ~(pos | neg)
    n_rows = lead.shape[0]
    x0 = np.empty(n_rows)
    x1 = np.empty(n_rows)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, eq.shape[0]))
    for start in range(0, n_rows, chunk):
        q = lead[start : start + chunk]
        hi = np.full(len(q), np.inf)
        lo = np.full(len(q), -np.inf)
        ok = np.ones(len(q), bool)
        # Facet f requires normal_last * x <= -(offset + rest . q) + tol.
        if pos.any():
            b = -(q @ eq[pos, : ndim - 1].T) - eq[pos, ndim] + _HULL_TOL
            hi = np.min(b / normal_last[pos], axis=1)
        if neg.any():
            b = -(q @ eq[neg, : ndim - 1].T) - eq[neg, ndim] + _HULL_TOL
            lo = np.max(b / normal_last[neg], axis=1)
        if par.any():
            b = -(q @ eq[par, : ndim - 1].T) - eq[par, ndim] + _HULL_TOL
            ok = np.all(b >= 0, axis=1)
        a = np.maximum(np.ceil(lo), 0)
        c = np.minimum(np.floor(hi), n_last - 1)
        c[~ok] = -1
        a[~ok] = 0
        x0[start : start + chunk] = a
        x1[start : start + chunk] = c
    return x0, x1


def depth_map(
    mask,
    *,
    spacing: float | Sequence[float] | None = None,
    surface: Literal["hull", "mask"] = "hull",
    threads: int | None = None,
    convention: DepthConvention = "subvoxel",
) -> np.ndarray:
    """Distance (um) of every voxel of one particle from its convex-hull or mask surface.

    ``convention="centres"``: the exact Euclidean distance, in um with the true (possibly
    anisotropic) spacing, from the voxel centre to the centre of the nearest voxel *outside*
    the reference body (the convex hull of the particle's voxel centres for
    ``surface="hull"``, the mask itself for ``surface="mask"``), as
    ``scipy.ndimage.distance_transform_edt(body, sampling=spacing)`` gives it (reproduced to
    float32 precision). It overstates the distance to the true (continuous) surface: the
    nearest outside voxel centre lies beyond the surface, by 0.57 voxel on average just under
    it, 0.19 voxel 5 voxels deep and 0.05 voxel 30 voxels deep (3D; more in 2D).

    ``convention="subvoxel"`` (default) removes that lattice-sampling excess: with ``e`` the
    distance above, ``v`` the voxel size (geometric mean of the spacing) and ``R`` the
    particle's largest ``e``, the depth ``d`` solves
    ``e = d + a v (v / d - c v / R) ** p`` with ``p = 1/2, a = 0.42, c = 0.5`` in 3D and
    ``p = 1/3, a = 0.46, c = 0.75`` in 2D: the expected excess of the nearest of the lattice
    points beyond a locally flat surface (exponent from the point density; ``a`` and ``c``
    fitted on digitised spheres and ellipsoids, ``c`` for the surface curvature). Documented
    bias: on held-out analytic spheres and ellipsoids (isotropic and anisotropic voxels, 2D and
    3D) the mean error below the first voxel layer is within +/-0.05 voxel at every depth
    (measured <= 0.035; ``DEPTH_BIAS_BOUND_VOX``); in the first layer (true depth < 1 voxel)
    the depth of a voxel centre is not resolved by a binary mask and the error is up to ~0.1
    voxel on average.

    The array border counts as outside (the crop is padded with one empty voxel), so a
    particle cut by the field of view has its cut face as surface.

    Computed with the exact linear-time EDT of the ``edt`` package (multi-threaded, float32,
    ~8x less memory and ~20x faster than scipy on large crops) and the qhull row-fill of
    :func:`convex_hull_fill`.

    Parameters
    ----------
    mask : array_like of bool, shape (y, x) or (z, y, x)
        One particle's crop (callers crop first, e.g. with ``scipy.ndimage.find_objects``).
    spacing : float or sequence of float, optional
        Pixel/voxel size in um, one value or one per axis in array order. May be omitted
        when ``mask`` is an ``xarray.DataArray`` whose coordinates (um) give it.
    surface : {"hull", "mask"}
        Measure depth from the convex-hull surface (default, insensitive to surface pores and
        cracks) or from the mask surface (pores open to the outside count as surface).
    threads : int, optional
        EDT threads; default: the cores available to this process.
    convention : {"subvoxel", "centres"}
        Depth convention (see above): distance to the true surface estimated to sub-voxel
        precision (default), or the plain distance to the nearest outside voxel centre.

    Returns
    -------
    ndarray of float32, same shape as ``mask``
        Depth in um for voxels inside ``mask``; 0 outside it.

    Raises
    ------
    SpacingError
        If ``spacing`` is missing, <= 0, of the wrong length, or contradicts the coordinates.
    EmptyDataError
        If ``mask`` is empty.

    Examples
    --------
    >>> m = np.zeros((3, 7), bool)
    >>> m[1, 1:6] = True
    >>> depth_map(m, spacing=0.5, surface="mask", convention="centres")[1].tolist()
    [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0]
    >>> [round(v, 3) for v in depth_map(m, spacing=0.5, surface="mask")[1].tolist()]
    [0.0, 0.26, 0.26, 0.26, 0.26, 0.26, 0.0]
    """
    m = _as_mask(mask)
    check_choice(surface, ("hull", "mask"), "surface")
    check_choice(convention, ("subvoxel", "centres"), "convention")
    sp = resolve_spacing(mask, spacing, m.ndim)
    if not m.any():
        raise EmptyDataError(
            "depth_map got an empty mask; pass the crop of one particle (labels == id)."
        )
    return _depth_map(m, sp, surface, threads, convention)


def _depth_map(
    m: np.ndarray,
    sp: tuple[float, ...],
    surface: str,
    threads: int | None,
    convention: str = "subvoxel",
) -> np.ndarray:
    """:func:`depth_map` on a validated bool mask and spacing tuple (no checks: per particle)."""
    out = _distance_map(m, sp, surface, threads)
    out[~m] = 0.0
    if convention == "subvoxel":
        out[m] = subvoxel_depth(out[m], sp)
    return out


def _depth_values(
    m: np.ndarray,
    sp: tuple[float, ...],
    surface: str,
    threads: int | None,
    convention: str = "subvoxel",
) -> np.ndarray:
    """``_depth_map(m, ...)[m]`` (float32, C order) without the full-crop depth map: the
    depth profiles only need the particle's voxels."""
    e = _distance_map(m, sp, surface, threads)[m]
    return subvoxel_depth(e, sp) if convention == "subvoxel" else e


def _distance_map(
    m: np.ndarray, sp: tuple[float, ...], surface: str, threads: int | None
) -> np.ndarray:
    """float32 distance (um) of every voxel of the crop to the nearest voxel centre outside
    the hull (or mask), the crop border counting as outside."""
    import edt  # local import: compiled extension, keep package import light

    body = convex_hull_fill(m) if surface == "hull" else m
    padded = np.ascontiguousarray(np.pad(body, 1, mode="constant", constant_values=False))
    # threads only pay off on big crops: small ones run single-threaded (no spawn cost)
    parallel = min(threads or _n_threads(), max(1, padded.size // _VOXELS_PER_THREAD))
    inner = tuple(slice(1, -1) for _ in range(m.ndim))
    if all(s == sp[0] for s in sp):
        # Isotropic voxels: edt's squared distances on the unit lattice are exact integers
        # (float32 holds them exactly below 2^24), and one float64 square root times the
        # spacing, rounded once to float32, is the correctly rounded distance. edt's own
        # scaled distances differ from it in the last bit for ~1 voxel in 10; this is also
        # what an exact GPU transform (PBA+) gives, so CPU and GPU depths agree bit for bit.
        sq = edt.edtsq(padded, anisotropy=(1.0,) * m.ndim, black_border=False, parallel=parallel)
        return (np.sqrt(sq[inner], dtype=np.float64) * sp[0]).astype(np.float32)
    dist = edt.edt(padded, anisotropy=sp, black_border=False, parallel=parallel)
    return np.asarray(dist[inner], dtype=np.float32)


def subvoxel_depth(e: Any, sp: Sequence[float], xp: Any = np) -> Any:
    """Sub-voxel depth (um) from distances ``e`` (um) to the nearest outside voxel centre.

    Solves ``e = d + a v (v / d - c v / R) ** p`` for ``d`` (see :func:`depth_map`) by five
    fixed-point steps ``d <- e - a v (v / max(d, v / 2) - c v / R) ** p`` from ``d = e``;
    ``R`` is the largest ``e``. The clamp at half a voxel only acts in the first voxel layer,
    where the equation has no root (its depths are then 0.3-0.45 voxel).

    Parameters
    ----------
    e : ndarray of float
        Distances (um) of one particle's voxels, all > 0.
    sp : sequence of float
        Voxel spacing in um (its length is the number of dimensions).
    xp : module
        Array module of ``e``: ``numpy``, or ``cupy`` for the GPU path (the same arithmetic).

    Returns
    -------
    array of float32, shape of ``e``
        Depths in um, ``0 < d <= e``.
    """
    if e.size == 0:
        return e.astype(xp.float32)
    a, c, p = _LATTICE_EXCESS[len(sp)]
    v = float(np.prod(sp)) ** (1.0 / len(sp))
    x = xp.asarray(e, dtype=xp.float32) / np.float32(v)
    inv_r = np.float32(c / float(x.max()))
    d = x.copy()
    t = xp.empty_like(x)
    for _ in range(5):
        xp.maximum(d, np.float32(0.5), out=t)
        xp.reciprocal(t, out=t)
        t -= inv_r
        xp.maximum(t, 0, out=t)
        xp.power(t, np.float32(p), out=t)
        t *= np.float32(a)
        xp.subtract(x, t, out=d)
    xp.maximum(d, np.float32(0.25) * x, out=d)
    d *= np.float32(v)
    return d
