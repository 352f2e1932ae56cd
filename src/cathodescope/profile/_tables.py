"""Tables of the depth-profile engine: column names, assembly, reliable windows, Table-1 metrics."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from cathodescope.errors import CathodescopeRunWarning, ParameterError, ParticleTooSmallError
from cathodescope.profile._stats import BinnedData

PROFILE_COLUMNS = [
    "particle_id",
    "channel",
    "depth_um",
    "n_voxels",
    "mean",
    "std",
    "ci_low",
    "ci_high",
]
RATIO_COLUMNS = ["particle_id", "element", "depth_um", "ratio", "ci_low", "ci_high", "flagged"]
METRIC_COLUMNS = [
    "particle_id",
    "element",
    "edge_ratio",
    "core_ratio",
    "d_core_edge",
    "max_depth_um",
    "max_ratio",
    "d_max_min",
    "edge_ci_low",
    "edge_ci_high",
    "core_ci_low",
    "core_ci_high",
    "d_core_edge_ci_low",
    "d_core_edge_ci_high",
    "max_ratio_ci_low",
    "max_ratio_ci_high",
    "d_max_min_ci_low",
    "d_max_min_ci_high",
]
WINDOW_COLUMNS = ["particle_id", "depth_min_um", "depth_max_um"]


def check_window(win: Any, name: str) -> tuple[float, float]:
    """``(min_um, max_um)`` as floats, or a ParameterError naming the option."""
    try:
        lo, hi = (float(v) for v in win)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be (min_um, max_um), got {win!r}.") from exc
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise ParameterError(
            f"{name}={win!r} is not a valid depth window; give (min_um, max_um) with "
            "0 <= min < max, in um."
        )
    return lo, hi


def reliable_window(
    depth_centres: np.ndarray,
    total: np.ndarray,
    counts: np.ndarray,
    bin_width: float,
    fraction: float,
    min_voxels: int,
    min_centre: float = 0.0,
) -> tuple[float, float]:
    """Depth range where the total-intensity profile stays above ``fraction`` of its plateau.

    The plateau is the median of the upper half of the (3-bin running-median smoothed) total
    profile over bins with at least ``min_voxels`` voxels. The window starts at the first bin
    from the surface above ``fraction * plateau`` whose centre is at least ``min_centre``
    (the engine passes one voxel: the depth of the first voxel layer is not resolved) and ends
    where the profile first drops below it again (surface partial-volume loss and central
    voids both lower the total intensity).
    """
    ok = counts >= min_voxels
    if ok.sum() == 0:
        return float("nan"), float("nan")
    t = np.where(ok, total, np.nan)
    sm = ndi.median_filter(np.nan_to_num(t, nan=-np.inf), size=3, mode="nearest")
    sm = np.where(ok, sm, np.nan)
    vals = np.sort(sm[np.isfinite(sm)])
    if vals.size == 0:  # a lone well-filled bin between sparse ones: no plateau to speak of
        return float("nan"), float("nan")
    plateau = float(np.median(vals[vals.size // 2 :]))
    above = np.isfinite(sm) & (sm >= fraction * plateau) & (depth_centres >= min_centre)
    if not above.any():
        return float("nan"), float("nan")
    first = int(np.argmax(above))
    last = first
    while last + 1 < above.size and above[last + 1]:
        last += 1
    return float(depth_centres[first] - bin_width / 2), float(depth_centres[last] + bin_width / 2)


def pooled_ratio(data: BinnedData, sel: np.ndarray, ratio_idx: list[int]) -> np.ndarray:
    """Ratio of pooled means over the selected bins, one value per ratio channel."""
    n = data.counts[sel].astype(np.float64)
    sums = np.nansum(data.mean[sel] * n[:, None], axis=0)
    total = sums[ratio_idx].sum()
    return sums[ratio_idx] / total if total != 0 else np.full(len(ratio_idx), np.nan)


def assemble(
    results: list[dict[str, Any]], names: list[str], rnames: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Profile and ratio tables of all particles, built once from the per-particle arrays.

    Row order: particle, then channel (element), then depth bin.
    """
    nb = np.array([r["centres"].size for r in results], dtype=np.intp)
    pids = np.array([r["pid"] for r in results], dtype=np.int64)

    def per_channel(key: str) -> np.ndarray:
        # (bins, n) blocks -> channel-major rows per particle
        return np.concatenate([r[key].T.ravel() for r in results])

    def expand(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pid_col = np.repeat(pids, nb * n)
        name_idx = np.concatenate([np.repeat(np.arange(n), k) for k in nb])
        depth_col = np.concatenate([np.tile(r["centres"], n) for r in results])
        return pid_col, name_idx, depth_col

    n_ch, n_r = len(names), len(rnames)
    pid_col, ch_idx, depth_col = expand(n_ch)
    profiles = pd.DataFrame(
        {
            "particle_id": pid_col,
            "channel": np.array(names, dtype=object)[ch_idx],
            "depth_um": depth_col,
            "n_voxels": np.concatenate([np.tile(r["counts"], n_ch) for r in results]),
            "mean": per_channel("mean"),
            "std": per_channel("std"),
            "ci_low": per_channel("ci_low"),
            "ci_high": per_channel("ci_high"),
        }
    )[PROFILE_COLUMNS]
    pid_col, el_idx, depth_col = expand(n_r)
    r_all = per_channel("ratio")
    ratios = pd.DataFrame(
        {
            "particle_id": pid_col,
            "element": np.array(rnames, dtype=object)[el_idx],
            "depth_um": depth_col,
            "ratio": r_all,
            "ci_low": per_channel("r_low"),
            "ci_high": per_channel("r_high"),
            "flagged": (r_all < 0) | (r_all > 1),
        }
    )[RATIO_COLUMNS]
    return profiles, ratios


def window_selection(
    pid: int,
    has: np.ndarray,
    centres: np.ndarray,
    w: float,
    name: str,
    window: tuple[float, float],
    explicit: bool,
) -> np.ndarray | None:
    """Bins of one Table-1 window (their centre inside it), or None if the particle is too
    shallow (ParticleTooSmallError for an explicit window, a warning for a default one)."""
    eps = 1e-9
    lo, hi = window
    sel = has & (centres >= lo - eps) & (centres <= hi + eps)
    if not sel.any():
        # bins wider than the window: the bin containing the window centre
        k = int(np.floor((lo + hi) / 2 / w))
        if 0 <= k < has.size and has[k] and name != "sampling":
            sel = np.zeros_like(has)
            sel[k] = True
    if not sel.any() or (name == "sampling" and sel.sum() < 2):
        max_depth = float(centres[has].max()) if has.any() else 0.0
        msg = (
            f"particle {pid} is too shallow for the {name} window {window} um (its "
            f"deepest bin is at {max_depth:.3f} um); choose a shallower window or exclude "
            "small particles (min_size_um in segmentation)."
        )
        if explicit:
            raise ParticleTooSmallError(msg)
        warnings.warn(msg + " Its metrics are NaN.", CathodescopeRunWarning, stacklevel=4)
        return None
    return sel


def metrics(
    pid: int,
    data: BinnedData,
    centres: np.ndarray,
    ratio: np.ndarray,
    rnames: list[str],
    ratio_idx: list[int],
    sels: dict[str, np.ndarray | None],
) -> list[dict[str, Any]]:
    """Table-1 point values of one particle (one row per ratio element); ``sels`` are the
    bins of the edge, core and sampling windows (:func:`window_selection`)."""
    edge_sel, core_sel, samp_sel = sels["edge"], sels["core"], sels["sampling"]
    edge = pooled_ratio(data, edge_sel, ratio_idx) if edge_sel is not None else None
    core = pooled_ratio(data, core_sel, ratio_idx) if core_sel is not None else None
    rows = []
    for e, c in enumerate(rnames):
        row: dict[str, Any] = {"particle_id": pid, "element": c}
        row["edge_ratio"] = float(edge[e]) if edge is not None else np.nan
        row["core_ratio"] = float(core[e]) if core is not None else np.nan
        row["d_core_edge"] = row["core_ratio"] - row["edge_ratio"]
        r = np.where(samp_sel, ratio[:, e], np.nan) if samp_sel is not None else None
        if r is not None and np.isfinite(r).any():
            k = int(np.nanargmax(r))
            row["max_depth_um"] = float(centres[k])
            row["max_ratio"] = float(r[k])
            row["d_max_min"] = float(np.nanmax(r) - np.nanmin(r))
            row["_max_bin"], row["_min_bin"] = k, int(np.nanargmin(r))
        else:
            row["max_depth_um"] = row["max_ratio"] = row["d_max_min"] = np.nan
        rows.append(row)
    return rows
