"""Tomographic reconstruction: FBP and SIRT (ours, numba) with astra-toolbox as the reference.

All functions use the geometry documented in :mod:`cathodescope.tomo._kernels` (astra's
``parallel`` convention). Angles are in degrees; the rotation centre is a detector column index
(pixels, ``(n_det - 1) / 2`` when the axis is centred); reconstructed values are in inverse
detector pixels (multiply by ``1 / pixel_size_um`` for 1/um), which :func:`reconstruct` does when
it knows the pixel size.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.fft

from cathodescope._validation import check_choice, check_finite, check_positive
from cathodescope.errors import (
    ParameterError,
    ProjectionGeometryError,
    RotationCentreError,
)

FilterName = Literal["ramp", "shepp-logan", "cosine", "hamming", "hann"]
Algorithm = Literal["fbp", "sirt", "astra_fbp", "astra_sirt"]
_FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
_ALGORITHMS = ("fbp", "sirt", "astra_fbp", "astra_sirt")


# -- geometry helpers -------------------------------------------------------------------------


def check_centre(centre: float | None, n_det: int) -> float:
    """Return the rotation centre (detector column, pixels), checking that it is on the detector.

    ``None`` means the centre of the detector, ``(n_det - 1) / 2``.
    """
    if centre is None:
        return (n_det - 1) / 2.0
    try:
        c = float(centre)
    except (TypeError, ValueError) as exc:
        raise RotationCentreError(
            f"rotation centre must be a number of pixels, got {centre!r}."
        ) from exc
    if not math.isfinite(c) or c < 0 or c > n_det - 1:
        raise RotationCentreError(
            f"rotation centre {c!r} px is outside the detector (columns 0..{n_det - 1}); give the "
            "column where the rotation axis projects (in pixels of the *binned* projections), or "
            "use centre='auto' to find it."
        )
    return c


def angular_weights(angles_deg: np.ndarray) -> np.ndarray:
    """Integration weights (radians) of each projection angle for FBP over 180 degrees.

    Each angle gets half the gap to its neighbours, measured modulo 180 degrees, so uneven
    sampling and a duplicated 0/180 degree pair are both weighted correctly; for ``N`` evenly
    spaced angles every weight is ``pi / N``.

    Parameters
    ----------
    angles_deg : ndarray, shape (n_angles,)
        Projection angles in degrees.

    Returns
    -------
    ndarray, shape (n_angles,)
        Weights in radians summing to ``pi``.
    """
    theta = np.mod(np.radians(np.asarray(angles_deg, dtype=float)), np.pi)
    order = np.argsort(theta, kind="stable")
    sorted_t = theta[order]
    gaps = np.diff(np.concatenate([sorted_t, [sorted_t[0] + np.pi]]))  # gap after each angle
    w_sorted = 0.5 * (gaps + np.roll(gaps, 1))
    weights = np.empty_like(w_sorted)
    weights[order] = w_sorted
    return weights


def _check_sinogram(sinogram: np.ndarray, angles_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sino = np.asarray(sinogram, dtype=np.float32)
    angles = np.asarray(angles_deg, dtype=float).ravel()
    if sino.ndim not in (2, 3):
        raise ProjectionGeometryError(
            f"sinogram must be (n_angles, n_det) or (n_angles, n_det, n_slices), got shape {sino.shape}."
        )
    if sino.shape[0] != angles.size:
        raise ProjectionGeometryError(
            f"{sino.shape[0]} projections but {angles.size} angles; give exactly one angle (degrees) "
            "per projection (check for a missing or extra angle in the angles file)."
        )
    if sino.shape[0] < 2:
        raise ProjectionGeometryError("at least two projection angles are needed to reconstruct.")
    check_finite(angles, "angles")
    check_finite(sino, "sinogram")
    return sino, angles


# -- filtering --------------------------------------------------------------------------------


def ramp_filter(n_det: int, filter_name: FilterName = "ramp") -> tuple[np.ndarray, int]:
    """Frequency response of the FBP filter for a detector of ``n_det`` pixels.

    The ramp is built from its band-limited spatial form (Kak & Slaney, eq. 61), which avoids the
    DC offset of a sampled ``|f|``; windows as in scikit-image's ``iradon``.

    Returns
    -------
    response : ndarray, shape (n_pad // 2 + 1,)
        Real response for :func:`scipy.fft.rfft` frequencies, ``2 |f|`` times the window
        (``f`` in cycles/pixel).
    n_pad : int
        Zero-padded length (power of two >= 2 ``n_det``).
    """
    check_choice(filter_name, _FILTERS, "filter_name")
    n_pad = max(64, int(2 ** math.ceil(math.log2(2 * n_det))))
    k = np.concatenate((np.arange(1, n_pad // 2 + 1, 2), np.arange(n_pad // 2 - 1, 0, -2)))
    h = np.zeros(n_pad)
    h[0] = 0.25
    h[1::2] = -1.0 / (np.pi * k) ** 2
    response = 2.0 * np.real(np.fft.fft(h))[: n_pad // 2 + 1]
    freq = np.fft.rfftfreq(n_pad)  # cycles / pixel, 0 .. 0.5
    if filter_name == "shepp-logan":
        response *= np.sinc(freq)
    elif filter_name == "cosine":
        response *= np.cos(np.pi * freq)
    elif filter_name == "hamming":
        response *= 0.54 + 0.46 * np.cos(2 * np.pi * freq)
    elif filter_name == "hann":
        response *= 0.5 + 0.5 * np.cos(2 * np.pi * freq)
    return response.astype(np.float32), n_pad


def filter_sinogram(
    sino: np.ndarray,
    filter_name: FilterName = "ramp",
    *,
    pad_mode: Literal["edge", "zero"] = "edge",
) -> np.ndarray:
    """Apply the FBP filter along the detector axis (axis 1) of a sinogram or sinogram batch.

    Parameters
    ----------
    sino : ndarray, shape (n_angles, n_det) or (n_angles, n_det, n_slices)
        Line integrals (-log transmission), any units.
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
    pad_mode : {"edge", "zero"}
        How the detector is extended before the FFT: ``"edge"`` repeats the outermost columns
        (suppresses cupping when the sample is wider than the field of view), ``"zero"`` pads
        with zeros (astra's choice).

    Returns
    -------
    ndarray, same shape, float32
    """
    check_choice(pad_mode, ("edge", "zero"), "pad_mode")
    n_det = sino.shape[1]
    response, n_pad = ramp_filter(n_det, filter_name)
    pad_total = n_pad - n_det
    left = pad_total // 2
    widths = [(0, 0)] * sino.ndim
    widths[1] = (left, pad_total - left)
    padded = np.pad(sino, widths, mode="edge" if pad_mode == "edge" else "constant")
    spec = scipy.fft.rfft(padded, axis=1, workers=-1)
    shape = [1] * sino.ndim
    shape[1] = -1
    spec *= response.reshape(shape)
    out = scipy.fft.irfft(spec, n=n_pad, axis=1, workers=-1)
    return np.ascontiguousarray(out[:, left : left + n_det], dtype=np.float32)


# -- our reconstructors -----------------------------------------------------------------------


def backproject(
    sino: np.ndarray,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    size: int | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Linear-interpolation back-projection of a sinogram batch (numba, parallel over rows).

    Parameters
    ----------
    sino : ndarray, shape (n_angles, n_det) or (n_angles, n_det, n_slices)
    angles_deg : ndarray, shape (n_angles,)
        Angles in degrees.
    centre : float, optional
        Rotation-axis column in detector pixels; default the detector centre.
    size : int, optional
        Side of the square output grid in pixels (default ``n_det``).
    weights : ndarray, shape (n_angles,), optional
        Weight of each angle (default 1: the plain adjoint of :func:`forward_project`).

    Returns
    -------
    ndarray, shape (size, size) or (size, size, n_slices), float32
    """
    from cathodescope.tomo._kernels import _backproject_batch

    sino, angles = _check_sinogram(sino, angles_deg)
    squeeze = sino.ndim == 2
    batch = np.ascontiguousarray(sino[:, :, None] if squeeze else sino)
    n_det = batch.shape[1]
    c = check_centre(centre, n_det)
    n = int(size or n_det)
    theta = np.radians(angles)
    w = np.ones(angles.size, np.float32) if weights is None else np.asarray(weights, np.float32)
    out = np.empty((n, n, batch.shape[2]), np.float32)
    _backproject_batch(batch, np.cos(theta), np.sin(theta), w, c, n, out)
    return out[:, :, 0] if squeeze else out


def forward_project(
    image: np.ndarray,
    angles_deg: np.ndarray,
    *,
    n_det: int | None = None,
    centre: float | None = None,
) -> np.ndarray:
    """Parallel-beam projection (exact adjoint of :func:`backproject`, numba).

    Parameters
    ----------
    image : ndarray, shape (n, n) or (n, n, n_slices)
        Attenuation per pixel (values are summed along rays in pixel units).
    angles_deg : ndarray, shape (n_angles,)
    n_det : int, optional
        Detector width in pixels (default ``n``).
    centre : float, optional
        Column where the rotation axis projects (default ``(n_det - 1) / 2``).

    Returns
    -------
    ndarray, shape (n_angles, n_det) or (n_angles, n_det, n_slices), float32
    """
    from cathodescope.tomo._kernels import _forward_project_batch

    img = np.asarray(image, dtype=np.float32)
    if img.ndim not in (2, 3) or img.shape[0] != img.shape[1]:
        raise ProjectionGeometryError(
            f"image must be square (n, n) or (n, n, n_slices), got shape {img.shape}."
        )
    squeeze = img.ndim == 2
    vol = np.ascontiguousarray(img[:, :, None] if squeeze else img)
    nd = int(n_det or vol.shape[0])
    c = check_centre(centre, nd)
    theta = np.radians(np.asarray(angles_deg, dtype=float).ravel())
    out = np.empty((theta.size, nd, vol.shape[2]), np.float32)
    _forward_project_batch(vol, np.cos(theta), np.sin(theta), c, nd, out)
    return out[:, :, 0] if squeeze else out


def fbp(
    sinogram: np.ndarray,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    filter_name: FilterName = "ramp",
    size: int | None = None,
    pad_mode: Literal["edge", "zero"] = "edge",
) -> np.ndarray:
    """Filtered back-projection, our vectorised implementation.

    FFT filtering (scipy.fft) followed by a numba back-projection that processes all slices of
    a batch together (geometry computed once per pixel and angle, SIMD over slices). Angles are
    weighted by :func:`angular_weights`, so uneven sampling is handled.

    Parameters
    ----------
    sinogram : ndarray, shape (n_angles, n_det) or (n_angles, n_det, n_slices)
        Line integrals (-log of normalized transmission), dimensionless.
    angles_deg : ndarray, shape (n_angles,)
        Projection angles in degrees covering 180 degrees.
    centre : float, optional
        Rotation-axis column in detector pixels (default: detector centre).
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
    size : int, optional
        Side of the reconstructed square in pixels (default ``n_det``).
    pad_mode : {"edge", "zero"}
        Detector extension before filtering (see :func:`filter_sinogram`).

    Returns
    -------
    ndarray, shape (size, size) or (size, size, n_slices), float32
        Linear attenuation coefficient in 1/pixel.

    Examples
    --------
    >>> import numpy as np
    >>> n = 64
    >>> yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    >>> disc = (np.hypot(yy, xx) < 20).astype(np.float32) * 0.01   # 0.01 / px
    >>> angles = np.linspace(0, 180, 120, endpoint=False)
    >>> rec = fbp(forward_project(disc, angles), angles)
    >>> bool(abs(rec[32, 32] - 0.01) < 1e-3)
    True
    """
    sino, angles = _check_sinogram(sinogram, angles_deg)
    filtered = filter_sinogram(sino, filter_name, pad_mode=pad_mode)
    weights = angular_weights(angles) / 2.0  # response is 2|f|
    return backproject(filtered, angles, centre=centre, size=size, weights=weights)


def sirt(
    sinogram: np.ndarray,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    size: int | None = None,
    iterations: int = 100,
    nonnegative: bool = True,
    x0: np.ndarray | None = None,
) -> np.ndarray:
    """SIRT with our matched projector pair (useful for few angles or missing wedges).

    ``x <- x + C A^T R (b - A x)`` with ``R = 1 / (A 1)`` and ``C = 1 / (A^T 1)``
    (astra's SIRT update), optionally clipped at zero after each step.

    Parameters
    ----------
    sinogram : ndarray, shape (n_angles, n_det) or (n_angles, n_det, n_slices)
    angles_deg : ndarray, shape (n_angles,)
        Degrees.
    centre, size : see :func:`fbp`
    iterations : int
        Number of SIRT iterations (100-300 typical).
    nonnegative : bool
        Clip negative attenuation after every iteration.
    x0 : ndarray, optional
        Starting image (e.g. an FBP); zeros by default.

    Returns
    -------
    ndarray, shape (size, size) or (size, size, n_slices), float32
        Attenuation in 1/pixel.
    """
    sino, angles = _check_sinogram(sinogram, angles_deg)
    if int(iterations) < 1:
        raise ParameterError(f"iterations must be >= 1, got {iterations!r}.")
    squeeze = sino.ndim == 2
    b = sino[:, :, None] if squeeze else sino
    n_det = b.shape[1]
    n = int(size or n_det)
    c = check_centre(centre, n_det)
    ones_img = np.ones((n, n, 1), np.float32)
    row = forward_project(ones_img, angles, n_det=n_det, centre=c)
    col = backproject(np.ones((angles.size, n_det, 1), np.float32), angles, centre=c, size=n)
    with np.errstate(divide="ignore"):
        r_inv = np.where(row > 1e-6, 1.0 / row, 0.0).astype(np.float32)
        c_inv = np.where(col > 1e-6, 1.0 / col, 0.0).astype(np.float32)
    x = np.zeros((n, n, b.shape[2]), np.float32) if x0 is None else np.array(x0, np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    for _ in range(int(iterations)):
        resid = (b - forward_project(x, angles, n_det=n_det, centre=c)) * r_inv
        x += c_inv * backproject(resid, angles, centre=c, size=n)
        if nonnegative:
            np.maximum(x, 0, out=x)
    return x[:, :, 0] if squeeze else x


# -- astra-toolbox (reference) -------------------------------------------------------------------


def _astra_geometry(angles_deg: np.ndarray, n_det: int, centre: float, size: int) -> tuple:
    import astra

    theta = np.radians(angles_deg)
    vec = np.zeros((theta.size, 6))
    vec[:, 0] = np.sin(theta)
    vec[:, 1] = -np.cos(theta)
    u = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    vec[:, 4:6] = u
    vec[:, 2:4] = ((n_det - 1) / 2.0 - centre) * u
    return astra.create_vol_geom(size, size), astra.create_proj_geom("parallel_vec", n_det, vec)


def astra_reconstruct_slice(
    sinogram: np.ndarray,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    size: int | None = None,
    algorithm: Literal["FBP", "SIRT"] = "FBP",
    iterations: int = 100,
    filter_name: str = "ram-lak",
) -> np.ndarray:
    """Reconstruct one slice with astra-toolbox on the CPU (the reference implementation).

    Same geometry and units as :func:`fbp` (``parallel_vec`` geometry with the detector shifted so
    that the rotation axis projects on ``centre``).

    Returns
    -------
    ndarray, shape (size, size), float32
    """
    try:
        import astra
    except ImportError as exc:  # pragma: no cover - astra is in the tomo extra
        raise ParameterError(
            "astra-toolbox is not installed; pip install 'cathodescope[tomo]' or use "
            "algorithm='fbp' (ours)."
        ) from exc
    check_choice(algorithm, ("FBP", "SIRT"), "algorithm")
    sino, angles = _check_sinogram(sinogram, angles_deg)
    if sino.ndim != 2:
        raise ProjectionGeometryError(
            "astra_reconstruct_slice takes one (n_angles, n_det) sinogram."
        )
    n_det = sino.shape[1]
    c = check_centre(centre, n_det)
    n = int(size or n_det)
    if algorithm == "FBP":
        # astra's CPU FBP only accepts the plain 'parallel' geometry (axis at the detector
        # centre): widen the detector with edge values and shift the sinogram (cubic spline)
        # so that the rotation axis lands on the middle column.
        import scipy.ndimage as ndi

        delta = (n_det - 1) / 2.0 - c
        pad = math.ceil(abs(delta)) + 1
        sino = np.pad(sino, ((0, 0), (pad, pad)), mode="edge")
        sino = ndi.shift(sino, (0, delta), order=3, mode="nearest").astype(np.float32)
        n_det, c = sino.shape[1], (sino.shape[1] - 1) / 2.0
        vol_geom = astra.create_vol_geom(n, n)
        proj_geom = astra.create_proj_geom("parallel", 1.0, n_det, np.radians(angles))
    else:
        vol_geom, proj_geom = _astra_geometry(angles, n_det, c, n)
    proj_id = astra.create_projector("linear", proj_geom, vol_geom)
    sino_id = astra.data2d.create("-sino", proj_geom, sino)
    rec_id = astra.data2d.create("-vol", vol_geom, 0.0)
    cfg = astra.astra_dict(algorithm)
    cfg["ProjectorId"] = proj_id
    cfg["ProjectionDataId"] = sino_id
    cfg["ReconstructionDataId"] = rec_id
    if algorithm == "FBP":
        cfg["FilterType"] = filter_name
    else:
        cfg["option"] = {"MinConstraint": 0.0}
    alg_id = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg_id, int(iterations) if algorithm == "SIRT" else 1)
        rec = astra.data2d.get(rec_id)
    finally:
        astra.algorithm.delete(alg_id)
        astra.data2d.delete([sino_id, rec_id])
        astra.projector.delete(proj_id)
    return np.asarray(rec, dtype=np.float32)


# -- stacks: slab by slab, written in chunks --------------------------------------------------


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
) -> np.ndarray:
    """Reconstruct a batch of sinograms ``(n_angles, n_slices, n_det)`` (projection order).

    Returns
    -------
    ndarray, shape (n_slices, size, size), float32, attenuation in 1/pixel
    """
    check_choice(algorithm, _ALGORITHMS, "algorithm")
    arr = np.asarray(sinograms, dtype=np.float32)
    if arr.ndim != 3:
        raise ProjectionGeometryError(
            f"expected (n_angles, n_slices, n_det), got shape {arr.shape}."
        )
    if algorithm in ("fbp", "sirt"):
        batch = np.ascontiguousarray(arr.transpose(0, 2, 1))  # (angle, det, slice)
        if algorithm == "fbp":
            rec = fbp(batch, angles_deg, centre=centre, filter_name=filter_name, size=size)
        else:
            rec = sirt(batch, angles_deg, centre=centre, size=size, iterations=iterations)
        return np.ascontiguousarray(rec.transpose(2, 0, 1))
    name = "FBP" if algorithm == "astra_fbp" else "SIRT"
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


@contextlib.contextmanager
def _volume_store(
    path: Path, shape: tuple[int, int, int], chunks: tuple[int, int, int]
) -> Iterator[Callable[[slice, np.ndarray], None]]:
    """Open a chunked float32 store (.h5/.hdf5 or .zarr) under a temporary name; rename on success."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".h5", ".hdf5", ".nxs"):
        import h5py

        from cathodescope.common.atomic import atomic_path

        with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
            dset = fh.create_dataset("volume", shape=shape, dtype="f4", chunks=chunks)

            def write(sl: slice, block: np.ndarray) -> None:
                dset[sl] = block

            yield write
    elif suffix == ".zarr":
        import zarr

        tmp = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", suffix=".zarr.part", dir=path.parent))
        try:
            arr = zarr.open_array(str(tmp), mode="w", shape=shape, chunks=chunks, dtype="f4")

            def write(sl: slice, block: np.ndarray) -> None:
                arr[sl] = block

            yield write
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        raise ParameterError(
            f"volume output {path.name!r}: use a .h5/.hdf5 file or a .zarr folder."
        )


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
    pixel_size_um: float | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Any:
    """Reconstruct a stack of -log projections slice by slice, in slabs of detector rows.

    Each slab of ``slab`` detector rows is read, reconstructed (all its slices together for our
    FBP/SIRT, in a thread pool for astra) and written before the next is read, so the volume
    never has to fit in memory when ``out`` is given.

    Parameters
    ----------
    projections : DataArray or array-like, shape (n_angles, n_rows, n_det)
        Line integrals (-log transmission), dims ``(angle, y, x)``. h5py/zarr/dask arrays are read
        slab by slab. A DataArray supplies ``angle`` (degrees) and, through ``x`` spacing or
        ``attrs["pixel_size_um"]``, the pixel size.
    angles_deg : ndarray, shape (n_angles,), optional
        Angles in degrees (required unless ``projections`` is a DataArray with an ``angle`` coord).
    centre : float, optional
        Rotation-axis column in pixels (default detector centre).
    algorithm : {"fbp", "sirt", "astra_fbp", "astra_sirt"}
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
    size : int, optional
        Side of each reconstructed slice in pixels (default ``n_det``).
    iterations : int
        SIRT iterations.
    slab : int
        Detector rows per chunk (memory: ``n_angles * slab * n_det * 4`` bytes plus the output).
    pixel_size_um : float, optional
        Pixel size in um: values are converted to 1/um and coordinates to um.
    out : path, optional
        ``.h5``/``.hdf5`` (dataset ``volume``) or ``.zarr`` store written chunk by chunk (under a
        temporary name, renamed when complete); the returned DataArray is then backed lazily by it.
    progress : bool
        Show a tqdm progress bar over slabs.

    Returns
    -------
    xarray.DataArray, dims (z, y, x), float32
        Linear attenuation in 1/um (``attrs["units"]``) when the pixel size is known, else
        1/pixel.
    """
    import xarray as xr
    from tqdm.auto import tqdm

    check_choice(algorithm, _ALGORITHMS, "algorithm")
    slab = int(check_positive(slab, "slab"))
    data = projections
    if isinstance(projections, xr.DataArray):
        if angles_deg is None and "angle" in projections.coords:
            angles_deg = np.asarray(projections["angle"].values, dtype=float)
        if pixel_size_um is None:
            pixel_size_um = projections.attrs.get("pixel_size_um")
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
    n_ang, n_rows, n_det = shape
    if n_ang != angles.size:
        raise ProjectionGeometryError(
            f"{n_ang} projections but {angles.size} angles; give one angle per projection."
        )
    c = check_centre(centre, n_det)
    n = int(size or n_det)
    scale = 1.0 if pixel_size_um is None else 1.0 / check_positive(pixel_size_um, "pixel_size_um")
    units = "1/pixel" if pixel_size_um is None else "1/um"
    spacing = 1.0 if pixel_size_um is None else float(pixel_size_um)
    coords = {
        "z": np.arange(n_rows) * spacing,
        "y": (np.arange(n) - (n - 1) / 2) * spacing,
        "x": (np.arange(n) - (n - 1) / 2) * spacing,
    }
    attrs = {
        "units": units,
        "long_name": "linear attenuation coefficient",
        "algorithm": algorithm,
        "centre_px": c,
        "filter": filter_name,
        "pixel_size_um": pixel_size_um,
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
    from cathodescope.tomo._store import open_volume

    return open_volume(path).assign_coords(coords).assign_attrs(attrs)
