"""Interactive figures (zoom, hover) for the HTML sample report, drawn with Plotly.

The page loads Plotly's JavaScript from a file beside it (``plotly.min.js``, written from the
installed plotly package), so a report opens at a beamline without internet. Each function
returns an HTML fragment (a ``<div>`` and its script), or None when the table lacks the columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PLOTLY_JS_NAME = "plotly.min.js"
_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def plotly_js() -> str:
    """The Plotly JavaScript bundle of the installed plotly package (about 4 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _fragment(fig: Any, div_id: str) -> str:
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False}
    )


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band(go: Any, x, low, high, colour: str, name: str, group: str) -> Any:
    return go.Scatter(
        x=np.concatenate([x, x[::-1]]),
        y=np.concatenate([high, low[::-1]]),
        fill="toself",
        fillcolor=_rgba(colour, 0.2),
        line={"width": 0},
        hoverinfo="skip",
        name=name,
        legendgroup=group,
        showlegend=False,
    )


def ratio_profiles_figure(
    curves: dict[str, pd.DataFrame], div_id: str, title: str = "Elemental ratios vs depth"
) -> str | None:
    """Ratio vs depth with interval bands, one trace per (label, element).

    Parameters
    ----------
    curves : dict of str to pandas.DataFrame
        Label (a particle or a sample) to a table with ``element, depth_um, ratio, ci_low,
        ci_high``.
    div_id : str
        HTML id of the figure.
    title : str
        Figure title.

    Returns
    -------
    str or None
        The HTML fragment, or None when no table has the columns.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    i = 0
    for label, table in curves.items():
        if not {"element", "depth_um", "ratio"} <= set(table.columns):
            continue
        for element, grp in table.groupby("element", sort=False):
            grp = grp.sort_values("depth_um")
            colour = _COLOURS[i % len(_COLOURS)]
            i += 1
            name = f"{label} {element}"
            x = grp["depth_um"].to_numpy(float)
            if {"ci_low", "ci_high"} <= set(grp.columns):
                fig.add_trace(
                    _band(
                        go,
                        x,
                        grp["ci_low"].to_numpy(float),
                        grp["ci_high"].to_numpy(float),
                        colour,
                        name,
                        name,
                    )
                )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=grp["ratio"].to_numpy(float),
                    mode="lines",
                    line={"color": colour},
                    name=name,
                    legendgroup=name,
                )
            )
    if not fig.data:
        return None
    fig.update_layout(
        title=title,
        xaxis_title="depth below the surface (um)",
        yaxis_title="Elem / (Ni + Mn + Co)",
        template="plotly_white",
        height=420,
    )
    return _fragment(fig, div_id)


def xy_figure(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    div_id: str,
    *,
    title: str,
    x_title: str,
    y_title: str,
    mode: str = "lines",
    bands: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> str | None:
    """A zoomable line (or marker) plot of several named series with optional bands.

    Parameters
    ----------
    series : dict of str to (x, y)
        The curves.
    div_id : str
        HTML id of the figure.
    title, x_title, y_title : str
        Title and axis titles (with units).
    mode : str
        Plotly trace mode: ``"lines"``, ``"markers"`` or ``"lines+markers"``.
    bands : dict of str to (low, high), optional
        Interval band of a series, on the series' x.

    Returns
    -------
    str or None
        The HTML fragment, or None without any series.
    """
    import plotly.graph_objects as go

    if not series:
        return None
    fig = go.Figure()
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        x = np.asarray(x, float)
        if bands and name in bands:
            low, high = bands[name]
            fig.add_trace(
                _band(go, x, np.asarray(low, float), np.asarray(high, float), colour, name, name)
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(y, float),
                mode=mode,
                name=name,
                line={"color": colour},
                marker={"color": colour},
                legendgroup=name,
            )
        )
    fig.update_layout(
        title=title, xaxis_title=x_title, yaxis_title=y_title, template="plotly_white", height=400
    )
    return _fragment(fig, div_id)


def surface_to_bulk_figure(
    layer: pd.DataFrame, ratios: pd.DataFrame | None, div_id: str
) -> str | None:
    """The fitted surface layer beside the TXM depth profiles, on one depth axis in nm.

    Parameters
    ----------
    layer : pandas.DataFrame
        ``layer.csv`` of an ``xas layer`` run: rows ``thickness_nm``, ``surface_fraction``,
        ``bulk_fraction`` with ``value, ci_low, ci_high``.
    ratios : pandas.DataFrame or None
        Mean TXM ratio profile over particles (``element, depth_um, ratio, ci_low, ci_high``).
    div_id : str
        HTML id of the figure.

    Returns
    -------
    str or None
        The HTML fragment, or None when ``layer`` lacks the three parameters.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    p = layer.set_index("parameter") if "parameter" in layer else None
    if p is None or not {"thickness_nm", "surface_fraction", "bulk_fraction"} <= set(p.index):
        return None
    t, xs, xb = (
        float(p.loc[k, "value"]) for k in ("thickness_nm", "surface_fraction", "bulk_fraction")
    )
    depth_max = max(5 * t, 100.0) if np.isfinite(t) else 100.0
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "surface layer from the probes (LCF fraction)",
            "TXM ratio profiles (mean over particles)",
        ),
    )
    z = np.array([0.0, t, t, depth_max])
    fig.add_trace(
        go.Scatter(
            x=z, y=[xs, xs, xb, xb], mode="lines", name="fitted layer", line={"color": _COLOURS[0]}
        ),
        row=1,
        col=1,
    )
    lo, hi = (float(p.loc["thickness_nm", c]) for c in ("ci_low", "ci_high"))
    if np.isfinite(lo) and np.isfinite(hi):
        fig.add_vrect(x0=lo, x1=hi, fillcolor=_rgba(_COLOURS[0], 0.15), line_width=0, row=1, col=1)
    if ratios is not None and not ratios.empty:
        for i, (element, grp) in enumerate(ratios.groupby("element", sort=False)):
            colour = _COLOURS[(i + 1) % len(_COLOURS)]
            x = grp["depth_um"].to_numpy(float) * 1000.0
            fig.add_trace(
                _band(
                    go,
                    x,
                    grp["ci_low"].to_numpy(float),
                    grp["ci_high"].to_numpy(float),
                    colour,
                    element,
                    element,
                ),
                row=1,
                col=2,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=grp["ratio"].to_numpy(float),
                    mode="lines",
                    name=element,
                    legendgroup=element,
                    line={"color": colour},
                ),
                row=1,
                col=2,
            )
    fig.update_xaxes(title_text="depth below the surface (nm)")
    fig.update_yaxes(range=[-0.05, 1.05])
    fig.update_layout(template="plotly_white", height=420)
    return _fragment(fig, div_id)
