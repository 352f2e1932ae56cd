"""Synthetic XAS spectra with known answers: K and L edges, mixtures, XANES stacks, TEY/PFY.

These are *models* (arctangent edge steps plus Gaussian/Lorentzian-like peaks), not measured
spectra: they give ground truth for tests where no real file exists (L edges, pixel maps,
self-absorption). Edge energies come from xraydb; chemical shifts and peak shapes are
illustrative parameters listed in each function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cathodescope._validation import normalize_spacing
from cathodescope.errors import ParameterError


def _da(energy: np.ndarray, mu: np.ndarray, name: str, **attrs: Any):
    import xarray as xr

    return xr.DataArray(
        mu,
        dims=("energy",),
        coords={"energy": ("energy", energy, {"units": "eV"})},
        name=name,
        attrs={"units": "normalized", **attrs},
    )


def k_edge_model(
    energy: np.ndarray,
    *,
    e0: float,
    width: float = 1.5,
    white_line: float = 0.5,
    white_line_offset: float = 4.0,
    white_line_sigma: float = 3.0,
    pre_peak: float = 0.02,
    oscillation: float = 0.05,
) -> np.ndarray:
    """Normalized K-edge XANES model, shape ``energy.shape``.

    ``0.5 + arctan((E - e0)/width)/pi`` (inflection at e0), a Gaussian white line at
    ``e0 + white_line_offset``, a weak pre-edge peak at ``e0 - 10`` eV and a damped post-edge
    oscillation; it tends to 1 far above the edge.

    Parameters
    ----------
    energy : ndarray
        Energies in eV.
    e0 : float
        Inflection point of the edge step, eV.
    width : float
        Half width of the arctangent step, eV.
    white_line, white_line_offset, white_line_sigma : float
        Height, position above e0 (eV) and width (eV) of the white line.
    pre_peak : float
        Height of the pre-edge peak at e0 - 10 eV.
    oscillation : float
        Amplitude of the post-edge oscillation.

    Returns
    -------
    ndarray
        Normalized mu(E), same shape as ``energy``.
    """
    e = np.asarray(energy, dtype=float)
    step = 0.5 + np.arctan((e - e0) / width) / np.pi
    wl = white_line * np.exp(-0.5 * ((e - e0 - white_line_offset) / white_line_sigma) ** 2)
    pre = pre_peak * np.exp(-0.5 * ((e - e0 + 10.0) / 1.0) ** 2)
    x = np.clip(e - e0 - 10.0, 0.0, None)
    osc = oscillation * np.sin(x / 8.0) * np.exp(-x / 60.0) * (x > 0)
    return step + wl + pre + osc


def k_edge_standards(
    energy: np.ndarray | None = None, *, element: str = "Ni", n_standards: int = 3
) -> dict[str, Any]:
    """Synthetic K-edge standards of increasing valence (2+, 3+, 4+), 1.5 eV apart per unit.

    Parameters
    ----------
    energy : ndarray, optional
        Energies in eV (default: e0 - 60 to e0 + 140 eV in 0.5 eV steps).
    element : str
        Absorber; e0 is xraydb's K edge of it.
    n_standards : int
        Number of standards (1-4).

    Returns
    -------
    dict of str to xarray.DataArray
        Name (``"M2+"``, ``"M3+"``...) to normalized spectrum on ``energy``.
    """
    import xraydb

    edge = float(xraydb.xray_edge(element, "K").energy)
    if energy is None:
        energy = np.arange(edge - 60.0, edge + 140.0, 0.5)
    names = ["M2+", "M3+", "M4+", "M5+"][:n_standards]
    out = {}
    for i, name in enumerate(names):
        mu = k_edge_model(
            energy, e0=edge + 1.5 * i, white_line=0.45 + 0.1 * i, white_line_sigma=2.5 + 0.5 * i
        )
        out[name] = _da(np.asarray(energy, dtype=float), mu, name, model=True)
    return out


_L_MODELS: dict[str, dict[str, tuple[float, float]]] = {
    # standard -> (shift of the main L3 peak from the tabulated L3 edge in eV, relative height
    # of a second multiplet peak at +1.6 eV). Illustrative values for synthetic spectra only.
    "Ni": {"NiO": (0.3, 0.35), "LiNiO2": (1.9, 0.9)},
    "Mn": {"MnO": (-1.0, 0.5), "Mn2O3": (1.0, 0.8), "MnO2": (2.6, 0.6)},
}


def l_edge_standards(element: str = "Ni", energy: np.ndarray | None = None) -> dict[str, Any]:
    """Synthetic L2,3-edge standards: NiO/LiNiO2 (Ni) or MnO/Mn2O3/MnO2 (Mn).

    Each spectrum is two arctangent steps (L3 : L2 = 2 : 1, at xraydb's L3 and L2 edges) plus
    narrow multiplet peaks whose position encodes the valence; normalized to 1 above L2.

    Parameters
    ----------
    element : {"Ni", "Mn"}
    energy : ndarray, optional
        Energies in eV; default L3 - 15 to L2 + 25 eV in 0.1 eV steps.

    Returns
    -------
    dict of str to xarray.DataArray
        Standard name to normalized spectrum.
    """
    import xraydb

    if element not in _L_MODELS:
        raise ParameterError(f"element={element!r}: L-edge models exist for {sorted(_L_MODELS)}.")
    l3 = float(xraydb.xray_edge(element, "L3").energy)
    l2 = float(xraydb.xray_edge(element, "L2").energy)
    if energy is None:
        energy = np.arange(l3 - 15.0, l2 + 25.0, 0.1)
    e = np.asarray(energy, dtype=float)
    out = {}
    for name, (shift, second) in _L_MODELS[element].items():
        step = (2.0 / 3.0) * (0.5 + np.arctan((e - l3 - shift) / 0.6) / np.pi) + (1.0 / 3.0) * (
            0.5 + np.arctan((e - l2 - shift) / 0.6) / np.pi
        )

        def peak(c: float, h: float, w: float = 0.5) -> np.ndarray:
            return h * np.exp(-0.5 * ((e - c) / w) ** 2)

        mu = (
            step
            + peak(l3 + shift, 6.0)
            + peak(l3 + shift + 1.6, 6.0 * second)
            + peak(l2 + shift, 2.5)
            + peak(l2 + shift + 1.2, 2.5 * second)
        )
        out[name] = _da(e, mu, name, model=True, edge="L2,3", element=element)
    return out


def mixture_spectrum(
    standards: Mapping[str, Any],
    weights: Mapping[str, float] | Sequence[float],
    *,
    energy: np.ndarray | None = None,
    noise: float = 0.0,
    shift: float = 0.0,
    rng: np.random.Generator | None = None,
):
    """A weighted mixture of standards with Gaussian noise: returns ``(spectrum, truth)``.

    Parameters
    ----------
    standards : mapping name -> DataArray (energy in eV)
        Standard spectra, each with an ``energy`` coordinate in eV.
    weights : mapping or sequence
        Fractions (must be >= 0 and sum to 1).
    energy : ndarray, optional
        Output energies (default: the first standard's).
    noise : float
        Standard deviation of the added noise (normalized units).
    shift : float
        Energy shift of the whole mixture in eV (for alignment tests).
    rng : numpy Generator, optional
        Source of the noise (default ``numpy.random.default_rng(0)``).

    Returns
    -------
    spectrum : xarray.DataArray
    truth : dict
        ``weights`` (dict), ``noise``, ``shift``.
    """
    names = list(standards)
    w = (
        np.array([weights[n] for n in names], dtype=float)
        if isinstance(weights, Mapping)
        else np.asarray(weights, dtype=float)
    )
    if w.size != len(names) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ParameterError("weights must be one non-negative value per standard, summing to 1.")
    first = standards[names[0]]
    e = np.asarray(first.energy.values if energy is None else energy, dtype=float)
    mu = np.zeros_like(e)
    for wi, n in zip(w, names, strict=True):
        s = standards[n]
        mu += wi * np.interp(e - shift, s.energy.values, s.values)
    if noise > 0:
        rng = np.random.default_rng(0) if rng is None else rng
        mu = mu + rng.normal(0.0, noise, e.size)
    return _da(e, mu, "mixture"), {
        "weights": dict(zip(names, w.tolist(), strict=True)),
        "noise": noise,
        "shift": shift,
    }


def xanes_stack_phantom(
    standards: Mapping[str, Any],
    *,
    shape: tuple[int, int] = (64, 64),
    spacing: float | tuple[float, float] = 0.03,
    energy: np.ndarray | None = None,
    noise: float = 0.01,
    edge_step: float = 1.0,
    pre_slope: float = -2e-4,
    background: float = 0.3,
    dtype: Any = np.float64,
    rng: np.random.Generator | None = None,
):
    """A XANES stack of a round particle whose first-standard fraction grows towards its rim.

    Inside a disc the fraction of standard 0 is ``0.2 + 0.6 * (r / R)^2``, the rest is shared
    by the other standards in equal parts; outside, the edge step is 2 % of ``edge_step`` (a
    low-edge-jump region the mask must catch). Raw mu = background + pre_slope * (E - E[0]) +
    step * mixture + noise.

    Parameters
    ----------
    standards : mapping of str to DataArray
        Normalized standards (energy in eV); the first one's fraction varies.
    shape : (int, int)
        Image size ``(ny, nx)`` in pixels.
    spacing : float or (float, float)
        Pixel size in um (``y, x``).
    energy : ndarray, optional
        Energies in eV (default: the first standard's).
    noise : float
        Standard deviation of the added noise (units of mu).
    edge_step : float
        Edge step inside the particle.
    pre_slope, background : float
        Pre-edge slope (1/eV) and offset of the raw mu.
    dtype : numpy dtype
        Working and output dtype.
    rng : numpy Generator, optional
        Random generator (seeded default).

    Returns
    -------
    stack : xarray.DataArray
        Dims ``("energy", "y", "x")``, energy in eV, y/x in um.
    truth : dict
        ``fractions`` (k, ny, nx), ``edge_step`` (ny, nx), ``inside`` (ny, nx) bool.
    """
    import xarray as xr

    rng = np.random.default_rng(1) if rng is None else rng
    sp = normalize_spacing(spacing, 2)
    names = list(standards)
    k = len(names)
    first = standards[names[0]]
    e = np.asarray(first.energy.values if energy is None else energy, dtype=float)
    a = np.stack([np.interp(e, standards[n].energy.values, standards[n].values) for n in names])
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    r = np.hypot(yy - (ny - 1) / 2, xx - (nx - 1) / 2)
    radius = 0.4 * min(ny, nx)
    inside = r <= radius
    f0 = np.clip(0.2 + 0.6 * (r / radius) ** 2, 0, 1)
    fr = np.empty((k, ny, nx))
    fr[0] = f0
    for i in range(1, k):
        fr[i] = (1 - f0) / max(k - 1, 1)
    if k == 1:
        fr[0] = 1.0
    step = np.where(inside, edge_step, 0.02 * edge_step)
    dt = np.dtype(dtype)
    data = np.einsum("kyx,ke->eyx", (fr * step[None]).astype(dt), a.astype(dt))
    data += (background + pre_slope * (e - e[0])).astype(dt)[:, None, None]
    if noise > 0:  # in place, in the working dtype: keeps a 10^6-pixel stack within memory
        data += dt.type(noise) * rng.standard_normal(data.shape, dtype=dt)
    stack = xr.DataArray(
        data,
        dims=("energy", "y", "x"),
        coords={
            "energy": ("energy", e, {"units": "eV"}),
            "y": ("y", np.arange(ny) * sp[0], {"units": "um"}),
            "x": ("x", np.arange(nx) * sp[1], {"units": "um"}),
        },
        attrs={"units": "a.u.", "phantom": True},
    )
    return stack, {"fractions": fr, "edge_step": step, "inside": inside, "names": names}


def surface_bulk_series(
    standards: Mapping[str, Any],
    *,
    cycles: Sequence[int] = (0, 1, 50, 100),
    surface_fraction: Sequence[float] = (0.35, 0.45, 0.6, 0.7),
    bulk_fraction: Sequence[float] = (0.1, 0.12, 0.2, 0.25),
    noise: float = 0.01,
    sample: str = "CG-NMC622",
    rng: np.random.Generator | None = None,
):
    """TEY (surface) and PFY (bulk) spectra vs cycle number with known fractions of standard 0.

    Parameters
    ----------
    standards : mapping of str to DataArray
        Exactly two normalized standards (e.g. NiO, LiNiO2).
    cycles : sequence of int
        Cycle numbers.
    surface_fraction, bulk_fraction : sequence of float
        Fraction of the first standard seen by TEY and PFY at each cycle.
    noise : float
        Noise standard deviation (normalized units).
    sample : str
        Sample name in the output.
    rng : numpy Generator, optional
        Random generator (seeded default).

    Returns
    -------
    spectra : list of dict
        Each with ``sample, cycle, mode ("TEY"/"PFY"), spectrum`` (DataArray).
    truth : pandas.DataFrame
        ``sample, cycle, mode, fraction`` (fraction of the first standard, e.g. Ni2+).
    """
    import pandas as pd

    rng = np.random.default_rng(2) if rng is None else rng
    names = list(standards)
    if len(names) != 2:
        raise ParameterError("surface_bulk_series needs exactly two standards (e.g. NiO, LiNiO2).")
    if not len(cycles) == len(surface_fraction) == len(bulk_fraction):
        raise ParameterError("cycles, surface_fraction and bulk_fraction must have equal length.")
    spectra, rows = [], []
    for c, fs, fb in zip(cycles, surface_fraction, bulk_fraction, strict=True):
        for mode, f in (("TEY", fs), ("PFY", fb)):
            spec, _ = mixture_spectrum(
                standards, {names[0]: f, names[1]: 1 - f}, noise=noise, rng=rng
            )
            spectra.append({"sample": sample, "cycle": int(c), "mode": mode, "spectrum": spec})
            rows.append({"sample": sample, "cycle": int(c), "mode": mode, "fraction": f})
    return spectra, pd.DataFrame(rows)
