"""Compiled gridding kernel of :mod:`cathodescope.tomo._gridrec` (numba).

The kernel spreads the polar samples of sinogram pairs (one complex spectrum per angle: slice
``2p`` in the real part, slice ``2p + 1`` in the imaginary part) onto a Cartesian frequency grid
with a separable Kaiser-Bessel kernel read from a table (linear interpolation). Pairs come in
groups that share one grid with the pair index last; each group has a grid of its own, so the
parallel loop over groups writes without races.

Grid layout: ``grid[ib, ia, pair]`` holds the frequency ``(u, v) = ((ia - M/2) / M, (ib - M/2) / M)``
in cycles per pixel (``u`` along ``X``, the image columns; ``v`` along ``Y``, up the rows). The
grid is periodic (a sampled image has a periodic spectrum), so the few footprints that cross
its border wrap around.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(inline="always", fastmath=True)
def _weights(u: float, width: int, table: np.ndarray, tscale: float, out: np.ndarray) -> int:
    """Kernel weights of the ``width`` grid nodes nearest to ``u``; returns the first node."""
    i0 = math.ceil(u - 0.5 * width)
    for j in range(width):
        pos = abs(i0 + j - u) * tscale
        t = int(pos)
        frac = pos - t
        out[j] = table[t] + frac * (table[t + 1] - table[t])
    return i0


def _grid_pairs_impl(
    spec: np.ndarray,  # (n_groups, n_angles, P, L) complex64: FFT of the padded projections
    resp: np.ndarray,  # (L + 1,) float32: filter response by bin (+ the Nyquist copy)
    weights: np.ndarray,  # (n_angles,) float64: angular weight / L
    shift: np.ndarray,  # (n_angles,) float64: position of the origin in padded columns
    cos_t: np.ndarray,  # (n_angles,) float64
    sin_t: np.ndarray,
    table: np.ndarray,  # float32 Kaiser-Bessel kernel at |s| = i / tscale grid cells
    tscale: float,
    width: int,
    grids: np.ndarray,  # (n_groups, M, M, 2 P) float32 (complex64 viewed as pairs), overwritten
) -> None:
    # The P pairs of a group share the geometry: the kernel weights and the phase of a sample
    # are computed once and applied to all of them, with the pair index innermost: the
    # innermost loop runs over the 2 P floats (real, imaginary) of a node, which LLVM vectorises.
    n_groups, n_ang, n_pairs, n_fft = spec.shape
    n_val = 2 * n_pairs
    m = grids.shape[1]
    half_l = n_fft // 2
    centre = 0.5 * m
    for grp in numba.prange(n_groups):
        g = grids[grp]
        g[...] = 0
        wx = np.empty(width, np.float32)
        wy = np.empty(width, np.float32)
        val = np.empty(n_val, np.float32)
        ixs = np.empty(width, np.int64)
        iys = np.empty(width, np.int64)
        for a in range(n_ang):
            ct = cos_t[a] * m / n_fft  # grid cells per radial frequency step
            st = sin_t[a] * m / n_fft
            # phase exp(2 pi i (k / L) shift) that puts the rotation axis at the origin, by
            # recurrence over k (float64: the rounding stays ~1e-13 over the L steps)
            step = np.exp(2j * np.pi * shift[a] / n_fft)
            ph_pos = weights[a] + 0j
            ph_neg = weights[a] * np.exp(-1j * np.pi * shift[a])
            for k in range(n_fft + 1):
                # k < L/2: frequency k / L; L/2 <= k < L: (k - L) / L; k == L: the Nyquist
                # bin again at +1/2 (half of it at each end keeps real slices real)
                if k < half_l:
                    kk = k
                    kb = k
                    fac = np.complex64(ph_pos * resp[k])
                    ph_pos *= step
                elif k < n_fft:
                    kk = k - n_fft
                    kb = k
                    fac = np.complex64(ph_neg * resp[k])
                    ph_neg *= step
                else:
                    kk = half_l
                    kb = half_l
                    fac = np.complex64(ph_pos * resp[k])
                for q in range(n_pairs):
                    v = spec[grp, a, q, kb] * fac
                    val[2 * q] = v.real
                    val[2 * q + 1] = v.imag
                ix0 = _weights(centre + kk * ct, width, table, tscale, wx)
                iy0 = _weights(centre + kk * st, width, table, tscale, wy)
                for j in range(width):  # grid nodes, wrapped round the periodic grid
                    ixs[j] = (ix0 + j) % m
                    iys[j] = (iy0 + j) % m
                for jy in range(width):
                    iy = iys[jy]
                    for jx in range(width):
                        ix = ixs[jx]
                        w = wy[jy] * wx[jx]
                        for q in range(n_val):
                            g[iy, ix, q] += val[q] * w


_grid_pairs = numba.njit(parallel=True, fastmath=True, cache=True)(_grid_pairs_impl)


@numba.njit(parallel=True, cache=True)
def _fill_groups(
    sinos: np.ndarray,  # (n_angles, n_slices, n_det) float32
    s0: int,  # first slice of the first group
    left: int,  # padding columns before the detector
    edge: bool,  # repeat the outermost columns (else zeros)
    buf: np.ndarray,  # (n_groups, n_angles, P, L) complex64, overwritten
) -> None:
    """Pack slices ``s0 + 2 (g P + q)`` (real) and ``+ 1`` (imaginary), padded, into ``buf``."""
    n_groups, n_ang, n_pairs, n_fft = buf.shape
    n_slices, n_det = sinos.shape[1], sinos.shape[2]
    for a in numba.prange(n_ang):
        for grp in range(n_groups):
            for q in range(n_pairs):
                sa = s0 + 2 * (grp * n_pairs + q)
                sb = sa + 1
                row = buf[grp, a, q]
                for j in range(n_fft):
                    d = j - left
                    if d < 0:
                        d = 0 if edge else -1
                    elif d >= n_det:
                        d = n_det - 1 if edge else -1
                    re = sinos[a, sa, d] if (d >= 0 and sa < n_slices) else np.float32(0.0)
                    im = sinos[a, sb, d] if (d >= 0 and sb < n_slices) else np.float32(0.0)
                    row[j] = np.complex64(re + 1j * im)


@numba.njit(parallel=True, cache=True)
def _crop_groups(
    img: np.ndarray,  # (n_groups, M, width, P) complex64: inverse FFT of some slice columns
    rows: np.ndarray,  # (size,) grid row of each slice row
    deapod: np.ndarray,  # (size, size) float32
    s0: int,  # first slice of the first group
    c0: int,  # slice column of img's first column
    out: np.ndarray,  # (n_slices, size, size) float32
) -> None:
    """De-apodise, crop the rows and unpack the pairs of ``img`` into slices ``s0...``."""
    n_groups, _, width, n_pairs = img.shape
    n_slices = out.shape[0]
    for r in numba.prange(rows.size):
        ir = rows[r]
        for grp in range(n_groups):
            for q in range(n_pairs):
                sa = s0 + 2 * (grp * n_pairs + q)
                if sa >= n_slices:
                    continue
                for c in range(width):
                    v = img[grp, ir, c, q] * deapod[r, c0 + c]
                    out[sa, r, c0 + c] = v.real
                    if sa + 1 < n_slices:
                        out[sa + 1, r, c0 + c] = v.imag
