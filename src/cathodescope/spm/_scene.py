"""Whole-scan SPM particle analysis on the depth-profile engine.

``scan -> maps (levelled height, DART ESM amplitude / resonance / Q, current) -> engine
segmentation and depth profiles -> per-particle statistics, boundary-versus-core contrast,
topography cross-talk, C-AFM current over particles``.

Segmentation and distance-from-surface profiles come from :mod:`cathodescope.segment` and
:mod:`cathodescope.profile` (``analyze_scene``); nothing of them is re-implemented here.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from cathodescope.errors import (
    CathodescopeRunWarning,
    MissingMetadataError,
    ParameterError,
    SPMChannelMissingError,
)
from cathodescope.spm._display import display_scale

__all__ = [
    "SPMSceneAnalysis",
    "analyze_spm_scene",
    "particles_from_scan",
    "spm_maps",
]

_DART = ("Amplitude1", "Amplitude2", "Phase1", "Phase2", "Frequency")


def spm_maps(
    scan: Any,
    *,
    q: float | None = None,
    drive_voltage: float | None = None,
    height_channel: str = "Height",
    level: bool = True,
) -> dict[str, xr.DataArray]:
    """The physical maps of a scan, in SI units, ready for particle analysis.

    Parameters
    ----------
    scan : SPMScan
        From :func:`cathodescope.io.read_spm`.
    q : float, optional
        Contact-resonance Q for single-frequency amplitude data.
    drive_voltage : float, optional
        AC drive in V (default: the file's ``drive_amplitude_V``).
    height_channel : str
        Topography channel.
    level : bool
        Level the topography with :func:`masked_level` (plane, particles excluded).

    Returns
    -------
    dict of str to xarray.DataArray
        ``height`` (m), and where the scan allows: ``esm_amplitude`` (m/V),
        ``resonance_frequency`` (Hz), ``q`` (DART), ``current`` (A).
    """
    from cathodescope.spm._dart import dart_from_scan, normalize_esm
    from cathodescope.spm._level import masked_level

    maps: dict[str, xr.DataArray] = {}
    if height_channel in scan:
        h = scan[height_channel]
        maps["height"] = masked_level(h).image if level else h
    if drive_voltage is None:
        v = scan.metadata.get("drive_amplitude_V", math.nan)
        drive_voltage = float(v) if np.isfinite(v) and v > 0 else None
    if all(c in scan for c in _DART):
        res = dart_from_scan(scan, drive_voltage=drive_voltage)
        if res.esm_amplitude is not None:
            maps["esm_amplitude"] = res.esm_amplitude
        else:
            maps["drive_amplitude"] = res.drive_amplitude
        maps["resonance_frequency"] = res.resonance_frequency
        maps["q"] = res.q
    elif "Amplitude" in scan and q is not None:
        if drive_voltage is None:
            raise MissingMetadataError(
                "the AC drive voltage is unknown; pass drive_voltage (V) to normalise the ESM "
                "amplitude."
            )
        maps["esm_amplitude"] = normalize_esm(scan["Amplitude"], q=q, drive_voltage=drive_voltage)
    for name in ("Current", "Current1", "Current2"):
        if name in scan and scan[name].attrs.get("units") == "A":
            maps["current"] = scan[name]
            break
    if "resonance_frequency" not in maps and "Frequency" in scan:
        if scan["Frequency"].attrs.get("units") == "Hz":
            maps["resonance_frequency"] = scan["Frequency"]
    if not maps:
        raise SPMChannelMissingError(
            f"{scan.source}: no topography, ESM, current or frequency channel found "
            f"(has {scan.names})."
        )
    return maps


def _engine_arrays(maps: dict[str, xr.DataArray]) -> tuple[dict[str, np.ndarray], dict]:
    """Display-unit float arrays for the engine, NaN pixels filled from the nearest valid one.

    The engine requires finite data. Invalid DART pixels are filled with their nearest valid
    neighbour (and counted); per-particle statistics are computed separately on the original
    maps with the NaNs skipped.
    """
    arrays, info = {}, {}
    for name, da in maps.items():
        factor, unit = display_scale(da.attrs.get("units", ""))
        v = np.asarray(da.values, dtype=np.float64) * factor
        bad = ~np.isfinite(v)
        if bad.any():
            idx = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
            v = v[tuple(idx)]
        arrays[name] = v
        info[name] = {"display_units": unit, "factor": factor, "filled_pixels": int(bad.sum())}
    return arrays, info


def _segmentation_image(values: np.ndarray) -> np.ndarray:
    """Map clipped to its 0.5-99.5 percentiles so that a few outlier pixels (degenerate DART
    solutions, spikes) do not drag Otsu's threshold; values in between are unchanged."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    return np.clip(values, lo, hi)


def particles_from_scan(
    *,
    segment_on: str = "height",
    q: float | None = None,
    drive_voltage: float | None = None,
    **segment_options: Any,
) -> Callable[[Any], np.ndarray]:
    """Return ``f(scan) -> labels``: engine segmentation of one map of each scan.

    Used by :func:`cathodescope.spm.soc_series` to restrict statistics to particles.
    ``segment_options`` go to :func:`cathodescope.segment.segment_particles` (threshold in
    display units: nm for height, pm/V for ESM amplitude).

    Parameters
    ----------
    segment_on : str
        Map to segment (a key of :func:`cathodescope.spm.spm_maps`, e.g. ``"height"``).
    q : float, optional
        Contact-resonance Q for single-frequency amplitude data (see :func:`spm_maps`).
    drive_voltage : float, optional
        AC drive in V (default: the file's ``drive_amplitude_V``).
    **segment_options
        Options of :func:`cathodescope.segment.segment_particles`; ``min_size_um`` defaults to
        3 x 3 pixels of each scan.

    Returns
    -------
    callable
        ``f(scan) -> labels``: an int label image (ny, nx) of the scan, 0 for background.
    """
    from cathodescope.segment import segment_particles

    def labels_of(scan: Any) -> np.ndarray:
        maps = spm_maps(scan, q=q, drive_voltage=drive_voltage)
        if segment_on not in maps:
            raise ParameterError(
                f"segment_on={segment_on!r} is not available for {scan.source}; maps: {list(maps)}."
            )
        arrays, _ = _engine_arrays({segment_on: maps[segment_on]})
        opts = dict(segment_options)
        if not opts.get("min_size_um"):
            opts["min_size_um"] = 9 * scan.spacing[0] * scan.spacing[1]  # >= 3 x 3 pixels
        seg = segment_particles(
            _segmentation_image(arrays[segment_on]), spacing=scan.spacing, **opts
        )
        return np.asarray(seg.labels)

    return labels_of


@dataclass(frozen=True)
class SPMSceneAnalysis:
    """Particle analysis of one SPM scan.

    Parameters
    ----------
    scene : cathodescope.profile.SceneAnalysis
        Engine result: segmentation, particle morphology, depth profiles (display units).
        Its ``particles`` table holds ``mean_<map>_<units>`` (e.g. ``mean_height_m``): each
        map's mean over the particle in SI units, not the engine's channel fractions.
    maps : dict of str to xarray.DataArray
        The analysed maps in SI units (height, esm_amplitude, resonance_frequency, q, current).
    statistics : ParticleStatistics
        Per-particle mean +/- std, percentiles and histograms of every map (SI units).
    boundary_core : pandas.DataFrame
        Per particle and map: ``boundary_mean`` (pixels within ``boundary_um`` of the
        particle surface), ``core_mean`` (pixels deeper than ``core_fraction`` x the
        particle's maximum depth), their pixel counts, ``difference`` = boundary - core,
        ``ratio`` = boundary / core, in ``units`` (display units of the engine profiles).
    crosstalk : CrosstalkResult or None
        Topography-ESM correlation over particle pixels.
    cafm : CafmResult or None
        C-AFM current over particles with the noise floor handled.
    parameters : dict
        Options used, NaN-filled pixel counts, display units.
    """

    scene: Any
    maps: dict[str, xr.DataArray]
    statistics: Any
    boundary_core: pd.DataFrame
    crosstalk: Any
    cafm: Any
    parameters: dict[str, Any] = field(default_factory=dict)


def _unit_token(units: str) -> str:
    """``'m/V'`` -> ``'m_per_V'``: a unit as a column-name suffix (empty for no unit)."""
    return units.replace("/", "_per_").replace(" ", "")


def _channel_means(particles: pd.DataFrame, statistics: pd.DataFrame) -> pd.DataFrame:
    """Per-particle mean of each map, in its own (SI) units, in place of the engine's fractions.

    The engine's ``mean_<channel>`` columns are each channel's share of the summed channels
    (an elemental composition); for SPM maps of different physical quantities that share is
    meaningless (``mean_height`` came out 1.0 for every particle with one map). They are
    replaced by ``mean_<map>_<units>`` (e.g. ``mean_height_m``, ``mean_esm_amplitude_m_per_V``,
    ``mean_q``): the mean over the particle's valid pixels, as in ``particle_statistics``.
    """
    out = particles.drop(columns=[c for c in particles.columns if c.startswith("mean_")])
    stats = statistics[statistics["particle_id"] > 0]
    for (name, units), g in stats.groupby(["channel", "units"], sort=False):
        token = _unit_token(str(units))
        column = f"mean_{name}_{token}" if token else f"mean_{name}"
        means = g.set_index("particle_id")["mean"]
        out[column] = out["particle_id"].map(means).to_numpy(dtype=float)
    return out


def boundary_core_table(
    profiles: pd.DataFrame,
    *,
    boundary_um: float,
    core_fraction: float,
    units: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Boundary-versus-core contrast from engine depth profiles.

    Parameters
    ----------
    profiles : pandas.DataFrame
        ``DepthProfiles.profiles`` (particle_id, channel, depth_um, n_voxels, mean...).
    boundary_um : float
        Rim band: depth bins with ``depth_um < boundary_um``.
    core_fraction : float
        Core: depth bins with ``depth_um >= core_fraction x max depth`` of the particle.
    units : dict, optional
        Units per channel for the table.

    Returns
    -------
    pandas.DataFrame
        particle_id, channel, units, boundary_mean, boundary_n, core_mean, core_n,
        difference, ratio, max_depth_um.
    """
    rows = []
    for (pid, ch), g in profiles.groupby(["particle_id", "channel"], sort=True):
        g = g[g["n_voxels"] > 0]
        if g.empty:
            continue
        dmax = float(g["depth_um"].max())
        rim = g[g["depth_um"] < boundary_um]
        core = g[g["depth_um"] >= core_fraction * dmax]
        core = core[core["depth_um"] >= boundary_um]

        def wmean(t: pd.DataFrame) -> tuple[float, int]:
            n = t["n_voxels"].to_numpy(float)
            return (
                (float((t["mean"] * n).sum() / n.sum()), int(n.sum())) if n.sum() else (math.nan, 0)
            )

        bm, bn = wmean(rim)
        cm, cn = wmean(core)
        rows.append(
            {
                "particle_id": int(pid),
                "channel": ch,
                "units": (units or {}).get(ch, ""),
                "boundary_mean": bm,
                "boundary_n": bn,
                "core_mean": cm,
                "core_n": cn,
                "difference": bm - cm,
                "ratio": bm / cm if cm not in (0.0,) and cn else math.nan,
                "max_depth_um": dmax,
            }
        )
    return pd.DataFrame(rows)


def analyze_spm_scene(
    scan: Any,
    *,
    segment_on: str = "height",
    q: float | None = None,
    drive_voltage: float | None = None,
    boundary_um: float = 0.2,
    core_fraction: float = 0.5,
    bins: int = 50,
    k_sigma: float = 3.0,
    segmentation: Any = None,
    **options: Any,
) -> SPMSceneAnalysis:
    """Particles from topography or ESM, their statistics, boundary vs core, cross-talk, C-AFM.

    Parameters
    ----------
    scan : SPMScan
        From :func:`cathodescope.io.read_spm`.
    segment_on : str
        Map to segment: ``"height"`` (levelled topography), ``"esm_amplitude"``, ``"current"``...
    q, drive_voltage : float, optional
        See :func:`spm_maps`.
    boundary_um : float
        Rim band (um from the particle surface) for the boundary-versus-core table.
    core_fraction : float
        Core = deeper than this fraction of the particle's maximum depth (0-1).
    bins : int
        Histogram bins.
    k_sigma : float
        C-AFM noise floor in robust standard deviations of the background.
    segmentation : Segmentation, optional
        Use these labels instead of segmenting.
    **options
        Engine options (``threshold`` in display units: nm, pm/V, pA; ``min_size_um``
        in um^2, default 9 pixel areas; ``bin_width_um``, ``surface``...), see
        :func:`cathodescope.profile.analyze_scene`.

    Returns
    -------
    SPMSceneAnalysis
    """
    from cathodescope.spm._particles import (
        particle_statistics,
    )

    if not 0 < core_fraction < 1:
        raise ParameterError(f"core_fraction must be between 0 and 1, got {core_fraction!r}.")
    maps = spm_maps(scan, q=q, drive_voltage=drive_voltage)
    if segment_on not in maps:
        raise ParameterError(f"segment_on={segment_on!r} is not one of the maps {list(maps)}.")
    arrays, info = _engine_arrays(maps)
    filled = {k: v["filled_pixels"] for k, v in info.items() if v["filled_pixels"]}
    if filled:
        warnings.warn(
            f"invalid (NaN) pixels filled from their nearest neighbour for the depth profiles: "
            f"{filled}; per-particle statistics skip them.",
            CathodescopeRunWarning,
            stacklevel=2,
        )
    scene = _run_engine(arrays, scan, segment_on, segmentation, options)
    labels = np.asarray(scene.segmentation.labels)
    stats = particle_statistics(labels, maps, spacing=scan.spacing, bins=bins)
    scene = dataclasses.replace(scene, particles=_channel_means(scene.particles, stats.table))
    units = {k: v["display_units"] for k, v in info.items()}
    bc = boundary_core_table(
        scene.depth.profiles, boundary_um=boundary_um, core_fraction=core_fraction, units=units
    )
    crosstalk, cafm = _crosstalk_and_cafm(maps, labels, scan.spacing, k_sigma)
    params = {
        "segment_on": segment_on,
        "q": q,
        "drive_voltage": drive_voltage,
        "boundary_um": boundary_um,
        "core_fraction": core_fraction,
        "bins": bins,
        "k_sigma": k_sigma,
        "engine_units": units,
        "nan_filled_pixels": filled,
        "engine": scene.parameters,
    }
    return SPMSceneAnalysis(
        scene=scene,
        maps=maps,
        statistics=stats,
        boundary_core=bc,
        crosstalk=crosstalk,
        cafm=cafm,
        parameters=params,
    )


def _run_engine(
    arrays: dict[str, np.ndarray],
    scan: Any,
    segment_on: str,
    segmentation: Any,
    options: dict[str, Any],
) -> Any:
    """The engine on the display-unit maps, with the SPM defaults and the TXM-window warnings
    of shallow AFM particles gathered into one."""
    from cathodescope.profile import analyze_scene

    options.setdefault("bin_width_um", max(scan.spacing))
    # a particle must cover at least 3 x 3 pixels: single noise pixels above Otsu's threshold
    # (which sits just above the background peak when the two modes are well separated) are
    # not particles
    if not options.get("min_size_um"):
        options["min_size_um"] = 9 * scan.spacing[0] * scan.spacing[1]
    options.setdefault("ratio_channels", [segment_on])  # element ratios mean nothing for SPM
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene = analyze_scene(
            arrays,
            spacing=scan.spacing,
            segment_on=_segmentation_image(arrays[segment_on]),
            segmentation=segmentation,
            **options,
        )
    shallow = 0
    for w in caught:  # the TXM Table-1 windows (0.25-2 um) rarely fit AFM particles
        if "too shallow for the" in str(w.message):
            shallow += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if shallow:
        warnings.warn(
            f"{shallow} Table-1 depth-window metrics (TXM defaults 0.25-2.0 um) are NaN because "
            "the particles are shallower; use the boundary_core table for SPM contrast.",
            CathodescopeRunWarning,
            stacklevel=3,
        )
    return scene


def _crosstalk_and_cafm(
    maps: dict[str, xr.DataArray], labels: np.ndarray, spacing: Any, k_sigma: float
) -> tuple[Any, Any]:
    """Topography-ESM cross-talk over the particles, and C-AFM current over them."""
    from cathodescope.spm._particles import cafm_particle_current, topography_crosstalk

    crosstalk = None
    if "height" in maps:
        functional = next(
            (maps[k] for k in ("esm_amplitude", "drive_amplitude") if k in maps), None
        )
        if functional is not None:
            crosstalk = topography_crosstalk(
                maps["height"], functional, spacing=spacing, mask=labels > 0
            )
    cafm = None
    if "current" in maps:
        cafm = cafm_particle_current(maps["current"], labels, k_sigma=k_sigma)
    return crosstalk, cafm
