"""Layered -> disordered spinel -> rock-salt transitions in a heating series.

Three peak signatures, each measured per frame in a d-spacing window (so they work at any
wavelength, e.g. a 0.45220 A synchrotron series converted or not to Cu Ka):

* ``(003)`` vanishing: integrated net intensity of the layered (003) band, normalised to the
  first frames; "vanished" below ``vanish_fraction`` (default 0.5);
* ``(108)/(110)`` merging: number of resolved maxima in the (108)/(110) band (prominence above
  ``merge_prominence`` x the band maximum); "merged" when only one remains (the spinel (440));
* spinel ``(220)`` appearing: net intensity of the band around d = 2.87 A (no layered or
  rock-salt reflection there), normalised to its maximum over the series; "present" above 0.5
  (and its maximum above ``min_snr`` x the noise of the first frames).

The layered -> spinel onset is the first frame from which at least two of the three signatures
hold for ``persist`` consecutive frames; the spinel -> rock-salt onset the first later frame
from which (220) has faded below half its maximum again while (003) stays vanished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_finite
from cathodescope.errors import EmptyWindowError, MissingMetadataError, ParameterError
from cathodescope.xrd._units import d_to_two_theta, pattern_wavelength

__all__ = [
    "ThermalTransitions",
    "detect_thermal_transitions",
    "layered_windows",
]

#: d-spacing windows (Angstrom) of the three signatures (low d, high d).
DEFAULT_D_WINDOWS: dict[str, tuple[float, float]] = {
    "003": (4.55, 4.95),
    "220_spinel": (2.80, 2.95),
    "108_110": (1.39, 1.465),
}


def layered_windows(
    wavelength: float, d_windows: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, tuple[float, float]]:
    """2theta windows (deg) of the transition signatures at ``wavelength`` (Angstrom).

    Parameters
    ----------
    wavelength : float
        Wavelength in Angstrom.
    d_windows : mapping name -> (d_lo, d_hi), optional
        d-spacing windows in Angstrom; default ``DEFAULT_D_WINDOWS`` (003, spinel 220, 108/110).

    Returns
    -------
    dict of str -> (float, float)
        ``(2theta_lo, 2theta_hi)`` in degrees per signature.
    """
    dw = dict(DEFAULT_D_WINDOWS if d_windows is None else d_windows)
    out = {}
    for name, (d_lo, d_hi) in dw.items():
        t_hi, t_lo = d_to_two_theta(np.array([d_lo, d_hi]), wavelength)
        out[name] = (float(t_lo), float(t_hi))
    return out


@dataclass(frozen=True)
class ThermalTransitions:
    """Signatures per frame and onset temperatures of a heating series.

    Parameters
    ----------
    signatures : pandas.DataFrame
        One row per frame: ``frame``, ``temperature_C``, ``i003_norm``, ``i220_norm``,
        ``n_maxima_108_110``, ``vanished_003``, ``merged_108_110``, ``spinel_220``, ``phase``
        ("layered", "spinel" or "rock-salt").
    onsets : pandas.DataFrame
        ``event`` ("003_vanishing", "108_110_merging", "spinel_220_appearing",
        "layered_to_spinel", "spinel_to_rocksalt"), ``frame``, ``temperature_C`` (NaN when the
        event is not seen).
    parameters : dict
        Windows (deg) and thresholds used.
    """

    signatures: pd.DataFrame
    onsets: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-frame signature table (a copy)."""
        return self.signatures.copy()

    def onset(self, event: str) -> float:
        """Onset temperature (C) of an event, NaN if not detected."""
        row = self.onsets[self.onsets["event"] == event]
        if row.empty:
            raise ParameterError(f"unknown event {event!r}; one of {list(self.onsets['event'])}.")
        return float(row["temperature_C"].iloc[0])


