"""Precursor layers and sintering schedules (isothermal holds, linear ramps, Arrhenius D(T))."""

from __future__ import annotations

import itertools
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from cathodescope._validation import check_positive
from cathodescope.errors import FileFormatError, ParameterError

GAS_CONSTANT_J_MOL_K = 8.314462618
"""Molar gas constant R in J/(mol K) (CODATA 2018, exact)."""

_KELVIN = 273.15


@dataclass(frozen=True)
class Precursor:
    """A spherical precursor particle built from concentric layers of fixed composition.

    Parameters
    ----------
    radius_um : float
        Particle radius in um.
    outer_radii_um : sequence of float
        Outer radius (um) of each layer from the centre outwards, strictly increasing; the last
        one equals ``radius_um``.
    compositions : sequence of mapping element -> fraction
        Transition-metal fractions of each layer (same order), each summing to 1.

    Examples
    --------
    >>> p = Precursor(5.0, (3.5, 5.0), ({"Ni": 0.9, "Mn": 0.1}, {"Ni": 0.6, "Mn": 0.4}))
    >>> p.elements, round(p.mean_composition()["Ni"], 4)
    (('Ni', 'Mn'), 0.7029)
    """

    radius_um: float
    outer_radii_um: tuple[float, ...]
    compositions: tuple[Mapping[str, float], ...]

    def __post_init__(self) -> None:
        radius = check_positive(self.radius_um, "radius_um")
        radii = tuple(float(r) for r in self.outer_radii_um)
        comps = tuple(dict(c) for c in self.compositions)
        if not comps or len(radii) != len(comps):
            raise ParameterError(
                f"a precursor needs one outer radius per layer: {len(radii)} radii for "
                f"{len(comps)} layers."
            )
        if any(r <= 0 for r in radii) or any(b <= a for a, b in itertools.pairwise(radii)):
            raise ParameterError(
                f"layer outer radii must be > 0 um and increase from the centre outwards, "
                f"got {radii}."
            )
        if not math.isclose(radii[-1], radius, rel_tol=1e-9, abs_tol=1e-12):
            raise ParameterError(
                f"the last layer's outer radius ({radii[-1]} um) must equal the particle radius "
                f"({radius} um)."
            )
        keys = tuple(comps[0])
        for k, c in enumerate(comps):
            if set(c) != set(keys):
                raise ParameterError(
                    f"layer {k + 1} lists {sorted(c)} but layer 1 lists {sorted(keys)}; give "
                    "every metal in every layer (0 where absent)."
                )
            vals = np.array([c[e] for e in keys], dtype=float)
            if not np.all(np.isfinite(vals)) or np.any(vals < 0) or abs(vals.sum() - 1) > 1e-6:
                raise ParameterError(
                    f"layer {k + 1} fractions {c} must be >= 0 and sum to 1 (sum is "
                    f"{vals.sum():.6g}); normalise them."
                )
        object.__setattr__(self, "radius_um", radius)
        object.__setattr__(self, "outer_radii_um", radii)
        object.__setattr__(
            self, "compositions", tuple({e: float(c[e]) for e in keys} for c in comps)
        )

    @property
    def elements(self) -> tuple[str, ...]:
        """Metal names in the order of the first layer."""
        return tuple(self.compositions[0])

    def scaled(self, radius_um: float) -> Precursor:
        """The same layers scaled self-similarly to a particle of ``radius_um`` (um)."""
        s = check_positive(radius_um, "radius_um") / self.radius_um
        return Precursor(radius_um, tuple(r * s for r in self.outer_radii_um), self.compositions)

    def layer_fractions(self) -> np.ndarray:
        """(n_elements, n_layers) fractions, elements in :attr:`elements` order."""
        return np.array([[c[e] for c in self.compositions] for e in self.elements])

    def mean_composition(self) -> dict[str, float]:
        """Volume-averaged composition of the whole particle (what ICP would measure)."""
        r3 = np.diff(np.concatenate([[0.0], np.asarray(self.outer_radii_um) ** 3]))
        w = r3 / r3.sum()
        return {
            e: float(row @ w) for e, row in zip(self.elements, self.layer_fractions(), strict=True)
        }


