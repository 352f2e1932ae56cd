"""Forward model: precursor layers -> composition profile after sintering.

Two models of the metal fractions ``c_e(r, t)`` in a sphere of radius ``R`` with a closed
surface (``J_e(R) = 0``: no metal leaves the particle):

``"independent"``
    every metal diffuses on its own, ``du_e/dt = D_e(T) lap(u_e)`` from ``u_e(r, 0) = c_e^0(r)``,
    and the reported fractions are renormalised, ``c_e = u_e / sum_j u_j``. Each ``u_e`` is
    conserved exactly; the renormalised fractions only approximately when the ``D_e`` differ.
    The semi-discrete system is solved exactly in time by its eigenmodes.
``"multicomponent"``
    the fluxes on the fixed transition-metal sublattice sum to zero,
    ``J_e = -D_e grad c_e + c_e sum_j D_j grad c_j`` (so ``sum_e J_e = 0`` whenever
    ``sum_e c_e = 1``), i.e. ``dc_e/dt = -div J_e``; for two metals this is Darken's
    interdiffusion coefficient ``c_2 D_1 + c_1 D_2``. Each metal is conserved exactly and the
    fractions sum to 1 everywhere; Crank-Nicolson in time.

With equal ``D_e`` both reduce to linear diffusion. Time enters through the reduced times
``theta_e = integral D_e(T(t)) dt / R^2`` (see :class:`Schedule`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cathodescope._validation import check_choice, check_positive
from cathodescope.diffusion._multicomponent import solve_multicomponent
from cathodescope.diffusion._precursor import Precursor, Schedule, per_metal
from cathodescope.diffusion._sphere import SphereGrid, eigenmodes, observation_matrix
from cathodescope.errors import ParameterError

Model = Literal["independent", "multicomponent"]
MODELS = ("independent", "multicomponent")


@dataclass(frozen=True)
class DiffusionProfiles:
    """Result of :func:`simulate`: fractions per shell before and after sintering.

    Parameters
    ----------
    elements : tuple of str
        Metals, in the order of the first axis of the arrays.
    radius_um : float
        Particle radius (um).
    radii_um : ndarray (n,)
        Shell centroids (um from the centre).
    volumes_um3 : ndarray (n,)
        Shell volumes (um^3).
    initial, final : ndarray (n_elements, n)
        Shell fractions before and after sintering (``final`` is renormalised for the
        independent model).
    amounts : ndarray (n_elements, n)
        The conserved fields (``u_e`` of the independent model, the fractions otherwise).
    D_m2_s : dict element -> float
        D per metal at the reference temperature.
    parameters : dict
        Options of the simulation (model, schedule, n_cells, ...).
    """

    elements: tuple[str, ...]
    radius_um: float
    radii_um: np.ndarray
    volumes_um3: np.ndarray
    initial: np.ndarray
    final: np.ndarray
    amounts: np.ndarray
    D_m2_s: dict[str, float]
    parameters: dict[str, Any] = field(default_factory=dict)

    def inventory(self, which: Literal["initial", "final", "amounts"] = "amounts") -> np.ndarray:
        """Metal content ``sum(V c)`` (um^3 of lattice sites) per element."""
        return getattr(self, which) @ self.volumes_um3

    def fraction(self, element: str, depth_um: Any) -> np.ndarray:
        """Final fraction at ``depth_um`` below the surface (linear between shell centroids)."""
        e = self.elements.index(element)
        r = self.radius_um - np.asarray(depth_um, dtype=float)
        return np.interp(r, self.radii_um, self.final[e])

    def radial_table(self) -> pd.DataFrame:
        """Final fractions per shell: ``element, depth_um, radius_um, fraction``."""
        n = self.radii_um.size
        return pd.DataFrame(
            {
                "element": np.repeat(self.elements, n),
                "depth_um": np.tile(self.radius_um - self.radii_um, len(self.elements)),
                "radius_um": np.tile(self.radii_um, len(self.elements)),
                "fraction": self.final.ravel(),
            }
        )

    def binned(
        self, *, bin_width_um: float = 0.05, blur_um: float = 0.0, ndim: int = 3
    ) -> pd.DataFrame:
        """Fractions on the depth-profile engine's bins (centres ``(k + 1/2) w``).

        Parameters
        ----------
        bin_width_um : float
            Depth bin width (um), as ``depth_profiles(bin_width_um=...)``.
        blur_um : float
            Standard deviation (um) of a Gaussian imaging resolution, 0 = none.
        ndim : {3, 2}
            3 for a volume, 2 for a central cut (bin averages weighted by ``r``).

        Returns
        -------
        pandas.DataFrame
            ``element, depth_um, radius_um, fraction``.
        """
        w = check_positive(bin_width_um, "bin_width_um")
        blur = check_positive(blur_um, "blur_um", allow_zero=True)
        nb = int(np.floor(self.radius_um / w + 1e-9))
        lo = np.arange(nb) * w
        obs = observation_matrix(
            self.radii_um.size, self.radius_um, lo, lo + w, blur_um=blur, ndim=ndim
        )
        depth = lo + w / 2
        return pd.DataFrame(
            {
                "element": np.repeat(self.elements, nb),
                "depth_um": np.tile(depth, len(self.elements)),
                "radius_um": np.tile(self.radius_um - depth, len(self.elements)),
                "fraction": (self.final @ obs.T).ravel(),
            }
        )

    def phantom_profile(self) -> RadialProfile:
        """This profile as a composition-vs-depth object for :class:`cathodescope.phantom.Spheroid`."""
        return RadialProfile(self)


@dataclass(frozen=True)
class RadialProfile:
    """Composition vs depth below the surface from a simulated sphere, for phantom rendering.

    Offers what :func:`cathodescope.phantom.render_particles` reads from a particle profile:
    ``elements``, ``profile(depth_um) -> {element: fractions}`` and ``functions()``.

    Parameters
    ----------
    result : DiffusionProfiles
        The simulated sphere; its final fractions are given vs depth below the surface.
    """

    result: DiffusionProfiles

    @property
    def elements(self) -> tuple[str, ...]:
        return self.result.elements

    def fraction(self, element: str, depth_um: Any) -> np.ndarray:
        """Final fraction of ``element`` at ``depth_um`` (um)."""
        return self.result.fraction(element, depth_um)

    def __call__(self, depth_um: Any) -> dict[str, np.ndarray]:
        return {e: self.fraction(e, depth_um) for e in self.elements}

    def functions(self) -> dict[str, Any]:
        import functools

        return {e: functools.partial(self.fraction, e) for e in self.elements}


def reduced_times(
    schedule: Schedule,
    D_m2_s: Mapping[str, float],
    activation_energy_kJ_mol: Mapping[str, float] | None,
    radius_um: float,
    times_s: Any = None,
) -> np.ndarray:
    """``theta_e = D_e tau_e / R^2`` per metal (dimensionless) at ``times_s`` (default: end).

    Parameters
    ----------
    schedule : Schedule
        The sintering schedule.
    D_m2_s : mapping element -> float
        D per metal at the schedule's reference temperature (m^2/s).
    activation_energy_kJ_mol : mapping element -> float, or None
        Arrhenius Ea per metal (kJ/mol); None for no temperature dependence.
    radius_um : float
        Particle radius R (um).
    times_s : array-like, optional
        Times since the start of the schedule (s); default its total time.

    Returns
    -------
    ndarray
        Shape (n_times, n_elements), or (n_elements,) when ``times_s`` is None; ``tau_e`` is
        the effective time at the reference temperature (:meth:`Schedule.cumulative_time_s`).
    """
    t = np.atleast_1d(schedule.total_time_s if times_s is None else np.asarray(times_s, float))
    r2 = (radius_um * 1e-6) ** 2
    cols = []
    for e, d in D_m2_s.items():
        ea = None if activation_energy_kJ_mol is None else activation_energy_kJ_mol[e]
        cols.append(d * schedule.cumulative_time_s(t, ea) / r2)
    out = np.stack(cols, axis=-1)
    return out[0] if times_s is None else out


def independent_solution(c0: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``u_e(theta_e)`` of the independent model from shell values ``c0`` (n_el, n)."""
    w, p, v = eigenmodes(c0.shape[1])
    coef = (c0 * v) @ p  # (n_el, n): P^T V c0
    return (coef * np.exp(np.outer(theta, w))) @ p.T


