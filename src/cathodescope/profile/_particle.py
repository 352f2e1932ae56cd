"""One particle of :func:`depth_profiles`: depth, binning, covariance, intervals, density."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from cathodescope.common.device import resolve_device
from cathodescope.profile import _tables
from cathodescope.profile._depth import _LATTICE_EXCESS, DEPTH_BIAS_BOUND_VOX, _depth_values
from cathodescope.profile._device import binned_on_device
from cathodescope.profile._stats import (
    BinnedData,
    bin_values,
    bootstrap_cov,
    correlation_functions,
    ess_cov,
    naive_cov,
)

# Crops of at least this many voxels use several threads inside the particle (EDT, FFT).
BIG_CROP = 500_000


@dataclass(frozen=True)
class ProfileSettings:
    """Validated options of one :func:`depth_profiles` call (shared by all its particles)."""

    spacing: tuple[float, ...]
    bin_width: float
    surface: str
    ci_level: float
    ci_method: str
    names: list[str]
    rnames: list[str]
    ratio_idx: list[int]
    fixed_window: tuple[float, float] | None
    windows: dict[str, tuple[float, float]]
    explicit: dict[str, bool]
    reliable_fraction: float
    density_bins: int
    n_boot: int
    seed: int
    depth_convention: str = "subvoxel"
    device: str = "cpu"


@dataclass(frozen=True)
class DepthGeometry:
    """Depths of the voxels of each bin against the bin centre (the reported depth), um.

    ``offset`` = mean depth - centre; ``var`` = variance of the depths; ``bound`` = bound of
    the mean depth error of the convention (0.05 voxel below the first layer, 0.15 voxel in it,
    for ``"subvoxel"``; the lattice excess for ``"centres"``).
    """

    mean: np.ndarray
    offset: np.ndarray
    var: np.ndarray
    bound: np.ndarray


def profile_particle(
    pid: int,
    sl: tuple[slice, ...],
    lab: np.ndarray,
    chans: Mapping[str, np.ndarray],
    st: ProfileSettings,
    threads: int,
    edt_threads: int | None = None,
) -> dict[str, Any]:
    """Arrays of one particle's profile, ratio, window, metrics, diagnostics and density.

    Only numpy arrays are collected; the DataFrames are built once for all particles
    (building small DataFrames per particle cost more than the statistics for the hundreds of
    small particles of a 2D map).
    """
    mask = lab[sl] == pid
    inner = threads if mask.size >= BIG_CROP else 1  # threads inside one big particle only
    values = np.empty((len(st.names), int(np.count_nonzero(mask))), dtype=np.float64)
    for j, c in enumerate(st.names):
        values[j] = chans[c][sl][mask]  # boolean index: C order, like flat; no crop copy
    if st.device == "cpu":
        d = _depth_values(mask, st.spacing, st.surface, edt_threads or inner, st.depth_convention)
        bins = np.floor(d / st.bin_width).astype(np.intp)
        data = bin_values(np.flatnonzero(mask), bins, values, mask.shape)
    else:  # EDT, depth and bin moments on the GPU; the intervals below on the host copies
        d, data = binned_on_device(
            mask,
            values,
            st.spacing,
            st.bin_width,
            st.surface,
            st.depth_convention,
            resolve_device(st.device),
        )
        bins = data.bins
    flat = data.flat_index
    rng = np.random.default_rng([int(st.seed), int(pid)])
    diag: dict[str, Any] = {
        "particle_id": pid,
        "n_voxels": int(flat.size),
        "max_depth_um": float(d.max()),
    }
    corr = None
    if st.ci_method != "naive":
        corr = correlation_functions(data, workers=inner)
        axes = ("z", "y", "x")[-len(data.shape) :]
        for a, h in zip(axes, corr[1], strict=True):
            diag[f"corr_halfwidth_{a}_vox"] = int(h)
    cov, dof = _bin_covariance(data, st, rng, corr)
    geo = _depth_geometry(d, bins, data.n_bins, st)
    out = _intervals(data, cov, dof, st, geo)
    centres = out.pop("all_centres")
    if st.fixed_window is None:
        total = data.mean[:, st.ratio_idx].sum(axis=1)
        voxel = float(np.prod(st.spacing)) ** (1.0 / len(st.spacing))
        lo, hi = _tables.reliable_window(
            centres,
            total,
            data.counts,
            st.bin_width,
            st.reliable_fraction,
            min_voxels=10,
            min_centre=voxel if st.depth_convention == "subvoxel" else 0.0,
        )
    else:
        lo, hi = st.fixed_window
    has = data.counts > 0
    sels = {
        name: _tables.window_selection(
            pid, has, centres, st.bin_width, name, st.windows[name], st.explicit[name]
        )
        for name in ("edge", "core", "sampling")
    }
    rows = _tables.metrics(pid, data, centres, out["all_ratio"], st.rnames, st.ratio_idx, sels)
    _metric_intervals(rows, data, d, sels, st, rng, corr, out, geo)
    for key in ("all_ratio", "all_r_stat", "all_r_depth"):
        out.pop(key)
    out.update(
        pid=pid,
        metrics=rows,
        window={"particle_id": pid, "depth_min_um": lo, "depth_max_um": hi},
        diag=diag,
        density=_density(pid, data, values, bins, st),
    )
    return out


def _bin_covariance(
    data: BinnedData,
    st: ProfileSettings,
    rng: np.random.Generator,
    corr: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the bin means and its degrees of freedom by the chosen ``ci_method``
    (``corr``: the particle's correlation functions, None for ``"naive"``)."""
    if st.ci_method == "naive" or corr is None:
        return naive_cov(data)
    if st.ci_method == "ess":
        cov, dof, _, _ = ess_cov(data, rng, corr=corr)
        return cov, dof
    block = tuple(int(2 * h + 1) for h in corr[1])
    return bootstrap_cov(data, block, rng, n_boot=st.n_boot)


