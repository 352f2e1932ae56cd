"""Edge energy (e0) and ATHENA/larch-style normalization of mu(E).

Parameter mapping (all energies in eV; ``pre1``... are relative to e0)::

    cathodescope        ATHENA (.prj args)      larch pre_edge()
    ------------        ------------------      ----------------
    e0                  bkg_e0                  e0
    pre1, pre2          bkg_pre1, bkg_pre2      pre1, pre2
    norm1, norm2        bkg_nor1, bkg_nor2      norm1, norm2
    nnorm (order)       bkg_nnorm - 1           nnorm        (ATHENA counts coefficients)
    edge_step           bkg_step                edge_step
    flat                "flattened"             flat

Algorithm (as ATHENA/larch): a line is fitted to mu over the pre-edge window, a polynomial of
order ``nnorm`` to ``mu - pre_line`` over the post-edge window, and the edge step is that
polynomial evaluated at e0. Window points are chosen as larch does: the first point is the last
one at or below ``e0 + pre1`` (``e0 + norm1``), the window stops *before* the point nearest
``e0 + pre2`` (``e0 + norm2``). ATHENA evaluates the step at e0 itself (larch at the grid point
nearest e0); we follow ATHENA, which is what reproduces the steps stored in ATHENA projects.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d

from cathodescope._validation import check_choice
from cathodescope.errors import (
    EdgeNotFoundError,
    ParameterError,
    TooFewPointsError,
    XASQualityWarning,
)
from cathodescope.xas._spectrum import as_spectrum

E0Method = Literal["derivative_max", "first_inflection", "half_step"]
_E0_METHODS = ("derivative_max", "first_inflection", "half_step")


def _index_of(energy: np.ndarray, value: float) -> int:
    """Index of the last point at or below ``value`` (0 if all are above), as larch."""
    idx = int(np.searchsorted(energy, value, side="right")) - 1
    return max(idx, 0)


def _index_nearest(energy: np.ndarray, value: float) -> int:
    return int(np.argmin(np.abs(energy - value)))


def default_smoothing(energy: np.ndarray, e_guess: float | None = None) -> float:
    """Default Gaussian smoothing width (eV) of the derivative, larch's choice.

    Half the sum of the (clipped) typical energy step and ``e_guess/25000`` (0.33 eV at the Ni K
    edge), both clipped to [0.01, 1] eV.
    """
    d = np.diff(energy)
    step = float(np.quantile(d, 0.1)) if d.size else 1.0
    e = float(np.median(energy)) if e_guess is None else float(e_guess)
    return 0.5 * (min(1.0, max(0.01, step)) + min(1.0, max(0.01, e / 25000.0)))


def _uniform_derivative(
    energy: np.ndarray, mu: np.ndarray, smooth_ev: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed first and second derivative on a uniform grid starting at energy[0].

    The grid is anchored on the data (``energy[0] + k * h``), so shifting the energy axis by
    ``s`` shifts every output by exactly ``s``: no jump can come from the grid.
    """
    d = np.diff(energy)
    h = max(min(float(np.quantile(d, 0.1)), smooth_ev / 2.0), 0.02)
    n = int(np.floor((energy[-1] - energy[0]) / h)) + 1
    grid = energy[0] + h * np.arange(n)
    mu_u = np.interp(grid, energy, mu)
    sigma = max(smooth_ev / h, 0.0)
    if sigma > 0:
        d1 = gaussian_filter1d(mu_u, sigma, order=1, mode="nearest") / h
        d2 = gaussian_filter1d(mu_u, sigma, order=2, mode="nearest") / h**2
    else:
        d1 = np.gradient(mu_u, h)
        d2 = np.gradient(d1, h)
    return grid, d1, d2


