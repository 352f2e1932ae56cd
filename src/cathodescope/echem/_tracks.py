"""dQ/dV peaks followed across cycles (identity kept by an assignment problem per cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import NoCyclesError, ParameterError

Direction = Literal["charge", "discharge"]


@dataclass(frozen=True)
class PeakTracks:
    """Peaks followed across cycles.

    Parameters
    ----------
    tracks : DataFrame
        One row per (track, cycle): ``track_id``, ``cycle``, ``detected`` and the peak columns
        of :func:`find_dqdv_peaks` (NaN where not detected).
    summary : DataFrame
        One row per track: ``track_id``, ``direction``, ``start_position_V``,
        ``last_position_V``, ``shift_V``, ``first_cycle``, ``last_seen_cycle``,
        ``vanish_cycle`` (first cycle from which the peak is never detected again; <NA> if it is
        still present in the last cycle).
    parameters : dict
        The parameters used.
    """

    tracks: pd.DataFrame
    summary: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-cycle table ``tracks``."""
        return self.tracks


def track_peaks(
    peaks: pd.DataFrame,
    *,
    direction: Direction = "charge",
    targets_V: list[float] | None = None,
    max_shift_V: float = 0.05,
    shape_weight: float = 1.0,
    min_significance: float = 2.0,
) -> PeakTracks:
    """Follow dQ/dV peaks from cycle to cycle, keeping their identity.

    Tracks start at ``targets_V`` (e.g. ``[3.75]`` for the ~3.7-3.8 V oxidation peak) or at the
    peaks of the first cycle that has any. In each following cycle, tracks and peaks are matched
    one-to-one by one optimal assignment (``scipy.optimize.linear_sum_assignment``) on the
    voltage distance from each track's last detected position and on shape (height and FWHM
    against the track's median so far), accepting matches within ``max_shift_V``. A track that finds no peak
    in a cycle is "not detected" there; its ``vanish_cycle`` is the first cycle from which it is
    never detected again.

    Parameters
    ----------
    peaks : DataFrame
        Output of :func:`find_dqdv_peaks`.
    direction : {"charge", "discharge"}
    targets_V : list of float, optional
        Starting positions in V.
    max_shift_V : float
        Largest accepted move between consecutive detections, V.
    shape_weight : float
        Weight of the shape term against the position term (a factor 2 in height or width
        costs ``shape_weight`` times a move of ``max_shift_V``); 0 matches on position only.
    min_significance : float
        Fitted peaks whose height is below ``min_significance`` times its standard error are
        not tracked (a shoulder fitted as 0.5 +- 7.5 is no evidence of a peak); unfitted peaks
        (no error) are kept.

    Returns
    -------
    PeakTracks
    """
    check_choice(direction, ("charge", "discharge"), "direction")
    check_positive(max_shift_V, "max_shift_V")
    p = peaks[peaks["direction"] == direction]
    if "height_err" in p:
        err = p["height_err"].to_numpy(float)
        weak = np.isfinite(err) & (np.abs(p["height"].to_numpy(float)) < min_significance * err)
        p = p[~weak]
    all_cycles = np.unique(peaks["cycle"].to_numpy()) if len(peaks) else np.array([], int)
    if len(p) == 0:
        raise NoCyclesError(f"no {direction} dQ/dV peaks to track.")
    cycles = np.unique(p["cycle"].to_numpy())
    cycles = all_cycles[all_cycles >= cycles[0]]
    if targets_V is None:
        first = p[p["cycle"] == cycles[0]]
        start = first["position_V"].to_numpy(float).copy()
    else:
        start = np.asarray(targets_V, dtype=float).copy()
    if not shape_weight >= 0:
        raise ParameterError(f"shape_weight must be >= 0, got {shape_weight!r}.")
    tracks, start_pos = _match_cycles(p, cycles, start, max_shift_V, float(shape_weight))
    summary = _summarise_tracks(tracks, cycles, start_pos, direction)
    params = {
        "direction": direction,
        "targets_V": targets_V,
        "max_shift_V": max_shift_V,
        "shape_weight": shape_weight,
        "min_significance": min_significance,
    }
    return PeakTracks(tracks, summary, params)


