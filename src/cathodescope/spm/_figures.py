"""Matplotlib figures of SPM maps (used by the CLI; headless-safe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["maps_figure"]

_DISPLAY = {"m": (1e9, "nm"), "m/V": (1e12, "pm/V"), "A": (1e12, "pA"), "Hz": (1e-3, "kHz")}


def display_scale(units: str) -> tuple[float, str]:
    """Factor and unit for showing SI values at a readable scale (m -> nm, A -> pA...)."""
    return _DISPLAY.get(units, (1.0, units))


def maps_figure(
    maps: Mapping[str, Any],
    *,
    title: str = "",
    ncols: int = 3,
    robust: bool = True,
    overlay: np.ndarray | None = None,
) -> Any:
    """Grid of ``(y, x)`` maps with colour bars in display units.

    Parameters
    ----------
    maps : mapping of str to xarray.DataArray or ndarray
        Maps to show; DataArrays give um axes and units.
    title : str
        Figure title.
    ncols : int
        Columns of the grid.
    robust : bool
        Colour limits at the 1st/99th percentiles (outliers do not wash out the map).
    overlay : (ny, nx) int array, optional
        Particle labels drawn as contours on every map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(maps)
    ncols = max(1, min(ncols, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.ravel()[len(names) :]:
        ax.set_axis_off()
    for ax, name in zip(axes.ravel(), names, strict=False):
        da = maps[name]
        values = np.asarray(getattr(da, "values", da), dtype=float)
        units = getattr(da, "attrs", {}).get("units", "")
        factor, shown = display_scale(units)
        v = values * factor
        finite = v[np.isfinite(v)]
        vmin = vmax = None
        if robust and finite.size:
            vmin, vmax = np.percentile(finite, [1, 99])
        extent = None
        if hasattr(da, "coords") and "x" in da.coords and "y" in da.coords:
            x, y = da["x"].values, da["y"].values
            extent = (x[0], x[-1], y[-1], y[0])
        im = ax.imshow(
            v,
            cmap="viridis" if units != "m" else "afmhot",
            vmin=vmin,
            vmax=vmax,
            extent=extent,
            interpolation="nearest",
        )
        if overlay is not None:
            mask = (np.asarray(overlay) > 0).astype(float)
            if extent is not None:
                ax.contour(x, y, mask, levels=[0.5], colors="w", linewidths=0.6)
            else:
                ax.contour(mask, levels=[0.5], colors="w", linewidths=0.6)
        ax.set_title(name, fontsize=9)
        if extent is not None:
            ax.set_xlabel("x (um)")
            ax.set_ylabel("y (um)")
        fig.colorbar(im, ax=ax, label=shown, shrink=0.85)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
