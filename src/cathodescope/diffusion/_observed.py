"""Measured ratio profiles (a run folder's ``ratios.csv``) as padded arrays for the fits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cathodescope._validation import check_positive
from cathodescope.errors import EmptyDataError, FileFormatError, ParameterError

RATIO_COLUMNS = ("particle_id", "element", "depth_um", "ratio", "ci_low", "ci_high")


@dataclass(frozen=True)
class ObservedProfiles:
    """Ratio profiles of ``P`` particles on padded depth bins.

    Parameters
    ----------
    particle_ids : ndarray (P,)
        Engine particle labels, in the order of the first axis.
    elements : tuple of str
        Metals, in the order of the second axis of ``ratio``.
    depth_um : ndarray (P, nb)
        Bin centres (um below the surface), NaN where padded.
    ratio, sigma : ndarray (P, n_elements, nb)
        Measured ratio and its standard error (from the interval half-width).
    mask : ndarray of bool (P, n_elements, nb)
        Points used in the fit.
    radius_um : ndarray (P,)
        Particle radius (um) given to the model.
    bin_width_um : float
        Depth bin width of the engine (um).
    """

    particle_ids: np.ndarray
    elements: tuple[str, ...]
    depth_um: np.ndarray
    ratio: np.ndarray
    sigma: np.ndarray
    mask: np.ndarray
    radius_um: np.ndarray
    bin_width_um: float

    @property
    def n_particles(self) -> int:
        return int(self.particle_ids.size)


def _z(level: float) -> float:
    from scipy.stats import norm

    if not 0 < level < 1:
        raise ParameterError(f"ci_level must lie in (0, 1), got {level}.")
    return float(norm.ppf(0.5 + level / 2))


def observed_from_ratios(
    ratios: pd.DataFrame,
    elements: Sequence[str],
    *,
    radius_um: float | Mapping[int, float],
    ci_level: float = 0.99,
    bin_width_um: float | None = None,
    depth_range_um: tuple[float, float] | None = None,
    windows: pd.DataFrame | None = None,
    particle_ids: Sequence[int] | None = None,
) -> ObservedProfiles:
    """Arrange ``ratios.csv`` rows per particle for fitting.

    Parameters
    ----------
    ratios : DataFrame
        ``particle_id, element, depth_um, ratio, ci_low, ci_high`` (and ``flagged``), as the
        engine writes.
    elements : sequence of str
        Metals to fit (those of the precursor).
    radius_um : float or mapping particle_id -> float
        Model radius (um) of every particle, or one per particle.
    ci_level : float
        Level of the intervals in the table (the engine's ``--ci-level``, default 0.99); the
        standard error of a point is ``(ci_high - ci_low) / (2 z)``.
    bin_width_um : float, optional
        Depth bin width (um); default: the smallest spacing of ``depth_um``.
    depth_range_um : (lo, hi), optional
        Fit only bins whose centre lies in this depth range (um).
    windows : DataFrame, optional
        The engine's ``reliable_windows`` (``particle_id, depth_min_um, depth_max_um``):
        only bins inside each particle's window are fitted.
    particle_ids : sequence of int, optional
        Fit only these particles.

    Returns
    -------
    ObservedProfiles
        The profiles padded to a common number of bins, with the fitted points masked in.

    Raises
    ------
    FileFormatError
        If a column or an element is missing.
    EmptyDataError
        If no particle keeps a usable point.
    """
    missing = [c for c in RATIO_COLUMNS if c not in ratios.columns]
    if missing:
        raise FileFormatError(
            f"the ratio table lacks columns {missing}; give the ratios.csv of a profile run "
            f"(columns {list(RATIO_COLUMNS)}, flagged)."
        )
    absent = sorted(set(elements) - set(ratios["element"].astype(str)))
    if absent:
        raise FileFormatError(
            f"the ratio table has no rows for {absent} (it has "
            f"{sorted(set(ratios['element'].astype(str)))}); the precursor's metals must match "
            "the engine's ratio channels."
        )
    z = _z(ci_level)
    df = ratios[ratios["element"].astype(str).isin(elements)].copy()
    if particle_ids is not None:
        df = df[df["particle_id"].isin(list(particle_ids))]
    if bin_width_um is None:
        steps = np.diff(np.unique(np.round(df["depth_um"].to_numpy(float), 9)))
        if steps.size == 0:
            raise EmptyDataError("the ratio table has a single depth: nothing to fit.")
        bin_width_um = float(steps.min())
    w = check_positive(bin_width_um, "bin_width_um")
    df["sigma"] = (df["ci_high"] - df["ci_low"]) / (2 * z)
    ok = np.isfinite(df[["ratio", "sigma"]].to_numpy(float)).all(axis=1) & (df["sigma"] > 0)
    if "flagged" in df.columns:
        ok &= ~df["flagged"].astype(bool)
    if depth_range_um is not None:
        lo, hi = depth_range_um
        ok &= (df["depth_um"] >= lo) & (df["depth_um"] <= hi)
    if windows is not None:
        win = windows.set_index("particle_id")
        dmin = df["particle_id"].map(win["depth_min_um"])
        dmax = df["particle_id"].map(win["depth_max_um"])
        ok &= (df["depth_um"] >= dmin) & (df["depth_um"] <= dmax)
    df = df[ok]
    pids = np.array(sorted(df["particle_id"].unique()))
    if pids.size == 0:
        raise EmptyDataError(
            "no usable ratio point is left (finite ratio, interval > 0, not flagged, inside the "
            "depth window); widen --depth-range-um or check the ratio table."
        )
    df["k"] = np.rint(df["depth_um"].to_numpy(float) / w - 0.5).astype(int)
    kmin = df.groupby("particle_id")["k"].min()
    df["j"] = df["k"] - df["particle_id"].map(kmin)
    nb = int(df["j"].max()) + 1
    n_p, n_e = pids.size, len(elements)
    p_index = pd.Series(np.arange(n_p), index=pids)
    e_index = {e: i for i, e in enumerate(elements)}
    pi = p_index[df["particle_id"]].to_numpy()
    ei = df["element"].astype(str).map(e_index).to_numpy()
    ji = df["j"].to_numpy()
    ratio = np.zeros((n_p, n_e, nb))
    sigma = np.ones((n_p, n_e, nb))
    mask = np.zeros((n_p, n_e, nb), dtype=bool)
    ratio[pi, ei, ji] = df["ratio"].to_numpy(float)
    sigma[pi, ei, ji] = df["sigma"].to_numpy(float)
    mask[pi, ei, ji] = True
    depth = (kmin[pids].to_numpy()[:, None] + np.arange(nb)[None, :] + 0.5) * w
    if isinstance(radius_um, Mapping):
        try:
            radius = np.array([float(radius_um[int(p)]) for p in pids])
        except KeyError as exc:
            raise ParameterError(f"no radius for particle {exc.args[0]}.") from None
    else:
        radius = np.full(n_p, check_positive(radius_um, "radius_um"))
    inside = depth < radius[:, None]
    mask &= inside[:, None, :]
    return ObservedProfiles(pids, tuple(elements), depth, ratio, sigma, mask, radius, w)
