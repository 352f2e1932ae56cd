"""A surface layer fitted at every point of a series (cycle number, state of charge...)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cathodescope.errors import CathodescopeRunWarning, ParameterError
from cathodescope.xas._kernels import Probe
from cathodescope.xas._layer import LayerFit, fit_layer

__all__ = ["LayerSeries", "fit_layer_series"]


@dataclass(frozen=True)
class LayerSeries:
    """One :class:`LayerFit` per point of a series (cycle number, SOC...).

    Parameters
    ----------
    index_name : str
        Name of the series variable (``"cycle"``, ``"soc"``...).
    index : tuple
        Its value at each point.
    fits : tuple of LayerFit
        One fit per point, in the order of ``index``.
    """

    index_name: str
    index: tuple[Any, ...]
    fits: tuple[LayerFit, ...]

    def to_dataframe(self):
        """``<index_name>, parameter, value, ci_low, ci_high``, one row per point and parameter."""
        import pandas as pd

        parts = []
        for i, f in zip(self.index, self.fits, strict=True):
            df = f.to_dataframe()
            df.insert(0, self.index_name, i)
            parts.append(df)
        return pd.concat(parts, ignore_index=True)

    def probes_dataframe(self):
        """Probe tables of every point with the index column in front."""
        import pandas as pd

        parts = []
        for i, f in zip(self.index, self.fits, strict=True):
            df = f.probes_dataframe()
            df.insert(0, self.index_name, i)
            parts.append(df)
        return pd.concat(parts, ignore_index=True)


def fit_layer_series(
    probe_sets: Mapping[Any, Sequence[Probe]], *, index_name: str = "cycle", **fit_kwargs: Any
) -> LayerSeries:
    """Fit one layer per point of a series (e.g. cycle number or state of charge).

    Parameters
    ----------
    probe_sets : mapping index -> sequence of Probe
        Probes measured at each point (index sorted in the result).
    index_name : str
        Name of the index column (``"cycle"``, ``"soc"``...).
    **fit_kwargs
        Passed to :func:`fit_layer` for every point.

    Returns
    -------
    LayerSeries
    """
    if not probe_sets:
        raise ParameterError("give at least one point of the series.")
    keys = sorted(probe_sets)
    fits = []
    for k in keys:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CathodescopeRunWarning)
            fit = fit_layer(probe_sets[k], **fit_kwargs)
        for w in caught:
            warnings.warn(f"{index_name} {k}: {w.message}", w.category, stacklevel=2)
        fits.append(fit)
    return LayerSeries(index_name, tuple(keys), tuple(fits))
