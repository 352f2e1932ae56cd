"""Alignment: projections between energies, rotation centre, jitter, volumes in 3D.

Shifts are in detector pixels, ``(dy, dx)`` = what must be applied to the *moving* image (with
:func:`shift_projections`) to overlay it on the reference; the shift with which the moving
image was displaced is therefore ``-(dy, dx)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.ndimage as ndi

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import AlignmentError, ProjectionGeometryError, RotationCentreError


def _values(a: Any) -> np.ndarray:
    return np.asarray(getattr(a, "values", a), dtype=np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def _crop(img: np.ndarray, margin: int) -> np.ndarray:
    if margin <= 0:
        return img
    return img[..., margin:-margin, margin:-margin]


@dataclass(frozen=True)
class ProjectionRegistration:
    """Per-angle registration of one energy's projections onto a reference energy.

    Parameters
    ----------
    shifts : ndarray, shape (n_angles, 2)
        ``(dy, dx)`` in pixels to apply to the moving projections.
    correlation_before, correlation_after : ndarray, shape (n_angles,)
        Normalized cross-correlation with the reference before and after the shift.
    error : ndarray, shape (n_angles,)
        ``phase_cross_correlation``'s translation-invariant normalized RMS error.
    angles : ndarray, shape (n_angles,)
        Degrees.
    parameters : dict
        The parameters used.
    """

    shifts: np.ndarray
    correlation_before: np.ndarray
    correlation_after: np.ndarray
    error: np.ndarray
    angles: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """Columns: angle_deg, shift_y_px, shift_x_px, correlation_before, correlation_after, error."""
        return pd.DataFrame(
            {
                "angle_deg": self.angles,
                "shift_y_px": self.shifts[:, 0],
                "shift_x_px": self.shifts[:, 1],
                "correlation_before": self.correlation_before,
                "correlation_after": self.correlation_after,
                "error": self.error,
            }
        )

    def summary(self) -> dict[str, float]:
        """Median/max shifts and worst correlation, for manifests."""
        return {
            "median_shift_y_px": float(np.median(self.shifts[:, 0])),
            "median_shift_x_px": float(np.median(self.shifts[:, 1])),
            "max_abs_shift_px": float(np.abs(self.shifts).max()),
            "min_correlation_after": float(self.correlation_after.min()),
            "median_correlation_after": float(np.median(self.correlation_after)),
        }


def shift_projections(projections: Any, shifts: np.ndarray, *, order: int = 3) -> np.ndarray:
    """Shift each projection ``k`` by ``shifts[k] = (dy, dx)`` pixels (cubic spline, edges held).

    Parameters
    ----------
    projections : array-like, shape (n_angles, ny, nx)
        Projections (any units).
    shifts : ndarray, shape (n_angles, 2) or (2,)
        ``(dy, dx)`` in pixels per projection (or one for all).
    order : int
        Spline order of the interpolation.

    Returns
    -------
    ndarray, shape (n_angles, ny, nx), float32
    """
    arr = _values(projections)
    sh = np.broadcast_to(np.asarray(shifts, dtype=float), (arr.shape[0], 2))
    out = np.empty_like(arr)
    for k in range(arr.shape[0]):
        out[k] = ndi.shift(arr[k], sh[k], order=order, mode="nearest")
    return out


def _single_thread_blas() -> Any:
    """Limit BLAS to one thread: the many tiny matrix products of the subpixel DFT are 10x slower
    with a multi-threaded BLAS on a busy machine (thread start-up and spinning dominate)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _register_loop(
    ref, mov, angles, margin, smooth_sigma, upsample_factor, shifts, err, c0, c1
) -> None:
    from skimage.registration import phase_cross_correlation

    for k in range(ref.shape[0]):
        a = _crop(ref[k], margin)
        b = _crop(mov[k], margin)
        if smooth_sigma > 0:
            a = ndi.gaussian_filter(a, smooth_sigma)
            b = ndi.gaussian_filter(b, smooth_sigma)
        if a.std() == 0 or b.std() == 0:
            raise AlignmentError(
                f"projection {k} (angle {angles[k]:.2f} deg) has no contrast; drop empty frames "
                "before registration."
            )
        shift, e, _ = phase_cross_correlation(
            a, b, upsample_factor=int(upsample_factor), normalization=None
        )
        shifts[k] = shift
        err[k] = e
        c0[k] = _ncc(a, b)
        c1[k] = _ncc(a, ndi.shift(b, shift, order=1, mode="nearest"))  # quality figure only