def _band(
    x: np.ndarray, y: np.ndarray, lo: float, hi: float, name: str
) -> tuple[np.ndarray, np.ndarray]:
    sel = (x >= lo) & (x <= hi)
    if np.count_nonzero(sel) < 7:
        raise EmptyWindowError(
            f"the {name} window {lo:.3f}-{hi:.3f} deg holds {np.count_nonzero(sel)} points of the "
            "series; check the wavelength and 2theta range, or pass d_windows."
        )
    xs, ys = x[sel], y[:, sel]
    m = max(2, xs.size // 10)
    left, right = ys[:, :m].mean(axis=1), ys[:, -m:].mean(axis=1)
    xl, xr_ = xs[:m].mean(), xs[-m:].mean()
    base = left[:, None] + (right - left)[:, None] * (xs - xl)[None, :] / (xr_ - xl)
    net = ys - base
    return xs, net


def _auto_003_window(
    x: np.ndarray, y0: np.ndarray, lo: float, hi: float, wavelength: float
) -> tuple[float, float]:
    """Integration window around the (003) peak of the first frames: +/- 3 FWHM.

    The search range (d = 4.55-4.95 A) covers LiCoO2 to charged Ni-rich oxides; integrating
    only around the measured peak keeps the nearby spinel (111) (d ~ 4.69 A) mostly out.
    """
    sel = (x >= lo) & (x <= hi)
    if np.count_nonzero(sel) < 7:
        return lo, hi
    xs, ys = x[sel], y0[sel]
    base = np.linspace(ys[:3].mean(), ys[-3:].mean(), ys.size)
    net = ys - base
    i = int(np.argmax(net))
    half = net[i] / 2
    left = np.flatnonzero(net[:i] < half)
    right = np.flatnonzero(net[i:] < half)
    if net[i] <= 0 or left.size == 0 or right.size == 0:
        return lo, hi
    fwhm = xs[i + right[0]] - xs[left[-1]]
    w = max(3 * fwhm, 0.15 * wavelength / 1.5406)
    return float(max(lo, xs[i] - w)), float(min(hi, xs[i] + w))


def _first_persistent(flag: np.ndarray, start: int, persist: int) -> int | None:
    n = flag.size
    for i in range(start, n):
        j = min(i + persist, n)
        if flag[i:j].all():
            return i
    return None


def detect_thermal_transitions(
    series: xr.DataArray,
    *,
    wavelength: float | None = None,
    d_windows: Mapping[str, tuple[float, float]] | None = None,
    vanish_fraction: float = 0.5,
    appear_fraction: float = 0.5,
    merge_prominence: float = 0.15,
    n_reference: int = 3,
    persist: int = 2,
    min_snr: float = 5.0,
) -> ThermalTransitions:
    """Detect layered -> spinel -> rock-salt transitions in a heating series.

    Parameters
    ----------
    series : xarray.DataArray
        Dims ``("frame", "two_theta")`` with coordinate ``temperature_C`` (increasing).
    wavelength : float, optional
        Wavelength in Angstrom (default ``attrs['wavelength_A']``).
    d_windows : mapping, optional
        d-spacing windows (Angstrom) for ``"003"``, ``"220_spinel"``, ``"108_110"``; default
        :data:`DEFAULT_D_WINDOWS`; unless ``"003"`` is given, the (003) integration window is
        the first frames' (003) peak +/- 3 FWHM found inside the default d range.
    vanish_fraction : float
        (003) counts as vanished below this fraction of its initial intensity.
    appear_fraction : float
        Spinel (220) counts as present above this fraction of its maximum.
    merge_prominence : float
        Minimum prominence (fraction of the band maximum) of a resolved maximum.
    n_reference : int
        Number of first frames defining the initial (003) intensity and the noise.
    persist : int
        Number of consecutive frames a signature must hold to count as an onset.
    min_snr : float
        The (220) maximum must exceed this many noise standard deviations.

    Returns
    -------
    ThermalTransitions

    Raises
    ------
    MissingMetadataError
        No ``temperature_C`` coordinate.
    MissingWavelengthError
        No wavelength.
    EmptyWindowError
        A signature window lies outside the measured range.
    """
    if "temperature_C" not in series.coords:
        raise MissingMetadataError(
            "the series has no 'temperature_C' coordinate; build it with make_series(..., "
            "temperature=...) or read_series(..., temperature=...)."
        )
    for name, v in (
        ("vanish_fraction", vanish_fraction),
        ("appear_fraction", appear_fraction),
        ("merge_prominence", merge_prominence),
    ):
        if not 0 < v < 1:
            raise ParameterError(f"{name} must be in (0, 1), got {v}.")
    wl = pattern_wavelength(series, wavelength)
    y = np.asarray(series.transpose("frame", "two_theta").values, dtype=float)
    check_finite(y, "series intensity")
    x = series.two_theta.values
    temps = np.asarray(series.temperature_C.values, dtype=float)
    n_ref = max(1, min(int(n_reference), y.shape[0]))
    win = layered_windows(wl, d_windows)
    if d_windows is None or "003" not in d_windows:
        win["003"] = _auto_003_window(x, y[:n_ref].mean(axis=0), *win["003"], wl)
    i003n = _signature_003(x, y, win["003"], n_ref)
    i220n, spinel_seen = _signature_220(x, y, win["220_spinel"], n_ref, min_snr)
    n_max = _maxima_108_110(x, y, win["108_110"], merge_prominence)
    vanished = i003n < vanish_fraction
    spinel = i220n > appear_fraction
    merged = n_max == 1
    events = _events(
        vanished, spinel, merged, i220n, spinel_seen, persist=persist, appear=appear_fraction
    )
    phase = np.full(y.shape[0], "layered", dtype=object)
    if events["layered_to_spinel"] is not None:
        phase[events["layered_to_spinel"] :] = "spinel"
    if events["spinel_to_rocksalt"] is not None:
        phase[events["spinel_to_rocksalt"] :] = "rock-salt"
    signatures = pd.DataFrame(
        {
            "frame": np.arange(y.shape[0]),
            "temperature_C": temps,
            "i003_norm": i003n,
            "i220_norm": i220n,
            "n_maxima_108_110": n_max,
            "vanished_003": vanished,
            "merged_108_110": merged,
            "spinel_220": spinel,
            "phase": phase,
        }
    )
    onsets = pd.DataFrame(
        [
            {
                "event": ev,
                "frame": -1 if f is None else int(f),
                "temperature_C": np.nan if f is None else float(temps[f]),
            }
            for ev, f in events.items()
        ]
    )
    params = {
        "wavelength_A": wl,
        "windows_deg": win,
        "vanish_fraction": vanish_fraction,
        "appear_fraction": appear_fraction,
        "merge_prominence": merge_prominence,
        "n_reference": n_ref,
        "persist": persist,
        "min_snr": min_snr,
    }
    return ThermalTransitions(signatures, onsets, params)


def _signature_003(
    x: np.ndarray, y: np.ndarray, window: tuple[float, float], n_ref: int
) -> np.ndarray:
    """(003) net intensity per frame, normalised to the median of the first frames."""
    x3, net3 = _band(x, y, *window, "(003)")
    i003 = np.trapezoid(net3, x3, axis=1)
    ref = float(np.median(i003[:n_ref]))
    if not ref > 0:
        raise EmptyWindowError("no (003) intensity in the first frames: is the sample layered?")
    return i003 / ref


def _signature_220(
    x: np.ndarray, y: np.ndarray, window: tuple[float, float], n_ref: int, min_snr: float
) -> tuple[np.ndarray, bool]:
    """Spinel (220) net intensity scaled 0 (first frames) .. 1 (maximum); and whether its
    maximum stands ``min_snr`` noise standard deviations above the first frames."""
    x2, net2 = _band(x, y, *window, "spinel (220)")
    i220 = np.trapezoid(net2, x2, axis=1)
    dx = float(np.median(np.diff(x2)))
    noise = float(np.std(net2[:n_ref], axis=None) * dx * np.sqrt(x2.size)) if n_ref else 0.0
    i220_max = float(i220.max())
    seen = i220_max > min_snr * max(noise, 1e-300)
    if seen:
        return (i220 - np.median(i220[:n_ref])) / (i220_max - np.median(i220[:n_ref])), seen
    return np.zeros_like(i220), seen


def _maxima_108_110(
    x: np.ndarray, y: np.ndarray, window: tuple[float, float], merge_prominence: float
) -> np.ndarray:
    """Number of resolved maxima in the (108)/(110) band of each frame."""
    from scipy.signal import find_peaks, savgol_filter

    x8, net8 = _band(x, y, *window, "(108)/(110)")
    n_max = np.zeros(y.shape[0], dtype=int)
    k = max(5, (int(0.03 / max(np.median(np.diff(x8)), 1e-9)) | 1))
    for i in range(y.shape[0]):
        prof = savgol_filter(net8[i], k, 2) if k < net8.shape[1] else net8[i]
        top = prof.max()
        if top <= 0:
            continue
        peaks, _ = find_peaks(prof, prominence=merge_prominence * top)
        n_max[i] = peaks.size
    return n_max


def _events(
    vanished: np.ndarray,
    spinel: np.ndarray,
    merged: np.ndarray,
    i220n: np.ndarray,
    spinel_seen: bool,
    *,
    persist: int,
    appear: float,
) -> dict[str, int | None]:
    """First frames of each signature and of the two transitions (None: not seen)."""
    events: dict[str, int | None] = {
        "003_vanishing": _first_persistent(vanished, 0, persist),
        "108_110_merging": _first_persistent(merged & (np.arange(merged.size) > 0), 0, persist),
        "spinel_220_appearing": _first_persistent(spinel, 0, persist),
    }
    votes = vanished.astype(int) + spinel.astype(int) + merged.astype(int)
    t_sp = _first_persistent(votes >= 2, 0, persist)
    events["layered_to_spinel"] = t_sp
    t_rs = None
    if t_sp is not None and spinel_seen:
        i_top = t_sp + int(np.argmax(i220n[t_sp:]))
        faded = (i220n < appear) & vanished
        t_rs = _first_persistent(faded, i_top, persist)
    events["spinel_to_rocksalt"] = t_rs
    return events
