"""Composition of phantom particles as a function of depth: interdiffused precursor layers."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cathodescope._validation import check_positive
from cathodescope.errors import ParameterError

ELEMENTS: tuple[str, ...] = ("Ni", "Mn", "Co")


# --------------------------------------------------------------------------------------------
# composition profiles
# --------------------------------------------------------------------------------------------


class CompositionProfile(Protocol):
    """What the renderer reads from a particle's profile (a :class:`LayeredProfile`, or a
    simulated one such as :class:`cathodescope.diffusion.RadialProfile`)."""

    @property
    def elements(self) -> tuple[str, ...]: ...

    def __call__(self, depth_um: Any) -> dict[str, np.ndarray]: ...

    def functions(self) -> dict[str, Callable[[Any], np.ndarray]]: ...


@dataclass(frozen=True)
class LayeredProfile:
    """Composition as a function of depth: precursor layers smoothed by interdiffusion.

    Layer ``k`` (``compositions[k]``, counted from the surface inwards) occupies depths
    ``boundaries_um[k-1] <= d < boundaries_um[k]``; the last entry is the core. Each sharp
    interface at depth ``b`` is replaced by the solution of 1D interdiffusion of a step,
    ``s(d) = 0.5 * (1 + erf((d - b) / (2 L)))`` with diffusion length ``L = sqrt(D t)`` um, so

    ``c(d) = c_0 + sum_k (c_{k+1} - c_k) s_k(d)``.

    The fractions sum to 1 at every depth (each step conserves the total) and stay within the
    range spanned by the layers (the weights ``s_k - s_{k+1}`` are >= 0 when the interfaces are
    ordered).

    Parameters
    ----------
    compositions : sequence of mapping element -> fraction
        Layer compositions from the surface inwards; each sums to 1, all share the same elements.
    boundaries_um : sequence of float
        Depths (um) of the interfaces, strictly increasing, ``len(compositions) - 1`` values.
    diffusion_length_um : float
        ``L`` in um; 0 gives sharp layers.

    Examples
    --------
    >>> p = LayeredProfile(({"Ni": 0.6, "Mn": 0.4}, {"Ni": 0.9, "Mn": 0.1}), (1.0,), 0.0)
    >>> float(p.fraction("Ni", 0.5)), float(p.fraction("Ni", 1.5))
    (0.6, 0.9)
    """

    compositions: tuple[Mapping[str, float], ...]
    boundaries_um: tuple[float, ...] = ()
    diffusion_length_um: float = 0.0

    def __post_init__(self) -> None:
        comps = tuple(dict(c) for c in self.compositions)
        if not comps:
            raise ParameterError("a LayeredProfile needs at least one composition (the core).")
        keys = tuple(comps[0])
        for c in comps:
            if set(c) != set(keys):
                raise ParameterError(
                    f"every layer must list the same elements; got {sorted(c)} and {sorted(keys)}."
                )
            vals = np.array([c[k] for k in keys], dtype=float)
            if np.any(vals < 0) or abs(vals.sum() - 1.0) > 1e-6:
                raise ParameterError(
                    f"layer composition {c} must be fractions >= 0 summing to 1 "
                    f"(sum is {vals.sum():.6g}); normalise it."
                )
        bounds = tuple(float(b) for b in self.boundaries_um)
        if len(bounds) != len(comps) - 1:
            raise ParameterError(
                f"{len(comps)} layers need {len(comps) - 1} interface depths, got {len(bounds)}."
            )
        if any(b <= 0 for b in bounds) or any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
            raise ParameterError(f"boundaries_um must be > 0 and increasing, got {bounds}.")
        check_positive(self.diffusion_length_um, "diffusion_length_um", allow_zero=True)
        object.__setattr__(self, "compositions", comps)
        object.__setattr__(self, "boundaries_um", bounds)
        object.__setattr__(self, "diffusion_length_um", float(self.diffusion_length_um))

    @property
    def elements(self) -> tuple[str, ...]:
        """Element names, in the order of the first layer."""
        return tuple(self.compositions[0])

    def fraction(self, element: str, depth_um: Any) -> np.ndarray:
        """Atomic fraction of ``element`` at ``depth_um`` (um, array-like) below the surface."""
        from scipy.special import erf

        if element not in self.compositions[0]:
            raise ParameterError(f"element {element!r} not in this profile {self.elements}.")
        d = np.asarray(depth_um, dtype=float)
        out = np.full(d.shape, self.compositions[0][element], dtype=float)
        length = self.diffusion_length_um
        for k, b in enumerate(self.boundaries_um):
            delta = self.compositions[k + 1][element] - self.compositions[k][element]
            if delta == 0.0:
                continue
            if length > 0:
                step = 0.5 * (1.0 + erf((d - b) / (2.0 * length)))
            else:
                step = (d >= b).astype(float)
            out += delta * step
        return out

    def __call__(self, depth_um: Any) -> dict[str, np.ndarray]:
        """Fractions of every element at ``depth_um``: ``{element: array}``.

        Same values as :meth:`fraction`, with each interface's erf step computed once.
        """
        from scipy.special import erf

        d = np.asarray(depth_um, dtype=float)
        out = {e: np.full(d.shape, self.compositions[0][e], dtype=float) for e in self.elements}
        length = self.diffusion_length_um
        for k, b in enumerate(self.boundaries_um):
            if length > 0:
                step = erf((d - b) / (2.0 * length))
                step += 1.0
                step *= 0.5
            else:
                step = (d >= b).astype(float)
            for e in self.elements:
                delta = self.compositions[k + 1][e] - self.compositions[k][e]
                if delta != 0.0:
                    out[e] += delta * step
        return out

    def functions(self) -> dict[str, Callable[[Any], np.ndarray]]:
        """One callable ``depth_um -> fraction`` per element."""
        return {e: functools.partial(self.fraction, e) for e in self.elements}


def paper_profile() -> LayeredProfile:
    """Profile resembling the 63 % Ni particles of the CG/TXM paper (SCIENCE.md section 1).

    Precursor core Ni0.9Co0.05Mn0.05 then layers grown from 8:1:1, 6:2:2 and 1:1:1 feeds,
    (interfaces at 0.03, 2.0 and 3.0 um depth) interdiffused with ``L = 0.25`` um. Gives Ni 0.53
    at 0.26 um rising to 0.70 at 1.99 um, Mn = Co 0.234 -> 0.151 (Table 1, particle 1: Ni
    0.571 -> 0.71, Mn 0.208 -> 0.129, Co 0.228 -> 0.15).

    Returns
    -------
    LayeredProfile
        Four layers (surface to core) with boundaries at 0.03, 2.0 and 3.0 um depth.
    """
    return LayeredProfile(
        compositions=(
            {"Ni": 1 / 3, "Mn": 1 / 3, "Co": 1 / 3},
            {"Ni": 0.6, "Mn": 0.2, "Co": 0.2},
            {"Ni": 0.8, "Mn": 0.1, "Co": 0.1},
            {"Ni": 0.9, "Mn": 0.05, "Co": 0.05},
        ),
        boundaries_um=(0.03, 2.0, 3.0),
        diffusion_length_um=0.25,
    )
