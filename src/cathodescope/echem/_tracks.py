"""dQ/dV peaks followed across cycles (identity kept by an assignment problem per cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import NoCyclesError

Direction = Literal["charge", "discharge"]


@dataclass(frozen=True)
class PeakTracks:
    """Peaks followed across cycles.

    Attributes
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
) -> PeakTracks:
    """Follow dQ/dV peaks from cycle to cycle, keeping their identity.

    Tracks start at ``targets_V`` (e.g. ``[3.75]`` for the ~3.7-3.8 V oxidation peak) or at the
    peaks of the first cycle that has any. In each following cycle, tracks and peaks are matched
    one-to-one minimising the total voltage distance (Hungarian algorithm), from each track's
    last detected position, accepting matches within ``max_shift_V``. A track that finds no peak
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

    Returns
    -------
    PeakTracks
    """
    check_choice(direction, ("charge", "discharge"), "direction")
    check_positive(max_shift_V, "max_shift_V")
    p = peaks[peaks["direction"] == direction]
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
    tracks, start_pos = _match_cycles(p, cycles, start, max_shift_V)
    summary = _summarise_tracks(tracks, cycles, start_pos, direction)
    params = {"direction": direction, "targets_V": targets_V, "max_shift_V": max_shift_V}
    return PeakTracks(tracks, summary, params)


def _match_cycles(
    p: pd.DataFrame, cycles: np.ndarray, start: np.ndarray, max_shift_V: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per cycle, match tracks to peaks one-to-one (Hungarian) from each track's last position.

    Returns the per-(track, cycle) table and each track's first detected position.
    """
    from scipy.optimize import linear_sum_assignment

    last_pos = start.copy()
    n_tr = last_pos.size
    start_pos = np.full(n_tr, np.nan)
    records = []
    peak_cols = [c for c in p.columns if c not in ("cycle", "direction")]
    for c in cycles:
        cand = p[p["cycle"] == c]
        matched = {}
        if len(cand):
            cost = np.abs(last_pos[:, None] - cand["position_V"].to_numpy(float)[None, :])
            big = np.where(cost <= max_shift_V, cost, 1e6)
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