def _depth_geometry(
    d: np.ndarray, bins: np.ndarray, n_bins: int, st: ProfileSettings
) -> DepthGeometry:
    """Mean and variance of the voxel depths of each bin, and the convention's error bound."""
    n = np.maximum(np.bincount(bins, minlength=n_bins), 1).astype(np.float64)
    d64 = d.astype(np.float64)
    mean = np.bincount(bins, weights=d64, minlength=n_bins) / n
    var = np.clip(np.bincount(bins, weights=d64 * d64, minlength=n_bins) / n - mean**2, 0, None)
    v = float(np.prod(st.spacing)) ** (1.0 / len(st.spacing))
    if st.depth_convention == "subvoxel":
        first = np.bincount(bins, weights=(d64 < v).astype(np.float64), minlength=n_bins) / n
        bound = v * (DEPTH_BIAS_BOUND_VOX + 0.10 * first)
    else:  # the lattice excess of the voxel-centre distance (see depth_map)
        a, c, p = _LATTICE_EXCESS[len(st.spacing)]
        x = np.maximum(mean / v, 1.0)
        bound = v * a * np.clip(1.0 / x - c / max(float(x.max()), 1.0), 0, None) ** p
    centres = (np.arange(n_bins) + 0.5) * st.bin_width
    return DepthGeometry(mean=mean, offset=mean - centres, var=var, bound=bound)


def _slope_curvature(y: np.ndarray, x: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, ...]:
    """``|y'|`` and ``|y''|`` per bin and column of ``y`` (bins, K) from finite differences of
    the non-empty bins at their mean depths ``x`` (second order, one-sided at the ends); 0 for
    empty bins or where a neighbour is not finite."""
    slope = np.zeros_like(y, dtype=np.float64)
    curv = np.zeros_like(slope)
    idx = np.flatnonzero(has)
    if idx.size < 2:
        return slope, curv
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.gradient(y[idx].astype(np.float64), x[idx], axis=0)
        q = np.gradient(s, x[idx], axis=0) if idx.size >= 3 else np.zeros_like(s)
    slope[idx] = np.abs(np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0))
    curv[idx] = np.abs(np.nan_to_num(q, nan=0.0, posinf=0.0, neginf=0.0))
    return slope, curv


def _depth_term(y: np.ndarray, geo: DepthGeometry, has: np.ndarray) -> np.ndarray:
    """Bound of the difference between a bin mean and the profile at the bin centre.

    ``|y'| (|offset| + bound) + |y''| (var + offset^2) / 2`` per bin and column of ``y``
    (bins, K), slope and curvature from :func:`_slope_curvature`.
    """
    slope, curv = _slope_curvature(y, geo.mean, has)
    off = np.abs(geo.offset)[:, None]
    spread = (geo.var + geo.offset**2)[:, None]
    return slope * (off + geo.bound[:, None]) + 0.5 * curv * spread


