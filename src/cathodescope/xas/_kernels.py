"""Depth sensitivity of XAS probes and the surface-layer depth profile they average.

A probe (TEY, fluorescence, transmission through a particle) sees the depth profile ``x(z)`` of
a component fraction (e.g. Ni2+) weighted by its sensitivity kernel ``k(z)``; the LCF weight it
reports is the kernel-weighted mean ``w = int k(z) x(z) dz / int k(z) dz`` (``z`` = depth below
the surface, nm). Every kernel here is described by its *cumulative sensitivity*
``C(z) = int_0^z k / int_0^inf k``, the fraction of the signal that comes from depths < z.

For the layer profile ``x(z) = x_b + (x_s - x_b) S(z)``, with ``S`` a sharp step at ``t``
(``S = 1`` for ``z < t``) or an erf transition of width ``sigma``
(``S(z) = erfc((z - t) / (sigma sqrt 2)) / 2``), integration by parts gives

    w = x_b + (x_s - x_b) E[C(Z)],   Z ~ Normal(t, sigma^2)   (sharp: E[C(Z)] = C(t)),

so every probe needs only ``C``. Closed forms: exponential kernel ``C(z) = 1 - exp(-z/L)``
(TEY with electron escape depth ``L``; fluorescence with ``L = 1 / (mu(E_in)/sin theta_in +
mu(E_f)/sin theta_out)``), with the erf mean
``Phi(t/sigma) - exp(-t/L + sigma^2/(2 L^2)) Phi(t/sigma - sigma/L)``; sphere of radius ``R``
seen in transmission (volume weighting) ``C(z) = 1 - ((R - z)/R)^3``. Tabulated kernels are
piecewise linear in ``z``, integrated exactly. A :class:`Probe` is a kernel with the weight it
measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from cathodescope._validation import check_finite, check_positive
from cathodescope.errors import ParameterError

__all__ = [
    "ExponentialKernel",
    "LayerProfile",
    "Probe",
    "SphereKernel",
    "TabulatedKernel",
    "forward_weight",
]

# Gauss-Legendre nodes for the erf average of kernels without a closed form
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_N_SIGMA = 9.0


def _gauss_mean(cumulative, t: float, sigma: float, breaks: np.ndarray) -> float:
    """E[C(Z)] for Z ~ N(t, sigma^2), by Gauss-Legendre on panels split at ``breaks`` (kinks)."""
    lo, hi = t - _N_SIGMA * sigma, t + _N_SIGMA * sigma
    inner = breaks[(breaks > lo) & (breaks < hi)]
    edges = np.unique(np.concatenate([[lo], inner, [hi]]))
    # at least 16 panels over the window so that the Gaussian itself is resolved
    fine = np.linspace(lo, hi, 17)
    edges = np.unique(np.concatenate([edges, fine]))
    a, b = edges[:-1, None], edges[1:, None]
    z = 0.5 * (b - a) * _GL_X[None, :] + 0.5 * (a + b)
    pdf = np.exp(-0.5 * ((z - t) / sigma) ** 2) / (sigma * np.sqrt(2.0 * np.pi))
    vals = cumulative(z) * pdf * (0.5 * (b - a)) * _GL_W[None, :]
    # the tail beyond the window contributes C(inf) = 1 times P(Z > hi): negligible (< 1e-18)
    return float(vals.sum())


@dataclass(frozen=True)
class ExponentialKernel:
    """Sensitivity ``exp(-z / depth_nm)``: TEY (escape depth) or fluorescence (probing depth).

    Parameters
    ----------
    depth_nm : float
        1/e depth ``L`` of the sensitivity, nm.
    kind : {"exponential", "fluorescence"}
        Label only (the kernel shape is the same).
    details : dict
        Provenance (e.g. energies and attenuation of a fluorescence depth).

    Examples
    --------
    >>> k = ExponentialKernel(10.0)
    >>> round(float(k.cumulative(10.0)), 6)  # 1 - 1/e of the signal from the first 10 nm
    0.632121
    """

    depth_nm: float
    kind: str = "exponential"
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_positive(self.depth_nm, "depth_nm")

    def cumulative(self, z_nm: Any, depth_nm: float | None = None) -> np.ndarray:
        """Fraction of the signal from depths ``< z_nm`` (nm); ``depth_nm`` overrides ``L``."""
        L = self.depth_nm if depth_nm is None else depth_nm
        z = np.maximum(np.asarray(z_nm, dtype=float), 0.0)
        return -np.expm1(-z / L)

    def density(self, z_nm: Any) -> np.ndarray:
        """Normalized sensitivity ``k(z) / int k`` (1/nm)."""
        z = np.asarray(z_nm, dtype=float)
        return np.where(z >= 0, np.exp(-np.maximum(z, 0) / self.depth_nm) / self.depth_nm, 0.0)

    def step_mean(self, t_nm: Any, width_nm: float = 0.0, depth_nm: float | None = None) -> Any:
        """Kernel-weighted mean of the step ``S(z)`` of a layer of thickness ``t_nm`` (nm).

        ``t_nm`` may be an array (vectorized); ``depth_nm`` overrides ``L``.
        """
        L = self.depth_nm if depth_nm is None else depth_nm
        t = np.asarray(t_nm, dtype=float)
        if width_nm <= 0:
            out = self.cumulative(t, L)
        else:
            s = width_nm
            log_tail = -t / L + 0.5 * (s / L) ** 2 + special.log_ndtr(t / s - s / L)
            out = special.ndtr(t / s) - np.exp(log_tail)
        return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class SphereKernel:
    """Transmission through a spherical particle of radius ``radius_nm``: volume weighting.

    The shell between depth ``z`` and ``z + dz`` holds ``4 pi (R - z)^2 dz`` of the volume, so
    ``C(z) = 1 - ((R - z) / R)^3`` for ``0 <= z <= R``.

    Parameters
    ----------
    radius_nm : float
        Particle radius R, nm (> 0).
    kind : str
        Label only.
    details : dict
        Provenance (not compared).

    Examples
    --------
    >>> k = SphereKernel(5000.0)
    >>> round(float(k.cumulative(20.0)), 6)  # 20 nm shell of a 5 um particle
    0.011952
    """

    radius_nm: float
    kind: str = "sphere"
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_positive(self.radius_nm, "radius_nm")

    @property
    def depth_nm(self) -> float:
        """Characteristic depth: the radius (the probe sees the whole particle), nm."""
        return self.radius_nm

    def cumulative(self, z_nm: Any, depth_nm: float | None = None) -> np.ndarray:
        """Fraction of the volume within ``z_nm`` (nm) of the surface; ``depth_nm`` = radius."""
        R = self.radius_nm if depth_nm is None else depth_nm
        z = np.clip(np.asarray(z_nm, dtype=float), 0.0, R)
        return 1.0 - ((R - z) / R) ** 3

    def density(self, z_nm: Any) -> np.ndarray:
        """Normalized sensitivity ``3 (R - z)^2 / R^3`` (1/nm) for ``0 <= z <= R``."""
        z = np.asarray(z_nm, dtype=float)
        R = self.radius_nm
        return np.where((z >= 0) & (z <= R), 3.0 * (R - z) ** 2 / R**3, 0.0)

    def step_mean(self, t_nm: float, width_nm: float = 0.0, depth_nm: float | None = None) -> float:
        """Volume-weighted mean of the step ``S(z)`` of a layer of thickness ``t_nm`` (nm)."""
        R = self.radius_nm if depth_nm is None else depth_nm
        if width_nm <= 0:
            return float(self.cumulative(t_nm, R))
        return _gauss_mean(
            lambda z: self.cumulative(z, R), t_nm, width_nm, np.array([0.0, R], dtype=float)
        )


@dataclass(frozen=True)
class TabulatedKernel:
    """Any sensitivity given as a table, piecewise linear in depth (zero outside the table).

    Parameters
    ----------
    z_nm : array of float
        Depths, nm, strictly increasing, first >= 0.
    sensitivity : array of float
        Sensitivity at each depth (any units, >= 0, not all zero).
    kind : str
        Label only.
    details : dict
        Provenance (not compared).

    Examples
    --------
    >>> k = TabulatedKernel([0.0, 10.0], [1.0, 1.0])  # uniform over the first 10 nm
    >>> float(k.cumulative(2.5)), k.depth_nm
    (0.25, 5.0)
    """

    z_nm: np.ndarray
    sensitivity: np.ndarray
    kind: str = "tabulated"
    details: dict[str, Any] = field(default_factory=dict, compare=False)
    if TYPE_CHECKING:  # set in __post_init__, not a field
        _cum: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        z = np.asarray(self.z_nm, dtype=float).ravel()
        k = np.asarray(self.sensitivity, dtype=float).ravel()
        check_finite(z, "tabulated kernel depths")
        check_finite(k, "tabulated kernel sensitivity")
        if z.size < 2 or z.size != k.size:
            raise ParameterError(
                f"a tabulated kernel needs >= 2 depths and as many sensitivities; got {z.size} "
                f"depths and {k.size} values."
            )
        if z[0] < 0 or np.any(np.diff(z) <= 0):
            raise ParameterError("tabulated kernel depths must be >= 0 nm and strictly increasing.")
        if np.any(k < 0) or not np.any(k > 0):
            raise ParameterError("tabulated kernel sensitivities must be >= 0 and not all zero.")
        seg = 0.5 * (k[1:] + k[:-1]) * np.diff(z)
        object.__setattr__(self, "z_nm", z)
        object.__setattr__(self, "sensitivity", k)
        object.__setattr__(self, "_cum", np.concatenate([[0.0], np.cumsum(seg)]))

    @property
    def depth_nm(self) -> float:
        """Characteristic depth: the sensitivity-weighted mean depth, nm."""
        z, k = self.z_nm, self.sensitivity
        dz = np.diff(z)
        # exact integral of z * k(z) for piecewise linear k
        first = (z[:-1] * (2 * k[:-1] + k[1:]) + z[1:] * (k[:-1] + 2 * k[1:])) * dz / 6.0
        return float(first.sum() / self._cum[-1])

    def cumulative(self, z_nm: Any, depth_nm: float | None = None) -> np.ndarray:
        """Fraction of the signal from depths ``< z_nm`` (nm), exact for the linear table."""
        if depth_nm is not None:
            raise ParameterError("a tabulated kernel has no depth to vary; give no depth_stderr.")
        z, k, cum = self.z_nm, self.sensitivity, self._cum
        q = np.clip(np.asarray(z_nm, dtype=float), z[0], z[-1])
        i = np.clip(np.searchsorted(z, q, side="right") - 1, 0, z.size - 2)
        h = z[i + 1] - z[i]
        u = q - z[i]
        part = k[i] * u + 0.5 * (k[i + 1] - k[i]) / h * u**2
        return (cum[i] + part) / cum[-1]

    def density(self, z_nm: Any) -> np.ndarray:
        """Normalized sensitivity (1/nm), zero outside the table."""
        z = np.asarray(z_nm, dtype=float)
        val = np.interp(z, self.z_nm, self.sensitivity, left=0.0, right=0.0)
        return val / self._cum[-1]

    def step_mean(self, t_nm: float, width_nm: float = 0.0, depth_nm: float | None = None) -> float:
        """Kernel-weighted mean of the step ``S(z)`` of a layer of thickness ``t_nm`` (nm)."""
        if width_nm <= 0:
            return float(self.cumulative(t_nm, depth_nm))
        return _gauss_mean(self.cumulative, t_nm, width_nm, self.z_nm)


Kernel = ExponentialKernel | SphereKernel | TabulatedKernel


@dataclass(frozen=True)
class LayerProfile:
    """Depth profile of a fraction: a surface layer over a bulk.

    ``x(z) = x_b + (x_s - x_b) S(z)`` with ``S`` a sharp step at ``thickness_nm`` or, with
    ``width_nm > 0``, ``S(z) = erfc((z - t) / (width_nm sqrt 2)) / 2`` (``width_nm`` is the
    standard deviation of the transition, nm).

    Parameters
    ----------
    thickness_nm : float
        Layer thickness ``t``, nm.
    surface_fraction : float
        Fraction ``x_s`` in the layer.
    bulk_fraction : float
        Fraction ``x_b`` below it.
    width_nm : float
        Standard deviation of the transition, nm; 0 for a sharp step.

    Examples
    --------
    >>> p = LayerProfile(20.0, 0.8, 0.2)
    >>> p(np.array([5.0, 50.0])).tolist()
    [0.8, 0.2]
    """

    thickness_nm: float
    surface_fraction: float
    bulk_fraction: float
    width_nm: float = 0.0

    @property
    def shape(self) -> str:
        """``"sharp"`` or ``"erf"``."""
        return "erf" if self.width_nm > 0 else "sharp"

    def step(self, z_nm: Any) -> np.ndarray:
        """``S(z)``: 1 in the layer, 0 in the bulk."""
        z = np.asarray(z_nm, dtype=float)
        if self.width_nm > 0:
            return 0.5 * special.erfc((z - self.thickness_nm) / (self.width_nm * np.sqrt(2.0)))
        return (z < self.thickness_nm).astype(float)

    def __call__(self, z_nm: Any) -> np.ndarray:
        """Fraction ``x(z)`` at depths ``z_nm`` (nm)."""
        x_s, x_b = self.surface_fraction, self.bulk_fraction
        return x_b + (x_s - x_b) * self.step(z_nm)

    @property
    def surface_excess_nm(self) -> float:
        """``int (x(z) - x_b) dz`` (nm): what thin-layer data determine; ``(x_s - x_b) t``."""
        return (self.surface_fraction - self.bulk_fraction) * self.thickness_nm


def forward_weight(profile: LayerProfile, kernel: Kernel) -> float:
    """Weight a probe with sensitivity ``kernel`` reports for the depth ``profile``.

    Parameters
    ----------
    profile : LayerProfile
        Layer thickness (nm), surface and bulk fractions, transition width (nm).
    kernel : ExponentialKernel, SphereKernel or TabulatedKernel
        Depth sensitivity of the probe.

    Returns
    -------
    float
        Kernel-weighted mean fraction ``int k x dz / int k dz`` (same units as the fractions).

    Examples
    --------
    >>> w = forward_weight(LayerProfile(20.0, 0.8, 0.2), ExponentialKernel(5.0))
    >>> round(w, 6)  # 0.2 + 0.6 (1 - exp(-4))
    0.789011
    """
    c = kernel.step_mean(profile.thickness_nm, profile.width_nm)
    return profile.bulk_fraction + (profile.surface_fraction - profile.bulk_fraction) * c


def step_means(kernel: Kernel, t: np.ndarray, width: float, depth: float | None) -> np.ndarray:
    """``kernel.step_mean`` for an array of thicknesses (nm); ``depth`` overrides the kernel's."""
    if width <= 0:
        return np.asarray(kernel.cumulative(t, depth), dtype=float)
    if isinstance(kernel, ExponentialKernel):
        return np.asarray(kernel.step_mean(t, width, depth), dtype=float)
    return np.array([kernel.step_mean(float(ti), width, depth) for ti in t])


