"""Whole-command steps of SPM: level one channel by a named method, summarise the result,
and the single-frequency ESM summary. Pure functions over library results (no files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_choice

__all__ = [
    "LevelledChannel",
    "cube_statistics",
    "curve_statistics",
    "esm_summary",
    "level_channel",
]

LevelMethod = Literal["plane", "polynomial", "rows", "masked"]


@dataclass(frozen=True)
class LevelledChannel:
    """A levelled channel with what the levelling did.

    Parameters
    ----------
    image : xarray.DataArray
        Levelled ``(y, x)`` map (same units as the input; ``attrs["levelling"]`` lists the
        steps).
    excluded : numpy.ndarray or None
        ``(ny, nx)`` bool, pixels excluded as particles by masked levelling.
    summary : pandas.DataFrame
        One row: ``channel``, ``units``, ``method``, ``rms``, ``ptp``, ``rms_background``
        (excluded pixels left out) in the channel's units, ``steps``.
    info : dict
        ``n_iter``, ``converged``, ``excluded_fraction`` (masked), ``scar_pixels`` (scars).
    """

    image: xr.DataArray
    excluded: np.ndarray | None
    summary: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def level_channel(
    raw: xr.DataArray,
    *,
    channel: str,
    method: LevelMethod = "masked",
    order: int = 1,
    threshold: float = 2.5,
    align: bool = False,
    scars: bool = False,
) -> LevelledChannel:
    """Level one SPM channel by a named method, optionally align rows and remove scars.

    Parameters
    ----------
    raw : xarray.DataArray
        ``(y, x)`` channel (e.g. ``scan["Height"]``).
    channel : str
        Its name (for the summary table).
    method : {"plane", "polynomial", "rows", "masked"}
        Plane fit, polynomial of ``order``, median row alignment, or masked iterative
        levelling that excludes particles (:func:`masked_level`).
    order : int
        Polynomial order (``polynomial`` and ``masked``).
    threshold : float
        ``masked``: particle threshold in robust standard deviations.
    align : bool
        Also align rows (median).
    scars : bool
        Remove scan-line scars afterwards.

    Returns
    -------
    LevelledChannel
    """
    from cathodescope.spm._level import align_rows, masked_level, polynomial_level, remove_scars

    check_choice(method, ("plane", "polynomial", "rows", "masked"), "method")
    info: dict[str, Any] = {}
    excluded = None
    if method == "plane":
        out = polynomial_level(raw, order=1)
    elif method == "polynomial":
        out = polynomial_level(raw, order=order)
    elif method == "rows":
        out = align_rows(raw, method="median")
    else:
        res = masked_level(raw, order=order, threshold=threshold, align=align)
        out, excluded = res.image, res.excluded
        info.update(
            n_iter=res.n_iter, converged=res.converged, excluded_fraction=float(excluded.mean())
        )
    if align and method != "masked":
        out = align_rows(out, method="median", mask=excluded)
    if scars:
        out, scar_mask = remove_scars(out)
        info["scar_pixels"] = int(scar_mask.sum())
    v = out.values
    summary = pd.DataFrame(
        [
            {
                "channel": channel,
                "units": out.attrs.get("units", ""),
                "method": method,
                "rms": float(np.nanstd(v)),
                "ptp": float(np.nanmax(v) - np.nanmin(v)),
                "rms_background": float(np.nanstd(v[~excluded]))
                if excluded is not None
                else float(np.nanstd(v)),
                "steps": "; ".join(out.attrs.get("levelling", [])),
            }
        ]
    )
    return LevelledChannel(image=out, excluded=excluded, summary=summary, info=info)


def esm_summary(esm: xr.DataArray, *, q: float, drive_voltage: float) -> pd.DataFrame:
    """One-row summary of a single-frequency ESM amplitude map ``A / (Q V_ac)``.

    Parameters
    ----------
    esm : xarray.DataArray
        From :func:`normalize_esm` (``attrs["units"]``, m/V).
    q : float
        Contact-resonance quality factor used.
    drive_voltage : float
        AC drive in V used.

    Returns
    -------
    pandas.DataFrame
        ``quantity``, ``units``, ``mean``, ``std`` (ddof 1, m/V), ``q``, ``drive_voltage_V``.
    """
    v = esm.values
    return pd.DataFrame(
        [
            {
                "quantity": "esm_amplitude",
                "units": esm.attrs["units"],
                "mean": float(v.mean()),
                "std": float(v.std(ddof=1)),
                "q": q,
                "drive_voltage_V": drive_voltage,
            }
        ]
    )


def cube_statistics(cube: Any) -> dict[str, Any]:
    """Shape, units and value statistics of a spectroscopy cube (one ``channels`` row).

    Parameters
    ----------
    cube : xarray.DataArray
        ``(bias, y, x)`` cube.

    Returns
    -------
    dict
        ``channel``, ``units``, ``ny``, ``nx``, ``n_spectral``, ``min``, ``max``, ``mean``,
        ``std``, ``n_nan``, ``pixel_y_um``, ``pixel_x_um``.
    """
    v = np.asarray(cube.values, dtype=float)
    finite = v[np.isfinite(v)]
    nan = float("nan")
    return {
        "channel": cube.attrs.get("channel", ""),
        "units": cube.attrs.get("units", ""),
        "ny": cube.sizes["y"],
        "nx": cube.sizes["x"],
        "n_spectral": cube.sizes[cube.dims[0]],
        "min": float(finite.min()) if finite.size else nan,
        "max": float(finite.max()) if finite.size else nan,
        "mean": float(finite.mean()) if finite.size else nan,
        "std": float(finite.std()) if finite.size else nan,
        "n_nan": int(v.size - finite.size),
        "pixel_y_um": cube.attrs["spacing_um"][0],
        "pixel_x_um": cube.attrs["spacing_um"][1],
    }


def curve_statistics(curve: Any) -> Any:
    """One row per numeric column of a curve table: units, points, min, max, mean, std.

    Parameters
    ----------
    curve : pandas.DataFrame
        From :func:`cathodescope.io.read_ibw_curve`.

    Returns
    -------
    pandas.DataFrame
        ``channel``, ``units``, ``n_points``, ``min``, ``max``, ``mean``, ``std``, ``n_nan``.
    """
    units = curve.attrs.get("units", {})
    rows = []
    for column in units:
        values = curve[column]
        rows.append(
            {
                "channel": column,
                "units": units[column],
                "n_points": int(values.size),
                "min": float(values.min()),
                "max": float(values.max()),
                "mean": float(values.mean()),
                "std": float(values.std(ddof=0)),
                "n_nan": int(values.isna().sum()),
            }
        )
    return pd.DataFrame(rows)
