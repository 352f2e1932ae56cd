"""Depth-binned statistics of one particle on the CPU or a GPU, without the intervals.

A thin table-building layer over the engine's device-agnostic kernels
(:func:`cathodescope.profile.device_depth_values`, :func:`cathodescope.profile.bin_moments`):
the EDT of the particle's hull, the sub-voxel depth, the depth binning and the per-bin count /
mean / covariance run on NumPy or CuPy arrays from one source. What stays on the CPU whatever
the device is said in :func:`cathodescope.profile.device_depth_values`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_positive, normalize_spacing
from cathodescope.errors import EmptyDataError, ShapeMismatchError
from cathodescope.profile import bin_moments, device_depth_values
from cathodescope.scale._device import resolve_device


@dataclass(frozen=True)
class ParticleStatistics:
    """Depth-binned statistics of one particle (:func:`particle_statistics`).

    Parameters
    ----------
    profiles : pandas.DataFrame
        ``particle_id``, ``channel``, ``depth_um`` (bin centre, um), ``n_voxels``, ``mean``,
        ``std`` (ddof=1; NaN for one-voxel bins): the same rows and values as those columns of
        ``depth_profiles(...).profiles`` (channel-major, bins with voxels only).
    ratios : pandas.DataFrame
        ``particle_id``, ``element``, ``depth_um``, ``ratio`` (bin mean over the sum of the
        ratio channels' bin means), as in ``depth_profiles(...).ratios``.
    max_depth_um : float
        Deepest voxel, um.
    device : str
        ``"cpu"`` or ``"cuda"``.
    parameters : dict
        Spacing (um), bin width (um), surface, depth convention, and where the EDT ran.
    """

    profiles: pd.DataFrame
    ratios: pd.DataFrame
    max_depth_um: float
    device: str
    parameters: dict[str, Any] = field(default_factory=dict)


def particle_statistics(
    mask: Any,
    channels: Mapping[str, Any],
    *,
    spacing: float | Sequence[float],
    bin_width_um: float = 0.05,
    surface: Literal["hull", "mask"] = "hull",
    depth_convention: Literal["subvoxel", "centres"] = "subvoxel",
    ratio_channels: Sequence[str] | None = None,
    particle_id: int = 1,
    device: str = "cpu",
) -> ParticleStatistics:
    """Depth map, depth binning and per-bin statistics of one particle, on the CPU or a GPU.

    The per-particle work of :func:`cathodescope.profile.depth_profiles` that a GPU can take
    (EDT of the hull, sub-voxel depth, binning, per-bin count, mean, standard deviation and
    the ratio of the bin means) written once for NumPy and CuPy: with ``device="cpu"`` the
    tables equal the corresponding columns of ``depth_profiles`` (tested to 1e-6), with
    ``device="cuda"`` the same code runs on CuPy arrays. The confidence intervals stay with the
    engine (CPU).

    Parameters
    ----------
    mask : array_like of bool, shape (y, x) or (z, y, x)
        One particle's crop (host memory).
    channels : mapping of str to array_like
        Channel name -> intensities of the crop (same shape as ``mask``).
    spacing : float or sequence of float
        Voxel size in um (one value or one per axis, array order).
    bin_width_um : float
        Depth bin width, um.
    surface : {"hull", "mask"}
        Depth reference surface, as in :func:`cathodescope.profile.depth_map`.
    depth_convention : {"subvoxel", "centres"}
        Depth convention, as in :func:`cathodescope.profile.depth_map`.
    ratio_channels : sequence of str, optional
        Channels whose sum is the ratio denominator (default: all).
    particle_id : int
        Value of the ``particle_id`` column.
    device : {"cpu", "cuda"}
        ``"cuda"`` needs CuPy and a visible GPU (:func:`gpu_available`); never a fallback.

    Returns
    -------
    ParticleStatistics

    Raises
    ------
    ParameterError
        For an unknown device, surface or convention, a non-positive bin width or an unknown
        ratio channel.
    DeviceUnavailableError
        For ``device="cuda"`` without CuPy or a GPU.
    EmptyDataError
        If the mask is empty or no channel is given.
    ShapeMismatchError
        If a channel's shape differs from the mask's.
    SpacingError
        If the spacing is invalid.

    Examples
    --------
    >>> z, y, x = np.mgrid[:30, :30, :30]
    >>> ball = (z - 14.5) ** 2 + (y - 14.5) ** 2 + (x - 14.5) ** 2 < 13**2
    >>> st = particle_statistics(ball, {"Ni": ball * 2.0, "Mn": ball * 1.0}, spacing=0.05)
    >>> round(float(st.ratios.query("element == 'Ni'").ratio.mean()), 3)
    0.667
    """
    xp = resolve_device(device)
    check_choice(surface, ("hull", "mask"), "surface")
    check_choice(depth_convention, ("subvoxel", "centres"), "depth_convention")
    width = check_positive(bin_width_um, "bin_width_um")
    m = np.asarray(mask, dtype=bool)
    sp = normalize_spacing(spacing, m.ndim)
    if not m.any():
        raise EmptyDataError("particle_statistics got an empty mask; pass one particle's crop.")
    if not channels:
        raise EmptyDataError("particle_statistics needs at least one channel.")
    names = [str(n) for n in channels]
    rnames = names if ratio_channels is None else [str(n) for n in ratio_channels]
    for n in rnames:
        check_choice(n, tuple(names), "ratio channel")
    for n, a in channels.items():
        if np.shape(a) != m.shape:
            raise ShapeMismatchError(
                f"channel {n!r} has shape {np.shape(a)}, the mask {m.shape}; pass crops of the "
                "same box."
            )
    d, flat, where = device_depth_values(m, sp, xp, surface, depth_convention)
    values = xp.stack(
        [xp.asarray(np.asarray(channels[n])).ravel()[flat].astype(xp.float64) for n in names]
    )
    bins = xp.floor(d / xp.float32(width)).astype(xp.intp)
    counts, mean, cov, _, _ = bin_moments(bins, values, xp)
    std = xp.sqrt(xp.clip(xp.diagonal(cov, axis1=1, axis2=2), 0, None))
    ridx = [names.index(n) for n in rnames]
    m_r = mean[:, ridx]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = m_r / m_r.sum(axis=1)[:, None]
    host = (lambda a: a) if xp is np else xp.asnumpy
    counts_h, mean_h, std_h, ratio_h = (host(a) for a in (counts, mean, std, ratio))
    has = counts_h > 0
    centres = ((np.arange(counts_h.size) + 0.5) * width)[has]
    nb = int(has.sum())
    profiles = pd.DataFrame(
        {
            "particle_id": np.full(nb * len(names), int(particle_id), dtype=np.int64),
            "channel": np.repeat(np.array(names, dtype=object), nb),
            "depth_um": np.tile(centres, len(names)),
            "n_voxels": np.tile(counts_h[has].astype(np.int64), len(names)),
            "mean": mean_h[has].T.ravel(),
            "std": std_h[has].T.ravel(),
        }
    )
    ratios = pd.DataFrame(
        {
            "particle_id": np.full(nb * len(rnames), int(particle_id), dtype=np.int64),
            "element": np.repeat(np.array(rnames, dtype=object), nb),
            "depth_um": np.tile(centres, len(rnames)),
            "ratio": ratio_h[has].T.ravel(),
        }
    )
    return ParticleStatistics(
        profiles=profiles,
        ratios=ratios,
        max_depth_um=float(host(d.max())),
        device=device,
        parameters={
            "spacing_um": sp,
            "bin_width_um": width,
            "surface": surface,
            "depth_convention": depth_convention,
            "ratio_channels": rnames,
            "edt": where,
            "voxel_um": math.prod(sp) ** (1.0 / len(sp)),
        },
    )