@dataclass(frozen=True)
class Probe:
    """One measurement: a weight seen through a depth kernel.

    Parameters
    ----------
    name : str
        Label (``"TEY"``, ``"FY"``, ``"hard XAS"``...).
    kernel : ExponentialKernel, SphereKernel or TabulatedKernel
        Depth sensitivity.
    weight, stderr : float
        Measured fraction and its standard error (> 0).
    depth_stderr_nm : float
        Standard uncertainty of the kernel depth (escape depth, probing depth or radius), nm;
        0 means known. Profiled out as a nuisance parameter.
    """

    name: str
    kernel: Kernel
    weight: float
    stderr: float
    depth_stderr_nm: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.weight):
            raise ParameterError(f"probe {self.name!r}: weight must be finite, got {self.weight}.")
        check_positive(self.stderr, f"probe {self.name!r} stderr")
        sd = check_positive(
            self.depth_stderr_nm, f"probe {self.name!r} depth_stderr_nm", allow_zero=True
        )
        if sd > 0 and isinstance(self.kernel, TabulatedKernel):
            raise ParameterError(
                f"probe {self.name!r}: a tabulated kernel has no depth to vary; drop depth_stderr_nm."
            )


def fractions_lstsq(C, y, s, a_fix=None, b_fix=None):
    """Best fractions for given kernel means: the part of the model that is linear.

    Least squares of weights ``y`` (errors ``s``) ~ ``a C + b (1 - C)``, with ``a = x_s`` and
    ``b = x_b`` in [0, 1] (or held at ``a_fix`` / ``b_fix``), exactly, for every row of ``C``
    (shape (m, n_probes): the step means of each probe at m trial layers). Returns ``a, b,
    chi2``, each of shape (m,).
    """
    w = 1.0 / s**2
    P, Q = C, 1.0 - C
    m = C.shape[0]

    def chi2(a, b):
        return ((y - a[:, None] * P - b[:, None] * Q) ** 2 * w).sum(axis=1)

    def solve1(X, r):  # best coefficient of X for residual target r, clipped to [0, 1]
        den = (w * X * X).sum(axis=1)
        num = (w * X * r).sum(axis=1)
        safe = np.where(den > 0, den, 1.0)
        return np.where(den > 0, np.clip(num / safe, 0.0, 1.0), 0.5)

    if a_fix is not None and b_fix is not None:
        a, b = np.full(m, a_fix), np.full(m, b_fix)
        return a, b, chi2(a, b)
    if a_fix is not None:
        a = np.full(m, a_fix)
        b = solve1(Q, y - a_fix * P)
        return a, b, chi2(a, b)
    if b_fix is not None:
        b = np.full(m, b_fix)
        a = solve1(P, y - b_fix * Q)
        return a, b, chi2(a, b)
    cands = []
    spp, sqq, spq = (w * P * P).sum(1), (w * Q * Q).sum(1), (w * P * Q).sum(1)
    spy, sqy = (w * P * y).sum(1), (w * Q * y).sum(1)
    det = spp * sqq - spq**2
    ok = det > 1e-12 * np.maximum(spp * sqq, 1e-300)
    d = np.where(ok, det, 1.0)
    a0, b0 = (sqq * spy - spq * sqy) / d, (spp * sqy - spq * spy) / d
    inside = ok & (a0 >= 0) & (a0 <= 1) & (b0 >= 0) & (b0 <= 1)
    cands.append((a0, b0, np.where(inside, chi2(np.clip(a0, 0, 1), np.clip(b0, 0, 1)), np.inf)))
    for edge in (0.0, 1.0):
        a = np.full(m, edge)
        b = solve1(Q, y - edge * P)
        cands.append((a, b, chi2(a, b)))
        b = np.full(m, edge)
        a = solve1(P, y - edge * Q)
        cands.append((a, b, chi2(a, b)))
    A = np.stack([c[0] for c in cands])
    B = np.stack([c[1] for c in cands])
    X = np.stack([c[2] for c in cands])
    k = np.argmin(X, axis=0)
    idx = np.arange(m)
    return A[k, idx], B[k, idx], X[k, idx]


