"""Diffraction figures: peak fits per window, the Williamson-Hall plot, the heating contour.

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure`), so no backend is ever
selected or switched; save with ``fig.savefig(path)`` or :meth:`RunFolder.write_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from cathodescope.errors import MissingMetadataError
from cathodescope.xrd import (
    PeakFitResult,
    PeakWindow,
    ThermalTransitions,
    WilliamsonHallResult,
    peak_fit_curve,
)

__all__ = ["plot_heating_contour", "plot_peak_fits", "plot_williamson_hall"]


def plot_peak_fits(
    pattern: xr.DataArray, result: PeakFitResult, windows: Sequence[PeakWindow]
) -> Figure:
    """Data and fitted model (:func:`~cathodescope.xrd.peak_fit_curve`) of each window.

    Parameters
    ----------
    pattern : xarray.DataArray
        The fitted pattern (dim ``two_theta``, deg).
    result : PeakFitResult
        Output of :func:`~cathodescope.xrd.fit_peaks` on ``pattern``.
    windows : sequence of PeakWindow
        The windows that were fitted; one panel each.

    Returns
    -------
    matplotlib.figure.Figure
        One row of panels, 2theta (deg) against intensity.

    Examples
    --------
    >>> from cathodescope.io import make_pattern
    >>> from cathodescope.xrd import fit_peaks, pseudo_voigt
    >>> x = np.linspace(17, 21, 401)
    >>> p = make_pattern(x, 100 + pseudo_voigt(x, 19.0, 0.1, 0.3, 500.0))
    >>> win = PeakWindow(18, 20, (18.95,), ("003",))
    >>> fig = plot_peak_fits(p, fit_peaks(p, win, weights="none"), [win])
    >>> len(fig.axes)
    1
    """
    n = len(windows)
    fig = Figure(figsize=(3.2 * n, 3))
    axes = fig.subplots(1, n, squeeze=False)
    x_all = pattern.two_theta.values
    for ax, win in zip(axes[0], windows, strict=True):
        sel = (x_all >= win.lo) & (x_all <= win.hi)
        x, model = peak_fit_curve(pattern, result, win)
        ax.plot(x, pattern.values[sel], ".", ms=3, color="k", label="data")
        ax.plot(x, model, "-", color="C3", label="fit")
        ax.set_title(", ".join(win.names), fontsize=9)
        ax.set_xlabel("2theta (deg)")
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(bottom=min(0, float(np.min(pattern.values[sel]))))
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_williamson_hall(wh: WilliamsonHallResult) -> Figure:
    """Williamson-Hall plot: beta cos(theta) against 4 sin(theta) and the fitted line.

    Parameters
    ----------
    wh : WilliamsonHallResult
        Output of :func:`~cathodescope.xrd.williamson_hall`.

    Returns
    -------
    matplotlib.figure.Figure
        Points per peak and the line; the title says when the fit is not physical.
    """
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot(wh.points.x_4sin_theta, wh.points.y_beta_cos_theta, "o")
    xs = wh.points.x_4sin_theta
    ax.plot(xs, wh.intercept + wh.slope * xs, "-")
    ax.set_xlabel("4 sin(theta)")
    ax.set_ylabel("beta cos(theta) (rad)")
    if not wh.physical:
        ax.set_title("not physical: see the run's warnings", fontsize=8, color="C3")
    return fig


def plot_heating_contour(
    series: xr.DataArray,
    transitions: ThermalTransitions | None = None,
    *,
    log: bool = True,
    ax: Any = None,
) -> Figure:
    """Contour (image) plot of intensity vs 2theta (x) and temperature (y).

    Parameters
    ----------
    series : xarray.DataArray
        Dims ``("frame", "two_theta")`` with ``temperature_C``.
    transitions : ThermalTransitions, optional
        Draw the onset temperatures as horizontal lines.
    log : bool
        Logarithmic colour scale.
    ax : matplotlib Axes, optional
        Axes to draw in (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingMetadataError
        The series has no ``temperature_C`` coordinate.
    """
    if "temperature_C" not in series.coords:
        raise MissingMetadataError("the series has no 'temperature_C' coordinate to plot against.")
    if ax is None:
        fig = Figure(figsize=(7, 5))
        ax = fig.subplots()
    else:
        fig = ax.figure
    z = np.asarray(series.transpose("frame", "two_theta").values, dtype=float)
    norm = LogNorm(vmin=max(np.nanpercentile(z, 1), 1e-3), vmax=np.nanmax(z)) if log else None
    mesh = ax.pcolormesh(
        series.two_theta.values,
        series.temperature_C.values,
        np.clip(z, 1e-3, None),
        shading="nearest",
        norm=norm,
        cmap="viridis",
    )
    fig.colorbar(mesh, ax=ax, label=series.attrs.get("units", "intensity"))
    if transitions is not None:
        _draw_onsets(ax, transitions)
    wl = series.attrs.get("wavelength_A")
    ax.set_xlabel("2theta (deg)" + (f", lambda = {wl:g} A" if wl else ""))
    ax.set_ylabel("temperature (C)")
    return fig


def _draw_onsets(ax: Any, transitions: ThermalTransitions) -> None:
    for _, row in transitions.onsets.iterrows():
        if row["event"] in ("layered_to_spinel", "spinel_to_rocksalt") and np.isfinite(
            row["temperature_C"]
        ):
            ax.axhline(row["temperature_C"], color="w", ls="--", lw=1)
            ax.text(
                ax.get_xlim()[0],
                row["temperature_C"],
                f" {row['event']}",
                color="w",
                va="bottom",
                fontsize=8,
            )