@dataclass(frozen=True)
class Schedule:
    """A sintering schedule: consecutive steps of linear temperature change (or holds).

    Parameters
    ----------
    steps : sequence of (time_s, start_C, end_C)
        Duration in s and temperatures in C at the start and end of each step; a hold has
        ``start_C == end_C``.

    Notes
    -----
    With Arrhenius behaviour ``D(T) = D0 exp(-Ea / (R T))`` the diffusion during the schedule
    depends only on ``integral D(T(t)) dt = D(T_ref) * tau``, where ``T_ref`` is the highest
    temperature of the schedule (D values are quoted there) and the effective time
    ``tau = integral exp(-Ea / R (1 / T(t) - 1 / T_ref)) dt`` (s) is computed by Gauss-Legendre
    quadrature; for an isothermal hold ``tau`` is the hold time.

    Examples
    --------
    >>> Schedule.isothermal(800.0, 12.0).effective_time_s()
    43200.0
    """

    steps: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        steps = tuple(tuple(float(v) for v in s) for s in self.steps)
        if not steps:
            raise ParameterError("a sintering schedule needs at least one step.")
        for k, s in enumerate(steps):
            if len(s) != 3:
                raise ParameterError(f"step {k + 1} needs (time_s, start_C, end_C), got {s}.")
            check_positive(s[0], f"step {k + 1} time")
            if min(s[1], s[2]) <= -_KELVIN or not all(map(math.isfinite, s)):
                raise ParameterError(f"step {k + 1} temperatures {s[1:]} C are impossible.")
        object.__setattr__(self, "steps", steps)

    @classmethod
    def isothermal(cls, temperature_C: float, time_h: float) -> Schedule:
        """A single hold of ``time_h`` hours at ``temperature_C``."""
        return cls(((check_positive(time_h, "time_h") * 3600.0, temperature_C, temperature_C),))

    @property
    def total_time_s(self) -> float:
        """Duration of the whole schedule in s."""
        return float(sum(s[0] for s in self.steps))

    @property
    def reference_temperature_C(self) -> float:
        """Highest temperature reached (C): the temperature at which D values are quoted."""
        return float(max(max(s[1], s[2]) for s in self.steps))

    @property
    def is_isothermal(self) -> bool:
        """True when every step is a hold at the reference temperature."""
        t_ref = self.reference_temperature_C
        return all(s[1] == s[2] == t_ref for s in self.steps)

    def temperature_C(self, time_s: Any) -> np.ndarray:
        """Temperature (C) at ``time_s`` (s from the start), piecewise linear."""
        t_nodes = np.concatenate([[0.0], np.cumsum([s[0] for s in self.steps])])
        t = np.asarray(time_s, dtype=float)
        k = np.clip(np.searchsorted(t_nodes, t, side="right") - 1, 0, len(self.steps) - 1)
        start = np.array([s[1] for s in self.steps])[k]
        end = np.array([s[2] for s in self.steps])[k]
        u = np.clip((t - t_nodes[k]) / np.array([s[0] for s in self.steps])[k], 0.0, 1.0)
        return start + (end - start) * u

    def cumulative_time_s(self, times_s: Any, activation_energy_kJ_mol: float | None) -> np.ndarray:
        """Effective time at the reference temperature (s) elapsed at each of ``times_s``.

        ``tau(t) = integral_0^t exp(-Ea / R (1 / T(t') - 1 / T_ref)) dt'``, 16-point
        Gauss-Legendre on every interval between consecutive times and step boundaries.

        Raises
        ------
        ParameterError
            If the schedule has ramps or holds below the reference temperature and no
            activation energy is given.
        """
        t = np.asarray(times_s, dtype=float)
        if activation_energy_kJ_mol is None:
            if not self.is_isothermal:
                raise ParameterError(
                    "this schedule has ramps (or holds below its top temperature): give an "
                    "activation energy (activation_energy_kJ_mol in [sintering], or "
                    "--activation-energy-kJ-mol) so that D(T) can follow the Arrhenius law."
                )
            return np.clip(t, 0.0, self.total_time_s)
        ea = float(activation_energy_kJ_mol) * 1e3
        t_ref = self.reference_temperature_C + _KELVIN
        nodes = np.concatenate([[0.0], np.cumsum([s[0] for s in self.steps])])
        grid = np.unique(np.concatenate([nodes, np.clip(t.ravel(), 0.0, nodes[-1])]))
        x, w = np.polynomial.legendre.leggauss(16)
        lo, hi = grid[:-1], grid[1:]
        pts = 0.5 * (hi - lo)[:, None] * (x + 1.0)[None, :] + lo[:, None]
        temp_k = self.temperature_C(pts) + _KELVIN
        rate = np.exp(-ea / GAS_CONSTANT_J_MOL_K * (1.0 / temp_k - 1.0 / t_ref))
        seg = 0.5 * (hi - lo) * (rate @ w)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        return np.interp(t, grid, cum)

    def effective_time_s(self, activation_energy_kJ_mol: float | None = None) -> float:
        """Effective time at the reference temperature (s) of the whole schedule."""
        return float(self.cumulative_time_s(self.total_time_s, activation_energy_kJ_mol))


