"""Thermal-stability figures: gas release (mass-spectrometry channels) against temperature.

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure`); no backend is switched.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from cathodescope.xrd import GasReleaseResult

__all__ = ["plot_gas_release"]


def plot_gas_release(result: GasReleaseResult) -> Figure:
    """Net signal of every channel against temperature, with onset (:) and peak (--) lines.

    Parameters
    ----------
    result : GasReleaseResult
        Output of :func:`~cathodescope.xrd.analyze_gas_release`.

    Returns
    -------
    matplotlib.figure.Figure
        Temperature (C) against the signal above baseline.

    Examples
    --------
    >>> from cathodescope.phantom import gas_release_trace
    >>> from cathodescope.xrd import analyze_gas_release
    >>> trace, _ = gas_release_trace(seed=0)
    >>> fig = plot_gas_release(analyze_gas_release(trace.temperature_C, trace[["signal"]]))
    >>> fig.axes[0].get_xlabel()
    'temperature (C)'
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for _, row in result.summary.iterrows():
        ch = row["channel"]
        ax.plot(result.curves.temperature_C, result.curves[f"{ch}_net"], label=ch)
        ax.axvline(row["onset_C"], ls=":", color="grey")
        ax.axvline(row["peak_C"], ls="--", color="grey")
    ax.set_xlabel("temperature (C)")
    ax.set_ylabel("signal above baseline")
    ax.legend(fontsize=8)
    return fig
