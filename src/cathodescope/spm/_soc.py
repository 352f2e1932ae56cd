"""State-of-charge series: ESM amplitude, C-AFM current and contact resonance vs SOC.

A series is a table (CSV or TOML) listing one SPM file per row with its state of charge and
whether it was taken on charge or discharge::

    file,soc_percent,direction,q,drive_voltage
    soc000_charge.ibw,0,charge,,
    soc050_charge.ibw,50,charge,,
    pristine_pfm.gwy,0,pristine,75,4

or in TOML::

    [[scan]]
    file = "soc050_charge.ibw"
    soc_percent = 50
    direction = "charge"

Per file: DART scans give the per-pixel ESM amplitude ``A_d / V_ac`` (m/V) and the contact
resonance frequency; single-frequency scans need ``q`` (and ``drive_voltage`` unless the file
has it) and give ``A / (Q V_ac)``; a ``Current`` channel gives the C-AFM current. With
``particles_only`` the statistics use particle pixels only (segmentation through the engine)
and the current is offset-corrected with the noise floor from the background
(:func:`cafm_particle_current`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice
from cathodescope.errors import (
    EmptyDataError,
    FileFormatError,
    InputNotFoundError,
    MissingMetadataError,
    ParameterError,
    SPMChannelMissingError,
)

__all__ = ["SOC_QUANTITIES", "SocSeries", "analyze_soc_file", "read_soc_table", "soc_series"]

DIRECTIONS = ("charge", "discharge", "pristine")
#: quantity key -> name in figures and tables
SOC_QUANTITIES = {
    "esm_amplitude": "ESM amplitude",
    "current": "C-AFM current",
    "resonance_frequency": "contact resonance frequency",
}


def read_soc_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a SOC series table (``.csv`` or ``.toml``), resolving files relative to it.

    Parameters
    ----------
    path : path-like
        CSV with columns ``file``, ``soc_percent``, ``direction`` (charge, discharge or
        pristine) and optionally ``q``, ``drive_voltage`` (V), ``label``; or TOML with a
        ``[[scan]]`` array of tables holding the same keys.

    Returns
    -------
    pandas.DataFrame
        The rows with ``file`` as absolute paths; ``q`` and ``drive_voltage`` NaN if absent.

    Raises
    ------
    FileFormatError
        Unknown extension, unreadable table or missing required columns.
    ParameterError
        SOC outside 0-100 %, unknown direction.
    FileNotFoundError
        A listed SPM file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"SOC table not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            table = pd.read_csv(p, comment="#", skipinitialspace=True)
        elif suffix == ".toml":
            import tomllib

            with open(p, "rb") as fh:
                doc = tomllib.load(fh)
            scans = doc.get("scan", doc.get("scans"))
            if not isinstance(scans, list) or not scans:
                raise FileFormatError(
                    f"{p}: a TOML SOC table needs a [[scan]] array of tables with file, "
                    "soc_percent and direction."
                )
            table = pd.DataFrame(scans)
        else:
            raise FileFormatError(f"{p}: SOC tables must be .csv or .toml, not {suffix!r}.")
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{p} is not a readable SOC table: {exc}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("file", "soc_percent", "direction") if c not in table.columns]
    if missing:
        raise FileFormatError(
            f"{p}: SOC table lacks column(s) {missing}; required: file, soc_percent, direction "
            "(charge/discharge/pristine)."
        )
    if table.empty:
        raise EmptyDataError(f"{p} lists no scans.")
    for col in ("q", "drive_voltage"):
        if col not in table.columns:
            table[col] = np.nan
        table[col] = pd.to_numeric(table[col], errors="coerce")
    if "label" not in table.columns:
        table["label"] = ""
    table["soc_percent"] = pd.to_numeric(table["soc_percent"], errors="coerce")
    bad = table["soc_percent"].isna() | (table["soc_percent"] < 0) | (table["soc_percent"] > 100)
    if bad.any():
        raise ParameterError(
            f"{p}: soc_percent must be numbers from 0 to 100; bad rows: "
            f"{table.index[bad].tolist()}."
        )
    table["direction"] = table["direction"].astype(str).str.strip().str.lower()
    for d in table["direction"]:
        check_choice(d, DIRECTIONS, "direction")
    files = []
    for f in table["file"].astype(str):
        fp = Path(f.strip())
        fp = fp if fp.is_absolute() else (p.parent / fp)
        if not fp.is_file():
            raise InputNotFoundError(f"{p}: listed SPM file {fp} does not exist.")
        files.append(os.fspath(fp.resolve()))
    table["file"] = files
    return table.reset_index(drop=True)


def _pick(scan: Any, candidates: Sequence[str]) -> str | None:
    for c in candidates:
        if c in scan:
            return c
    return None


def analyze_soc_file(
    path: str | os.PathLike[str],
    *,
    q: float | None = None,
    drive_voltage: float | None = None,
    particles: Callable[[Any], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Mean and std of ESM amplitude, current and resonance frequency of one SPM file.

    Parameters
    ----------
    path : path-like
        SPM file (any format :func:`cathodescope.io.read_spm` reads).
    q : float, optional
        Quality factor for single-frequency amplitude data (ignored for DART scans, which
        give Q per pixel).
    drive_voltage : float, optional
        AC drive (V); default: the file's metadata ``drive_amplitude_V``.
    particles : callable, optional
        ``f(scan) -> labels`` (int map, 0 = background). Statistics then use particle pixels
        only and the current goes through :func:`cafm_particle_current`.

    Returns
    -------
    dict
        ``esm_amplitude_mean/std/n/units``, ``current_mean/std/n/units``,
        ``resonance_frequency_mean/std/n/units``, ``esm_method``, ``n_particles``; NaN where
        the file has no such channel.
    """
    from cathodescope.io import read_spm
    from cathodescope.spm._dart import dart_from_scan, normalize_esm
    from cathodescope.spm._particles import cafm_particle_current

    scan = read_spm(path)
    meta = scan.metadata
    if drive_voltage is None or not np.isfinite(drive_voltage):
        v = meta.get("drive_amplitude_V", math.nan)
        drive_voltage = float(v) if np.isfinite(v) and v > 0 else None
    labels = particles(scan) if particles is not None else None
    use = (labels > 0) if labels is not None else np.ones(scan.shape, dtype=bool)
    maps: dict[str, tuple[np.ndarray, str]] = {}
    out: dict[str, Any] = {"file": os.fspath(path), "esm_method": ""}
    dart_channels = ("Amplitude1", "Amplitude2", "Phase1", "Phase2", "Frequency")
    if all(c in scan for c in dart_channels):
        res = dart_from_scan(scan, drive_voltage=drive_voltage)
        if res.esm_amplitude is None:
            raise MissingMetadataError(
                f"{path}: the AC drive voltage is unknown; give drive_voltage in the SOC table."
            )
        maps["esm_amplitude"] = (res.esm_amplitude.values, res.esm_amplitude.attrs["units"])
        maps["resonance_frequency"] = (res.resonance_frequency.values, "Hz")
        out["esm_method"] = "DART A_d/V"
    else:
        amp = _pick(scan, ("Amplitude", "Amplitude1", "Amplitude2"))
        if amp is not None:
            if q is None or not np.isfinite(q):
                raise MissingMetadataError(
                    f"{path}: single-frequency amplitude data need the contact-resonance Q; "
                    "add a q column to the SOC table."
                )
            if drive_voltage is None:
                raise MissingMetadataError(
                    f"{path}: the AC drive voltage is unknown; add drive_voltage (V)."
                )
            esm = normalize_esm(scan[amp], q=q, drive_voltage=drive_voltage)
            maps["esm_amplitude"] = (esm.values, esm.attrs["units"])
            out["esm_method"] = "A/(Q V)"
        freq = _pick(scan, ("Frequency", "ContactFrequency", "Resonance"))
        if freq is not None and scan[freq].attrs.get("units") == "Hz":
            maps["resonance_frequency"] = (scan[freq].values, "Hz")
    cur = _pick(scan, ("Current", "Current1", "Current2", "CAFMCurrent"))
    if cur is not None:
        if scan[cur].attrs.get("units") != "A":
            raise SPMChannelMissingError(
                f"{path}: channel {cur!r} is in {scan[cur].attrs.get('units')!r}, not A; "
                "convert it to amperes first."
            )
        if labels is not None:
            cafm = cafm_particle_current(scan[cur].values, labels)
            maps["current"] = (np.where(use, cafm.corrected, np.nan), "A")
        else:
            maps["current"] = (scan[cur].values, "A")
    if not maps:
        raise SPMChannelMissingError(
            f"{path}: no ESM amplitude, current or frequency channel (has {scan.names})."
        )
    out["n_particles"] = int(labels.max()) if labels is not None else 0
    for key in SOC_QUANTITIES:
        if key in maps:
            values, units = maps[key]
            v = values[use & np.isfinite(values)]
            if v.size == 0:
                raise EmptyDataError(f"{path}: no finite {key} pixel in the analysed area.")
            out[f"{key}_mean"] = float(v.mean())
            out[f"{key}_std"] = float(v.std(ddof=1)) if v.size > 1 else math.nan
            out[f"{key}_n"] = int(v.size)
            out[f"{key}_units"] = units
        else:
            out[f"{key}_mean"] = out[f"{key}_std"] = math.nan
            out[f"{key}_n"] = 0
            out[f"{key}_units"] = ""
    return out