def register_projections(
    reference: Any,
    moving: Any,
    *,
    upsample_factor: int = 50,
    margin: int = 0,
    smooth_sigma: float = 0.0,
    max_shift_px: float | None = None,
) -> ProjectionRegistration:
    """Register each projection of ``moving`` onto the same-angle projection of ``reference``.

    Uses :func:`skimage.registration.phase_cross_correlation` with subpixel upsampling on
    -log projections (absorption contrast changes across an edge but the morphology does not).

    Parameters
    ----------
    reference, moving : array-like or DataArray, shape (n_angles, ny, nx)
        Line integrals of two energies at the same angles.
    upsample_factor : int
        Subpixel precision 1/upsample_factor px.
    margin : int
        Pixels cropped from every border before registration (to ignore edge artefacts).
    smooth_sigma : float
        Gaussian smoothing (px) applied to both before registration (noisy data).
    max_shift_px : float, optional
        Raise :class:`AlignmentError` if any shift is larger (stage failure, wrong pairing).

    Returns
    -------
    ProjectionRegistration

    Raises
    ------
    ProjectionGeometryError
        If the stacks differ in shape.
    AlignmentError
        If an image has no contrast or a shift exceeds ``max_shift_px``.
    """
    ref = _values(reference)
    mov = _values(moving)
    if ref.shape != mov.shape or ref.ndim != 3:
        raise ProjectionGeometryError(
            f"reference {ref.shape} and moving {mov.shape} projections must both be "
            "(n_angles, ny, nx) with the same shape; correct the magnification first if the pixel "
            "sizes differ (correct_magnification)."
        )
    angles = np.asarray(
        getattr(reference, "coords", {}).get("angle", np.arange(ref.shape[0])), float
    )
    n = ref.shape[0]
    shifts = np.zeros((n, 2))
    err = np.zeros(n)
    c0 = np.zeros(n)
    c1 = np.zeros(n)
    with _single_thread_blas():
        _register_loop(ref, mov, angles, margin, smooth_sigma, upsample_factor, shifts, err, c0, c1)
    if max_shift_px is not None and np.abs(shifts).max() > max_shift_px:
        k = int(np.argmax(np.abs(shifts).max(axis=1)))
        raise AlignmentError(
            f"projection {k} needs a shift of {shifts[k]} px, more than max_shift_px={max_shift_px}; "
            "check that both stacks show the same field of view at the same angles."
        )
    params = {
        "upsample_factor": int(upsample_factor),
        "margin": margin,
        "smooth_sigma": smooth_sigma,
    }
    return ProjectionRegistration(shifts, c0, c1, err, angles, params)


def correct_magnification(projections: Any, scale: float, *, order: int = 3) -> np.ndarray:
    """Rescale projections about the detector centre by ``scale`` (energy-dependent magnification).

    A zone-plate TXM images at a magnification that changes with energy; if the metadata give a
    pixel size ``p_E`` at energy ``E`` and ``p_ref`` at the reference energy, the image at ``E``
    is brought to the reference grid with ``scale = p_E / p_ref`` (features grow when
    ``scale > 1``).

    Parameters
    ----------
    projections : array-like, shape (n_angles, ny, nx) or (ny, nx)
        Projections (or one image) at the energy to bring to the reference grid.
    scale : float
        Magnification ratio (> 0).
    order : int
        Spline order of the interpolation.

    Returns
    -------
    ndarray, float32, same shape
    """
    s = check_positive(scale, "magnification scale")
    arr = _values(projections)
    if abs(s - 1.0) < 1e-9:
        return arr.copy()
    single = arr.ndim == 2
    stack = arr[None] if single else arr
    ny, nx = stack.shape[1:]
    centre = np.array([(ny - 1) / 2.0, (nx - 1) / 2.0])
    matrix = np.eye(2) / s
    offset = centre - matrix @ centre
    out = np.empty_like(stack)
    for k in range(stack.shape[0]):
        out[k] = ndi.affine_transform(stack[k], matrix, offset=offset, order=order, mode="nearest")
    return out[0] if single else out


