"""Per-particle SPM statistics, topography-ESM cross-talk and C-AFM currents over particles.

Particles themselves come from the engine (:func:`cathodescope.segment.segment_particles`,
via :func:`cathodescope.spm.analyze_spm_scene`); the functions here take any integer label
image (0 = background, 1..N = particles) so they work with engine labels or user masks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import (
    EmptyDataError,
    EmptySegmentationError,
    ParameterError,
    ScanSizeMismatchError,
)

__all__ = [
    "CafmResult",
    "CrosstalkResult",
    "ParticleStatistics",
    "cafm_particle_current",
    "particle_statistics",
    "topography_crosstalk",
]


def _values(a: Any) -> np.ndarray:
    return np.asarray(getattr(a, "values", a))


def _check_labels(labels: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    lab = _values(labels)
    if lab.dtype.kind not in "iub":
        raise ParameterError(f"labels must be an integer image, got dtype {lab.dtype}.")
    lab = lab.astype(np.int64)
    if shape is not None and lab.shape != shape:
        raise ScanSizeMismatchError(
            f"labels have shape {lab.shape} but the maps {shape}; segment the same scan (or "
            "resample the maps onto one grid) first."
        )
    if lab.min() < 0:
        raise ParameterError("labels must be >= 0 (0 = background).")
    if not np.any(lab > 0):
        raise EmptySegmentationError(
            "the label image has no particle (all 0); lower the threshold or check the channel "
            "used for segmentation."
        )
    return lab


def _channel_arrays(channels: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(channels, Mapping) or not channels:
        raise ParameterError("channels must be a non-empty mapping of name -> (y, x) map.")
    arrays = {}
    for k, v in channels.items():  # float maps keep their dtype (no full float64 copies)
        a = np.asarray(_values(v))
        arrays[str(k)] = a if a.dtype.kind == "f" else a.astype(np.float64)
    shapes = {k: a.shape for k, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ScanSizeMismatchError(
            f"maps have different shapes {shapes}; all channels must come from one scan grid."
        )
    for k, a in arrays.items():
        if a.ndim != 2:
            raise ScanSizeMismatchError(f"channel {k!r} is not a 2-D (y, x) map: {a.shape}.")
        if not np.any(np.isfinite(a)):
            raise EmptyDataError(f"channel {k!r} is all NaN; drop it or check the file.")
    return arrays


@dataclass(frozen=True)
class ParticleStatistics:
    """Per-particle statistics of every channel.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (particle, channel): ``particle_id``, ``channel``, ``units``,
        ``n_pixels`` (finite pixels), ``area_um2``, ``mean``, ``std`` (ddof=1), ``median``,
        ``p05``, ``p95``, ``sem`` (std / sqrt(n)); particle_id 0 is the background.
    histograms : pandas.DataFrame
        ``particle_id``, ``channel``, ``bin_left``, ``bin_right``, ``count`` on bin edges
        common to all particles of a channel (so histograms are comparable).
    parameters : dict
        Options used.
    """

    table: pd.DataFrame
    histograms: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-particle table."""
        return self.table