@dataclass(frozen=True)
class SocSeries:
    """ESM amplitude, C-AFM current and contact resonance vs state of charge.

    Parameters
    ----------
    per_file : pandas.DataFrame
        One row per file: ``file``, ``soc_percent``, ``direction``, ``label``,
        ``<quantity>_mean``, ``_std`` (pixel std), ``_n`` (pixels), ``_units`` for
        quantity in esm_amplitude, current, resonance_frequency; ``esm_method``.
    summary : pandas.DataFrame
        One row per (soc_percent, direction): ``n_files`` and per quantity ``_mean``
        (pixel-weighted mean over files), ``_std`` (std of all pixels pooled), ``_sem_files``
        (std of the file means / sqrt(n_files); NaN for one file) and ``_units``.
    parameters : dict
        Options used.
    """

    per_file: pd.DataFrame
    summary: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        """The per-SOC summary."""
        return self.summary


def soc_series(
    table: pd.DataFrame | str | os.PathLike[str],
    *,
    particles: Callable[[Any], np.ndarray] | None = None,
    progress: bool = False,
) -> SocSeries:
    """Analyse every file of a SOC table and summarise per state of charge and direction.

    Parameters
    ----------
    table : DataFrame or path-like
        Output of :func:`read_soc_table`, or the path of a CSV/TOML table.
    particles : callable, optional
        ``f(scan) -> labels``; restrict statistics to particles (see
        :func:`analyze_soc_file`). :func:`cathodescope.spm.particles_from_scan` builds one.
    progress : bool
        Show a tqdm progress bar over files.

    Returns
    -------
    SocSeries
    """
    if not isinstance(table, pd.DataFrame):
        table = read_soc_table(table)
    rows = []
    iterator = table.itertuples(index=False)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(list(iterator), desc="SOC files", unit="file")
    for row in iterator:
        q = getattr(row, "q", math.nan)
        dv = getattr(row, "drive_voltage", math.nan)
        stats = analyze_soc_file(
            row.file,
            q=None if not np.isfinite(q) else float(q),
            drive_voltage=None if not np.isfinite(dv) else float(dv),
            particles=particles,
        )
        stats.update(
            {
                "soc_percent": float(row.soc_percent),
                "direction": row.direction,
                "label": getattr(row, "label", ""),
            }
        )
        rows.append(stats)
    per_file = pd.DataFrame(rows)
    front = ["file", "soc_percent", "direction", "label"]
    per_file = per_file[front + [c for c in per_file.columns if c not in front]]
    summary_rows = []
    for (soc, direction), grp in per_file.groupby(["soc_percent", "direction"], sort=True):
        out: dict[str, Any] = {"soc_percent": soc, "direction": direction, "n_files": len(grp)}
        for key in SOC_QUANTITIES:
            g = grp[grp[f"{key}_n"] > 0]
            if g.empty:
                out.update(
                    {
                        f"{key}_mean": math.nan,
                        f"{key}_std": math.nan,
                        f"{key}_sem_files": math.nan,
                        f"{key}_units": "",
                    }
                )
                continue
            n = g[f"{key}_n"].to_numpy(float)
            m = g[f"{key}_mean"].to_numpy(float)
            s = np.nan_to_num(g[f"{key}_std"].to_numpy(float))
            total = m @ n / n.sum()
            # pooled variance of all pixels from per-file counts, means and variances
            var = ((n - 1) * s**2 + n * (m - total) ** 2).sum() / max(n.sum() - 1, 1)
            out[f"{key}_mean"] = float(total)
            out[f"{key}_std"] = float(np.sqrt(var))
            out[f"{key}_sem_files"] = (
                float(m.std(ddof=1) / np.sqrt(m.size)) if m.size > 1 else math.nan
            )
            out[f"{key}_units"] = g[f"{key}_units"].iloc[0]
        summary_rows.append(out)
    summary = pd.DataFrame(summary_rows)
    return SocSeries(
        per_file=per_file,
        summary=summary,
        parameters={"particles_only": particles is not None, "n_files": len(per_file)},
    )
