"""Sample-level summary over particles: mean profile, interval over particles, spread."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from cathodescope._validation import check_choice
from cathodescope.errors import ParameterError

__all__ = ["SUMMARY_COLUMNS", "sample_summary"]

SUMMARY_COLUMNS = [
    "n_particles",
    "mean",
    "sd_between",
    "ci_low",
    "ci_high",
    "min",
    "max",
    "within_halfwidth",
]
_METRICS = ("edge_ratio", "core_ratio", "d_core_edge", "max_ratio", "d_max_min")
_METRIC_CI = {"edge_ratio": "edge", "core_ratio": "core"}


def sample_summary(
    depth: Any,
    *,
    table: Literal["ratios", "profiles", "metrics"] = "ratios",
    ci_level: float | None = None,
    min_particles: int = 2,
) -> pd.DataFrame:
    """Summarise the particles of a sample: mean, interval over particles and spread.

    Each particle is one draw from the sample's population of particles, so the sample's
    answer is the mean over particles with a Student-t interval over particles,
    ``mean +/- t(n - 1) * sd_between / sqrt(n)``; ``sd_between`` (ddof = 1) is the
    particle-to-particle spread and ``within_halfwidth`` the mean half-width of the
    particles' own intervals (their measurement uncertainty), for comparison.

    Parameters
    ----------
    depth : DepthProfiles
        Result of :func:`depth_profiles` (e.g. ``SceneAnalysis.depth``).
    table : {"ratios", "profiles", "metrics"}
        Summarise the elemental ratios per element and depth bin (default), the channel
        means per channel and depth bin, or the Table-1 metrics per element.
    ci_level : float, optional
        Level of the interval over particles; default the level of ``depth``.
    min_particles : int
        Fewest particles for an interval (fewer: NaN interval, the mean is still given).

    Returns
    -------
    pandas.DataFrame
        Keys ``element`` (``channel`` for ``"profiles"``) and ``depth_um`` (bin centre, um) or
        ``metric`` (for ``"metrics"``), then ``n_particles``, ``mean``, ``sd_between``,
        ``ci_low``, ``ci_high``, ``min``, ``max``, ``within_halfwidth`` (the table's units:
        fractions for ratios and metrics, channel intensity for profiles). Particles whose
        value is NaN in a row are left out of that row.

    Raises
    ------
    ParameterError
        For an unknown ``table``, a ``ci_level`` outside (0, 1) or ``min_particles`` < 2.

    Examples
    --------
    >>> import numpy as np
    >>> from cathodescope.profile import depth_profiles
    >>> z, y, x = np.mgrid[:30, :30, :70]
    >>> two = (((z - 14.5) ** 2 + (y - 14.5) ** 2 + (x - 15) ** 2) < 13**2) * 1
    >>> two += (((z - 14.5) ** 2 + (y - 14.5) ** 2 + (x - 52) ** 2) < 13**2) * 2
    >>> res = depth_profiles(two, {"Ni": (two > 0) * 2.0, "Mn": (two > 0) * 1.0},
    ...                      spacing=0.05, sampling_window_um=(0.1, 0.5),
    ...                      edge_window_um=(0.1, 0.15), core_window_um=(0.45, 0.5))
    >>> s = sample_summary(res)
    >>> int(s.n_particles.max()), round(float(s.query("element == 'Ni'")["mean"].mean()), 3)
    (2, 0.667)
    """
    check_choice(table, ("ratios", "profiles", "metrics"), "table")
    level = float(depth.parameters["ci_level"] if ci_level is None else ci_level)
    if not 0 < level < 1:
        raise ParameterError(f"ci_level must be in (0, 1), e.g. 0.99; got {ci_level!r}.")
    if int(min_particles) < 2:
        raise ParameterError(f"min_particles must be >= 2, got {min_particles!r}.")
    if table == "metrics":
        long = _metrics_long(depth.metrics)
        keys = ["element", "metric"]
    else:
        df = depth.ratios if table == "ratios" else depth.profiles
        name = "element" if table == "ratios" else "channel"
        value = "ratio" if table == "ratios" else "mean"
        long = pd.DataFrame(
            {
                name: df[name],
                "depth_um": df["depth_um"],
                "value": df[value],
                "half": (df["ci_high"] - df["ci_low"]) / 2,
            }
        )
        keys = [name, "depth_um"]
    return _summarise(long, keys, level, int(min_particles))


def _metrics_long(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per particle, element and metric: value and interval half-width."""
    parts = []
    for metric in _METRICS:
        prefix = _METRIC_CI.get(metric, metric)
        parts.append(
            pd.DataFrame(
                {
                    "element": metrics["element"],
                    "metric": metric,
                    "value": metrics[metric],
                    "half": (metrics[f"{prefix}_ci_high"] - metrics[f"{prefix}_ci_low"]) / 2,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _summarise(long: pd.DataFrame, keys: list[str], level: float, min_n: int) -> pd.DataFrame:
    long = long[np.isfinite(long["value"].to_numpy(dtype=float))]
    g = long.groupby(keys, sort=True)["value"]
    out = pd.DataFrame(
        {
            "n_particles": g.count(),
            "mean": g.mean(),
            "sd_between": g.std(ddof=1),
            "min": g.min(),
            "max": g.max(),
            "within_halfwidth": long.groupby(keys, sort=True)["half"].mean(),
        }
    ).reset_index()
    n = out["n_particles"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tval = special.stdtrit(np.where(n >= min_n, n - 1, np.nan), 0.5 + level / 2)
        half = tval * out["sd_between"].to_numpy(dtype=float) / np.sqrt(n)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    return out[[*keys, *SUMMARY_COLUMNS]]
