"""Elemental maps from multi-energy attenuation volumes: edge differences and decomposition.

Edge energies and mass attenuation coefficients come from xraydb (Elam tables), never typed by
hand. Attenuation volumes are linear attenuation coefficients in 1/um (what
:func:`cathodescope.tomo.reconstruct` returns when it knows the pixel size).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cathodescope._validation import check_finite
from cathodescope.errors import EdgeBracketError, ParameterError, ShapeMismatchError

#: Absorption edges searched when a pair's element is not given.
DEFAULT_EDGES: tuple[str, ...] = ("K", "L3")


@dataclass(frozen=True)
class EdgePair:
    """An energy pair bracketing one tabulated absorption edge.

    Parameters
    ----------
    element : str
        Element symbol (``"Ni"``).
    edge : str
        Edge name ("K", "L3"...).
    edge_energy_ev : float
        Tabulated edge energy (xraydb), eV.
    below_ev, above_ev : float
        Energies of the pair, eV.
    """

    element: str
    edge: str
    edge_energy_ev: float
    below_ev: float
    above_ev: float


def _all_elements() -> list[str]:
    import xraydb

    return [xraydb.atomic_symbol(z) for z in range(3, 93)]


def edge_pair(
    below_ev: float,
    above_ev: float,
    *,
    element: str | None = None,
    edges: Sequence[str] = DEFAULT_EDGES,
) -> EdgePair:
    """Check that two energies bracket an absorption edge and say which one.

    Parameters
    ----------
    below_ev, above_ev : float
        Pair energies in eV (``below_ev < edge < above_ev``).
    element : str, optional
        Expected element (e.g. ``"Ni"``); if omitted, the bracketed edge is looked up among all
        elements Z = 3-92 (the one closest to the pair's midpoint if several).
    edges : sequence of str
        Edge names considered.

    Returns
    -------
    EdgePair
        Element, edge name, edge energy (xraydb) and the two energies.

    Raises
    ------
    EdgeBracketError
        If no tabulated edge lies strictly between the energies (message lists the nearest
        edges of the requested element or of Mn/Co/Ni).
    """
    import xraydb

    lo, hi = float(below_ev), float(above_ev)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise EdgeBracketError(
            f"energy pair ({below_ev}, {above_ev}) eV: the first energy must be below the second "
            "(below-edge, above-edge)."
        )
    candidates = [element] if element else _all_elements()
    found = []
    for el in candidates:
        try:
            table = xraydb.xray_edges(el)
        except Exception as exc:  # xraydb raises ValueError/KeyError on unknown symbols
            raise ParameterError(
                f"unknown element {el!r}; use a chemical symbol such as 'Ni'."
            ) from exc
        for name in edges:
            if name in table and lo < table[name].energy < hi:
                found.append(EdgePair(el, name, float(table[name].energy), lo, hi))
    if not found:
        ref = [element] if element else ["Mn", "Co", "Ni"]
        near = ", ".join(
            f"{el} {e} {xraydb.xray_edges(el)[e].energy:.0f} eV"
            for el in ref
            for e in edges
            if e in xraydb.xray_edges(el)
        )
        raise EdgeBracketError(
            f"energies {lo:.1f} and {hi:.1f} eV do not bracket any tabulated "
            f"{'/'.join(edges)} edge{' of ' + element if element else ''} (xraydb: {near}); "
            "choose one energy below and one above the edge of the element to map."
        )
    mid = 0.5 * (lo + hi)
    return min(found, key=lambda p: abs(p.edge_energy_ev - mid))


def edge_difference(below: Any, above: Any, *, pair: EdgePair | None = None) -> Any:
    """Elemental map = above-edge minus below-edge attenuation (the paper's K-edge differencing).

    Negative values (phase-contrast fringes in empty space, noise) are kept, not clipped; their
    fraction is recorded in ``attrs["negative_fraction"]``.

    Parameters
    ----------
    below, above : DataArray or ndarray, same shape
        Attenuation volumes/images (1/um) below and above the edge, registered.
    pair : EdgePair, optional
        Recorded in the attributes.

    Returns
    -------
    xarray.DataArray
        Same dims/coords as ``below``; ``attrs["units"]`` from the inputs.
    """
    import xarray as xr

    b = below if isinstance(below, xr.DataArray) else xr.DataArray(np.asarray(below))
    a = np.asarray(getattr(above, "values", above), dtype=np.float32)
    if a.shape != b.shape:
        raise ShapeMismatchError(
            f"below-edge {b.shape} and above-edge {a.shape} data differ in shape; register and "
            "crop them to a common grid first."
        )
    diff = b.copy(data=(a - np.asarray(b.values, np.float32)).astype(np.float32))
    diff.attrs = {
        "units": b.attrs.get("units", "1/um"),
        "long_name": "edge difference (above - below)",
        "negative_fraction": float(np.mean(diff.values < 0)),
    }
    if pair is not None:
        diff.attrs.update(
            element=pair.element,
            edge=pair.edge,
            edge_energy_ev=pair.edge_energy_ev,
            below_ev=pair.below_ev,
            above_ev=pair.above_ev,
        )
    return diff


def attenuation_matrix(energies_ev: Sequence[float], elements: Sequence[str]) -> np.ndarray:
    """Mass attenuation coefficients (xraydb Elam, total) of elements at energies.

    Parameters
    ----------
    energies_ev : sequence of float
        Photon energies in eV.
    elements : sequence of str
        Element symbols.

    Returns
    -------
    ndarray, shape (n_energies, n_elements)
        Mass attenuation coefficients in cm^2/g.
    """
    import xraydb

    e = np.asarray(energies_ev, dtype=float)
    return np.stack([np.atleast_1d(xraydb.mu_elam(el, e)) for el in elements], axis=1)


@dataclass(frozen=True)
class Decomposition:
    """Per-voxel decomposition of multi-energy attenuation into element densities.

    Parameters
    ----------
    densities : xarray.DataArray, dims (channel, ...)
        Partial mass density of each element, g/cm^3.
    molar : xarray.DataArray, dims (channel, ...)
        Molar concentration of each element, mol/cm^3 (``densities / atomic mass``); the
        elemental ratios of the paper's Eq. 1 are ratios of these.
    residual_rms : float
        RMS misfit of the attenuation, 1/cm.
    condition_number : float
        Of the attenuation matrix (large = elements hard to separate at these energies).
    matrix : pandas.DataFrame
        The mass attenuation coefficients used (cm^2/g), energies x elements.
    parameters : dict
        The parameters used.
    """

    densities: Any
    molar: Any
    residual_rms: float
    condition_number: float
    matrix: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def channels(self, elements: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Molar concentration maps ``{element: array}`` for the depth-profile engine."""
        names = list(elements or self.parameters["elements"])
        return {str(el): np.asarray(self.molar.sel(channel=el).values) for el in names}


def decompose(
    attenuation: Mapping[float, Any],
    *,
    elements: Sequence[str] = ("Ni", "Co", "Mn"),
    matrix_elements: Sequence[str] = ("O",),
    units: str = "1/um",
    nonnegative: bool = False,
) -> Decomposition:
    """Quantitative per-voxel decomposition into element densities by least squares.

    Solves ``mu(E) = sum_k rho_k (mu/rho)_k(E)`` for every voxel, with ``(mu/rho)_k(E)`` the
    xraydb (Elam) mass attenuation of element ``k`` at each *actual* energy, so that every
    element's contribution at every energy (not only at its own edge) is accounted for.
    ``matrix_elements`` stand for the light, edge-free rest of the material (O, Li...).

    Parameters
    ----------
    attenuation : mapping energy_eV -> DataArray/ndarray
        Registered linear attenuation volumes, one per energy, same shape.
    elements : sequence of str
        Elements to quantify.
    matrix_elements : sequence of str
        Extra unknowns for the edge-free matrix (default oxygen).
    units : {"1/um", "1/cm", "1/m"}
        Units of the attenuation values (taken from ``attrs["units"]`` when present).
    nonnegative : bool
        Clip negative densities to zero after the solve (off by default: negative values flag
        noise and misregistration and are kept, as in the paper).

    Returns
    -------
    Decomposition

    Raises
    ------
    ParameterError
        If there are fewer energies than unknowns.
    ShapeMismatchError
        If the volumes differ in shape.
    """
    import xarray as xr
    import xraydb

    energies = sorted(float(e) for e in attenuation)
    names = list(elements) + [m for m in matrix_elements if m not in elements]
    if len(energies) < len(names):
        raise ParameterError(
            f"{len(energies)} energies cannot determine {len(names)} unknowns ({', '.join(names)}); "
            "add energies (below/above each edge) or drop matrix_elements."
        )
    first = (
        attenuation[energies[0]] if energies[0] in attenuation else next(iter(attenuation.values()))
    )
    lookup = {float(k): v for k, v in attenuation.items()}
    arrays = [
        np.asarray(getattr(lookup[e], "values", lookup[e]), dtype=np.float64) for e in energies
    ]
    shape = arrays[0].shape
    for e, a in zip(energies, arrays, strict=True):
        if a.shape != shape:
            raise ShapeMismatchError(
                f"attenuation at {e} eV has shape {a.shape}, expected {shape}."
            )
        check_finite(a, f"attenuation at {e} eV")
    units = getattr(first, "attrs", {}).get("units", units)
    factor = {"1/um": 1e4, "1/cm": 1.0, "1/m": 1e-2}.get(units)
    if factor is None:
        raise ParameterError(
            f"attenuation units {units!r} not understood; expected '1/um', '1/cm' or '1/m' "
            "(reconstruct with spacing= to get 1/um)."
        )
    mat = attenuation_matrix(energies, names)  # (n_E, n_k) cm^2/g
    mu = np.stack(arrays).reshape(len(energies), -1) * factor  # 1/cm
    pinv = np.linalg.pinv(mat)
    rho = pinv @ mu  # (n_k, n_vox) g/cm^3
    resid = mu - mat @ rho
    if nonnegative:
        np.maximum(rho, 0, out=rho)
    masses = np.array([xraydb.atomic_mass(el) for el in names])
    rho = rho.reshape(len(names), *shape).astype(np.float32)
    template = first if isinstance(first, xr.DataArray) else None
    dims = (
        "channel",
        *(template.dims if template is not None else [f"dim_{i}" for i in range(len(shape))]),
    )
    coords: dict[Hashable, Any] = {"channel": names}
    if template is not None:
        coords.update({k: v for k, v in template.coords.items() if k in template.dims})
    dens = xr.DataArray(
        rho, dims=dims, coords=coords, attrs={"units": "g/cm^3", "long_name": "partial density"}
    )
    molar = xr.DataArray(
        (rho / masses.reshape(-1, *([1] * len(shape)))).astype(np.float32),
        dims=dims,
        coords=coords,
        attrs={"units": "mol/cm^3", "long_name": "molar concentration"},
    )
    return Decomposition(
        densities=dens,
        molar=molar,
        residual_rms=float(np.sqrt(np.mean(resid**2))),
        condition_number=float(np.linalg.cond(mat)),
        matrix=pd.DataFrame(mat, index=pd.Index(energies, name="energy_ev"), columns=names),
        parameters={
            "elements": list(elements),
            "matrix_elements": list(matrix_elements),
            "energies_ev": energies,
            "units_in": units,
            "nonnegative": nonnegative,
        },
    )


def edge_energy_pairs(
    elements: Sequence[str] = ("Mn", "Co", "Ni"),
    *,
    edge: str = "K",
    below_ev: float = 40.0,
    above_ev: float = 30.0,
) -> dict[str, tuple[float, float]]:
    """Below/above-edge energy pairs from xraydb edge energies.

    Parameters
    ----------
    elements : sequence of str
        Element symbols (``"Mn"``, ``"Co"``, ``"Ni"``).
    edge : str
        Edge name.
    below_ev, above_ev : float
        Offsets below and above the tabulated edge, eV.

    Returns
    -------
    dict element -> (below, above) in eV

    Examples
    --------
    >>> edge_energy_pairs(["Ni"])
    {'Ni': (8293.0, 8363.0)}
    """
    import xraydb

    return {
        el: (
            float(xraydb.xray_edge(el, edge).energy - below_ev),
            float(xraydb.xray_edge(el, edge).energy + above_ev),
        )
        for el in elements
    }
