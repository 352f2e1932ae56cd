"""Synthetic core/shell XRF element maps with known truth (tests, benchmark, demo).

The particles are discs (a thin section, or a map whose thickness effect has been corrected): at
depth ``d`` from the particle surface the composition is::

    c_E(d) = shell_E + (core_E - shell_E) * S((d - interface_depth) / sigma)

with ``S`` the unit step of :mod:`cathodescope.xrf._coreshell` (erf by default), the CG NMC622
particle of SCIENCE.md section 2: shell NMC442, core NMC701515, ~1 um gradient region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr

from cathodescope._validation import check_choice, check_positive, normalize_spacing
from cathodescope.errors import ParameterError
from cathodescope.xrf._coreshell import _WIDTH_10_90, step

NMC442: dict[str, float] = {"Ni": 0.4, "Mn": 0.4, "Co": 0.2}
NMC701515: dict[str, float] = {"Ni": 0.7, "Mn": 0.15, "Co": 0.15}


def random_discs(
    shape: tuple[int, int],
    n: int,
    *,
    spacing: float | Sequence[float],
    radius_um: tuple[float, float] = (2.0, 3.0),
    gap_um: float = 0.5,
    rng: np.random.Generator | None = None,
    max_tries: int | None = None,
) -> list[tuple[float, float, float]]:
    """Place ``n`` non-overlapping discs ``(y_um, x_um, radius_um)`` fully inside the field.

    Rejection sampling on a coarse grid of cells (fast for thousands of discs); gives up with
    a :class:`ParameterError` after ``max_tries`` draws (default ``1000 n + 10000``).

    Parameters
    ----------
    shape : (int, int)
        Field size in pixels ``(ny, nx)``.
    n : int
        Number of discs.
    spacing : float or (float, float)
        Pixel size in um.
    radius_um : (float, float)
        Range of the (uniform) disc radii, um.
    gap_um : float
        Smallest gap between two discs, um.
    rng : numpy Generator, optional
        Random source (default ``numpy.random.default_rng(0)``).
    max_tries : int, optional
        Draws before giving up.

    Returns
    -------
    list of (float, float, float)
        ``(y_um, x_um, radius_um)`` of each disc, in um from the field's corner.
    """
    sp = normalize_spacing(spacing, 2)
    rng = rng if rng is not None else np.random.default_rng(0)
    height, width = shape[0] * sp[0], shape[1] * sp[1]
    r_max = radius_um[1]
    cell = 2 * r_max + gap_um
    grid: dict[tuple[int, int], list[int]] = {}
    discs: list[tuple[float, float, float]] = []
    tries = 0
    max_tries = max_tries if max_tries is not None else 1000 * n + 10_000
    while len(discs) < n:
        tries += 1
        if tries > max_tries:
            raise ParameterError(
                f"could place only {len(discs)} of {n} discs of radius {radius_um} um in a "
                f"{height:.3g} x {width:.3g} um field; use a bigger field or fewer particles."
            )
        r = rng.uniform(*radius_um)
        y = rng.uniform(r + sp[0], height - r - sp[0])
        x = rng.uniform(r + sp[1], width - r - sp[1])
        gy, gx = int(y // cell), int(x // cell)
        ok = True
        for iy in (gy - 1, gy, gy + 1):
            for ix in (gx - 1, gx, gx + 1):
                for j in grid.get((iy, ix), ()):
                    yj, xj, rj = discs[j]
                    if np.hypot(y - yj, x - xj) < r + rj + gap_um:
                        ok = False
                        break
        if ok:
            grid.setdefault((gy, gx), []).append(len(discs))
            discs.append((y, x, r))
    return discs


def core_shell_map(
    shape: tuple[int, int] = (128, 128),
    *,
    spacing: float | Sequence[float] = 0.05,
    particles: Sequence[tuple[float, float, float]] | None = None,
    interface_depth_um: float = 1.5,
    sigma_um: float = 1.0 / 6.0,
    shell: Mapping[str, float] = NMC442,
    core: Mapping[str, float] = NMC701515,
    counts: float = 2000.0,
    background: float = 0.0,
    noise: Literal["poisson", "none"] = "poisson",
    model: Literal["erf", "logistic"] = "erf",
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> tuple[xr.DataArray, dict[str, Any]]:
    """Element maps of core/shell gradient particles, with the truth.

    Parameters
    ----------
    shape : (int, int)
        Map size (ny, nx) in pixels.
    spacing : float or (float, float)
        Pixel size in um.
    particles : sequence of (y_um, x_um, radius_um), optional
        Disc particles; default one disc of radius 3 um in the middle.
    interface_depth_um : float
        Depth of the core/shell interface below the particle surface, um.
    sigma_um : float
        Width parameter of the step, um (erf: Gaussian sigma; the 10-90 % width is 2.563 sigma,
        the full gradient region +/- 3 sigma = 1 um for the default 1/6 um).
    shell, core : mapping of element to atomic fraction
        Compositions (default NMC442 shell, NMC701515 core).
    counts : float
        Expected counts per pixel for a fraction of 1 (same sensitivity for all elements).
    background : float
        Expected counts per pixel outside the particles, every element.
    noise : {"poisson", "none"}
        Counting noise or exact expected values.
    model : {"erf", "logistic"}
        Step shape.
    rng : numpy.random.Generator, optional
        Random generator for the noise.
    dtype : numpy dtype
        Data type of the maps (float32 halves the memory of big benchmark maps).

    Returns
    -------
    maps : xarray.DataArray
        dims ``("channel", "y", "x")``, channels in the order of ``shell``, units ``"counts"``,
        coordinates in um from 0.
    truth : dict
        ``labels`` (int32 map, 0 outside), ``particles``, ``interface_depth_um``,
        ``interface_radius_um`` (per particle), ``sigma_um``, ``width_10_90_um``, ``shell``,
        ``core``, ``depth_um`` (depth map, NaN outside), ``spacing``.

    Examples
    --------
    >>> maps, truth = core_shell_map((160, 160), spacing=0.05, noise="none")
    >>> maps.dims, maps.shape, truth["interface_radius_um"]
    (('channel', 'y', 'x'), (3, 160, 160), [1.5])
    """
    check_choice(noise, ("poisson", "none"), "noise")
    check_choice(model, ("erf", "logistic"), "model")
    check_positive(interface_depth_um, "interface_depth_um")
    check_positive(sigma_um, "sigma_um")
    check_positive(counts, "counts")
    sp = normalize_spacing(spacing, 2)
    if set(shell) != set(core):
        raise ParameterError(f"shell {list(shell)} and core {list(core)} list other elements.")
    elements = list(shell)
    ny, nx = shape
    if particles is None:
        particles = [(ny * sp[0] / 2, nx * sp[1] / 2, 3.0)]
    rng = rng if rng is not None else np.random.default_rng(0)
    labels = np.zeros(shape, dtype=np.int32)
    depth = np.full(shape, np.nan, dtype=dtype)
    for i, (cy, cx, r) in enumerate(particles, start=1):
        y0 = max(0, int(np.floor((cy - r) / sp[0])) - 1)
        y1 = min(ny, int(np.ceil((cy + r) / sp[0])) + 2)
        x0 = max(0, int(np.floor((cx - r) / sp[1])) - 1)
        x1 = min(nx, int(np.ceil((cx + r) / sp[1])) + 2)
        yy = (np.arange(y0, y1) * sp[0])[:, None]
        xx = (np.arange(x0, x1) * sp[1])[None, :]
        d = r - np.hypot(yy - cy, xx - cx)
        inside = d >= 0
        labels[y0:y1, x0:x1][inside] = i
        depth[y0:y1, x0:x1][inside] = d[inside]
    inside_all = labels > 0
    s = np.zeros(shape, dtype=dtype)
    s[inside_all] = step((depth[inside_all] - interface_depth_um) / sigma_um, model)
    maps = np.empty((len(elements), ny, nx), dtype=dtype)
    for k, e in enumerate(elements):
        lam = np.full(shape, background, dtype=dtype)
        lam[inside_all] = counts * (shell[e] + (core[e] - shell[e]) * s[inside_all]) + background
        maps[k] = rng.poisson(lam).astype(dtype) if noise == "poisson" else lam
    da = xr.DataArray(
        maps,
        dims=("channel", "y", "x"),
        coords={
            "channel": np.asarray(elements, dtype=object),
            "y": ("y", np.arange(ny) * sp[0], {"units": "um"}),
            "x": ("x", np.arange(nx) * sp[1], {"units": "um"}),
        },
        attrs={"units": "counts", "spacing_um": sp, "scaler": None, "format": "synthetic"},
        name="xrf",
    )
    truth = {
        "labels": labels,
        "particles": [tuple(map(float, p)) for p in particles],
        "interface_depth_um": float(interface_depth_um),
        "interface_radius_um": [float(p[2] - interface_depth_um) for p in particles],
        "sigma_um": float(sigma_um),
        "width_10_90_um": float(_WIDTH_10_90[model] * sigma_um),
        "shell": dict(shell),
        "core": dict(core),
        "depth_um": depth,
        "spacing": sp,
    }
    return da, truth
