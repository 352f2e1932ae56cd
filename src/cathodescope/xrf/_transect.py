"""Fraction line profiles across a particle and their core/shell fit, as tables.

One call gives what a user of ``cathodescope xrf profile`` / ``coreshell`` reads: the profile
table (signals, fractions E/(sum), optionally a two-element ratio) and the core/shell fit of
the fractions, with the same fit of the ratio profile for comparison (its midpoint is biased;
the fractions are not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope.errors import ParameterError
from cathodescope.xrf._coreshell import CoreShellFit, fit_core_shell
from cathodescope.xrf._lineprofile import line_profile
from cathodescope.xrf._maps import Threshold, fraction_maps, ratio_map

__all__ = [
    "CoreShellTransect",
    "FractionTransect",
    "fit_transect",
    "fraction_transect",
    "ratio_summary",
]


@dataclass(frozen=True)
class FractionTransect:
    """Signals, fractions and (optionally) a ratio along one line through a map.

    Parameters
    ----------
    table : pandas.DataFrame
        ``distance_um``, ``y_um``, ``x_um``, ``signal_<channel>`` (map units),
        ``fraction_<element>`` (0-1) and ``ratio_<num>_<den>`` when a ratio was asked for.
    fractions : xarray.DataArray
        ``(channel, distance)`` fraction profile (``attrs["width_um"]``: band width used, um).
    ratio : xarray.DataArray or None
        ``(distance,)`` ratio profile.
    elements : tuple of str
        Elements of the fractions.
    ratio_name : str or None
        ``"Mn/Ni"`` style name of the ratio.
    """

    table: pd.DataFrame
    fractions: xr.DataArray
    ratio: xr.DataArray | None
    elements: tuple[str, ...]
    ratio_name: str | None = None

    @property
    def width_um(self) -> float:
        """Width (um) of the band averaged across the line."""
        return float(self.fractions.attrs["width_um"])


def _split_ratio(text: str) -> tuple[str, str]:
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ParameterError(f"ratio {text!r} is not of the form 'Mn/Ni'.")
    return parts[0].strip(), parts[1].strip()


def fraction_transect(
    maps: xr.DataArray,
    start: Sequence[float],
    end: Sequence[float],
    *,
    elements: Sequence[str] = ("Ni", "Mn", "Co"),
    width_um: float = 0.0,
    min_signal: Threshold = "otsu",
    compare_ratio: str | None = None,
) -> FractionTransect:
    """Line profile of signals, fractions E/(sum) and optionally a ratio between two points.

    Parameters
    ----------
    maps : xarray.DataArray
        ``(channel, y, x)`` element maps, coordinates in um.
    start, end : (float, float)
        End points ``(y, x)`` in um (map coordinates).
    elements : sequence of str
        Elements of the fractions.
    width_um : float
        Band width in um averaged across the line.
    min_signal : float, "otsu" or None
        Pixels whose summed signal is below this (map units) are masked.
    compare_ratio : str, optional
        Also profile a ratio such as ``"Mn/Ni"``.

    Returns
    -------
    FractionTransect
    """
    frac = fraction_maps(maps, list(elements), min_signal=min_signal)
    fp = line_profile(frac, start, end, width_um=width_um)
    sp = line_profile(maps, start, end, width_um=width_um)
    table = pd.DataFrame(
        {"distance_um": fp["distance"].values, "y_um": fp["y"].values, "x_um": fp["x"].values}
    )
    for c in sp["channel"].values:
        table[f"signal_{c}"] = sp.sel(channel=c).values
    for e in elements:
        table[f"fraction_{e}"] = fp.sel(channel=e).values
    ratio_prof = None
    if compare_ratio:
        num, den = _split_ratio(compare_ratio)
        ratio = ratio_map(maps, num, den, min_signal=min_signal)
        ratio_prof = line_profile(ratio, start, end, width_um=width_um)
        table[f"ratio_{num}_{den}"] = ratio_prof.values
    return FractionTransect(
        table=table,
        fractions=fp,
        ratio=ratio_prof,
        elements=tuple(elements),
        ratio_name=compare_ratio or None,
    )


@dataclass(frozen=True)
class CoreShellTransect:
    """Core/shell fit of a fraction transect (and of its ratio profile, for comparison).

    Parameters
    ----------
    fit : CoreShellFit
        Fit of the fractions (unbiased interface).
    table : pandas.DataFrame
        ``fit.to_dataframe()`` with a first column ``profile = "fraction"``.
    ratio_fit : CoreShellFit or None
        The same model fitted to the ratio profile.
    ratio_table : pandas.DataFrame or None
        Its table, ``profile = "ratio (midpoint biased, for comparison)"``.
    """

    fit: CoreShellFit
    table: pd.DataFrame
    ratio_fit: CoreShellFit | None = None
    ratio_table: pd.DataFrame | None = None


def fit_transect(
    transect: FractionTransect,
    *,
    model: Literal["erf", "logistic"] = "erf",
    geometry: Literal["edge", "cross"] = "edge",
    shell_at: Literal["start", "end"] = "start",
) -> CoreShellTransect:
    """Fit a core/shell step to the fractions of a transect (and to its ratio, if any).

    Parameters
    ----------
    transect : FractionTransect
        From :func:`fraction_transect`.
    model, geometry, shell_at : str
        See :func:`fit_core_shell`.

    Returns
    -------
    CoreShellTransect
    """
    fp = transect.fractions
    options: dict[str, Any] = {"model": model, "geometry": geometry, "shell_at": shell_at}
    fit = fit_core_shell(
        fp["distance"].values, {e: fp.sel(channel=e).values for e in transect.elements}, **options
    )
    table = fit.to_dataframe()
    table.insert(0, "profile", "fraction")
    ratio_fit = ratio_table = None
    if transect.ratio is not None:
        ratio_fit = fit_core_shell(
            transect.ratio["distance"].values,
            {str(transect.ratio_name): transect.ratio.values},
            **options,
        )
        ratio_table = ratio_fit.to_dataframe()
        ratio_table.insert(0, "profile", "ratio (midpoint biased, for comparison)")
    return CoreShellTransect(fit=fit, table=table, ratio_fit=ratio_fit, ratio_table=ratio_table)


def ratio_summary(ratio: xr.DataArray) -> pd.DataFrame:
    """One-row summary of a ratio image over its unmasked (finite) pixels.

    Parameters
    ----------
    ratio : xarray.DataArray
        From :func:`cathodescope.xrf.ratio_map` (``attrs`` ``masked_fraction``,
        ``min_signal``).

    Returns
    -------
    pandas.DataFrame
        ``ratio``, ``n_pixels``, ``masked_fraction``, ``min_signal``, ``mean``, ``std``
        (ddof 1), ``p05``, ``median``, ``p95`` (dimensionless).
    """
    v = ratio.values[np.isfinite(ratio.values)]
    return pd.DataFrame(
        [
            {
                "ratio": ratio.name,
                "n_pixels": int(v.size),
                "masked_fraction": ratio.attrs["masked_fraction"],
                "min_signal": ratio.attrs["min_signal"],
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
                "p05": float(np.percentile(v, 5)),
                "median": float(np.median(v)),
                "p95": float(np.percentile(v, 95)),
            }
        ]
    )
