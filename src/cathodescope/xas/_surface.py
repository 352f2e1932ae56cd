"""Surface (TEY) versus bulk (PFY/FY) LCF over a cycling series (CG-NMC622 paper, Fig. 4d)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cathodescope.errors import MissingMetadataError, ParameterError
from cathodescope.xas._lcf import lcf
from cathodescope.xas._normalize import normalize

_MODES = ("TEY", "PFY", "FY", "TFY", "IPFY", "TRANS")


def surface_bulk_table(
    spectra: Iterable[Mapping[str, Any]],
    standards: Mapping[str, Any],
    *,
    fraction_of: str,
    fit_range: tuple[float, float],
    normalize_spectra: bool = False,
    normalize_kwargs: Mapping[str, Any] | None = None,
    **lcf_kwargs: Any,
):
    """Fit every (sample, cycle, mode) spectrum and tabulate the fraction of one standard.

    Parameters
    ----------
    spectra : iterable of mappings
        Each with keys ``sample``, ``cycle`` (int), ``mode`` (``"TEY"``, ``"PFY"``, ``"FY"``...)
        and ``spectrum`` (DataArray, energy in eV).
    standards : mapping name -> DataArray
        Normalized standards (e.g. NiO = Ni2+, LiNiO2 = Ni3+ at the Ni L3 or K edge).
    fraction_of : str
        The standard whose fraction is tabulated (e.g. ``"NiO"`` for the Ni2+ fraction).
    fit_range : (float, float)
        LCF window, eV.
    normalize_spectra : bool
        Normalize raw spectra first with :func:`normalize` (``normalize_kwargs``).
    normalize_kwargs : mapping, optional
        Options of :func:`normalize` when ``normalize_spectra`` is True.
    **lcf_kwargs
        Passed to :func:`lcf`.

    Returns
    -------
    pandas.DataFrame
        ``sample, cycle, mode, fraction, ci_low, ci_high, r_factor, reduced_chi2`` plus
        ``w_<standard>`` for every standard; sorted by sample, mode, cycle.
    """
    import pandas as pd

    if fraction_of not in standards:
        raise ParameterError(f"fraction_of={fraction_of!r} is not one of {list(standards)}.")
    rows = []
    for item in spectra:
        for key in ("sample", "cycle", "mode", "spectrum"):
            if key not in item:
                raise MissingMetadataError(f"each spectrum entry needs {key!r}; got {list(item)}.")
        mode = str(item["mode"]).upper()
        if mode not in _MODES:
            raise ParameterError(f"mode {item['mode']!r} unknown; expected one of {_MODES}.")
        spec = item["spectrum"]
        if normalize_spectra:
            spec = normalize(spec, **dict(normalize_kwargs or {})).to_dataarray("flat")
        res = lcf(spec, standards, fit_range=fit_range, **lcf_kwargs)
        j = res.standards.index(fraction_of)
        row = {
            "sample": item["sample"],
            "cycle": int(item["cycle"]),
            "mode": mode,
            "fraction": float(res.weights[j]),
            "ci_low": float(res.ci_low[j]),
            "ci_high": float(res.ci_high[j]),
            "r_factor": res.r_factor,
            "reduced_chi2": res.reduced_chi2,
        }
        for n, w in zip(res.standards, res.weights, strict=True):
            row[f"w_{n}"] = float(w)
        rows.append(row)
    if not rows:
        raise ParameterError("no spectra given.")
    return pd.DataFrame(rows).sort_values(["sample", "mode", "cycle"]).reset_index(drop=True)