def _shape_cost(cand: pd.DataFrame, ref_h: np.ndarray, ref_w: np.ndarray) -> np.ndarray:
    """|log height ratio| + |log width ratio| (in units of log 2) of candidates vs tracks."""
    h = np.abs(cand["height"].to_numpy(float))
    w = np.abs(cand["fwhm_V"].to_numpy(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        dh = np.abs(np.log(h[None, :] / ref_h[:, None]))
        dw = np.abs(np.log(w[None, :] / ref_w[:, None]))
    cost = np.nan_to_num(dh, nan=0.0, posinf=0.0) + np.nan_to_num(dw, nan=0.0, posinf=0.0)
    return cost / np.log(2.0)


def _match_cycles(
    p: pd.DataFrame,
    cycles: np.ndarray,
    start: np.ndarray,
    max_shift_V: float,
    shape_weight: float,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per cycle, one optimal assignment (Hungarian) of tracks to peaks on position and shape.

    The cost of giving peak j to track t is ``|position_j - last position_t| / max_shift_V``
    plus ``shape_weight`` times the log-ratios (per factor 2) of height and FWHM to the track's
    median so far; pairs further apart than ``max_shift_V`` are forbidden. Solving all tracks
    together, on shape as well as position, keeps a track on its main peak when a shoulder
    comes closer in voltage. Returns the per-(track, cycle) table and each track's first
    detected position.
    """
    from scipy.optimize import linear_sum_assignment

    last_pos = start.copy()
    n_tr = last_pos.size
    start_pos = np.full(n_tr, np.nan)
    heights: list[list[float]] = [[] for _ in range(n_tr)]
    widths: list[list[float]] = [[] for _ in range(n_tr)]
    records = []
    peak_cols = [c for c in p.columns if c not in ("cycle", "direction")]
    for c in cycles:
        cand = p[p["cycle"] == c]
        matched = {}
        if len(cand):
            dist = np.abs(last_pos[:, None] - cand["position_V"].to_numpy(float)[None, :])
            ref_h = np.array([np.median(h) if h else np.nan for h in heights])
            ref_w = np.array([np.median(w) if w else np.nan for w in widths])
            cost = dist / max_shift_V + shape_weight * _shape_cost(cand, ref_h, ref_w)
            big = np.where(dist <= max_shift_V, cost, 1e6)
            r, s = linear_sum_assignment(big)
            for ri, si in zip(r, s, strict=True):
                if big[ri, si] < 1e6:
                    matched[ri] = cand.iloc[si]
        for t in range(n_tr):
            rec = {"track_id": t, "cycle": int(c), "detected": t in matched}
            if t in matched:
                row = matched[t]
                rec.update({k: row[k] for k in peak_cols})
                last_pos[t] = float(row["position_V"])
                heights[t].append(abs(float(row["height"])))
                widths[t].append(abs(float(row["fwhm_V"])))
                if np.isnan(start_pos[t]):
                    start_pos[t] = last_pos[t]
            else:
                rec.update({k: np.nan for k in peak_cols})
            records.append(rec)
    return pd.DataFrame(records), start_pos


def _summarise_tracks(
    tracks: pd.DataFrame, cycles: np.ndarray, start_pos: np.ndarray, direction: str
) -> pd.DataFrame:
    """One row per track: positions, shift, first/last cycle seen, vanish cycle."""
    summ = []
    last_cycle = int(cycles[-1])
    for t in range(start_pos.size):
        tt = tracks[(tracks["track_id"] == t) & tracks["detected"]]
        seen = tt["cycle"].to_numpy()
        last_seen = int(seen.max()) if seen.size else None
        if last_seen is None:
            vanish = int(cycles[0])
        elif last_seen < last_cycle:
            later = cycles[cycles > last_seen]
            vanish = int(later[0])
        else:
            vanish = None
        summ.append(
            {
                "track_id": t,
                "direction": direction,
                "start_position_V": float(start_pos[t]),
                "last_position_V": float(tt["position_V"].iloc[-1]) if seen.size else np.nan,
                "shift_V": float(tt["position_V"].iloc[-1] - start_pos[t]) if seen.size else np.nan,
                "first_cycle": int(seen.min()) if seen.size else None,
                "last_seen_cycle": last_seen,
                "vanish_cycle": vanish,
            }
        )
    summary = pd.DataFrame(summ)
    summary["vanish_cycle"] = summary["vanish_cycle"].astype("Int64")
    return summary
