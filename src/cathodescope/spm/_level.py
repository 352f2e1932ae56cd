"""Levelling of SPM topography: plane, polynomial, row alignment, masked iterative, scars.

All functions take a 2-D ``(y, x)`` array or :class:`xarray.DataArray` and return the same
type (coordinates and attrs kept, ``attrs["levelling"]`` appended). NaN pixels are ignored in
the fits and stay NaN. Fits use coordinates scaled to [-1, 1] so that high orders stay well
conditioned; coefficients are reported for that scaling and in physical units where useful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr
from scipy import ndimage

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import EmptyDataError, ParameterError, ShapeMismatchError

__all__ = [
    "LevelResult",
    "align_rows",
    "masked_level",
    "plane_level",
    "polynomial_level",
    "polynomial_surface",
    "remove_scars",
]


def _as_2d(image: Any, name: str = "image") -> np.ndarray:
    values = np.asarray(getattr(image, "values", image), dtype=np.float64)
    if values.ndim != 2:
        raise ShapeMismatchError(f"{name} must be a 2-D (y, x) map, got shape {values.shape}.")
    if values.size == 0 or not np.any(np.isfinite(values)):
        raise EmptyDataError(
            f"{name} is empty or all NaN; nothing to level (check the channel and the file)."
        )
    return values


def _as_mask(mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.zeros(shape, dtype=bool)
    m = np.asarray(getattr(mask, "values", mask), dtype=bool)
    if m.shape != shape:
        raise ShapeMismatchError(f"mask has shape {m.shape}, the image {shape}.")
    return m


def _wrap(template: Any, values: np.ndarray, step: str) -> Any:
    if isinstance(template, xr.DataArray):
        out = template.copy(data=values)
        out.attrs["levelling"] = [*template.attrs.get("levelling", []), step]
        return out
    return values


def _terms(order: int) -> list[tuple[int, int]]:
    """(power of x, power of y) of every monomial of total degree <= order, by degree."""
    return [(total - j, j) for total in range(order + 1) for j in range(total + 1)]


def polynomial_surface(
    image: Any, *, order: int = 1, mask: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares polynomial surface of total degree ``order`` through the kept pixels.

    Parameters
    ----------
    image : (ny, nx) array_like or xarray.DataArray
        Map to fit (any units).
    order : int
        Total polynomial degree (1 = plane, 2 = quadratic...), 0-6.
    mask : (ny, nx) bool array_like, optional
        True for pixels to EXCLUDE from the fit (particles, scars).

    Returns
    -------
    surface : (ny, nx) ndarray
        The fitted surface, units of ``image``.
    coefficients : ndarray
        Coefficients of ``x^i y^j`` (x, y scaled to [-1, 1]) in the order
        1, x, y, x^2, x y, y^2, ...

    Raises
    ------
    ParameterError
        If ``order`` is not in 0-6 or fewer pixels remain than coefficients.
    """
    values = _as_2d(image)
    if int(order) != order or not 0 <= order <= 6:
        raise ParameterError(f"order must be an integer from 0 to 6, got {order!r}.")
    order = int(order)
    keep = ~_as_mask(mask, values.shape) & np.isfinite(values)
    terms = _terms(order)
    n_keep = int(keep.sum())
    if n_keep < len(terms):
        raise ParameterError(
            f"only {n_keep} pixels are left for a degree-{order} fit with "
            f"{len(terms)} coefficients; lower the order or the masked fraction."
        )
    # Normal equations from separable moments: sum over kept pixels of x^a y^b (and z x^a y^b)
    # are matrix products with the (ny, nx) mask, so no (n_pixels x n_terms) design matrix is
    # built (a 4096 x 4096 map would need 400 MB per term otherwise).
    ny, nx = values.shape
    yy = np.linspace(-1.0, 1.0, ny) if ny > 1 else np.zeros(1)
    xx = np.linspace(-1.0, 1.0, nx) if nx > 1 else np.zeros(1)
    p_max = 2 * order + 1
    xp = np.vander(xx, p_max, increasing=True)  # (nx, p_max): xx**a
    yp = np.vander(yy, p_max, increasing=True)  # (ny, p_max): yy**b
    weights = keep.astype(np.float64)
    moments = yp.T @ (weights @ xp)  # [b, a] = sum keep * y^b x^a
    z = np.where(keep, values, 0.0)
    zmom = yp[:, : order + 1].T @ (z @ xp[:, : order + 1])  # [b, a] = sum z y^b x^a
    del z, weights
    normal = np.array([[moments[jk + jl, ik + il] for il, jl in terms] for ik, jk in terms])
    rhs = np.array([zmom[j, i] for i, j in terms])
    coef, *_ = np.linalg.lstsq(normal, rhs, rcond=None)
    cmat = np.zeros((order + 1, order + 1))
    for (i, j), c in zip(terms, coef, strict=True):
        cmat[j, i] = c
    surface = yp[:, : order + 1] @ cmat @ xp[:, : order + 1].T
    return surface, coef