def weight_jacobian(
    kernels: list[Kernel],
    values: dict[str, float],
    names: list[str],
    *,
    width: float = 0.0,
    depths: np.ndarray | None = None,
) -> np.ndarray:
    """Derivatives of the predicted weights, shape (n_kernels, len(names)), central differences.

    ``values`` holds ``thickness_nm`` (nm), ``surface_fraction`` and ``bulk_fraction``;
    ``names`` the parameters to differentiate; ``depths`` the kernel depths (nm) if not nominal.
    """
    d = [None] * len(kernels) if depths is None else list(depths)

    def pred(v):
        c = np.array(
            [
                float(
                    k.step_mean(
                        v["thickness_nm"],
                        width,
                        None if d[i] is None or d[i] == k.depth_nm else d[i],
                    )
                )
                for i, k in enumerate(kernels)
            ]
        )
        return v["surface_fraction"] * c + v["bulk_fraction"] * (1 - c)

    cols = []
    for n in names:
        h = 1e-4 * max(abs(values[n]), 1e-2)
        up, dn = dict(values), dict(values)
        up[n] = values[n] + h
        dn[n] = max(values[n] - h, 0.0)
        cols.append((pred(up) - pred(dn)) / (up[n] - dn[n]))
    return np.stack(cols, axis=1)