def arrhenius_D(D0_m2_s: float, activation_energy_kJ_mol: float, temperature_C: Any) -> np.ndarray:
    """Diffusion coefficient ``D0 exp(-Ea / (R T))`` in m^2/s at ``temperature_C`` (C).

    Parameters
    ----------
    D0_m2_s : float
        Pre-exponential factor (m^2/s).
    activation_energy_kJ_mol : float
        Activation energy Ea (kJ/mol).
    temperature_C : float or array-like
        Temperature(s) in degrees Celsius.

    Returns
    -------
    ndarray
        D (m^2/s), the shape of ``temperature_C``.

    Examples
    --------
    >>> float(arrhenius_D(1.0, 0.0, 800.0))
    1.0
    """
    temp_k = np.asarray(temperature_C, dtype=float) + _KELVIN
    return D0_m2_s * np.exp(
        -float(activation_energy_kJ_mol) * 1e3 / (GAS_CONSTANT_J_MOL_K * temp_k)
    )


@dataclass(frozen=True)
class PrecursorSpec:
    """What a precursor TOML file holds: the layers, the schedule and optional D values.

    Parameters
    ----------
    precursor : Precursor
        The layers before sintering (``radius_um`` and ``[[layer]]`` tables).
    schedule : Schedule
        The sintering schedule (``[sintering]``).
    activation_energy_kJ_mol : dict element -> float, or None
        Arrhenius activation energies (kJ/mol) per metal; None when the file gives none.
    D_m2_s : dict element -> float, or None
        D per metal at the reference temperature (m^2/s) from a ``[diffusion]`` table.
    """

    precursor: Precursor
    schedule: Schedule
    activation_energy_kJ_mol: dict[str, float] | None = None
    D_m2_s: dict[str, float] | None = None


@overload
def per_metal(value: None, elements: Sequence[str], name: str) -> None: ...


@overload
def per_metal(
    value: float | Mapping[str, float], elements: Sequence[str], name: str
) -> dict[str, float]: ...


@overload
def per_metal(
    value: float | Mapping[str, float] | None, elements: Sequence[str], name: str
) -> dict[str, float] | None: ...