def polynomial_level(image: Any, *, order: int = 2, mask: Any = None) -> Any:
    """Subtract a polynomial background of total degree ``order`` (see polynomial_surface).

    Parameters
    ----------
    image : (ny, nx) array_like or xarray.DataArray
        Map to level (any units).
    order : int
        Total polynomial degree (1 = plane, 2 = quadratic...), 0-6.
    mask : (ny, nx) bool array_like, optional
        True for pixels to EXCLUDE from the fit (particles, scars).

    Returns
    -------
    Same type as ``image``: the map minus the fitted surface.
    """
    values = _as_2d(image)
    surface, _ = polynomial_surface(values, order=order, mask=mask)
    return _wrap(image, values - surface, f"polynomial order {order}")


def plane_level(image: Any, *, mask: Any = None) -> Any:
    """Subtract the least-squares plane (tilt and offset) fitted to the unmasked pixels.

    Parameters
    ----------
    image : (ny, nx) array_like or xarray.DataArray
        Topography (any units).
    mask : bool array_like, optional
        True for pixels to exclude from the fit.

    Returns
    -------
    Same type as ``image``: the levelled map (mean of the fitted pixels = 0).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:50, 0:60]
    >>> flat = plane_level(3.0 + 0.2 * x - 0.1 * y)
    >>> bool(np.abs(flat).max() < 1e-9)
    True
    """
    values = _as_2d(image)
    surface, _ = polynomial_surface(values, order=1, mask=mask)
    return _wrap(image, values - surface, "plane")


def align_rows(
    image: Any,
    *,
    method: Literal["median", "mean", "linear"] = "median",
    mask: Any = None,
) -> Any:
    """Remove the per-scan-line offset (and slope with ``"linear"``) between rows.

    Each fast-scan line (row) gets its own offset from feedback drift; subtracting the
    median of every row (of its unmasked pixels) is the standard, particle-robust fix
    (Gwyddion's "Align rows, median").

    Parameters
    ----------
    image : (ny, nx) array_like or xarray.DataArray
        Topography.
    method : {"median", "mean", "linear"}
        Statistic subtracted per row; "linear" fits and removes a line per row.
    mask : bool array_like, optional
        True for pixels to ignore (particles). Rows with no kept pixel use all pixels.

    Returns
    -------
    Same type as ``image``.
    """
    check_choice(method, ("median", "mean", "linear"), "method")
    values = _as_2d(image)
    excl = _as_mask(mask, values.shape)
    kept = np.where(excl, np.nan, values)
    empty_rows = ~np.any(np.isfinite(kept), axis=1)
    kept[empty_rows] = values[empty_rows]
    if method == "median":
        out = values - np.nanmedian(kept, axis=1, keepdims=True)
    elif method == "mean":
        out = values - np.nanmean(kept, axis=1, keepdims=True)
    else:
        x = np.linspace(-1.0, 1.0, values.shape[1])
        out = np.empty_like(values)
        for r in range(values.shape[0]):  # one 2-parameter fit per row; cheap
            ok = np.isfinite(kept[r])
            if ok.sum() < 2:
                out[r] = values[r] - np.nanmedian(values[r])
                continue
            slope, offset = np.polyfit(x[ok], kept[r, ok], 1)
            out[r] = values[r] - (offset + slope * x)
    return _wrap(image, out, f"align rows ({method})")


