"""Gas release on heating (mass-spectrometry channels), optionally joined with an XRD table.

Wiring only: the analysis is :func:`cathodescope.xrd.analyze_gas_release`, the figure
:func:`cathodescope.report.plot_gas_release`, the run folder :class:`cathodescope.report.RunFolder`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from cathodescope.errors import FileFormatError
from cathodescope.report import RunFolder, plot_gas_release
from cathodescope.xrd import GasReleaseResult, analyze_gas_release, join_on_temperature

__all__ = ["read_trace_table", "thermal_run"]

PathLike = str | os.PathLike[str]


def read_trace_table(
    path: PathLike,
    *,
    temperature_column: str = "temperature_C",
    time_column: str | None = None,
    channels: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Read a mass-spectrometry trace CSV and choose its channel columns.

    Parameters
    ----------
    path : path-like
        CSV with a temperature column (C) and one column per m/z channel.
    temperature_column : str
        Name of the temperature column.
    time_column : str, optional
        Name of a time column (s), not a channel.
    channels : sequence of str, optional
        Channel columns (default: every other numeric column).

    Returns
    -------
    table : pandas.DataFrame
        The CSV as read.
    channels : list of str
        The channel columns.

    Raises
    ------
    FileFormatError
        Unreadable CSV, or a named column that is not in it.
    """
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read {path} as CSV: {exc}") from exc
    if temperature_column not in table.columns:
        raise FileFormatError(
            f"{path} has no column {temperature_column!r}; columns are "
            f"{list(table.columns)} (use --temperature-column)."
        )
    skip = {temperature_column, time_column}
    chosen = list(channels) if channels else [
        c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
    ]  # fmt: skip
    missing = [c for c in chosen if c not in table.columns]
    if missing:
        raise FileFormatError(f"channels {missing} not in {list(table.columns)}.")
    return table, chosen


def thermal_run(
    trace: PathLike,
    *,
    out: PathLike,
    temperature_column: str = "temperature_C",
    time_column: str | None = None,
    channels: Sequence[str] | None = None,
    onset: Literal["tangent", "threshold"] = "tangent",
    sharp_fwhm: float = 30.0,
    smooth: float = 3.0,
    xrd_table: PathLike | None = None,
    tolerance: float = 2.5,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> GasReleaseResult:
    """Onset, peak, FWHM, amount and sharp/broad class of each gas-release channel.

    Parameters
    ----------
    trace : path-like
        Trace CSV (see :func:`read_trace_table`).
    out : path-like
        Run folder to create.
    temperature_column, time_column, channels
        As in :func:`read_trace_table`.
    onset : {"tangent", "threshold"}
        Extrapolated (tangent) onset or threshold crossing.
    sharp_fwhm : float
        Peaks narrower than this FWHM (C) are "sharp".
    smooth : float
        Smoothing window (C), 0 = none.
    xrd_table : path-like, optional
        Per-frame XRD table (CSV with ``temperature_C``) to join with the gas curves.
    tolerance : float
        Largest temperature difference (C) when joining.
    overwrite : bool
        Replace the contents of a non-empty ``out``.
    parameters : mapping, optional
        Parameters to record in the manifest (default: the arguments above).

    Returns
    -------
    GasReleaseResult
    """
    used = {
        "trace": os.fspath(trace),
        "temperature_column": temperature_column,
        "time_column": time_column,
        "channels": None if channels is None else list(channels),
        "onset": onset,
        "sharp_fwhm": sharp_fwhm,
        "smooth": smooth,
        "xrd_table": None if xrd_table is None else os.fspath(xrd_table),
        "tolerance": tolerance,
    }
    params = dict(used if parameters is None else parameters)
    with RunFolder(out, command="thermal", parameters=params, overwrite=overwrite) as run:
        table, chosen = read_trace_table(
            trace, temperature_column=temperature_column, time_column=time_column,
            channels=channels,
        )  # fmt: skip
        run.add_input(trace)
        time = table[time_column] if time_column else None
        with run.timer("analyze"):
            result = analyze_gas_release(
                table[temperature_column], table[chosen], time=time, onset=onset,
                sharp_fwhm_c=sharp_fwhm, smooth_c=smooth,
            )  # fmt: skip
        run.write_table("gas_release", result.summary)
        run.write_table("gas_curves", result.curves)
        run.write_figure("gas_release", plot_gas_release(result))
        run.results["gas_release"] = result.summary.to_dict(orient="records")
        if xrd_table:
            xrd = pd.read_csv(xrd_table)
            run.add_input(xrd_table)
            run.write_table(
                "xrd_gas_joined", join_on_temperature(xrd, result.curves, tolerance_c=tolerance)
            )
    return result