# -- rotation centre -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CentreResult:
    """Rotation centre found from the data.

    Parameters
    ----------
    centre : float
        Detector column (pixels) where the rotation axis projects.
    method : str
        The method that found it (``"mirror"``, ``"sinusoid"``, ``"sharpness"``; ``"given"``
        when the centre was given rather than found).
    details : dict
        Method-specific figures (pairs used and their spread, metric curve...).
    """

    centre: float
    method: str
    details: dict[str, Any] = field(default_factory=dict)


def _mirror_pairs(angles: np.ndarray, tol_deg: float) -> list[tuple[int, int]]:
    pairs = []
    for i, a in enumerate(angles):
        d = np.abs(((angles - a - 180.0) + 180.0) % 360.0 - 180.0)
        j = int(np.argmin(d))
        if d[j] <= tol_deg and j != i and (j, i) not in pairs:
            pairs.append((i, j))
    return pairs


def find_rotation_centre(
    projections: Any,
    angles_deg: np.ndarray | None = None,
    *,
    method: Literal["auto", "mirror", "sinusoid", "sharpness"] = "auto",
    rows: slice | None = None,
    search_px: float | None = None,
    tol_deg: float = 0.05,
) -> CentreResult:
    """Find the rotation-axis column from -log projections.

    Methods
    -------
    ``"mirror"``
        Projections 180 degrees apart are mirror images about the axis: each such pair is
        registered (flipped) with subpixel phase correlation; the median over pairs is returned.
    ``"sinusoid"``
        The centre of mass of each projection traces ``c + a cos(theta) + b sin(theta)``;
        a linear least-squares fit gives ``c``. Needs the sample inside the field of view.
    ``"sharpness"``
        Reconstructs the middle row for trial centres and minimises the histogram entropy (coarse
        1 px grid, then 0.1 px), as TomoPy's ``find_center`` does; works for any angle set.
    ``"auto"``
        ``"mirror"`` when at least three opposite pairs exist (one pair is at the mercy of the
        jitter of two projections), else ``"sharpness"``.

    Parameters
    ----------
    projections : array-like or DataArray, shape (n_angles, ny, nx)
        Line integrals.
    angles_deg : ndarray, optional
        Degrees (taken from the DataArray's ``angle`` coordinate if omitted).
    method : {"auto", "mirror", "sinusoid", "sharpness"}
        See Methods above.
    rows : slice, optional
        Detector rows used (default all for mirror/sinusoid, the middle row for sharpness).
    search_px : float, optional
        Half-width of the sharpness search around the detector centre (default nx / 4).
    tol_deg : float
        Tolerance for two angles to count as 180 degrees apart.

    Returns
    -------
    CentreResult

    Raises
    ------
    RotationCentreError
        If the method cannot be applied (no opposite pairs for "mirror") or the result lies
        outside the detector.
    """
    check_choice(method, ("auto", "mirror", "sinusoid", "sharpness"), "method")
    arr = _values(projections)
    if angles_deg is None:
        if hasattr(projections, "coords") and "angle" in projections.coords:
            angles_deg = projections["angle"].values
        else:
            raise ProjectionGeometryError("find_rotation_centre needs angles_deg (degrees).")
    angles = np.asarray(angles_deg, float).ravel()
    if arr.ndim != 3 or arr.shape[0] != angles.size:
        raise ProjectionGeometryError(
            f"projections {arr.shape} must be (n_angles, ny, nx) with one angle each ({angles.size})."
        )
    nx = arr.shape[2]
    pairs = _mirror_pairs(angles, tol_deg)
    if method == "auto":  # one jittered pair is not enough: use the whole sinogram then
        method = "mirror" if len(pairs) >= 3 else "sharpness"
    sel = arr[:, rows, :] if rows is not None else arr
    if method == "mirror":
        centre, details = _centre_mirror(sel, pairs)
    elif method == "sinusoid":
        centre, details = _centre_sinusoid(sel, angles)
    else:
        row = sel[:, sel.shape[1] // 2, :] if rows is None else sel.mean(axis=1)
        centre, details = _centre_sharpness(row, angles, search_px)
    if not (0 <= centre <= nx - 1):
        raise RotationCentreError(
            f"rotation centre found at {centre:.2f} px, outside the detector (0..{nx - 1}); the "
            "projections may not cover the rotation axis: give the centre explicitly."
        )
    return CentreResult(centre=centre, method=method, details=details)


def _centre_mirror(sel: np.ndarray, pairs: list) -> tuple[float, dict[str, Any]]:
    """Median centre of the opposite-view pairs registered after flipping one of them."""
    from skimage.registration import phase_cross_correlation

    if not pairs:
        raise RotationCentreError(
            "no projections 180 degrees apart (within tol_deg); use method='sharpness' or "
            "'sinusoid' (--centre-method sharpness on the command line)."
        )
    nx = sel.shape[2]
    estimates = []
    for i, j in pairs:
        a = sel[i]
        b = sel[j][:, ::-1]
        shift, _, _ = phase_cross_correlation(a, b, upsample_factor=100, normalization=None)
        # flipped opposite view: b[i] = a[i + 2c - (nx - 1)], so the shift registering b
        # onto a is 2c - (nx - 1)
        estimates.append(((nx - 1) + shift[1]) / 2.0)
    est = np.asarray(estimates)
    details = {"n_pairs": len(pairs), "spread_px": float(est.std()) if est.size > 1 else 0.0}
    return float(np.median(est)), details


def _centre_sinusoid(sel: np.ndarray, angles: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Centre of the sinusoid fitted to the centre of mass of each projection."""
    nx = sel.shape[2]
    profile = sel.sum(axis=1)  # (n_angles, nx)
    mass = profile.sum(axis=1)
    if np.any(mass <= 0):
        raise RotationCentreError(
            "some projections have no absorption; 'sinusoid' needs the sample in view."
        )
    com = (profile * np.arange(nx)).sum(axis=1) / mass
    theta = np.radians(angles)
    design = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=1)
    coef, *_ = np.linalg.lstsq(design, com, rcond=None)
    resid = com - design @ coef
    return float(coef[0]), {"rms_residual_px": float(np.sqrt(np.mean(resid**2)))}


def _centre_sharpness(
    row: np.ndarray, angles: np.ndarray, search_px: float | None
) -> tuple[float, dict[str, Any]]:
    """Centre minimising the histogram entropy of the reconstructed row (coarse to fine)."""
    nx = row.shape[1]
    half = search_px if search_px is not None else nx / 4.0
    # coarse search on a detector binned to <= ~128 px, then 0.5 px and 0.1 px refinements
    b = max(1, nx // 128)
    nb = nx // b
    binned = row[:, : nb * b].reshape(row.shape[0], nb, b).mean(axis=2)
    mid_b = (nb - 1) / 2.0
    coarse_b = np.arange(max(0.0, mid_b - half / b), min(nb - 1.0, mid_b + half / b) + 1e-9, 1.0)
    vals = _entropy_of_centres(binned, angles, coarse_b)
    coarse = coarse_b * b + (b - 1) / 2.0
    best = coarse[int(np.argmin(vals))]
    for step, width in ((0.5, float(b)), (0.1, 0.5)):
        trial = np.arange(max(0.0, best - width), min(nx - 1.0, best + width) + 1e-9, step)
        best = float(trial[int(np.argmin(_entropy_of_centres(row, angles, trial)))])
    return best, {"coarse_centres": coarse.tolist(), "coarse_entropy": vals.tolist()}


def _entropy_of_centres(row: np.ndarray, angles: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Histogram entropy of the slice reconstructed with each trial centre (all in one batch).

    Reconstructing with centre ``c`` equals reconstructing the sinogram shifted by
    ``(nx - 1) / 2 - c`` with the centred axis; the shifts are done in Fourier space (no
    interpolation blur that would favour integer centres) and all trial centres go through the
    batched back-projector together.
    """
    from cathodescope.tomo._recon import fbp

    nx = row.shape[1]
    mid = (nx - 1) / 2.0
    pad = nx // 2
    padded = np.pad(row, ((0, 0), (pad, pad)), mode="edge")
    spec = np.fft.rfft(padded, axis=1)
    freq = np.fft.rfftfreq(padded.shape[1])
    shifts = mid - np.asarray(centres, float)
    phase = np.exp(-2j * np.pi * freq[None, :, None] * shifts[None, None, :])
    batch = np.fft.irfft(spec[:, :, None] * phase, n=padded.shape[1], axis=1)[:, pad : pad + nx, :]
    recs = fbp(np.ascontiguousarray(batch, dtype=np.float32), angles)  # (nx, nx, n_centres)
    yy, xx = np.mgrid[:nx, :nx] - mid
    mask = np.hypot(yy, xx) < nx / 2.0 - 2
    out = np.empty(len(centres))
    for k in range(len(centres)):
        rec = recs[:, :, k][mask]
        lo, hi = np.percentile(rec, [0.5, 99.5])
        hist, _ = np.histogram(np.clip(rec, lo, hi), bins=64, range=(lo, hi + 1e-12))
        p = hist[hist > 0] / hist.sum()
        out[k] = float(-(p * np.log(p)).sum())
    return out


# -- jitter by reprojection ------------------------------------------------------------------------


def correct_jitter(
    projections: Any,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    iterations: int = 3,
    upsample_factor: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Correct per-angle sample jitter by iterative reprojection.

    Each iteration reconstructs the volume (our FBP), re-projects it, registers every measured
    projection to its re-projection and shifts it; the accumulated shifts are returned.

    Parameters
    ----------
    projections : array-like, shape (n_angles, ny, nx)
        Line integrals.
    angles_deg : ndarray, shape (n_angles,)
        Degrees.
    centre : float, optional
        Rotation-axis column (pixels).
    iterations : int
        Reprojection rounds (2-5 are usually enough).
    upsample_factor : int
        Subpixel precision 1/upsample_factor px of each registration.

    Returns
    -------
    corrected : ndarray, shape (n_angles, ny, nx), float32
    shifts : ndarray, shape (n_angles, 2)
        Total ``(dy, dx)`` applied to each projection, pixels (mean removed so the volume does
        not drift).
    """
    from skimage.registration import phase_cross_correlation

    from cathodescope.tomo._recon import fbp, forward_project

    arr = _values(projections)
    angles = np.asarray(angles_deg, float)
    nx = arr.shape[2]
    total = np.zeros((arr.shape[0], 2))
    current = arr.copy()
    for _ in range(int(iterations)):
        sino = np.ascontiguousarray(current.transpose(0, 2, 1))  # (angle, det, row)
        vol = fbp(sino, angles, centre=centre)
        reproj = forward_project(np.clip(vol, 0, None), angles, n_det=nx, centre=centre)
        reproj = reproj.transpose(0, 2, 1)  # (angle, row, det)
        step = np.zeros_like(total)
        with _single_thread_blas():
            for k in range(arr.shape[0]):
                shift, _, _ = phase_cross_correlation(
                    reproj[k], current[k], upsample_factor=upsample_factor, normalization=None
                )
                step[k] = shift
        step -= step.mean(axis=0)
        total += step
        current = shift_projections(arr, total)
    return current, total


# -- 3D registration of volumes --------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRegistration:
    """Rigid translation between two volumes.

    Parameters
    ----------
    shift : tuple of float
        ``(dz, dy, dx)`` in voxels to apply to the moving volume.
    error : float
        Normalized RMS error from phase correlation.
    correlation_before, correlation_after : float
        Normalized cross-correlation of the two volumes before and after the shift.
    """

    shift: tuple[float, float, float]
    error: float
    correlation_before: float
    correlation_after: float


def register_volumes(
    reference: Any, moving: Any, *, upsample_factor: int = 20, apply: bool = True
) -> tuple[VolumeRegistration, np.ndarray | None]:
    """Subpixel 3D translation of ``moving`` onto ``reference`` (phase correlation).

    Parameters
    ----------
    reference, moving : array-like, shape (nz, ny, nx)
        Volumes of the same shape (e.g. Ni and Mn difference volumes, or two energies).
    upsample_factor : int
        Precision 1/upsample_factor voxel.
    apply : bool
        Also return the shifted moving volume (cubic spline).

    Returns
    -------
    (VolumeRegistration, ndarray or None)
    """
    from skimage.registration import phase_cross_correlation

    ref = _values(reference)
    mov = _values(moving)
    if ref.shape != mov.shape or ref.ndim != 3:
        raise ProjectionGeometryError(
            f"volumes must both be 3-D with the same shape, got {ref.shape} and {mov.shape}."
        )
    shift, err, _ = phase_cross_correlation(
        ref, mov, upsample_factor=upsample_factor, normalization=None
    )
    moved = ndi.shift(mov, shift, order=3, mode="nearest")
    reg = VolumeRegistration(
        (float(shift[0]), float(shift[1]), float(shift[2])),
        float(err),
        _ncc(ref, mov),
        _ncc(ref, moved),
    )
    return reg, (moved.astype(np.float32) if apply else None)