def _intervals(
    data: BinnedData, cov: np.ndarray, dof: np.ndarray, st: ProfileSettings, geo: DepthGeometry
) -> dict[str, Any]:
    """Bin means, standard deviations, intervals and ratios (delta method) of one particle.

    Each half-width is the statistical one (``t(dof) * SE``) plus the depth-discretisation
    term of :func:`_depth_term`: the interval is one of the composition at the bin centre.
    """
    n_r = len(st.rnames)
    centres = (np.arange(data.n_bins) + 0.5) * st.bin_width
    has = data.counts > 0
    with np.errstate(invalid="ignore"):
        # = stats.t.ppf(0.5 + lvl / 2, dof) without the distribution-object overhead
        tval = special.stdtrit(np.where(dof >= 1, dof, np.nan), 0.5 + st.ci_level / 2)
        se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))
    std = np.sqrt(np.clip(np.diagonal(data.cov, axis1=1, axis2=2), 0, None))
    half_m = tval[:, None] * se + _depth_term(data.mean, geo, has)
    # Ratios by the delta method: dR_e/dm_k = (delta_ek - R_e) / T over ratio channels,
    # for all elements at once: grad[b, e, k].
    m_r = data.mean[:, st.ratio_idx]
    total = m_r.sum(axis=1)
    cov_r = cov[:, st.ratio_idx][:, :, st.ratio_idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = m_r / total[:, None]
        grad = np.repeat((-ratio / total[:, None])[:, :, None], n_r, axis=2)
        grad += np.eye(n_r)[None] / total[:, None, None]
        var = np.einsum("bei,bij,bej->be", grad, cov_r, grad)
        r_stat = tval[:, None] * np.sqrt(np.clip(var, 0, None))
    r_depth = _depth_term(ratio, geo, has)
    half_r = r_stat + r_depth
    return {
        "all_centres": centres,
        "all_ratio": ratio,
        "all_r_stat": r_stat,
        "all_r_depth": r_depth,
        "centres": centres[has],
        "counts": data.counts[has].astype(np.int64),
        "mean": data.mean[has],
        "std": std[has],
        "ci_low": (data.mean - half_m)[has],
        "ci_high": (data.mean + half_m)[has],
        "ratio": ratio[has],
        "r_low": (ratio - half_r)[has],
        "r_high": (ratio + half_r)[has],
    }


def _metric_intervals(
    rows: list[dict[str, Any]],
    data: BinnedData,
    d: np.ndarray,
    sels: dict[str, np.ndarray | None],
    st: ProfileSettings,
    rng: np.random.Generator,
    corr: tuple[np.ndarray, np.ndarray] | None,
    out: dict[str, Any],
    geo: DepthGeometry,
) -> None:
    """Add the Table-1 intervals to ``rows`` (in place), at ``ci_level``.

    Edge and core values: the particle's voxels of each window are regrouped as one "bin"
    and the covariance of the two window means is computed by the same method as the bins
    (ESS reuses the particle's correlation functions), the ratio's by the delta method, plus
    the depth term of the window (its bins' slope and curvature, its voxels' depth offset
    from the window's centre). ``d_core_edge``: statistical parts in quadrature (the windows
    are far apart compared with the noise correlation), depth terms added. ``max_ratio``:
    the interval of its bin; ``d_max_min``: as ``d_core_edge`` for the two bins. They do not
    include the selection effect of taking the maximum over noisy bins.
    """
    win = _window_halves(data, d, sels, st, rng, corr, out["all_ratio"], geo)
    r_stat, r_depth = out["all_r_stat"], out["all_r_depth"]
    for e, row in enumerate(rows):
        for name in ("edge", "core"):
            half = win[name][0][e] + win[name][1][e] if name in win else np.nan
            row[f"{name}_ci_low"] = row[f"{name}_ratio"] - half
            row[f"{name}_ci_high"] = row[f"{name}_ratio"] + half
        half = np.nan
        if "edge" in win and "core" in win:
            half = float(np.hypot(win["edge"][0][e], win["core"][0][e]))
            half += win["edge"][1][e] + win["core"][1][e]
        row["d_core_edge_ci_low"] = row["d_core_edge"] - half
        row["d_core_edge_ci_high"] = row["d_core_edge"] + half
        k, j = row.pop("_max_bin", None), row.pop("_min_bin", None)
        if k is None:
            for key in ("max_ratio", "d_max_min"):
                row[f"{key}_ci_low"] = row[f"{key}_ci_high"] = np.nan
            continue
        half = r_stat[k, e] + r_depth[k, e]
        row["max_ratio_ci_low"] = row["max_ratio"] - half
        row["max_ratio_ci_high"] = row["max_ratio"] + half
        half = float(np.hypot(r_stat[k, e], r_stat[j, e])) + r_depth[k, e] + r_depth[j, e]
        row["d_max_min_ci_low"] = row["d_max_min"] - half
        row["d_max_min_ci_high"] = row["d_max_min"] + half


def _window_halves(
    data: BinnedData,
    d: np.ndarray,
    sels: dict[str, np.ndarray | None],
    st: ProfileSettings,
    rng: np.random.Generator,
    corr: tuple[np.ndarray, np.ndarray] | None,
    ratio_bins: np.ndarray,
    geo: DepthGeometry,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(statistical, depth) half-widths of the pooled edge and core ratios, per element."""
    slope, curv = _slope_curvature(ratio_bins, geo.mean, data.counts > 0)
    result = {}
    for name in ("edge", "core"):
        sel = sels[name]
        if sel is None:
            continue
        vox = sel[data.bins]  # the window's voxels, regrouped as one bin
        wdata = bin_values(
            data.flat_index[vox], np.zeros(int(vox.sum()), np.intp), data.values[:, vox], data.shape
        )
        stat = _pooled_ratio_halfwidth(wdata, st, rng, corr)
        w = data.counts[sel].astype(np.float64)
        s_w = (slope[sel] * w[:, None]).sum(axis=0) / w.sum()
        q_w = (curv[sel] * w[:, None]).sum(axis=0) / w.sum()
        dw = d[vox].astype(np.float64)
        centres = (np.flatnonzero(sel) + 0.5) * st.bin_width
        off = float(dw.mean()) - 0.5 * (centres.min() + centres.max())
        bound = float((geo.bound[sel] * w).sum() / w.sum())
        depth = s_w * (abs(off) + bound) + 0.5 * q_w * (float(dw.var()) + off**2)
        result[name] = (stat, depth)
    return result


def _pooled_ratio_halfwidth(
    wdata: BinnedData,
    st: ProfileSettings,
    rng: np.random.Generator,
    corr: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """Statistical half-width of the ratios of a one-bin regrouping (a Table-1 window)."""
    if st.ci_method == "naive" or corr is None:
        wcov, wdof = naive_cov(wdata)
    elif st.ci_method == "ess":
        wcov, wdof, _, _ = ess_cov(wdata, rng, corr=corr)
    else:
        block = tuple(int(2 * h + 1) for h in corr[1])
        wcov, wdof = bootstrap_cov(wdata, block, rng, n_boot=st.n_boot)
    n_r = len(st.rnames)
    m = wdata.mean[0, st.ratio_idx]
    total = m.sum()
    cov_r = wcov[0][np.ix_(st.ratio_idx, st.ratio_idx)]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = m / total
        grad = (np.eye(n_r) - ratio[:, None]) / total  # grad[e, k] = (delta_ek - R_e) / T
        var = np.einsum("ei,ij,ej->e", grad, cov_r, grad)
        dof = wdof[0] if wdof[0] >= 1 else np.nan
        tval = special.stdtrit(dof, 0.5 + st.ci_level / 2)
    return tval * np.sqrt(np.clip(var, 0, None))


def _density(
    pid: int, data: BinnedData, values: np.ndarray, bins: np.ndarray, st: ProfileSettings
) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Depth x intensity histogram per channel (percentiles of all channels in one call)."""
    nb = st.density_bins
    depth_edges = np.arange(data.n_bins + 1) * st.bin_width
    density: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    pct = np.percentile(values, [0.5, 99.5], axis=1)
    for j, c in enumerate(st.names):
        v = values[j]
        vlo, vhi = float(pct[0, j]), float(pct[1, j])
        if not vhi > vlo:
            vlo, vhi = vlo - 0.5, vhi + 0.5
        edges = np.linspace(vlo, vhi, nb + 1)
        vb = np.floor((v - vlo) / (vhi - vlo) * nb).astype(np.intp)
        vb[v == vhi] = nb - 1
        ok = (vb >= 0) & (vb < nb)
        hist = np.bincount(bins[ok] * nb + vb[ok], minlength=data.n_bins * nb).reshape(
            data.n_bins, nb
        )
        density[(pid, c)] = (hist, depth_edges, edges)
    return density
