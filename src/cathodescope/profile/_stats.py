"""Binned statistics of one particle and the covariance of its bin means (naive, ESS, bootstrap).

All three methods return, for every depth bin ``b``, the covariance matrix of the channel bin
means ``cov[b, j, k]`` and the degrees of freedom ``dof[b]`` of the Student-t quantile used for
the interval ``mean +/- t(dof) * sqrt(cov[b, j, j])``. The elemental-ratio intervals are
propagated from the same matrices (delta method), so cross-channel covariance is included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft as sfft

# Autocorrelation below which two voxels count as uncorrelated when the correlation window is
# chosen (per axis), and the largest window half-width in voxels.
RHO_CUTOFF = 0.05
MAX_LAG_VOX = 10
# Voxels sampled per bin to estimate the bin's pair-geometry inflation factor.
SAMPLES_PER_BIN = 96
SAMPLE_BUDGET = 3_000_000


@dataclass(frozen=True)
class BinnedData:
    """Voxel values of one particle grouped by depth bin.

    Attributes
    ----------
    flat_index : ndarray of intp, shape (n,)
        Flat indices (C order) of the particle's voxels in the crop.
    bins : ndarray of intp, shape (n,)
        Depth-bin index of each voxel.
    values : ndarray of float64, shape (C, n)
        Channel values of each voxel.
    shape : tuple of int
        Crop shape.
    n_bins : int
    counts : ndarray of int64, shape (n_bins,)
    mean : ndarray of float64, shape (n_bins, C)
    cov : ndarray of float64, shape (n_bins, C, C)
        Sample covariance (ddof=1) of the voxel values in each bin (NaN where count < 2).
    resid : ndarray of float32, shape (C, n)
        Voxel value minus its bin's mean.
    """

    flat_index: np.ndarray
    bins: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]
    n_bins: int
    counts: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    resid: np.ndarray


def bin_moments(bins: Any, values: Any, xp: Any = np) -> tuple[Any, Any, Any, Any, Any]:
    """Count, mean and covariance (ddof=1) of voxel values per depth bin, for numpy or CuPy.

    The engine's binning arithmetic, written once for every array module: ``bincount`` with
    float64 weights, residuals about the bin means before products (no catastrophic
    cancellation).

    Parameters
    ----------
    bins : array of int, shape (n,)
        Depth-bin index of each voxel (``floor(depth_um / bin_width_um)``).
    values : array, shape (C, n)
        Channel values of the voxels.
    xp : module
        ``numpy`` or ``cupy`` (the module of ``bins`` and ``values``).

    Returns
    -------
    counts : array of int, shape (n_bins,)
        Voxels per bin.
    mean : array of float64, shape (n_bins, C)
        Bin means (NaN for empty bins).
    cov : array of float64, shape (n_bins, C, C)
        Sample covariance per bin (NaN where the count is below 2).
    resid : array of float64, shape (C, n)
        Voxel value minus its bin's mean.
    n_bins : int
        ``max(bins) + 1``.

    Examples
    --------
    >>> counts, mean, cov, resid, n_bins = bin_moments(np.array([0, 0, 1]),
    ...                                                np.array([[1.0, 3.0, 5.0]]))
    >>> counts.tolist(), mean[:, 0].tolist(), float(cov[0, 0, 0])
    ([2, 1], [2.0, 5.0], 2.0)
    """
    n_bins = int(bins.max()) + 1
    n_ch = values.shape[0]
    counts = xp.bincount(bins, minlength=n_bins)
    safe = xp.maximum(counts, 1)
    sums = xp.stack([xp.bincount(bins, weights=v, minlength=n_bins) for v in values], axis=1)
    mean = sums / safe[:, None]
    resid = values - mean[bins].T
    cov = xp.empty((n_bins, n_ch, n_ch))
    denom = xp.where(counts > 1, counts - 1, xp.nan)
    for j in range(n_ch):
        for k in range(j, n_ch):
            c = xp.bincount(bins, weights=resid[j] * resid[k], minlength=n_bins) / denom
            cov[:, j, k] = c
            cov[:, k, j] = c
    mean[counts == 0] = xp.nan
    return counts, mean, cov, resid, n_bins


def bin_values(
    flat_index: np.ndarray, bins: np.ndarray, values: np.ndarray, shape: tuple[int, ...]
) -> BinnedData:
    """Count, mean and covariance per bin (:func:`bin_moments` on numpy arrays)."""
    counts, mean, cov, resid, n_bins = bin_moments(bins, values)
    return BinnedData(
        flat_index, bins, values, shape, n_bins, counts, mean, cov, resid.astype(np.float32)
    )


def naive_cov(data: BinnedData) -> tuple[np.ndarray, np.ndarray]:
    """Independent-voxel covariance of bin means: ``S_b / n_b`` with ``n_b - 1`` dof."""
    n = data.counts.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = data.cov / n[:, None, None]
    return cov, np.maximum(n - 1, 0)


def _residual_fields(data: BinnedData, pad: tuple[int, ...]) -> np.ndarray:
    """Residuals about the binned mean profile (0 outside the particle) and the particle mask.

    Returns float32 fields of shape ``(C + 1, *padded_shape)``, zero-padded: the C residual
    fields, then the mask (1 inside the particle).
    """
    n_ch = data.values.shape[0]
    shape_p = tuple(s + p for s, p in zip(data.shape, pad, strict=True))
    # Flat index in the padded grid, by integer arithmetic (C order): every completed block
    # of axes a.. adds that axis's padding times the padded size of the axes after it (faster
    # than unravel_index + ravel_multi_index).
    lin = data.flat_index.astype(np.int64, copy=True)
    for a in range(1, len(shape_p)):
        block = int(np.prod(data.shape[a:]))
        extra = (shape_p[a] - data.shape[a]) * int(np.prod(shape_p[a + 1 :]))
        if extra:
            lin += (data.flat_index // block) * extra
    fields = np.zeros((n_ch + 1, *shape_p), dtype=np.float32)
    flat = fields.reshape(n_ch + 1, -1)
    flat[:n_ch, lin] = data.resid
    flat[n_ch, lin] = 1.0
    return fields


def correlation_functions(data: BinnedData, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Normalised auto- and cross-correlation functions of the residuals at small lags.

    The residual fields ``r_j`` (voxel value minus its bin's mean) are correlated with FFTs over
    the zero-padded particle crop; the sum of products at lag ``h`` is divided by the number of
    voxel pairs at that lag (the mask's autocorrelation), giving the covariance function
    ``gamma_jk(h)``, then ``R_jk(h) = gamma_jk(h) / sqrt(gamma_jj(0) gamma_kk(0))``.

    Returns
    -------
    R : ndarray, shape (C, C, 2L_0+1, ..., 2L_{d-1}+1)
        Correlation at lags ``-L_a..L_a`` along each axis, centre = lag 0. The half-widths
        ``L_a`` are the first lag along axis ``a`` where every channel's autocorrelation falls
        below 0.05 (at most 10 voxels).
    half_width : ndarray of int, shape (ndim,)
    """
    ndim = len(data.shape)
    n_ch = data.values.shape[0]
    lmax = [min(MAX_LAG_VOX, max(1, s // 2)) for s in data.shape]
    shape_p = tuple(
        sfft.next_fast_len(s + lm, real=True) for s, lm in zip(data.shape, lmax, strict=True)
    )
    pad = tuple(sp - s for sp, s in zip(shape_p, data.shape, strict=True))
    fields = _residual_fields(data, pad)
    axes = tuple(range(1, ndim + 1))
    # One batched transform of all channels and the mask (fewer calls: for the hundreds of
    # small particles of a 2D map the per-call overhead dominated).
    ffts = sfft.rfftn(fields, axes=axes, workers=workers)
    fm = ffts[n_ch]
    pairs_jk = [(j, k) for j in range(n_ch) for k in range(j, n_ch)]
    spec = np.empty((len(pairs_jk) + 1, *fm.shape), dtype=ffts.dtype)
    for i, (j, k) in enumerate(pairs_jk):
        # irfftn(F_j conj F_k)[h] = sum_x r_j(x + h) r_k(x): covariance at lag +h of j wrt k.
        np.multiply(ffts[j], np.conj(ffts[k]), out=spec[i])
    np.multiply(fm, np.conj(fm), out=spec[-1])
    cc = _inverse_at_small_lags(spec, shape_p, lmax, workers)
    npairs = np.maximum(np.rint(cc[-1]), 1.0)
    gam = np.empty((n_ch, n_ch, *npairs.shape))
    for i, (j, k) in enumerate(pairs_jk):
        g = cc[i] / npairs
        gam[j, k] = g
        gam[k, j] = np.flip(g)  # gamma_kj(h) = gamma_jk(-h)
    centre = tuple(lmax)
    var0 = np.array([gam[(j, j, *centre)] for j in range(n_ch)])
    var0 = np.where(var0 > 0, var0, np.nan)
    rho = gam / np.sqrt(var0[:, None] * var0[None, :]).reshape(n_ch, n_ch, *([1] * ndim))
    rho = np.nan_to_num(rho, nan=0.0)
    for j in range(n_ch):  # an exactly constant channel: keep lag 0 only
        if not np.isfinite(var0[j]):
            rho[(j, j, *centre)] = 1.0
    # Half-width per axis: first lag where all auto-correlations drop below the cutoff.
    half = np.zeros(ndim, dtype=int)
    for a in range(ndim):
        for lag in range(1, lmax[a] + 1):
            pos = list(centre)
            pos[a] += lag
            vals = [rho[(j, j, *pos)] for j in range(n_ch)]
            half[a] = lag
            if max(vals) < RHO_CUTOFF:
                break
    sl = tuple(slice(c - h, c + h + 1) for c, h in zip(centre, half, strict=True))
    return rho[(slice(None), slice(None), *sl)], half


def _inverse_at_small_lags(
    spec: np.ndarray, shape_p: tuple[int, ...], lmax: list[int], workers: int
) -> np.ndarray:
    """``irfftn(spec)`` over the last ``len(shape_p)`` axes, at lags ``-L_a..L_a`` only.

    The inverse transform is done one axis at a time and cropped to the ``2 L_a + 1`` lags
    needed after each axis, so the later (1D) transforms run on a thin slab instead of the whole
    padded crop (about 3x less work in 3D than a full ``irfftn`` followed by a crop; the
    numbers are the same up to float rounding). Returns shape ``(P, 2L_0+1, ..., 2L_{d-1}+1)``,
    lag 0 at the centre.
    """
    ndim = len(shape_p)
    lead = spec.ndim - ndim
    out = spec
    for a in range(ndim - 1):
        idx = np.arange(-lmax[a], lmax[a] + 1) % shape_p[a]
        out = np.take(sfft.ifft(out, axis=lead + a, workers=workers), idx, axis=lead + a)
    idx = np.arange(-lmax[-1], lmax[-1] + 1) % shape_p[-1]
    out = sfft.irfft(out, n=shape_p[-1], axis=-1, workers=workers)
    return np.take(out, idx, axis=-1)


def ess_cov(
    data: BinnedData,
    rng: np.random.Generator,
    workers: int = 1,
    corr: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Covariance of bin means for spatially correlated voxels (effective sample size).

    For a bin with voxel set ``B`` (``n`` voxels), ``Cov(mean_j, mean_k) = sigma_j sigma_k /
    n^2 * sum_{x, y in B} R_jk(y - x)``. The sum runs over voxel pairs of the *same* bin, so
    thin depth shells get the smaller inflation they really have. It is written
    ``n * f_jk`` with ``f_jk = mean_{x in B} sum_{|h_a| <= L_a} R_jk(h) 1[x + h in B]`` and
    ``f_jk`` is estimated from about 96 randomly sampled voxels of the bin (fewer, at
    least 16, when the correlation window is very large). The effective
    sample size of channel ``j`` is ``n_eff = n / f_jj`` (``f_jj`` clipped to >= 1), and the
    interval uses ``n_eff - 1`` degrees of freedom.

    ``corr``: the ``(R, half_width)`` of :func:`correlation_functions`, when already computed
    for the same particle (e.g. to regroup its voxels into Table-1 windows).

    Returns
    -------
    cov : ndarray, shape (n_bins, C, C)
    dof : ndarray, shape (n_bins,)
    n_eff : ndarray, shape (n_bins, C)
    half_width : ndarray of int, shape (ndim,)
        Correlation window half-widths in voxels per axis.
    """
    rho, half = correlation_functions(data, workers=workers) if corr is None else corr
    ndim = len(data.shape)
    n_ch = data.values.shape[0]
    # Bin-label volume padded by the window, -1 outside the particle.
    shape_p = tuple(s + 2 * h for s, h in zip(data.shape, half, strict=True))
    binvol = np.full(shape_p, -1, dtype=np.int32)
    inner = tuple(slice(h, h + s) for s, h in zip(data.shape, half, strict=True))
    sub = np.full(data.shape, -1, dtype=np.int32)
    sub.ravel()[data.flat_index] = data.bins
    binvol[inner] = sub
    lags = np.stack(
        np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij"), axis=-1
    ).reshape(-1, ndim)
    n_lags = lags.shape[0]
    # Sample up to SAMPLES_PER_BIN voxels per bin (all of small bins), fewer when the window
    # is large so that samples x lags stays below SAMPLE_BUDGET (at least 16 per bin).
    per_bin = int(np.clip(SAMPLE_BUDGET // (n_lags * data.n_bins), 16, SAMPLES_PER_BIN))
    # Bernoulli sampling: each voxel of bin b is kept with probability per_bin / n_b.
    keep_p = per_bin / np.maximum(data.counts, 1)
    chosen = np.flatnonzero(rng.random(data.bins.size) < keep_p[data.bins])
    coords = np.stack(np.unravel_index(data.flat_index[chosen], data.shape), axis=1) + half
    lin = np.ravel_multi_index(tuple(coords.T), shape_p)
    strides = np.array([int(np.prod(shape_p[a + 1 :])) for a in range(ndim)])
    offsets = lags @ strides
    b_s = data.bins[chosen]
    rmat = rho.reshape(n_ch * n_ch, n_lags).T.astype(np.float32)  # (lags, C*C)
    flat_bins = binvol.ravel()
    s = np.empty((chosen.size, n_ch * n_ch))
    step = max(1, 2_000_000 // n_lags)
    for i0 in range(0, chosen.size, step):
        part = flat_bins[lin[i0 : i0 + step, None] + offsets[None, :]]
        same = (part == b_s[i0 : i0 + step, None]).astype(np.float32)
        s[i0 : i0 + step] = same @ rmat
    n_b = data.counts.astype(np.float64)
    n_samp = np.maximum(np.bincount(b_s, minlength=data.n_bins), 1)
    # All C x C sums per bin in one bincount (same summation order as one per pair).
    key = (b_s[:, None] * (n_ch * n_ch) + np.arange(n_ch * n_ch)).ravel()
    f = (
        np.bincount(key, weights=s.ravel(), minlength=data.n_bins * n_ch * n_ch).reshape(
            data.n_bins, n_ch, n_ch
        )
        / n_samp[:, None, None]
    )
    diag = np.maximum(np.diagonal(f, axis1=1, axis2=2), 1.0)  # (n_bins, C)
    idx = np.arange(n_ch)
    f[:, idx, idx] = diag
    sd = np.sqrt(np.clip(np.diagonal(data.cov, axis1=1, axis2=2), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sd[:, :, None] * sd[:, None, :] * f / n_b[:, None, None]
        n_eff = n_b[:, None] / diag
    # At least one degree of freedom (t(1) is very wide) wherever the bin has >= 2 voxels.
    dof = np.where(n_b >= 2, np.maximum(np.min(n_eff, axis=1) - 1.0, 1.0), 0.0)
    return cov, dof, n_eff, half


def bootstrap_cov(
    data: BinnedData,
    block_vox: tuple[int, ...],
    rng: np.random.Generator,
    n_boot: int = 400,
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of bin means from a spatial block bootstrap (Poisson weights).

    The crop is tiled with blocks of ``block_vox`` voxels (chosen about twice the correlation
    length, so blocks are nearly independent). Each replicate draws an independent Poisson(1)
    weight per block, shared by all bins and channels, and recomputes every bin mean as
    ``sum_blocks w S / sum_blocks w n``. The covariance of the replicates estimates the
    covariance of the bin means (cross-channel terms included), scaled by ``k / (k - 1)`` for
    a bin spanning ``k`` blocks; the interval uses a Student-t quantile with ``k - 1`` degrees
    of freedom. Caveat: with few blocks per bin (particles less than ~10 correlation lengths
    across) the result depends on how the block grid falls on the particle and can under-cover;
    prefer ``"ess"``.

    Returns
    -------
    cov : ndarray, shape (n_bins, C, C)
    dof : ndarray, shape (n_bins,)
    """
    n_ch = data.values.shape[0]
    coords = np.unravel_index(data.flat_index, data.shape)
    nblk = [int(np.ceil(s / b)) for s, b in zip(data.shape, block_vox, strict=True)]
    blk = np.ravel_multi_index(tuple(c // b for c, b in zip(coords, block_vox, strict=True)), nblk)
    n_blocks = int(np.prod(nblk))
    key = data.bins.astype(np.int64) * n_blocks + blk
    ukey, inv = np.unique(key, return_inverse=True)
    k_bin = ukey // n_blocks
    k_blk = ukey % n_blocks
    k_n = np.bincount(inv, minlength=ukey.size).astype(np.float64)
    k_s = np.stack([np.bincount(inv, weights=v, minlength=ukey.size) for v in data.values])
    blocks_per_bin = np.bincount(k_bin, minlength=data.n_bins)
    starts = np.concatenate([[0], np.cumsum(blocks_per_bin)[:-1]])
    nonempty = blocks_per_bin > 0
    cov = np.full((data.n_bins, n_ch, n_ch), np.nan)
    reps = np.empty((n_boot, data.n_bins, n_ch))
    chunk = max(1, 20_000_000 // max(1, ukey.size))
    for r0 in range(0, n_boot, chunk):
        w = rng.poisson(1.0, size=(min(chunk, n_boot - r0), n_blocks)).astype(np.float32)
        wk = w[:, k_blk]  # (r, keys)
        den = np.add.reduceat(wk * k_n, starts[nonempty], axis=1)
        for j in range(n_ch):
            num = np.add.reduceat(wk * k_s[j], starts[nonempty], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                reps[r0 : r0 + len(w), :, j][:, nonempty] = num / den
        reps[r0 : r0 + len(w)][:, ~nonempty] = np.nan
    good = np.asarray(np.isfinite(reps).all(axis=2))  # (n_boot, n_bins)
    for b in np.flatnonzero(nonempty):
        x = reps[good[:, b], b, :]
        k = blocks_per_bin[b]
        if x.shape[0] > 2 and k > 1:
            # k / (k - 1): the bootstrap variance of a mean of k blocks is biased low by (k-1)/k
            cov[b] = np.atleast_2d(np.cov(x, rowvar=False)) * (k / (k - 1))
    dof = np.where(blocks_per_bin >= 2, blocks_per_bin - 1.0, 0.0)
    return cov, dof
