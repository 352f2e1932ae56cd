"""Probing depth of fluorescence-yield XAS from tabulated attenuation (xraydb).

``L = 1 / (mu(E_in) / sin theta_in + mu(E_f) / sin theta_out)``: the 1/e depth of the
exponential kernel (:class:`cathodescope.xas.ExponentialKernel`) a fluorescence probe sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cathodescope._validation import check_positive
from cathodescope.errors import ParameterError
from cathodescope.xas._kernels import ExponentialKernel

__all__ = ["FluorescenceDepth", "fluorescence_depth"]


@dataclass(frozen=True)
class FluorescenceDepth:
    """Probing depth of fluorescence-yield XAS and the numbers it came from.

    Parameters
    ----------
    depth_nm : float
        ``L = 1 / (mu_in / sin theta_in + mu_out / sin theta_out)``, nm.
    incident_eV, emission_eV : float
        Incident and fluorescence energies, eV.
    mu_in_per_cm, mu_out_per_cm : float
        Linear attenuation of the sample at those energies, 1/cm (xraydb ``material_mu``).
    angles_deg : tuple of float
        Incidence and exit angles to the sample surface, degrees.
    parameters : dict
        formula, density, edge, line.
    """

    depth_nm: float
    incident_eV: float
    emission_eV: float
    mu_in_per_cm: float
    mu_out_per_cm: float
    angles_deg: tuple[float, float]
    parameters: dict[str, Any] = field(default_factory=dict)

    def kernel(self) -> ExponentialKernel:
        """The exponential kernel of this depth (kind ``"fluorescence"``)."""
        return ExponentialKernel(self.depth_nm, kind="fluorescence", details=self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """Plain values for tables and manifests."""
        return {
            "depth_nm": self.depth_nm,
            "incident_eV": self.incident_eV,
            "emission_eV": self.emission_eV,
            "mu_in_per_cm": self.mu_in_per_cm,
            "mu_out_per_cm": self.mu_out_per_cm,
            "angles_deg": list(self.angles_deg),
            **self.parameters,
        }


def _split_name(text: str, what: str, example: str) -> tuple[str, str]:
    parts = str(text).split()
    if len(parts) != 2:
        raise ParameterError(f"{what} must be 'ELEMENT NAME', e.g. {example!r}; got {text!r}.")
    return parts[0], parts[1]


def _emission_energy(line: str) -> float:
    """Energy (eV) of ``"Ni La1"`` or of a line family ``"Ni La"`` (intensity-weighted mean)."""
    import xraydb

    element, name = _split_name(line, "line", "Ni La")
    try:
        lines = xraydb.xray_lines(element)
    except Exception as exc:  # xraydb raises bare errors for unknown elements
        raise ParameterError(f"unknown element {element!r} in line {line!r}.") from exc
    if name in lines:
        return float(lines[name].energy)
    family = {k: v for k, v in lines.items() if k.startswith(name)}
    if not family:
        raise ParameterError(
            f"no line {name!r} for {element} in xraydb; lines: {sorted(lines)} (or a family such "
            "as 'La', 'Ka')."
        )
    total = sum(v.intensity for v in family.values())
    return float(sum(v.energy * v.intensity for v in family.values()) / total)


def fluorescence_depth(
    formula: str,
    density_g_cm3: float,
    *,
    edge: str,
    line: str,
    incident_eV: float | None = None,
    angles_deg: tuple[float, float] = (45.0, 45.0),
) -> FluorescenceDepth:
    """Probing depth ``L`` of fluorescence-yield XAS from tabulated attenuation (xraydb).

    Parameters
    ----------
    formula : str
        Chemical formula of the sample, e.g. ``"LiNi0.6Mn0.2Co0.2O2"``.
    density_g_cm3 : float
        Density, g/cm^3.
    edge : str
        Absorption edge, ``"ELEMENT EDGE"``, e.g. ``"Ni L3"``.
    line : str
        Fluorescence line ``"Ni La1"`` or family ``"Ni La"`` (intensity-weighted energy).
    incident_eV : float, optional
        Incident energy, eV; default the tabulated edge + 10 eV.
    angles_deg : (float, float)
        Incidence and exit angles to the sample surface, degrees, each in (0, 90].

    Returns
    -------
    FluorescenceDepth
        ``depth_nm = 1e7 / (mu_in / sin theta_in + mu_out / sin theta_out)`` with ``mu`` in 1/cm.

    Examples
    --------
    >>> fd = fluorescence_depth("LiNi0.6Mn0.2Co0.2O2", 4.7, edge="Ni L3", line="Ni La")
    >>> fd.incident_eV
    862.7
    >>> 50 < fd.depth_nm < 300
    True
    """
    import xraydb

    density = check_positive(density_g_cm3, "density_g_cm3")
    element, edge_name = _split_name(edge, "edge", "Ni L3")
    try:
        e_edge = float(xraydb.xray_edge(element, edge_name).energy)
    except Exception as exc:
        raise ParameterError(
            f"xraydb has no edge {edge!r}; give e.g. 'Ni L3', 'Ni K', 'Mn L3'."
        ) from exc
    e_in = e_edge + 10.0 if incident_eV is None else check_positive(incident_eV, "incident_eV")
    e_out = _emission_energy(line)
    angles = tuple(float(a) for a in angles_deg)
    if len(angles) != 2 or not all(0 < a <= 90 for a in angles):
        raise ParameterError(
            f"angles_deg must be [incidence, exit] in (0, 90] degrees, got {angles_deg!r}."
        )
    try:
        mu = np.asarray(xraydb.material_mu(formula, np.array([e_in, e_out]), density=density))
    except Exception as exc:
        raise ParameterError(f"xraydb cannot parse formula {formula!r}: {exc}") from exc
    sin_in, sin_out = np.sin(np.radians(angles))
    depth_cm = 1.0 / (mu[0] / sin_in + mu[1] / sin_out)
    return FluorescenceDepth(
        depth_nm=float(depth_cm * 1e7),
        incident_eV=float(e_in),
        emission_eV=float(e_out),
        mu_in_per_cm=float(mu[0]),
        mu_out_per_cm=float(mu[1]),
        angles_deg=(angles[0], angles[1]),
        parameters={"formula": formula, "density_g_cm3": density, "edge": edge, "line": line},
    )