def per_metal(
    value: float | Mapping[str, float] | None, elements: Sequence[str], name: str
) -> dict[str, float] | None:
    """Expand one value or a ``{metal: value}`` mapping to every metal of ``elements``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        missing = [e for e in elements if e not in value]
        extra = [k for k in value if k not in elements]
        if missing or extra:
            raise ParameterError(
                f"{name} must give every metal {list(elements)}: missing {missing}, unknown "
                f"{extra}."
            )
        return {e: float(value[e]) for e in elements}
    return {e: float(value) for e in elements}


def _schedule_from_table(table: Mapping[str, Any], source: str) -> Schedule:
    steps = table.get("step")
    if steps is None:
        try:
            return Schedule.isothermal(float(table["temperature_C"]), float(table["time_h"]))
        except KeyError as exc:
            raise FileFormatError(
                f"{source}: [sintering] needs temperature_C and time_h (an isothermal hold) or "
                f"[[sintering.step]] entries; {exc.args[0]!r} is missing."
            ) from None
    if "temperature_C" in table or "time_h" in table:
        raise FileFormatError(
            f"{source}: give either temperature_C/time_h or [[sintering.step]] entries in "
            "[sintering], not both."
        )
    out = []
    for k, s in enumerate(steps):
        if "time_h" not in s:
            raise FileFormatError(f"{source}: sintering step {k + 1} needs time_h.")
        if "temperature_C" in s:
            start = end = float(s["temperature_C"])
        elif "start_C" in s and "end_C" in s:
            start, end = float(s["start_C"]), float(s["end_C"])
        else:
            raise FileFormatError(
                f"{source}: sintering step {k + 1} needs temperature_C (a hold) or start_C and "
                "end_C (a linear ramp)."
            )
        out.append((float(s["time_h"]) * 3600.0, start, end))
    return Schedule(tuple(out))


def parse_precursor(document: Mapping[str, Any], source: str = "precursor") -> PrecursorSpec:
    """Build a :class:`PrecursorSpec` from a parsed TOML document (see :func:`read_precursor`).

    Parameters
    ----------
    document : mapping
        The parsed TOML (``tomllib.loads``): ``radius_um``, ``[[layer]]`` tables, a
        ``[sintering]`` table and optional ``[diffusion]`` values.
    source : str
        Name of the document used in error messages (a file path).

    Returns
    -------
    PrecursorSpec
        The layers, the schedule and the optional D and Ea values.

    Raises
    ------
    FileFormatError
        If a required key is missing or a value is malformed.
    """
    try:
        radius = float(document["radius_um"])
        layers = list(document["layer"])
    except KeyError as exc:
        raise FileFormatError(
            f"{source}: missing {exc.args[0]!r}; a precursor file needs radius_um and at least "
            "one [[layer]] table (from the centre outwards)."
        ) from None
    outer, comps = [], []
    for k, layer in enumerate(layers):
        if "outer_radius_um" not in layer:
            raise FileFormatError(f"{source}: layer {k + 1} has no outer_radius_um.")
        outer.append(float(layer["outer_radius_um"]))
        comps.append({e: float(v) for e, v in layer.items() if e != "outer_radius_um"})
    try:
        precursor = Precursor(radius, tuple(outer), tuple(comps))
    except ParameterError as exc:
        raise FileFormatError(f"{source}: {exc}") from None
    sintering = document.get("sintering")
    if sintering is None:
        raise FileFormatError(f"{source}: no [sintering] table (temperature_C, time_h).")
    schedule = _schedule_from_table(sintering, source)
    ea = sintering.get("activation_energy_kJ_mol")
    diffusion = document.get("diffusion")
    d_values = None
    if diffusion is not None:
        d_values = diffusion.get("D_m2_s", {k: v for k, v in diffusion.items()})
    return PrecursorSpec(
        precursor,
        schedule,
        per_metal(ea, precursor.elements, "activation_energy_kJ_mol"),
        per_metal(d_values, precursor.elements, "[diffusion] D_m2_s"),
    )


def read_precursor(path: str | os.PathLike[str]) -> PrecursorSpec:
    """Read a precursor TOML file: ``radius_um``, ``[[layer]]`` tables, ``[sintering]``.

    Parameters
    ----------
    path : path-like
        TOML file. Layers are listed from the centre outwards, each with ``outer_radius_um``
        and one fraction per metal; ``[sintering]`` holds ``temperature_C`` and ``time_h``
        (an isothermal hold) or ``[[sintering.step]]`` entries (``time_h`` with
        ``temperature_C`` for a hold or ``start_C``/``end_C`` for a ramp), and optionally
        ``activation_energy_kJ_mol`` (one value or a table per metal). An optional
        ``[diffusion]`` table gives ``D_m2_s`` (one value or per metal).

    Returns
    -------
    PrecursorSpec

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FileFormatError
        If it is not TOML or misses a required entry.
    """
    p = Path(path)
    try:
        document = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(f"{p} is not valid TOML: {exc}") from None
    return parse_precursor(document, str(p))


def paper_precursor(radius_um: float = 5.0) -> Precursor:
    """The TXM paper's four-layer precursor (SCIENCE.md section 1), scaled to ``radius_um``.

    Core Ni0.9Mn0.05Co0.05 (to 0.4 R) then layers grown from 8:1:1 (to 0.6 R), 6:2:2 (to
    0.8 R) and 1:1:1 (to R) feeds. The layer thicknesses are illustrative: the paper gives the
    feeds, not the radii.

    Parameters
    ----------
    radius_um : float
        Particle radius (um), > 0.

    Returns
    -------
    Precursor
        Four layers with outer radii 0.4, 0.6, 0.8 and 1.0 times ``radius_um``.
    """
    r = check_positive(radius_um, "radius_um")
    return Precursor(
        r,
        (0.4 * r, 0.6 * r, 0.8 * r, r),
        (
            {"Ni": 0.9, "Mn": 0.05, "Co": 0.05},
            {"Ni": 0.8, "Mn": 0.1, "Co": 0.1},
            {"Ni": 0.6, "Mn": 0.2, "Co": 0.2},
            {"Ni": 1 / 3, "Mn": 1 / 3, "Co": 1 / 3},
        ),
    )


def format_precursor(
    precursor: Precursor,
    schedule: Schedule,
    *,
    D_m2_s: Mapping[str, float] | None = None,
    activation_energy_kJ_mol: Mapping[str, float] | None = None,
) -> str:
    """The TOML text :func:`read_precursor` reads back (layers, schedule, optional D and Ea).

    Parameters
    ----------
    precursor : Precursor
        The layers to write.
    schedule : Schedule
        The sintering schedule to write.
    D_m2_s : mapping element -> float, optional
        D per metal at the reference temperature (m^2/s), written as ``[diffusion]``.
    activation_energy_kJ_mol : mapping element -> float, optional
        Arrhenius Ea per metal (kJ/mol).

    Returns
    -------
    str
        TOML text.

    Examples
    --------
    >>> text = format_precursor(paper_precursor(5.0), Schedule.isothermal(800, 12))
    >>> parse_precursor(tomllib.loads(text)).precursor == paper_precursor(5.0)
    True
    """
    lines = [f"radius_um = {precursor.radius_um!r}", ""]
    for outer, comp in zip(precursor.outer_radii_um, precursor.compositions, strict=True):
        lines += ["[[layer]]", f"outer_radius_um = {outer!r}"]
        lines += [f"{e} = {v!r}" for e, v in comp.items()] + [""]
    lines.append("[sintering]")
    if len(schedule.steps) == 1 and schedule.is_isothermal:
        lines += [
            f"temperature_C = {schedule.steps[0][1]!r}",
            f"time_h = {schedule.steps[0][0] / 3600.0!r}",
        ]
    if activation_energy_kJ_mol is not None:
        lines.append("[sintering.activation_energy_kJ_mol]")
        lines += [f"{e} = {v!r}" for e, v in activation_energy_kJ_mol.items()]
    if not (len(schedule.steps) == 1 and schedule.is_isothermal):
        for time_s, start, end in schedule.steps:
            lines += [
                "[[sintering.step]]",
                f"time_h = {time_s / 3600.0!r}",
                f"start_C = {start!r}",
                f"end_C = {end!r}",
            ]
    if D_m2_s is not None:
        lines += ["", "[diffusion.D_m2_s]"] + [f"{e} = {v!r}" for e, v in D_m2_s.items()]
    return "\n".join(lines) + "\n"