def simulate(
    precursor: Precursor,
    D_m2_s: float | Mapping[str, float],
    schedule: Schedule,
    *,
    model: Model = "independent",
    activation_energy_kJ_mol: float | Mapping[str, float] | None = None,
    radius_um: float | None = None,
    n_cells: int = 200,
    n_steps: int = 200,
) -> DiffusionProfiles:
    """Sinter a layered precursor: composition vs radius after the schedule.

    Parameters
    ----------
    precursor : Precursor
        Layers from the centre outwards.
    D_m2_s : float or mapping element -> float
        Diffusion coefficient (m^2/s) per metal (or one for all) at the schedule's reference
        (highest) temperature.
    schedule : Schedule
        Holds and ramps.
    model : {"independent", "multicomponent"}
        See the module notes.
    activation_energy_kJ_mol : float or mapping, optional
        Arrhenius ``Ea`` (kJ/mol) per metal; needed when the schedule has ramps.
    radius_um : float, optional
        Particle radius (um); the layers are scaled self-similarly. Default: the precursor's.
    n_cells : int
        Number of radial shells (finite volumes).
    n_steps : int
        Time steps of the multicomponent model (geometric, finest at the start).

    Returns
    -------
    DiffusionProfiles

    Examples
    --------
    >>> from cathodescope.diffusion import Schedule, paper_precursor
    >>> res = simulate(paper_precursor(5.0), 1e-17, Schedule.isothermal(800, 12), n_cells=50)
    >>> bool(abs(res.inventory()[0] / res.inventory("initial")[0] - 1) < 1e-10)
    True
    """
    check_choice(model, MODELS, "model")
    n = int(n_cells)
    if n < 4:
        raise ParameterError(f"n_cells must be >= 4, got {n_cells}.")
    pre = precursor if radius_um is None else precursor.scaled(radius_um)
    d = per_metal(D_m2_s, pre.elements, "D_m2_s")
    if any(not np.isfinite(v) or v < 0 for v in d.values()):
        raise ParameterError(f"D_m2_s must be finite and >= 0 m^2/s, got {d}.")
    ea = per_metal(activation_energy_kJ_mol, pre.elements, "activation_energy_kJ_mol")
    grid = SphereGrid(n)
    radii = np.asarray(pre.outer_radii_um) / pre.radius_um
    c0 = grid.cell_averages(radii, pre.layer_fractions())
    if model == "independent":
        theta = reduced_times(schedule, d, ea, pre.radius_um)
        amounts = independent_solution(c0, theta)
        final = amounts / amounts.sum(axis=0, keepdims=True)
    else:
        t_total = schedule.total_time_s
        nodes = np.concatenate([[0.0], np.cumsum([s[0] for s in schedule.steps])])
        geo = t_total * np.geomspace(1e-6, 1.0, int(n_steps))
        times = np.unique(np.concatenate([[0.0], geo, nodes]))
        theta = reduced_times(schedule, d, ea, pre.radius_um, times)
        final = solve_multicomponent(c0, theta)
        amounts = final
    r3 = pre.radius_um**3
    return DiffusionProfiles(
        elements=pre.elements,
        radius_um=pre.radius_um,
        radii_um=grid.centres * pre.radius_um,
        volumes_um3=grid.volumes * r3,
        initial=c0,
        final=final,
        amounts=amounts,
        D_m2_s=d,
        parameters={
            "model": model,
            "n_cells": n,
            "n_steps": int(n_steps),
            "activation_energy_kJ_mol": ea,
            "schedule_steps": schedule.steps,
            "layers_outer_radii_um": pre.outer_radii_um,
        },
    )
