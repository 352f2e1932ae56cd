"""Radial line scans from particle centres in orthogonal planes (the paper's Figure 4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from cathodescope._validation import check_positive, resolve_spacing_all
from cathodescope.errors import ParameterError
from cathodescope.profile._profiles import _validate_inputs

__all__ = ["LINESCAN_COLUMNS", "radial_line_scans"]

LINESCAN_COLUMNS = ["particle_id", "plane", "angle_deg", "distance_um", "channel", "value"]
# plane name -> (axis of the first in-plane direction, axis of the second) in (z, y, x) order;
# angle 0 points along the first axis named in the plane (X for XY and XZ, Y for YZ).
_PLANES_3D = {"XY": (2, 1), "YZ": (1, 0), "XZ": (2, 0)}


def radial_line_scans(
    labels: Any,
    channels: Mapping[str, Any],
    *,
    spacing: float | Sequence[float] | None = None,
    n_angles: int = 8,
    step_um: float | None = None,
    ratio_channels: Sequence[str] | None = None,
    particle_ids: Sequence[int] | None = None,
    order: int = 1,
) -> pd.DataFrame:
    """Sample every channel and elemental ratio along rays from each particle's centroid.

    Rays start at the particle's centroid (mean voxel position, um) and run in ``n_angles``
    directions evenly spaced over 360 degrees in each of the orthogonal planes through it
    (XY, YZ and XZ in 3D; XY only in 2D), until they leave the particle's bounding box. Values
    are interpolated with :func:`scipy.ndimage.map_coordinates` (``order``; 1 = linear) at
    physical steps of ``step_um``; samples outside the particle's mask are dropped, so each
    ray stops at the surface (or skips voids). The ratio channel ``<el>/sum`` is
    ``el / sum(ratio channels)`` of the interpolated values (NaN where the sum is 0).

    Parameters
    ----------
    labels : array_like of int, shape (y, x) or (z, y, x)
        Particle labels, 0 = background.
    channels : mapping of str to array_like
        Intensities, same shape as ``labels``.
    spacing : float or sequence of float, optional
        Pixel/voxel size in um, array axis order; may be omitted for DataArray inputs whose
        coordinates (um) give it.
    n_angles : int
        Rays per plane.
    step_um : float, optional
        Sampling step along each ray, um (default: the smallest spacing).
    ratio_channels : sequence of str, optional
        Denominator channels of the ratios (default all channels); ``[]`` gives no ratios.
    particle_ids : sequence of int, optional
        Particles to scan (default all).
    order : int
        Spline order of the interpolation (0-5).

    Returns
    -------
    pandas.DataFrame
        Columns ``particle_id``, ``plane`` ("XY", "YZ", "XZ"), ``angle_deg`` (0 along the
        plane's first axis, counter-clockwise towards its second), ``distance_um`` (from the
        centroid), ``channel`` (a channel name or ``"<el>/sum"``), ``value``.

    Examples
    --------
    >>> yy, xx = np.mgrid[:21, :21]
    >>> disk = ((yy - 10) ** 2 + (xx - 10) ** 2) <= 64
    >>> df = radial_line_scans(disk.astype(int), {"Ni": disk * 1.0}, spacing=0.1, n_angles=4)
    >>> sorted(df.plane.unique()), float(df.distance_um.max())
    (['XY'], 0.8)
    """
    lab, chans = _validate_inputs(labels, channels)
    sp = np.asarray(
        resolve_spacing_all(
            [("labels", labels), *((f"channel {n!r}", a) for n, a in channels.items())],
            spacing,
            lab.ndim,
        )
    )
    if int(n_angles) < 1:
        raise ParameterError(f"n_angles must be >= 1, got {n_angles!r}.")
    step = float(sp.min()) if step_um is None else check_positive(step_um, "step_um")
    names = list(chans)
    rnames = names if ratio_channels is None else [str(c) for c in ratio_channels]
    if any(c not in chans for c in rnames):
        raise ParameterError(f"ratio_channels {rnames!r} must be channels among {names}.")
    objects = ndi.find_objects(lab)
    ids = [i + 1 for i, sl in enumerate(objects) if sl is not None]
    if particle_ids is not None:
        missing = [p for p in particle_ids if int(p) not in ids]
        if missing:
            raise ParameterError(f"particles {missing} are not in labels (present: {ids}).")
        ids = [int(p) for p in particle_ids]
    planes = _PLANES_3D if lab.ndim == 3 else {"XY": (1, 0)}
    angles = np.arange(int(n_angles)) * 360.0 / int(n_angles)
    # Columns collected as arrays, one DataFrame at the end (a DataFrame per scan line cost
    # more than the interpolation).
    frames: list[tuple[int, str, float, np.ndarray, str, np.ndarray]] = []
    for pid in ids:
        sl = objects[pid - 1]
        crops = {c: np.asarray(chans[c][sl], dtype=np.float64) for c in names}
        frames += _scan_particle(
            pid, lab[sl] == pid, crops, sp, step, planes, angles, rnames, order
        )
    if not frames:
        return pd.DataFrame(columns=LINESCAN_COLUMNS)
    n = np.array([f[3].size for f in frames], dtype=np.intp)
    return pd.DataFrame(
        {
            "particle_id": np.repeat(np.array([f[0] for f in frames], dtype=np.int64), n),
            "plane": np.repeat(np.array([f[1] for f in frames], dtype=object), n),
            "angle_deg": np.repeat(np.array([f[2] for f in frames], dtype=np.float64), n),
            "distance_um": np.concatenate([f[3] for f in frames]),
            "channel": np.repeat(np.array([f[4] for f in frames], dtype=object), n),
            "value": np.concatenate([f[5] for f in frames]),
        }
    )[LINESCAN_COLUMNS]


def _scan_particle(
    pid: int,
    mask: np.ndarray,
    crops: Mapping[str, np.ndarray],
    sp: np.ndarray,
    step: float,
    planes: Mapping[str, tuple[int, int]],
    angles: np.ndarray,
    rnames: Sequence[str],
    order: int,
) -> list[tuple[int, str, float, np.ndarray, str, np.ndarray]]:
    """Rays of one particle (its crop): ``(pid, plane, angle, distances, channel, values)``."""
    frames: list[tuple[int, str, float, np.ndarray, str, np.ndarray]] = []
    centre = np.array(ndi.center_of_mass(mask))  # crop voxel coordinates
    extent_um = float(np.linalg.norm(np.array(mask.shape) * sp))
    dist = np.arange(0.0, extent_um + step, step)
    upper = np.array(mask.shape)[:, None]
    for plane, (a1, a2) in planes.items():
        for ang in angles:
            th = np.deg2rad(ang)
            direc = np.zeros(mask.ndim)
            direc[a1] = np.cos(th) / sp[a1]
            direc[a2] = np.sin(th) / sp[a2]
            pts = centre[:, None] + direc[:, None] * dist[None, :]
            inside = np.all((pts >= -0.5) & (pts <= upper - 0.5), axis=0)
            pts = pts[:, inside]
            dd = dist[inside]
            near = np.clip(np.rint(pts).astype(np.intp), 0, upper - 1)
            keep = mask[tuple(near)]
            if not keep.any():
                continue
            pts, dd = pts[:, keep], dd[keep]
            vals = {
                c: ndi.map_coordinates(v, pts, order=int(order), mode="nearest")
                for c, v in crops.items()
            }
            for c, v in vals.items():
                frames.append((pid, plane, float(ang), dd, c, v))
            if rnames:
                tot = np.sum([vals[c] for c in rnames], axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    for c in rnames:
                        r = np.where(tot != 0, vals[c] / tot, np.nan)
                        frames.append((pid, plane, float(ang), dd, f"{c}/sum", r))
    return frames