@dataclass(frozen=True)
class LevelResult:
    """Result of :func:`masked_level`.

    Parameters
    ----------
    image : ndarray or xarray.DataArray
        Levelled map (type of the input).
    excluded : (ny, nx) bool ndarray
        Pixels left out of the final background fit (particles and their rim).
    coefficients : ndarray
        Final polynomial coefficients (see :func:`polynomial_surface`).
    n_iter : int
        Iterations until the excluded set stopped changing (or ``max_iter``).
    converged : bool
        True if the excluded set stopped changing.
    parameters : dict
        Options used.
    """

    image: Any
    excluded: np.ndarray
    coefficients: np.ndarray
    n_iter: int
    converged: bool
    parameters: dict[str, Any] = field(default_factory=dict)


def masked_level(
    image: Any,
    *,
    order: int = 1,
    threshold: float = 2.5,
    side: Literal["above", "below", "both"] = "above",
    dilate_px: int = 2,
    max_iter: int = 20,
    min_size_px: int = 9,
    align: bool = False,
    mask: Any = None,
) -> LevelResult:
    """Iterative background levelling that excludes particles from the fit.

    Fit a polynomial to the background, flag pixels whose residual is above ``threshold``
    robust standard deviations (1.4826 x MAD of the background residual) as particles, grow
    the flag by ``dilate_px`` pixels, refit without them; repeat until the flagged set no
    longer changes. Particles then no longer pull the plane toward themselves.

    Parameters
    ----------
    image : (ny, nx) array_like or xarray.DataArray
        Topography.
    order : int
        Polynomial degree of the background (1 = plane).
    threshold : float
        Flag threshold in robust standard deviations (> 0).
    side : {"above", "below", "both"}
        Which residuals are features: particles stick out ("above"), pits ("below").
    dilate_px : int
        Grow the flagged set by this many pixels (particle rims), >= 0.
    max_iter : int
        Iteration limit (>= 1). Iteration stops when fewer than 1e-4 of the pixels change.
    min_size_px : int
        Flagged connected regions smaller than this (pixels) are noise, not particles.
    align : bool
        Also align rows (median of background pixels) after the last fit.
    mask : bool array_like, optional
        Pixels always excluded (known particles, scars).

    Returns
    -------
    LevelResult

    Raises
    ------
    EmptyDataError
        If the image is all NaN.
    ParameterError
        If the options are impossible or the flagged set leaves too few pixels.
    """
    check_choice(side, ("above", "below", "both"), "side")
    threshold = check_positive(threshold, "threshold")
    if int(dilate_px) != dilate_px or dilate_px < 0:
        raise ParameterError(f"dilate_px must be an integer >= 0, got {dilate_px!r}.")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ParameterError(f"max_iter must be an integer >= 1, got {max_iter!r}.")
    values = _as_2d(image)
    tol_px = int(1e-4 * values.size)
    fixed = _as_mask(mask, values.shape)
    excluded = fixed.copy()
    structure = ndimage.generate_binary_structure(2, 1)
    converged = False
    n_iter = 0
    coef = np.zeros(0)
    for n_iter in range(1, int(max_iter) + 1):  # noqa: B007 (n_iter used after the loop)
        surface, coef = polynomial_surface(values, order=order, mask=excluded)
        residual = values - surface
        bg = residual[~excluded & np.isfinite(residual)]
        sigma = 1.4826 * np.median(np.abs(bg - np.median(bg)))
        if sigma == 0:
            sigma = float(np.std(bg)) or 1e-300
        center = float(np.median(bg))
        if side == "above":
            flag = residual - center > threshold * sigma
        elif side == "below":
            flag = center - residual > threshold * sigma
        else:
            flag = np.abs(residual - center) > threshold * sigma
        flag &= np.isfinite(residual)
        if min_size_px > 1:  # isolated noise pixels are not particles
            lab, n = ndimage.label(flag)
            if n:
                sizes = np.bincount(lab.ravel())
                keep = sizes >= min_size_px
                keep[0] = False
                flag = keep[lab]
        if dilate_px:
            flag = ndimage.binary_dilation(flag, structure, iterations=int(dilate_px))
        new = flag | fixed
        if np.count_nonzero(new != excluded) <= tol_px:
            converged = True
            excluded = new
            break
        excluded = new
    surface, coef = polynomial_surface(values, order=order, mask=excluded)
    out = values - surface
    if align:
        out = align_rows(out, method="median", mask=excluded)
    params = {
        "order": order,
        "threshold": threshold,
        "side": side,
        "dilate_px": dilate_px,
        "max_iter": max_iter,
        "min_size_px": min_size_px,
        "align": align,
    }
    return LevelResult(
        image=_wrap(image, out, f"masked polynomial order {order}"),
        excluded=excluded,
        coefficients=coef,
        n_iter=n_iter,
        converged=converged,
        parameters=params,
    )