def particle_statistics(
    labels: Any,
    channels: Mapping[str, Any],
    *,
    spacing: tuple[float, float] | float,
    bins: int = 50,
    include_background: bool = True,
    units: Mapping[str, str] | None = None,
) -> ParticleStatistics:
    """Mean +/- std, percentiles and histograms of every channel inside every particle.

    Parameters
    ----------
    labels : (ny, nx) int array_like
        0 = background, 1..N = particles (e.g. ``Segmentation.labels`` from the engine).
    channels : mapping of str to (ny, nx) array_like
        Maps on the same grid (height, ESM amplitude, resonance frequency, current...).
        NaN pixels (e.g. invalid DART pixels) are skipped.
    spacing : float or (dy, dx)
        Pixel size in um (for ``area_um2``).
    bins : int
        Histogram bins per channel (common edges from the 0.5-99.5 percentile range of all
        particle pixels).
    include_background : bool
        Also report particle_id 0 (the matrix between particles).
    units : mapping, optional
        Channel units for the table (default: ``attrs["units"]`` of DataArrays).

    Returns
    -------
    ParticleStatistics

    Raises
    ------
    EmptySegmentationError
        If there is no particle.
    ScanSizeMismatchError
        If labels and maps differ in shape.
    """
    from cathodescope._validation import normalize_spacing

    dy, dx = normalize_spacing(spacing, 2)
    if int(bins) != bins or bins < 2:
        raise ParameterError(f"bins must be an integer >= 2, got {bins!r}.")
    arrays = _channel_arrays(channels)
    shape = next(iter(arrays.values())).shape
    lab = _check_labels(labels, shape)
    unit_map = dict(units or {})
    for key, v in channels.items():
        unit_map.setdefault(str(key), getattr(v, "attrs", {}).get("units", ""))
    n_lab = int(lab.max())
    ids = np.arange(0 if include_background else 1, n_lab + 1)
    pixel_counts = np.bincount(lab.ravel(), minlength=n_lab + 1)
    present = pixel_counts > 0
    ids = ids[present[ids]]
    nb = int(bins)
    # Group pixels by label once (integer sort; labels are shared by all channels); each
    # particle's percentiles then come from np.percentile on its own segment (partition,
    # O(pixels)), never from a full value sort of the map.
    flat_lab = lab.ravel()
    small = flat_lab.astype(np.int16) if n_lab < np.iinfo(np.int16).max else flat_lab
    order = np.argsort(small, kind="stable")  # radix sort for int16 labels
    del small
    bounds = np.concatenate([[0], np.cumsum(pixel_counts)])
    tables = []
    hists = []
    for name, arr in arrays.items():
        flat = arr.ravel()
        n, mean, std, edges = _moments_and_edges(flat, flat_lab, n_lab, nb)
        pct, counts = _percentiles_and_histograms(flat[order], bounds, ids, edges)
        k = n[ids]
        tables.append(
            pd.DataFrame(
                {
                    "particle_id": ids.astype(int),
                    "channel": name,
                    "units": unit_map.get(name, ""),
                    "n_pixels": k.astype(int),
                    "area_um2": pixel_counts[ids] * dy * dx,
                    "mean": mean[ids],
                    "std": std[ids],
                    "median": pct[:, 0],
                    "p05": pct[:, 1],
                    "p95": pct[:, 2],
                    "sem": np.where(k > 1, std[ids] / np.sqrt(np.maximum(k, 1)), np.nan),
                }
            )
        )
        hists.append(
            pd.DataFrame(
                {
                    "particle_id": np.repeat(ids.astype(int), nb),
                    "channel": name,
                    "bin_left": np.tile(edges[:-1], ids.size),
                    "bin_right": np.tile(edges[1:], ids.size),
                    "count": counts.ravel(),
                }
            )
        )
    table = pd.concat(tables, ignore_index=True)
    hist = pd.concat(hists, ignore_index=True)
    return ParticleStatistics(
        table=table,
        histograms=hist,
        parameters={
            "bins": int(bins),
            "include_background": include_background,
            "spacing_um": (dy, dx),
        },
    )


