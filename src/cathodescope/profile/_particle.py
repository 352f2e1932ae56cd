"""One particle of :func:`depth_profiles`: depth, binning, covariance, intervals, density."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from cathodescope.profile import _tables
from cathodescope.profile._depth import _depth_map
from cathodescope.profile._stats import BinnedData, bin_values, bootstrap_cov, ess_cov, naive_cov

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


def profile_particle(
    pid: int,
    sl: tuple[slice, ...],
    lab: np.ndarray,
    chans: Mapping[str, np.ndarray],
    st: ProfileSettings,
    threads: int,
) -> dict[str, Any]:
    """Arrays of one particle's profile, ratio, window, metrics, diagnostics and density.

    Only numpy arrays are collected; the DataFrames are built once for all particles
    (building small DataFrames per particle cost more than the statistics for the hundreds of
    small particles of a 2D map).
    """
    mask = lab[sl] == pid
    inner = threads if mask.size >= BIG_CROP else 1  # threads inside one big particle only
    depth = _depth_map(mask, st.spacing, st.surface, inner)
    flat = np.flatnonzero(mask)
    d = depth.ravel()[flat]
    bins = np.floor(d / st.bin_width).astype(np.intp)
    values = np.empty((len(st.names), flat.size), dtype=np.float64)
    for j, c in enumerate(st.names):
        values[j] = chans[c][sl][mask]  # boolean index: C order, like flat; no crop copy
    data = bin_values(flat, bins, values, mask.shape)
    rng = np.random.default_rng([int(st.seed), int(pid)])
    diag: dict[str, Any] = {
        "particle_id": pid,
        "n_voxels": int(flat.size),
        "max_depth_um": float(d.max()),
    }
    cov, dof = _bin_covariance(data, st, rng, inner, diag)
    out = _intervals(data, cov, dof, st)
    centres = out.pop("all_centres")
    if st.fixed_window is None:
        total = data.mean[:, st.ratio_idx].sum(axis=1)
        lo, hi = _tables.reliable_window(
            centres, total, data.counts, st.bin_width, st.reliable_fraction, min_voxels=10
        )
    else:
        lo, hi = st.fixed_window
    ratio = out.pop("all_ratio")
    out.update(
        pid=pid,
        metrics=_tables.metrics(
            pid,
            data,
            centres,
            st.bin_width,
            ratio,
            st.rnames,
            st.ratio_idx,
            st.windows,
            st.explicit,
        ),
        window={"particle_id": pid, "depth_min_um": lo, "depth_max_um": hi},
        diag=diag,
        density=_density(pid, data, values, bins, st),
    )
    return out


def _bin_covariance(
    data: BinnedData,
    st: ProfileSettings,
    rng: np.random.Generator,
    workers: int,
    diag: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the bin means and its degrees of freedom by the chosen ``ci_method``."""
    if st.ci_method == "naive":
        return naive_cov(data)
    cov_e, dof_e, _, half = ess_cov(data, rng, workers=workers)
    axes = ("z", "y", "x")[-len(data.shape) :]
    for a, h in zip(axes, half, strict=True):
        diag[f"corr_halfwidth_{a}_vox"] = int(h)
    if st.ci_method == "ess":
        return cov_e, dof_e
    block = tuple(int(2 * h + 1) for h in half)
    return bootstrap_cov(data, block, rng, n_boot=st.n_boot)


def _intervals(
    data: BinnedData, cov: np.ndarray, dof: np.ndarray, st: ProfileSettings
) -> dict[str, Any]:
    """Bin means, standard deviations, intervals and ratios (delta method) of one particle."""
    n_r = len(st.rnames)
    centres = (np.arange(data.n_bins) + 0.5) * st.bin_width
    has = data.counts > 0
    with np.errstate(invalid="ignore"):
        # = stats.t.ppf(0.5 + lvl / 2, dof) without the distribution-object overhead
        tval = special.stdtrit(np.where(dof >= 1, dof, np.nan), 0.5 + st.ci_level / 2)
        se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))
    std = np.sqrt(np.clip(np.diagonal(data.cov, axis1=1, axis2=2), 0, None))
    half_m = tval[:, None] * se
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
        half_r = tval[:, None] * np.sqrt(np.clip(var, 0, None))
    return {
        "all_centres": centres,
        "all_ratio": ratio,
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
