"""astra-toolbox reconstruction on the CPU: the reference our FBP/SIRT are checked against.

Same geometry and units as :func:`cathodescope.tomo.fbp` (astra's ``parallel_vec`` geometry
with the detector shifted so that the rotation axis projects on ``centre``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import ParameterError, ProjectionGeometryError
from cathodescope.tomo._recon import _check_sinogram, check_centre


def _astra_geometry(angles_deg: np.ndarray, n_det: int, centre: float, size: int) -> tuple:
    import astra

    theta = np.radians(angles_deg)
    vec = np.zeros((theta.size, 6))
    vec[:, 0] = np.sin(theta)
    vec[:, 1] = -np.cos(theta)
    u = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    vec[:, 4:6] = u
    vec[:, 2:4] = ((n_det - 1) / 2.0 - centre) * u
    return astra.create_vol_geom(size, size), astra.create_proj_geom("parallel_vec", n_det, vec)


def astra_reconstruct_slice(
    sinogram: np.ndarray,
    angles_deg: np.ndarray,
    *,
    centre: float | None = None,
    size: int | None = None,
    algorithm: Literal["FBP", "SIRT"] = "FBP",
    iterations: int = 100,
    filter_name: str = "ram-lak",
) -> np.ndarray:
    """Reconstruct one slice with astra-toolbox on the CPU (the reference implementation).

    Same geometry and units as :func:`fbp` (``parallel_vec`` geometry with the detector shifted so
    that the rotation axis projects on ``centre``).

    Parameters
    ----------
    sinogram : ndarray, shape (n_angles, n_det)
        Line integrals of one slice.
    angles_deg : ndarray, shape (n_angles,)
        Degrees.
    centre : float, optional
        Rotation-axis column in pixels (default detector centre).
    size : int, optional
        Slice side in pixels (default ``n_det``).
    algorithm : {"FBP", "SIRT"}
        astra algorithm.
    iterations : int
        SIRT iterations.
    filter_name : str
        astra FBP filter (``"ram-lak"``, ``"shepp-logan"``, ...).

    Returns
    -------
    ndarray, shape (size, size), float32
        Attenuation in 1/pixel.
    """
    try:
        import astra
    except ImportError as exc:  # pragma: no cover - astra is in the tomo extra
        raise ParameterError(
            "astra-toolbox is not installed; pip install 'cathodescope[tomo]' or use "
            "algorithm='fbp' (ours)."
        ) from exc
    check_choice(algorithm, ("FBP", "SIRT"), "algorithm")
    sino, angles = _check_sinogram(sinogram, angles_deg)
    if sino.ndim != 2:
        raise ProjectionGeometryError(
            "astra_reconstruct_slice takes one (n_angles, n_det) sinogram."
        )
    n_det = sino.shape[1]
    c = check_centre(centre, n_det)
    n = int(size or n_det)
    if algorithm == "FBP":
        # astra's CPU FBP only accepts the plain 'parallel' geometry (axis at the detector
        # centre): widen the detector with edge values and shift the sinogram (cubic spline)
        # so that the rotation axis lands on the middle column.
        import scipy.ndimage as ndi

        delta = (n_det - 1) / 2.0 - c
        pad = math.ceil(abs(delta)) + 1
        sino = np.pad(sino, ((0, 0), (pad, pad)), mode="edge")
        sino = ndi.shift(sino, (0, delta), order=3, mode="nearest").astype(np.float32)
        n_det, c = sino.shape[1], (sino.shape[1] - 1) / 2.0
        vol_geom = astra.create_vol_geom(n, n)
        proj_geom = astra.create_proj_geom("parallel", 1.0, n_det, np.radians(angles))
    else:
        vol_geom, proj_geom = _astra_geometry(angles, n_det, c, n)
    proj_id = astra.create_projector("linear", proj_geom, vol_geom)
    sino_id = astra.data2d.create("-sino", proj_geom, sino)
    rec_id = astra.data2d.create("-vol", vol_geom, 0.0)
    cfg = astra.astra_dict(algorithm)
    cfg["ProjectorId"] = proj_id
    cfg["ProjectionDataId"] = sino_id
    cfg["ReconstructionDataId"] = rec_id
    if algorithm == "FBP":
        cfg["FilterType"] = filter_name
    else:
        cfg["option"] = {"MinConstraint": 0.0}
    alg_id = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg_id, int(iterations) if algorithm == "SIRT" else 1)
        rec = astra.data2d.get(rec_id)
    finally:
        astra.algorithm.delete(alg_id)
        astra.data2d.delete([sino_id, rec_id])
        astra.projector.delete(proj_id)
    return np.asarray(rec, dtype=np.float32)