def _parabolic_peak(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """Vertex of the parabola through points i-1, i, i+1 (uniform x)."""
    if i <= 0 or i >= len(y) - 1:
        return float(x[i])
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    denom = y0 - 2 * y1 + y2
    if denom >= 0:
        return float(x[i])
    delta = 0.5 * (y0 - y2) / denom
    return float(x[i] + delta * (x[1] - x[0]))


def find_e0(
    spectrum: Any,
    energy: Any = None,
    *,
    method: E0Method = "derivative_max",
    smooth_ev: float | None = None,
    search_range: tuple[float, float] | None = None,
    inflection_fraction: float = 0.5,
) -> float:
    """Edge energy e0 of a spectrum, in eV.

    Parameters
    ----------
    spectrum : xarray.DataArray or array-like, shape (n,)
        mu(E) (any scale); a DataArray carries its ``energy`` coordinate in eV.
    energy : array-like, shape (n,), optional
        Energies in eV (strictly increasing) when ``spectrum`` is a plain array.
    method : {"derivative_max", "first_inflection", "half_step"}
        ``"derivative_max"``: maximum of the smoothed derivative (larch's definition),
        interpolated between grid points by a parabola through the three highest samples.
        ``"first_inflection"``: the first local maximum of the smoothed derivative whose height
        is at least ``inflection_fraction`` of the largest one (the foil-calibration
        convention), at the zero crossing of the second derivative, linearly interpolated.
        ``"half_step"``: first energy at which the normalized spectrum reaches 0.5 (linear
        interpolation), with the normalization anchored at the derivative-maximum e0.
    smooth_ev : float, optional
        Gaussian smoothing width of the derivative in eV (default: :func:`default_smoothing`).
    search_range : (float, float), optional
        Only look for the edge between these energies (eV). Default: the data range without its
        first and last 2 % (at least 3 points), where glitches live.
    inflection_fraction : float
        Threshold for ``"first_inflection"`` (0 < f <= 1).

    Returns
    -------
    float
        e0 in eV. Translating the energy axis by ``s`` translates e0 by ``s`` (up to rounding):
        every step is defined relative to the data.

    Raises
    ------
    EdgeNotFoundError
        If the spectrum has no rising edge in the search range.
    """
    check_choice(method, _E0_METHODS, "method")
    e, mu = as_spectrum(spectrum, energy, name="spectrum")
    if not 0 < inflection_fraction <= 1:
        raise ParameterError(f"inflection_fraction must be in (0, 1], got {inflection_fraction}.")
    if method == "half_step":
        res = normalize(mu, e, e0_method="derivative_max", smooth_ev=smooth_ev)
        return half_step_energy(e, res.norm, e0_guess=res.e0)
    s = default_smoothing(e) if smooth_ev is None else float(smooth_ev)
    grid, d1, d2 = _uniform_derivative(e, mu, s)
    if search_range is None:
        nskip = max(3, int(0.02 * e.size))
        lo, hi = e[min(nskip, e.size - 1)], e[max(e.size - 1 - nskip, 0)]
    else:
        lo, hi = float(min(search_range)), float(max(search_range))
    inside = (grid >= lo) & (grid <= hi)
    if np.count_nonzero(inside) < 3:
        raise EdgeNotFoundError(f"search_range {lo:g}-{hi:g} eV holds too few points.")
    idx = np.flatnonzero(inside)
    dmax = float(d1[idx].max())
    if not dmax > 0:
        raise EdgeNotFoundError(
            "the spectrum never rises in the search range (derivative <= 0 everywhere); check "
            "that this is an absorption spectrum and that the edge lies inside the scan."
        )
    if method == "derivative_max":
        i = int(idx[np.argmax(d1[idx])])
        return _parabolic_peak(grid, d1, i)
    # first inflection: first local maximum of d1 above the threshold
    thr = inflection_fraction * dmax
    sub = d1[idx]
    is_peak = np.zeros(sub.size, dtype=bool)
    is_peak[1:-1] = (sub[1:-1] >= sub[:-2]) & (sub[1:-1] > sub[2:]) & (sub[1:-1] >= thr)
    peaks = np.flatnonzero(is_peak)
    if peaks.size == 0:
        i = int(idx[np.argmax(sub)])
    else:
        i = int(idx[peaks[0]])
    # zero crossing of d2 around i (d2 goes + -> -)
    for j in (i - 1, i):
        if 0 <= j < d2.size - 1 and d2[j] > 0 >= d2[j + 1]:
            t = d2[j] / (d2[j] - d2[j + 1])
            return float(grid[j] + t * (grid[j + 1] - grid[j]))
    return _parabolic_peak(grid, d1, i)


def half_step_energy(
    energy: np.ndarray, norm: np.ndarray, *, e0_guess: float, level: float = 0.5
) -> float:
    """First energy near ``e0_guess`` where a normalized spectrum reaches ``level`` (eV).

    The crossing is searched going down from the point nearest ``e0_guess`` to the last point
    below ``level``, then linearly interpolated.

    Parameters
    ----------
    energy : ndarray, shape (n,)
        Energies in eV, increasing.
    norm : ndarray, shape (n,)
        Normalized spectrum.
    e0_guess : float
        Edge energy near which the crossing is searched, eV.
    level : float
        Level of the crossing (0.5: half the edge step).

    Returns
    -------
    float
        Energy of the crossing, eV.

    Raises
    ------
    EdgeNotFoundError
        If the normalized spectrum never crosses ``level``.
    """
    e = np.asarray(energy, dtype=float)
    n = np.asarray(norm, dtype=float)
    above = n >= level
    if not above.any() or above.all():
        raise EdgeNotFoundError(f"the normalized spectrum never crosses {level}; check e0.")
    i0 = _index_nearest(e, e0_guess)
    # walk to a point above level at/after i0, then back to the crossing
    j = i0
    while j < e.size - 1 and not above[j]:
        j += 1
    while j > 0 and above[j - 1]:
        j -= 1
    if j == 0:
        return float(e[0])
    t = (level - n[j - 1]) / (n[j] - n[j - 1])
    return float(e[j - 1] + t * (e[j] - e[j - 1]))


@dataclass(frozen=True)
class Normalization:
    """Result of :func:`normalize` (ATHENA/larch pre-edge subtraction and normalization).

    Parameters
    ----------
    energy : ndarray, shape (n,)
        Energies in eV.
    mu : ndarray, shape (n,)
        Input mu(E).
    e0 : float
        Edge energy in eV.
    edge_step : float
        post-edge minus pre-edge curve at e0 (units of mu).
    pre_coefs : tuple of float
        Pre-edge line ``c0 + c1 * E`` (increasing order, E in eV).
    post_coefs : tuple of float
        Post-edge polynomial of ``mu - pre_edge``, increasing order (``nnorm + 1`` values).
    pre_edge, post_edge : ndarray, shape (n,)
        The two curves (post_edge includes the pre-edge line, as in larch).
    norm : ndarray, shape (n,)
        ``(mu - pre_edge) / edge_step``.
    flat : ndarray, shape (n,)
        Flattened spectrum: above e0 the post-edge curvature is removed (larch's ``flat``).
    parameters : dict
        ``pre1, pre2, norm1, norm2`` (eV relative to e0), ``nnorm`` (order), ``e0_method``,
        ``smooth_ev`` and the window indices actually used.
    """

    energy: np.ndarray
    mu: np.ndarray
    e0: float
    edge_step: float
    pre_coefs: tuple[float, ...]
    post_coefs: tuple[float, ...]
    pre_edge: np.ndarray
    post_edge: np.ndarray
    norm: np.ndarray
    flat: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def derivative(self) -> np.ndarray:
        """d(norm)/dE in 1/eV, shape (n,) (central differences on the measured grid)."""
        return np.gradient(self.norm, self.energy)

    def to_dataframe(self):
        """Columns ``energy_eV, mu, pre_edge, post_edge, norm, flat``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "energy_eV": self.energy,
                "mu": self.mu,
                "pre_edge": self.pre_edge,
                "post_edge": self.post_edge,
                "norm": self.norm,
                "flat": self.flat,
            }
        )

    def to_dataarray(self, kind: Literal["norm", "flat"] = "flat"):
        """The normalized (or flattened) spectrum as a DataArray with its energy coordinate."""
        import xarray as xr

        check_choice(kind, ("norm", "flat"), "kind")
        return xr.DataArray(
            getattr(self, kind),
            dims=("energy",),
            coords={"energy": ("energy", self.energy, {"units": "eV"})},
            name=kind,
            attrs={"units": "normalized", "e0_eV": self.e0, "edge_step": self.edge_step},
        )


def _window(
    energy: np.ndarray, e0: float, lo: float, hi: float, convention: str = "larch"
) -> tuple[int, int]:
    """Slice bounds [i1, i2) of a fit window, following larch or Ifeffit."""
    if convention == "ifeffit":  # nearest points to both ends, both included
        return _index_nearest(energy, e0 + lo), _index_nearest(energy, e0 + hi) + 1
    i1 = _index_of(energy, e0 + lo)
    i2 = _index_nearest(energy, e0 + hi)
    return i1, i2


MIN_PRE_POINTS = 5
"""Fewer pre-edge points than this in the window raise an :class:`XASQualityWarning`."""


def _warn_few_points(n: int, *, n_pre: bool, lo: float, hi: float, e0: float, nnorm: int) -> None:
    need = MIN_PRE_POINTS if n_pre else nnorm + 4
    if n >= need:
        return
    which, keys = ("pre-edge", "pre1/pre2") if n_pre else ("post-edge", "norm1/norm2")
    warnings.warn(
        f"{which} window [{lo:g}, {hi:g}] eV around e0={e0:g} holds only {n} points (fewer "
        f"than {need}): the {which} curve, hence the edge step, rests on too few points; "
        f"widen {keys} or measure a longer {which} region.",
        XASQualityWarning,
        stacklevel=3,
    )


def _default_windows(
    e: np.ndarray,
    e0: float,
    pre1: float | None,
    pre2: float | None,
    norm1: float | None,
    norm2: float | None,
    nnorm: int | None,
) -> tuple[float, float, float, float, int]:
    """Fill the windows and the polynomial order left open, as larch does (see normalize)."""
    ie0 = _index_nearest(e, e0)
    if pre1 is None:
        pre1 = (5.0 if ie0 > 20 else 2.0) * round((e[1] - e0) / (5.0 if ie0 > 20 else 2.0))
    pre1 = max(float(pre1), e[0] - e0)
    if pre2 is None:
        pre2 = 0.5 * pre1
    pre1, pre2 = sorted((float(pre1), float(pre2)))
    if norm2 is None:
        norm2 = 5.0 * round((e[-1] - e0) / 5.0)
    norm2 = min(float(norm2), e[-1] - e0)
    if norm1 is None:
        norm1 = min(25.0, 5.0 * round(norm2 / 15.0))
    norm1, norm2 = sorted((float(norm1), float(norm2)))
    if nnorm is None:
        width = norm2 - norm1
        nnorm = 2 if width >= 300 else (1 if width >= 30 else 0)
    nnorm = int(nnorm)
    if not 0 <= nnorm <= 3:
        raise ParameterError(f"nnorm (polynomial order) must be 0-3, got {nnorm}.")
    return pre1, pre2, norm1, norm2, nnorm


def normalize(
    spectrum: Any,
    energy: Any = None,
    *,
    e0: float | None = None,
    e0_method: E0Method = "derivative_max",
    pre1: float | None = None,
    pre2: float | None = None,
    norm1: float | None = None,
    norm2: float | None = None,
    nnorm: int | None = None,
    step: float | None = None,
    smooth_ev: float | None = None,
    window_convention: Literal["larch", "ifeffit"] = "larch",
) -> Normalization:
    """Pre-edge subtraction and normalization of mu(E), as ATHENA and larch do it.

    Parameters
    ----------
    spectrum : xarray.DataArray or array-like, shape (n,)
        mu(E); a DataArray carries its ``energy`` coordinate (eV).
    energy : array-like, shape (n,), optional
        Energies in eV, strictly increasing, when ``spectrum`` is a plain array.
    e0 : float, optional
        Edge energy in eV; found with ``e0_method`` when None.
    e0_method : {"derivative_max", "first_inflection", "half_step"}
        See :func:`find_e0`.
    pre1, pre2 : float, optional
        Pre-edge window relative to e0 (eV, negative). Defaults as larch: ``pre1`` = second
        point minus e0 rounded to 5 eV, ``pre2 = pre1 / 2``.
    norm1, norm2 : float, optional
        Post-edge window relative to e0 (eV). Defaults as larch: ``norm2`` = last point minus
        e0 rounded to 5 eV, ``norm1 = min(25, norm2 / 15)`` rounded to 5 eV.
    nnorm : int, optional
        Order of the post-edge polynomial (0-3; larch's ``nnorm``, ATHENA's ``bkg_nnorm - 1``).
        Default as larch: 2 if the window is wider than 300 eV, 1 if wider than 30 eV, else 0.
    step : float, optional
        Impose the edge step instead of computing it.
    smooth_ev : float, optional
        Derivative smoothing for the e0 search (eV).
    window_convention : {"larch", "ifeffit"}
        How window ends become points. ``"larch"`` (larch, Demeter >= 0.9 with Larch): from the
        last point at or below the start to the point before the one nearest the end.
        ``"ifeffit"`` (ATHENA 0.8 with Ifeffit): from the point nearest the start to the point
        nearest the end, both included. They differ by a point at each end.

    Returns
    -------
    Normalization

    Raises
    ------
    TooFewPointsError
        If a window holds fewer points than the fit needs.
    EdgeNotFoundError
        If the edge step is not positive (no edge, or e0 outside the data).

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(8200, 8800, 601)
    >>> mu = 0.3 + 1e-4 * (e - 8200) + 0.8 / (1 + np.exp(-(e - 8345) / 2))
    >>> res = normalize(mu, e, e0=8345, pre1=-140, pre2=-40, norm1=50, norm2=440, nnorm=1)
    >>> round(res.edge_step, 3)
    0.8
    """
    check_choice(e0_method, _E0_METHODS, "e0_method")
    check_choice(window_convention, ("larch", "ifeffit"), "window_convention")
    e, mu = as_spectrum(spectrum, energy, name="spectrum")
    if e0 is None:
        e0 = find_e0(mu, e, method="derivative_max", smooth_ev=smooth_ev)
        if e0_method == "first_inflection":
            e0 = find_e0(mu, e, method="first_inflection", smooth_ev=smooth_ev)
    e0 = float(e0)
    if not e[0] < e0 < e[-1]:
        raise EdgeNotFoundError(
            f"e0 = {e0:g} eV lies outside the data ({e[0]:g}-{e[-1]:g} eV); give an e0 inside "
            "the scan or let it be found."
        )
    pre1, pre2, norm1, norm2, nnorm = _default_windows(e, e0, pre1, pre2, norm1, norm2, nnorm)

    p1, p2 = _window(e, e0, pre1, pre2, window_convention)
    if p2 - p1 < 2:
        raise TooFewPointsError(
            f"pre-edge window [{pre1:g}, {pre2:g}] eV around e0={e0:g} holds {max(p2 - p1, 0)} "
            "points; at least 2 are needed: widen it or measure further below the edge."
        )
    _warn_few_points(p2 - p1, n_pre=True, lo=pre1, hi=pre2, e0=e0, nnorm=nnorm)
    pre_poly = np.polynomial.Polynomial.fit(e[p1:p2], mu[p1:p2], 1).convert()
    pre_coefs = tuple(float(c) for c in np.pad(pre_poly.coef, (0, 2 - pre_poly.coef.size)))
    pre_edge = pre_coefs[0] + pre_coefs[1] * e
    n1, n2 = _window(e, e0, norm1, norm2, window_convention)
    if n2 - n1 < nnorm + 2:
        raise TooFewPointsError(
            f"post-edge window [{norm1:g}, {norm2:g}] eV holds {max(n2 - n1, 0)} points; a "
            f"polynomial of order {nnorm} needs at least {nnorm + 2}: widen the window or "
            "lower nnorm."
        )
    _warn_few_points(n2 - n1, n_pre=False, lo=norm1, hi=norm2, e0=e0, nnorm=nnorm)
    post_poly = np.polynomial.Polynomial.fit(e[n1:n2], (mu - pre_edge)[n1:n2], nnorm).convert()
    post_coefs = tuple(
        float(c) for c in np.pad(post_poly.coef, (0, nnorm + 1 - post_poly.coef.size))
    )
    post_rel = np.polynomial.polynomial.polyval(e, post_coefs)
    post_edge = pre_edge + post_rel
    edge_step = (
        float(np.polynomial.polynomial.polyval(e0, post_coefs)) if step is None else float(step)
    )
    if not edge_step > 0:
        raise EdgeNotFoundError(
            f"edge step = {edge_step:.3g} <= 0 at e0={e0:g} eV: no absorption edge, or the "
            "pre/post windows are wrong (check pre1/pre2/norm1/norm2)."
        )
    norm = (mu - pre_edge) / edge_step
    flat_res = post_rel / edge_step
    flat = norm - flat_res + float(np.polynomial.polynomial.polyval(e0, post_coefs)) / edge_step
    flat = np.where(e >= e0, flat, norm)
    params = {
        "e0": e0,
        "pre1": pre1,
        "pre2": pre2,
        "norm1": norm1,
        "norm2": norm2,
        "nnorm": nnorm,
        "e0_method": e0_method,
        "smooth_ev": smooth_ev,
        "pre_window_idx": (p1, p2),
        "post_window_idx": (n1, n2),
        "step_given": step is not None,
        "window_convention": window_convention,
    }
    if e0_method == "half_step" and step is None:
        params["half_step_eV"] = half_step_energy(e, norm, e0_guess=e0)
    return Normalization(
        energy=e,
        mu=mu,
        e0=e0,
        edge_step=edge_step,
        pre_coefs=pre_coefs,
        post_coefs=post_coefs,
        pre_edge=pre_edge,
        post_edge=post_edge,
        norm=norm,
        flat=flat,
        parameters=params,
    )


def normalize_athena_group(group: Any, *, use_stored_e0: bool = True) -> Normalization:
    """Normalize an :class:`~cathodescope.io.AthenaGroup` with ATHENA's stored parameters.

    The energy axis is ``stored x + bkg_eshift`` (ATHENA's displayed axis), as ATHENA uses for
    groups whose stored values are current (``update_norm == 0``); the window convention
    follows the project's engine (larch or Ifeffit, from its header).

    Parameters
    ----------
    group : AthenaGroup
        From :func:`cathodescope.io.read_athena`.
    use_stored_e0 : bool
        Use ``bkg_e0`` (True) or find e0 again (False).

    Returns
    -------
    Normalization
        With ATHENA's windows, polynomial order, e0 and (``bkg_fixstep``) fixed step.
    """
    p = group.normalization_parameters()
    e = group.energy + group.eshift
    if not use_stored_e0:
        p["e0"] = None
    return normalize(group.mu, e, **p)


__all__ = [
    "Normalization",
    "default_smoothing",
    "find_e0",
    "half_step_energy",
    "normalize",
    "normalize_athena_group",
]
