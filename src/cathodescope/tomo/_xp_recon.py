"""FBP and gridrec written for any array module ``xp`` (numpy or CuPy): the ``--device cuda`` path.

Every operation goes through ``xp`` (and, for gridrec, its sparse module: ``scipy.sparse`` or
``cupyx.scipy.sparse``), so the very code that runs on a GPU with CuPy runs on the CPU with
numpy, where the tests compare it with the numba reconstructors :func:`fbp` and
:func:`gridrec`: same geometry, filters, angular weights, padding, kernel table and units
(1/pixel), equal to float32 rounding. On the CPU the numba kernels stay the fast path; this code
exists for the GPU, where numba's CPU kernels cannot run.

- FBP: the filter by FFT (``xp.fft``), then the linear-interpolation back-projection one angle
  at a time over the whole batch of slices (gathers of detector bins; the numba kernel loops
  over pixel tiles instead).
- gridrec: the gridding of :mod:`cathodescope.tomo._gridrec_kernels` (polar samples spread onto
  the Cartesian frequency grid with the Kaiser-Bessel table) is a fixed linear map for a given
  geometry. Here it is built once as a sparse matrix (grid nodes x polar samples, with the
  filter response, the angular weight and the axis phase folded into its entries) and applied
  to every pair of slices by one sparse-dense product (cuSPARSE on a GPU), then ``xp.fft.ifft2``,
  the de-apodisation and the crop of :func:`gridrec`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import ProjectionGeometryError
from cathodescope.tomo._gridrec import _TABLE_PER_CELL, _make_plan, _Plan
from cathodescope.tomo._recon import (
    _FILTERS,
    FilterName,
    angular_weights,
    check_centre,
    ramp_filter,
)

_GRID_BYTES = 2**30  # frequency grids of one pass of gridrec (complex64, all its pairs)
_MATRIX_BLOCK = 2**24  # gridding-matrix entries built at once
# the last gridding matrix built (slab after slab of a volume share one geometry): key, matrix
_LAST_MATRIX: list[tuple[Any, Any]] = []


def to_host(array: Any) -> np.ndarray:
    """A numpy array of ``array`` (a CuPy array is copied from the GPU)."""
    get = getattr(array, "get", None)
    return get() if callable(get) else np.asarray(array)


def _sparse_module(xp: Any) -> Any:
    if getattr(xp, "__name__", "") != "cupy":
        import scipy.sparse

        return scipy.sparse
    import cupyx.scipy.sparse

    return cupyx.scipy.sparse


def _check_inputs(
    sinos: Any,
    angles_deg: Any,
    centre: float | None,
    filter_name: str,
    pad_mode: str,
    size: int | None,
) -> tuple[int, int, int, np.ndarray, float, int]:
    """Validated ``(n_angles, n_slices, n_det, angles, centre, size)`` of one reconstruction."""
    if len(sinos.shape) != 3:
        raise ProjectionGeometryError(
            f"expected sinograms (n_angles, n_slices, n_det), got shape {tuple(sinos.shape)}."
        )
    angles = np.asarray(angles_deg, dtype=float).ravel()
    n_ang, n_sl, n_det = (int(s) for s in sinos.shape)
    if n_ang != angles.size or n_ang < 2:
        raise ProjectionGeometryError(
            f"{n_ang} projections but {angles.size} angles; give one angle (degrees) per "
            "projection, at least two."
        )
    check_choice(filter_name, _FILTERS, "filter_name")
    check_choice(pad_mode, ("edge", "zero"), "pad_mode")
    return n_ang, n_sl, n_det, angles, check_centre(centre, n_det), int(size or n_det)


def fbp_xp(
    sinos: Any,
    angles_deg: np.ndarray,
    *,
    xp: Any,
    centre: float | None = None,
    filter_name: FilterName = "ramp",
    size: int | None = None,
    pad_mode: Literal["edge", "zero"] = "edge",
) -> Any:
    """:func:`fbp` with the array module ``xp``; sinograms in projection order.

    Parameters
    ----------
    sinos : array, shape (n_angles, n_slices, n_det)
        Line integrals (dimensionless), numpy or ``xp`` array.
    angles_deg : ndarray, shape (n_angles,)
        Degrees.
    xp : module
        ``numpy`` or ``cupy``.
    centre, filter_name, size, pad_mode
        As in :func:`fbp` (centre in detector pixels, size in pixels).

    Returns
    -------
    array of ``xp``, shape (n_slices, size, size), float32
        Attenuation in 1/pixel.
    """
    n_ang, n_sl, n_det, angles, c, n = _check_inputs(
        sinos, angles_deg, centre, filter_name, pad_mode, size
    )
    response, n_pad = ramp_filter(n_det, filter_name)
    left = (n_pad - n_det) // 2
    padded = xp.pad(
        xp.asarray(sinos, dtype=xp.float32),
        ((0, 0), (0, 0), (left, n_pad - n_det - left)),
        mode="edge" if pad_mode == "edge" else "constant",
    )
    spec = xp.fft.rfft(padded, axis=2)
    spec *= xp.asarray(response)
    del padded
    filtered = xp.fft.irfft(spec, n=n_pad, axis=2)[:, :, left : left + n_det]
    del spec
    # (angle, bin, slice) with a zero bin on either side: the numba kernel's edge rules (t in
    # [-1, 0) reads only bin 0 and t in [n_det - 1, n_det) only the last bin) become gathers
    bins = xp.zeros((n_ang, n_det + 2, n_sl), xp.float32)
    bins[:, 1:-1, :] = filtered.transpose(0, 2, 1)
    del filtered
    weights = (angular_weights(angles) / 2.0).astype(np.float32)  # the response is 2|f|
    theta = np.radians(angles)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    half = (n - 1) / 2.0
    y_of_row = xp.asarray(half - np.arange(n, dtype=float))[:, None]
    x_of_col = xp.asarray(np.arange(n, dtype=float) - half)[None, :]
    zero = xp.float32(0.0)
    out = xp.zeros((n, n, n_sl), xp.float32)
    for a in range(n_ang):
        t = (c + y_of_row * sin_t[a]) + x_of_col * cos_t[a]  # detector column (float64)
        i0 = xp.floor(t)
        inside = (i0 >= -1) & (i0 < n_det)
        w1 = (t - i0).astype(xp.float32) * weights[a]
        w0 = weights[a] - w1
        w0 = xp.where(inside, w0, zero)[:, :, None]
        w1 = xp.where(inside, w1, zero)[:, :, None]
        p = xp.clip(i0 + 1, 0, n_det).astype(xp.int64)
        row = bins[a]
        out += w0 * row[p] + w1 * row[p + 1]
    return out.transpose(2, 0, 1)


def _kernel_weights(u: Any, i0: Any, plan: _Plan, table: Any, xp: Any) -> Any:
    """Weights (..., width) of the grid nodes ``i0 + j`` for positions ``u`` (grid cells)."""
    j = xp.arange(plan.width, dtype=xp.float64)
    pos = xp.abs(i0[..., None] + j - u[..., None]) * float(_TABLE_PER_CELL)
    t = pos.astype(xp.int64)  # pos >= 0: truncation is the floor, as int() in the kernel
    frac = pos - t
    lo = xp.take(table, t)
    return (lo + frac * (xp.take(table, t + 1) - lo)).astype(xp.float32)


def gridding_matrix(plan: _Plan, xp: Any) -> Any:
    """The gridding of :func:`gridrec` for one geometry as a sparse matrix of ``xp``.

    Rows: grid nodes ``iy * M + ix``; columns: polar samples ``angle * L + FFT bin``. Entry:
    angular weight x filter response x axis phase ``exp(2 pi i k shift / L)`` x the two kernel
    weights, exactly the factors of the numba kernel (the Nyquist bin enters at -1/2 and +1/2).
    """
    sparse = _sparse_module(xp)
    n_fft, m, w = plan.n_fft, plan.grid, plan.width
    n_ang = plan.cos_t.size
    k = np.arange(n_fft + 1)
    half_l = n_fft // 2
    kk = np.where(k < half_l, k, np.where(k < n_fft, k - n_fft, half_l)).astype(float)
    kb = np.where(k < n_fft, k, half_l)
    table = xp.asarray(plan.table)
    resp = plan.resp.astype(float)
    per_angle = (n_fft + 1) * w * w
    block = max(1, _MATRIX_BLOCK // per_angle)
    rows, cols, vals = [], [], []
    jj = xp.arange(w)
    for a0 in range(0, n_ang, block):
        a = slice(a0, min(a0 + block, n_ang))
        ux = 0.5 * m + xp.asarray(np.outer(plan.cos_t[a] * m / n_fft, kk))  # (A, K) grid cells
        uy = 0.5 * m + xp.asarray(np.outer(plan.sin_t[a] * m / n_fft, kk))
        ix0 = xp.ceil(ux - 0.5 * w)
        iy0 = xp.ceil(uy - 0.5 * w)
        wx = _kernel_weights(ux, ix0, plan, table, xp)  # (A, K, w)
        wy = _kernel_weights(uy, iy0, plan, table, xp)
        ixs = (ix0.astype(xp.int64)[..., None] + jj) % m
        iys = (iy0.astype(xp.int64)[..., None] + jj) % m
        phase = np.exp(2j * np.pi * np.outer(plan.shift[a], kk) / n_fft)
        fac = xp.asarray((plan.weights[a, None] * phase * resp[None, :]).astype(np.complex64))
        vals.append((fac[..., None, None] * (wy[..., :, None] * wx[..., None, :])).ravel())
        rows.append((iys[..., :, None] * m + ixs[..., None, :]).astype(xp.int32).ravel())
        col = np.arange(a.start, a.stop)[:, None] * n_fft + kb[None, :]
        cols.append(
            xp.broadcast_to(
                xp.asarray(col, dtype=xp.int32)[..., None, None], (*col.shape, w, w)
            ).ravel()
        )
    coo = sparse.coo_matrix(
        (xp.concatenate(vals), (xp.concatenate(rows), xp.concatenate(cols))),
        shape=(m * m, n_ang * n_fft),
    )
    return coo.tocsr()


def gridrec_xp(
    sinos: Any,
    angles_deg: np.ndarray,
    *,
    xp: Any,
    centre: float | None = None,
    filter_name: FilterName = "ramp",
    size: int | None = None,
    pad_mode: Literal["edge", "zero"] = "edge",
    match_fbp: bool = True,
    oversampling: float = 2.0,
    kernel_width: int = 4,
) -> Any:
    """:func:`gridrec` with the array module ``xp``; sinograms in projection order.

    Parameters
    ----------
    sinos : array, shape (n_angles, n_slices, n_det)
        Line integrals (dimensionless), numpy or ``xp`` array.
    angles_deg : ndarray, shape (n_angles,)
        Degrees.
    xp : module
        ``numpy`` or ``cupy``.
    centre, filter_name, size, pad_mode, match_fbp, oversampling, kernel_width
        As in :func:`gridrec` (centre in detector pixels, size in pixels).

    Returns
    -------
    array of ``xp``, shape (n_slices, size, size), float32
        Attenuation in 1/pixel.
    """
    n_ang, n_sl, n_det, angles, c, n = _check_inputs(
        sinos, angles_deg, centre, filter_name, pad_mode, size
    )
    plan = _make_plan(
        angles, n_det, c, n, filter_name, float(oversampling), int(kernel_width), bool(match_fbp)
    )
    key = (xp.__name__, angles.tobytes(), n_det, c, n, filter_name, oversampling, kernel_width,
           bool(match_fbp))  # fmt: skip
    if _LAST_MATRIX and _LAST_MATRIX[0][0] == key:
        gmat = _LAST_MATRIX[0][1]
    else:
        _LAST_MATRIX.clear()  # free the previous one first (GPU memory)
        gmat = gridding_matrix(plan, xp)
        _LAST_MATRIX.append((key, gmat))
    n_fft, m = plan.n_fft, plan.grid
    right = n_fft - n_det - plan.left
    n_pairs = (n_sl + 1) // 2
    per_pass = max(1, min(n_pairs, _GRID_BYTES // (8 * m * m)))
    rows, cols = xp.asarray(plan.rows), xp.asarray(plan.cols)
    deapod = xp.asarray(plan.deapod)[:, :, None]
    out = xp.empty((n_sl, n, n), xp.float32)
    for p0 in range(0, n_pairs, per_pass):
        s0, s1 = 2 * p0, min(n_sl, 2 * (p0 + per_pass))
        block = xp.asarray(sinos[:, s0:s1, :], dtype=xp.float32)
        if (s1 - s0) % 2:  # the last slice pairs with zeros
            block = xp.concatenate([block, xp.zeros((n_ang, 1, n_det), xp.float32)], axis=1)
        # two slices per complex sinogram, as in gridrec: real part 2p, imaginary part 2p + 1
        pairs = (block[:, 0::2, :] + 1j * block[:, 1::2, :]).astype(xp.complex64)
        del block
        pairs = xp.pad(
            pairs,
            ((0, 0), (0, 0), (plan.left, right)),
            mode="edge" if pad_mode == "edge" else "constant",
        )
        spec = xp.fft.fft(pairs, axis=2).astype(xp.complex64)  # (angle, pair, bin)
        del pairs
        n_p = spec.shape[1]
        samples = xp.ascontiguousarray(spec.transpose(0, 2, 1)).reshape(n_ang * n_fft, n_p)
        del spec
        grid = (gmat @ samples).reshape(m, m, n_p)
        image = xp.fft.ifft2(grid, axes=(0, 1))
        del grid
        crop = image[rows][:, cols] * deapod  # (size, size, pairs)
        del image
        out[s0:s1:2] = crop.real.transpose(2, 0, 1)
        n_odd = (s1 - s0) // 2
        if n_odd:
            out[s0 + 1 : s1 : 2] = crop.imag.transpose(2, 0, 1)[:n_odd]
    return out


def reconstruct_xp(
    sinos: Any,
    angles_deg: np.ndarray,
    *,
    xp: Any,
    algorithm: Literal["fbp", "gridrec"],
    centre: float | None = None,
    filter_name: FilterName = "ramp",
    size: int | None = None,
) -> np.ndarray:
    """FBP or gridrec of ``(n_angles, n_slices, n_det)`` sinograms with ``xp``, back on the host.

    Returns
    -------
    ndarray, shape (n_slices, size, size), float32
        Attenuation in 1/pixel (a numpy array whatever ``xp``).
    """
    check_choice(algorithm, ("fbp", "gridrec"), "algorithm")
    func = fbp_xp if algorithm == "fbp" else gridrec_xp
    rec = func(
        xp.asarray(sinos, dtype=xp.float32),
        angles_deg,
        xp=xp,
        centre=centre,
        filter_name=filter_name,
        size=size,
    )
    return np.ascontiguousarray(to_host(rec), dtype=np.float32)