def _moments_and_edges(
    flat: np.ndarray, flat_lab: np.ndarray, n_lab: int, nb: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label count, mean and std (ddof 1) of the finite values, and histogram edges common
    to all particles (0.5-99.5 percentile of the particle pixels)."""
    finite = np.isfinite(flat)
    lab_f = flat_lab[finite]
    val_f = flat[finite].astype(np.float64)
    n = np.bincount(lab_f, minlength=n_lab + 1)
    s1 = np.bincount(lab_f, weights=val_f, minlength=n_lab + 1)
    mean = np.divide(s1, n, out=np.full(n.shape, np.nan), where=n > 0)
    dev = val_f - mean[lab_f]
    dev *= dev
    s2 = np.bincount(lab_f, weights=dev, minlength=n_lab + 1)
    del dev, lab_f  # big maps: free temporaries as soon as possible
    std = np.sqrt(np.divide(s2, n - 1, out=np.full(n.shape, np.nan), where=n > 1))
    part = val_f[flat_lab[finite] > 0]
    if part.size:
        lo_e, hi_e = np.percentile(part, [0.5, 99.5])
        if hi_e <= lo_e:
            lo_e, hi_e = lo_e - 0.5, hi_e + 0.5
    else:
        lo_e, hi_e = 0.0, 1.0
    return n, mean, std, np.linspace(lo_e, hi_e, nb + 1)


def _percentiles_and_histograms(
    grouped: np.ndarray, bounds: np.ndarray, ids: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Median, 5th and 95th percentile and histogram counts of each particle's segment of the
    label-sorted values."""
    nb = edges.size - 1
    pct = np.full((ids.size, 3), np.nan)
    counts = np.zeros((ids.size, nb), dtype=np.int64)
    for row, pid in enumerate(ids):
        seg = grouped[bounds[pid] : bounds[pid + 1]]
        seg = seg[np.isfinite(seg)].astype(np.float64)
        if seg.size:
            pct[row] = np.percentile(seg, [50, 5, 95])
            idx = np.searchsorted(edges, seg, side="right") - 1
            np.clip(idx, 0, nb - 1, out=idx)
            counts[row] = np.bincount(idx, minlength=nb)
    return pct, counts


@dataclass(frozen=True)
class CrosstalkResult:
    """Correlation between topography and a functional map (cross-talk check).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per topography descriptor (``height``, ``slope`` = |grad height|):
        ``pearson_r``, ``pearson_p``, ``spearman_rho``, ``r_squared``, ``slope`` (functional
        units per topography unit), ``n_pixels``.
    flagged : bool
        True if any ``|spearman_rho|`` exceeds ``threshold``: the functional contrast may be
        topographic cross-talk and must be interpreted with care.
    threshold : float
        The |rho| limit used.
    """

    table: pd.DataFrame
    flagged: bool
    threshold: float

    def to_dataframe(self) -> pd.DataFrame:
        """The correlation table."""
        return self.table


def topography_crosstalk(
    height: Any,
    functional: Any,
    *,
    spacing: tuple[float, float] | float = 1.0,
    mask: Any = None,
    threshold: float = 0.5,
    max_pixels: int = 200_000,
    seed: int = 0,
) -> CrosstalkResult:
    """Check whether an ESM (or current, frequency) map merely follows the topography.

    ESM amplitude can pick up topography through the contact area and the cantilever's
    slope-dependent sensitivity; a strong correlation with height or with the local surface
    slope means contrast must not be read as electrochemistry.

    Parameters
    ----------
    height : (ny, nx) array_like
        Levelled topography (m).
    functional : (ny, nx) array_like
        ESM amplitude, current, resonance frequency...
    spacing : float or (dy, dx)
        Pixel size in um, for the slope ``|grad height|`` (m/um).
    mask : bool array_like, optional
        Pixels to use (e.g. particles only); default all finite pixels.
    threshold : float
        |Spearman rho| above which the result is flagged (0-1).
    max_pixels : int
        Random subsample for the rank correlation of very large maps (seeded).
    seed : int
        Subsampling seed.

    Returns
    -------
    CrosstalkResult
    """
    from cathodescope._validation import normalize_spacing

    dy, dx = normalize_spacing(spacing, 2)
    if not 0 < threshold < 1:
        raise ParameterError(f"threshold must be between 0 and 1, got {threshold!r}.")
    arrays = _channel_arrays({"height": height, "functional": functional})
    h, f = arrays["height"], arrays["functional"]
    gy, gx = np.gradient(h, dy, dx)
    descriptors = {"height": h, "slope": np.hypot(gy, gx)}
    use = np.isfinite(h) & np.isfinite(f)
    if mask is not None:
        m = np.asarray(_values(mask), dtype=bool)
        if m.shape != h.shape:
            raise ScanSizeMismatchError(f"mask {m.shape} does not match the maps {h.shape}.")
        use &= m
    if use.sum() < 10:
        raise EmptyDataError("fewer than 10 usable pixels for the cross-talk correlation.")
    idx = np.flatnonzero(use)
    if idx.size > max_pixels:
        idx = np.random.default_rng(seed).choice(idx, size=max_pixels, replace=False)
    rows = []
    fv = f.ravel()[idx]
    for name, d in descriptors.items():
        dv = d.ravel()[idx]
        if np.ptp(dv) == 0 or np.ptp(fv) == 0:
            r = p = rho = slope = np.nan
        else:
            r, p = stats.pearsonr(dv, fv)
            rho = stats.spearmanr(dv, fv).statistic
            slope = np.polyfit(dv, fv, 1)[0]
        rows.append(
            {
                "descriptor": name,
                "pearson_r": float(r),
                "pearson_p": float(p),
                "spearman_rho": float(rho),
                "r_squared": float(r) ** 2,
                "slope": float(slope),
                "n_pixels": int(idx.size),
            }
        )
    table = pd.DataFrame(rows)
    flagged = bool(np.nanmax(np.abs(table["spearman_rho"].to_numpy())) > threshold)
    return CrosstalkResult(table=table, flagged=flagged, threshold=float(threshold))


@dataclass(frozen=True)
class CafmResult:
    """C-AFM current averaged over particle areas, with the noise floor handled.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row: ``offset_A`` (background median, the amplifier offset), ``noise_A`` (robust
        sigma of the background), ``floor_A`` (= k x noise), ``mean_image_A`` (whole image,
        offset removed), ``mean_particles_A`` (particle pixels only, offset removed),
        ``std_particles_A``, ``conducting_fraction`` (particle pixels above the floor),
        ``mean_conducting_A`` (mean over conducting particle pixels), ``n_particle_pixels``,
        ``n_background_pixels``, ``method``.
    per_particle : pandas.DataFrame
        ``particle_id``, ``n_pixels``, ``mean_A``, ``std_A``, ``conducting_fraction``.
    corrected : ndarray
        The current map after the chosen noise handling (A).
    parameters : dict
        Options used.
    """

    summary: pd.DataFrame
    per_particle: pd.DataFrame
    corrected: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The one-row summary."""
        return self.summary


def cafm_particle_current(
    current: Any,
    labels: Any,
    *,
    method: Literal["subtract", "threshold"] = "subtract",
    noise_floor: float | None = None,
    offset: float | None = None,
    k_sigma: float = 3.0,
    background_margin_px: int = 3,
    absolute: bool = False,
) -> CafmResult:
    """Average a C-AFM current map over particle areas only, handling the noise floor.

    Noise floor: the amplifier's offset and noise are estimated from background pixels, i.e.
    pixels farther than ``background_margin_px`` from any particle: ``offset`` = their median,
    ``noise`` = 1.4826 x their median absolute deviation, ``floor = k_sigma x noise``. This
    assumes the matrix between particles is insulating (epoxy of polished cross-sections,
    as in the NCM622 SOC study); where the matrix conducts (carbon/binder), pass ``offset`` and
    ``noise_floor`` measured elsewhere (tip retracted, or an insulating reference area).

    * ``method="subtract"``: report the offset-corrected current averaged over particle pixels
      (unbiased; sub-floor pixels count as measured).
    * ``method="threshold"``: additionally set particle pixels with ``|I - offset| <= floor``
      to 0 before averaging, so that amplifier noise does not add up to a spurious current in
      large insulating areas; ``conducting_fraction`` is reported either way.

    Parameters
    ----------
    current : (ny, nx) array_like
        Current map in A.
    labels : (ny, nx) int array_like
        Particles (0 = background).
    method : {"subtract", "threshold"}
    noise_floor : float, optional
        Floor in A (>= 0); default ``k_sigma`` x robust background sigma.
    offset : float, optional
        Current offset in A; default: background median.
    k_sigma : float
        Floor in robust standard deviations of the background.
    background_margin_px : int
        Background pixels must be this far from particles (avoid the particles' rims).
    absolute : bool
        Average ``|I|`` (for bias polarity conventions that give negative currents).

    Returns
    -------
    CafmResult

    Raises
    ------
    EmptySegmentationError
        If there is no particle.
    EmptyDataError
        If the map is all NaN, or no background pixel is left to estimate the floor and no
        ``offset``/``noise_floor`` is given.
    """
    check_choice(method, ("subtract", "threshold"), "method")
    k_sigma = check_positive(k_sigma, "k_sigma")
    arrays = _channel_arrays({"current": current})
    cur = arrays["current"]
    lab = _check_labels(labels, cur.shape)
    particles = lab > 0
    far = (
        ~ndimage.binary_dilation(particles, iterations=max(int(background_margin_px), 0))
        if background_margin_px > 0
        else ~particles
    )
    bg = cur[far & np.isfinite(cur)]
    if (offset is None or noise_floor is None) and bg.size < 10:
        raise EmptyDataError(
            f"only {bg.size} background pixels to estimate the C-AFM offset and noise floor; "
            "give offset= and noise_floor= (A) measured on an insulating area or with the tip "
            "retracted."
        )
    off = float(np.median(bg)) if offset is None else float(offset)
    noise = float(1.4826 * np.median(np.abs(bg - np.median(bg)))) if bg.size else np.nan
    floor = (
        k_sigma * noise
        if noise_floor is None
        else check_positive(noise_floor, "noise_floor", allow_zero=True)
    )
    corrected = cur - off
    if absolute:
        corrected = np.abs(corrected)
    above = np.abs(cur - off) > floor
    if method == "threshold":
        corrected = np.where(above | ~np.isfinite(cur), corrected, 0.0)
    fin = np.isfinite(corrected)
    pv = corrected[particles & fin]
    if pv.size == 0:
        raise EmptyDataError("no finite current inside the particles.")
    cond = above[particles & fin]
    per_particle = _cafm_per_particle(lab, corrected, above, particles & fin)
    summary = pd.DataFrame(
        [
            {
                "offset_A": off,
                "noise_A": noise,
                "floor_A": floor,
                "mean_image_A": float(np.nanmean(corrected)),
                "mean_particles_A": float(pv.mean()),
                "std_particles_A": float(pv.std(ddof=1)) if pv.size > 1 else np.nan,
                "conducting_fraction": float(cond.mean()),
                "mean_conducting_A": float(pv[cond].mean()) if cond.any() else 0.0,
                "n_particle_pixels": int(pv.size),
                "n_background_pixels": int(bg.size),
                "method": method,
            }
        ]
    )
    return CafmResult(
        summary=summary,
        per_particle=per_particle,
        corrected=corrected,
        parameters={
            "method": method,
            "k_sigma": k_sigma,
            "offset": offset,
            "noise_floor": noise_floor,
            "background_margin_px": background_margin_px,
            "absolute": absolute,
        },
    )


def _cafm_per_particle(
    lab: np.ndarray, corrected: np.ndarray, above: np.ndarray, use: np.ndarray
) -> pd.DataFrame:
    """Per-particle pixel count, mean and std (A) of the corrected current and the fraction
    of pixels above the noise floor, over the ``use`` pixels."""
    n_lab = int(lab.max())
    lab_f = lab[use]
    val_f = corrected[use]
    n = np.bincount(lab_f, minlength=n_lab + 1).astype(float)
    s1 = np.bincount(lab_f, weights=val_f, minlength=n_lab + 1)
    mean = np.divide(s1, n, out=np.full_like(s1, np.nan), where=n > 0)
    s2 = np.bincount(lab_f, weights=(val_f - mean[lab_f]) ** 2, minlength=n_lab + 1)
    std = np.sqrt(np.divide(s2, n - 1, out=np.full_like(s2, np.nan), where=n > 1))
    condn = np.bincount(lab_f, weights=above[use].astype(float), minlength=n_lab + 1)
    ids = np.flatnonzero(n[1:] > 0) + 1
    per_particle = pd.DataFrame(
        {
            "particle_id": ids,
            "n_pixels": n[ids].astype(int),
            "mean_A": mean[ids],
            "std_A": std[ids],
            "conducting_fraction": condn[ids] / n[ids],
        }
    )
    return per_particle