def remove_scars(
    image: Any,
    *,
    threshold: float = 4.0,
    max_width: int = 2,
    min_length: int = 8,
) -> tuple[Any, np.ndarray]:
    """Find and repair scan-line scars (short horizontal streaks from tip jumps).

    A scar is a run of pixels in 1 to ``max_width`` consecutive rows that differs from both
    the row above and the row below the run by more than ``threshold`` robust standard
    deviations of the row-to-row differences, with the same sign on both sides, over at least
    ``min_length`` pixels along x. Scar pixels are replaced by linear interpolation between
    the rows bounding the run (the idea of Gwyddion's "Remove scars").

    Parameters
    ----------
    image : (ny, nx) array_like or xarray.DataArray
        Topography (after plane/row levelling for best detection).
    threshold : float
        Detection threshold in robust standard deviations of vertical differences (> 0).
    max_width : int
        Largest scar thickness in rows (1-5).
    min_length : int
        Shortest scar length in pixels along the fast axis (>= 1).

    Returns
    -------
    repaired : same type as ``image``
    scars : (ny, nx) bool ndarray
        Pixels that were replaced.
    """
    threshold = check_positive(threshold, "threshold")
    if int(max_width) != max_width or not 1 <= max_width <= 5:
        raise ParameterError(f"max_width must be an integer from 1 to 5, got {max_width!r}.")
    if int(min_length) != min_length or min_length < 1:
        raise ParameterError(f"min_length must be an integer >= 1, got {min_length!r}.")
    values = _as_2d(image)
    ny, _nx = values.shape
    vdiff = np.diff(values, axis=0)
    vd = vdiff[np.isfinite(vdiff)]
    sigma = 1.4826 * np.median(np.abs(vd - np.median(vd))) if vd.size else 0.0
    if sigma == 0:
        sigma = float(np.std(vd)) if vd.size else 0.0
    if sigma == 0:
        return _wrap(image, values.copy(), "scars (none)"), np.zeros_like(values, dtype=bool)
    t = threshold * sigma
    scars = np.zeros_like(values, dtype=bool)
    repaired = values.copy()
    for w in range(1, int(max_width) + 1):
        if ny < w + 2:
            break
        above = values[: ny - w - 1]  # row r - 1 for runs starting at r = 1..ny-w-1
        below = values[w + 1 :]  # row r + w
        block = np.stack([values[1 + k : ny - w + k] for k in range(w)])  # (w, n, nx)
        up = block - above[None]
        dn = block - below[None]
        pos = np.all((up > t) & (dn > t), axis=0)
        neg = np.all((up < -t) & (dn < -t), axis=0)
        cand = pos | neg
        # keep only runs along x of at least min_length pixels
        lab, n = ndimage.label(cand, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])
        if n == 0:
            continue
        lengths = np.bincount(lab.ravel())
        good = lengths >= min_length
        good[0] = False
        cand = good[lab]
        rows, cols = np.nonzero(cand)
        for k in range(w):
            frac = (k + 1) / (w + 1)
            r = rows + 1 + k
            repaired[r, cols] = (1 - frac) * values[rows, cols] + frac * values[rows + w + 1, cols]
            scars[r, cols] = True
    return _wrap(image, repaired, f"scars removed ({int(scars.sum())} px)"), scars
