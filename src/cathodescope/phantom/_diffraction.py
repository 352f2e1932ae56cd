"""Ground-truth diffraction patterns, heating series and gas-release traces.

Every generator returns ``(data, truth)``. Peak positions follow Bragg's law from the given
lattice parameters; profiles are area-normalised pseudo-Voigts (optionally Ka1/Ka2 doublets);
noise is Poisson (counting statistics) from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope.errors import ParameterError

__all__ = [
    "LAYERED_REFERENCE_INTENSITIES",
    "ROCKSALT_INTENSITIES",
    "SPINEL_INTENSITIES",
    "gas_release_trace",
    "heating_series",
    "layered_oxide_pattern",
]

#: Relative intensities of LiNiO2 (R-3m, a=2.87, c=14.2 A) from pymatgen, as in
#: ``shared/data/xrd/reference_peaks_LiNiO2_model.json``; used when no table is given.
LAYERED_REFERENCE_INTENSITIES: dict[str, float] = {
    "003": 100.0,
    "101": 54.2,
    "006": 6.4,
    "012": 18.9,
    "104": 87.4,
    "105": 23.1,
    "107": 12.5,
    "108": 24.4,
    "110": 23.8,
    "113": 15.3,
}
#: Disordered spinel (Fd-3m, cubic) reflections and illustrative relative intensities.
SPINEL_INTENSITIES: dict[str, float] = {
    "111": 25.0,
    "220": 40.0,
    "311": 100.0,
    "222": 10.0,
    "400": 60.0,
    "511": 20.0,
    "440": 50.0,
}
#: Rock-salt (Fm-3m, cubic) reflections and illustrative relative intensities.
ROCKSALT_INTENSITIES: dict[str, float] = {"111": 60.0, "200": 100.0, "220": 50.0}

_CG = np.sqrt(4 * np.log(2) / np.pi)


def _pv(x: np.ndarray, c: np.ndarray, w: float, eta: float) -> np.ndarray:
    u = (x[None, :] - c[:, None]) / w
    return eta * (2 / np.pi) / w / (1 + 4 * u * u) + (1 - eta) * _CG / w * np.exp(
        -4 * np.log(2) * u * u
    )


def _hkl(label: str) -> tuple[int, int, int]:
    digits = label.replace("-", "").replace(" ", "")
    if len(digits) != 3 or not digits.isdigit():
        raise ParameterError(f"hkl label {label!r} must be three digits such as '003' or '110'.")
    return int(digits[0]), int(digits[1]), int(digits[2])


def _d_hex(hkl: tuple[int, int, int], a: float, c: float) -> float:
    h, k, l_ = hkl
    return 1 / np.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l_ * l_ / c**2)


def _d_cubic(hkl: tuple[int, int, int], a: float) -> float:
    h, k, l_ = hkl
    return a / np.sqrt(h * h + k * k + l_ * l_)


def _positions(d: np.ndarray, wavelength: float) -> np.ndarray:
    s = wavelength / (2 * d)
    return np.where(s < 1, 2 * np.degrees(np.arcsin(np.minimum(s, 1))), np.nan)


def _render(
    x: np.ndarray,
    centers: np.ndarray,
    areas: np.ndarray,
    *,
    fwhm: float,
    eta: float,
    doublet: bool,
    ka2_ratio: float,
    lam_ratio: float,
) -> np.ndarray:
    ok = np.isfinite(centers)
    c, a = centers[ok], areas[ok]
    y = (a[:, None] * _pv(x, c, fwhm, eta)).sum(axis=0)
    if doublet:
        s2 = np.sin(np.radians(c / 2)) * lam_ratio
        ok2 = s2 < 1
        c2 = 2 * np.degrees(np.arcsin(s2[ok2]))
        y = y + ka2_ratio * (a[ok2, None] * _pv(x, c2, fwhm, eta)).sum(axis=0)
    return y


def layered_oxide_pattern(
    a: float = 2.87,
    c: float = 14.2,
    *,
    wavelength: float = 1.5406,
    two_theta: np.ndarray | None = None,
    intensities: Mapping[str, float] | None = None,
    fwhm: float = 0.08,
    eta: float = 0.4,
    scale: float = 2000.0,
    background: float = 50.0,
    zero_shift: float = 0.0,
    doublet: bool = False,
    ka2_ratio: float = 0.5,
    wavelength2: float = 1.54443,
    noise: bool = True,
    seed: int = 0,
) -> tuple[xr.DataArray, dict[str, Any]]:
    """Powder pattern of a layered R-3m oxide with known a and c.

    Parameters
    ----------
    a, c : float
        Hexagonal lattice parameters (Angstrom).
    wavelength : float
        (Ka1) wavelength in Angstrom.
    two_theta : array_like, optional
        2theta grid (deg); default 10-80 deg step 0.01 (scaled by wavelength/1.5406).
    intensities : mapping, optional
        hkl label -> relative intensity (e.g. the ``"LiNiO2_model_..."`` entry of
        reference_peaks_LiNiO2_model.json, values ``I_rel``); default
        :data:`LAYERED_REFERENCE_INTENSITIES`.
    fwhm, eta : float
        Pseudo-Voigt FWHM (deg) and Lorentzian fraction.
    scale : float
        Integrated area (counts x deg) of a peak of relative intensity 100.
    background : float
        Flat background (counts).
    zero_shift : float
        Added to every peak position (deg): an instrument zero error.
    doublet, ka2_ratio, wavelength2
        Add Ka2 components at ``wavelength2`` with intensity ratio ``ka2_ratio``.
    noise : bool
        Poisson counting noise.
    seed : int
        Seed of the random generator.

    Returns
    -------
    pattern : xarray.DataArray
        Dim ``two_theta`` (deg), ``attrs["wavelength_A"]``.
    truth : dict
        ``a``, ``c``, ``wavelength``, ``zero_shift`` and ``peaks`` (DataFrame: ``hkl``,
        ``d_A``, ``two_theta_deg`` (true, without zero shift), ``area``).
    """
    from cathodescope.io import make_pattern

    table = dict(LAYERED_REFERENCE_INTENSITIES if intensities is None else intensities)
    if two_theta is None:
        f = wavelength / 1.5406
        two_theta = np.arange(10.0 * f, 80.0 * f, 0.01 * f)
    x = np.asarray(two_theta, dtype=float)
    labels = list(table)
    d = np.array([_d_hex(_hkl(h), a, c) for h in labels])
    pos = _positions(d, wavelength)
    areas = np.array([table[h] for h in labels]) / 100.0 * scale
    y = background + _render(
        x,
        pos + zero_shift,
        areas,
        fwhm=fwhm,
        eta=eta,
        doublet=doublet,
        ka2_ratio=ka2_ratio,
        lam_ratio=wavelength2 / wavelength,
    )
    if noise:
        y = np.random.default_rng(seed).poisson(y).astype(float)
    attrs: dict[str, Any] = {"source": "phantom.layered_oxide_pattern"}
    if doublet:
        attrs.update(wavelength2_A=wavelength2, kalpha2_ratio=ka2_ratio)
    pattern = make_pattern(x, y, wavelength=wavelength, attrs=attrs)
    peaks = pd.DataFrame({"hkl": labels, "d_A": d, "two_theta_deg": pos, "area": areas})
    truth = {
        "a": a,
        "c": c,
        "wavelength": wavelength,
        "zero_shift": zero_shift,
        "peaks": peaks,
        "fwhm": fwhm,
        "eta": eta,
    }
    return pattern, truth


def heating_series(
    *,
    temperatures: np.ndarray | None = None,
    t_spinel: float = 192.5,
    t_rocksalt: float = 402.5,
    width: float = 1.5,
    a: float = 2.86,
    c: float = 14.40,
    expansion_per_c: float = 1.2e-5,
    a_spinel: float = 8.12,
    a_rocksalt: float = 4.16,
    wavelength: float = 1.5406,
    two_theta: np.ndarray | None = None,
    fwhm: float = 0.12,
    eta: float = 0.4,
    scale: float = 1500.0,
    background: float = 60.0,
    seed: int = 0,
) -> tuple[xr.DataArray, dict[str, Any]]:
    """Heating series layered (R-3m) -> disordered spinel (Fd-3m) -> rock-salt (Fm-3m).

    Phase fractions follow logistic steps in temperature: the layered fraction is
    ``1 / (1 + exp((T - t_spinel) / width))``; the spinel turns into rock salt the same way at
    ``t_rocksalt``. Lattice parameters expand linearly with ``expansion_per_c``.

    Parameters
    ----------
    temperatures : array_like, optional
        Frame temperatures (C); default 30-500 C every 5 C (95 frames, ~4 C/min, 1 min scans).
    t_spinel, t_rocksalt : float
        Transition temperatures (C): where the layered (spinel) fraction crosses 0.5.
    width : float
        Logistic width (C) of each transition.
    a, c, a_spinel, a_rocksalt : float
        Room-temperature lattice parameters (Angstrom).
    expansion_per_c : float
        Linear thermal expansion (1/C).
    wavelength : float
        Wavelength (Angstrom) of the patterns.
    two_theta : array_like, optional
        2theta grid (deg); default 15-70 deg step 0.02 (scaled by wavelength/1.5406).
    fwhm, eta, scale, background
        Profile and intensity as in :func:`layered_oxide_pattern`.
    seed : int
        Seed of the Poisson noise.

    Returns
    -------
    series : xarray.DataArray
        Dims ``("frame", "two_theta")`` with coordinate ``temperature_C``.
    truth : dict
        ``t_spinel``, ``t_rocksalt``, ``fractions`` (DataFrame: ``temperature_C``, ``layered``,
        ``spinel``, ``rocksalt``), ``spinel_frame`` and ``rocksalt_frame`` (first frame whose
        fraction of the new phase exceeds 0.5).
    """
    from cathodescope.io import make_series

    temps = np.arange(30.0, 501.0, 5.0) if temperatures is None else np.asarray(temperatures, float)
    if two_theta is None:
        f = wavelength / 1.5406
        two_theta = np.arange(15.0 * f, 70.0 * f, 0.02 * f)
    x = np.asarray(two_theta, dtype=float)
    rng = np.random.default_rng(seed)
    f_layer = 1 / (1 + np.exp((temps - t_spinel) / width))
    f_rs = (1 - f_layer) / (1 + np.exp(-(temps - t_rocksalt) / width))
    f_sp = 1 - f_layer - f_rs
    lay = list(LAYERED_REFERENCE_INTENSITIES)
    sp = list(SPINEL_INTENSITIES)
    rs = list(ROCKSALT_INTENSITIES)
    frames = np.empty((temps.size, x.size))
    for i, t in enumerate(temps):
        g = 1 + expansion_per_c * (t - 25.0)
        y = np.full(x.size, background)
        for labels, weights, dfun, frac in (
            (
                lay,
                LAYERED_REFERENCE_INTENSITIES,
                lambda h, g=g: _d_hex(_hkl(h), a * g, c * g),
                f_layer[i],
            ),
            (sp, SPINEL_INTENSITIES, lambda h, g=g: _d_cubic(_hkl(h), a_spinel * g), f_sp[i]),
            (rs, ROCKSALT_INTENSITIES, lambda h, g=g: _d_cubic(_hkl(h), a_rocksalt * g), f_rs[i]),
        ):
            d = np.array([dfun(h) for h in labels])
            areas = np.array([weights[h] for h in labels]) / 100.0 * scale * frac
            y = y + _render(
                x,
                _positions(d, wavelength),
                areas,
                fwhm=fwhm,
                eta=eta,
                doublet=False,
                ka2_ratio=0.0,
                lam_ratio=1.0,
            )
        frames[i] = rng.poisson(y)
    series = make_series(
        frames,
        x,
        wavelength=wavelength,
        temperature=temps,
        attrs={"source": "phantom.heating_series"},
    )
    fractions = pd.DataFrame(
        {"temperature_C": temps, "layered": f_layer, "spinel": f_sp, "rocksalt": f_rs}
    )
    truth = {
        "t_spinel": t_spinel,
        "t_rocksalt": t_rocksalt,
        "fractions": fractions,
        "spinel_frame": int(np.argmax(f_layer < 0.5)),
        "rocksalt_frame": int(np.argmax(f_rs > 0.5)),
    }
    return series, truth


def gas_release_trace(
    temperatures: np.ndarray | None = None,
    *,
    peak_c: float = 190.0,
    sigma_c: float = 6.0,
    amount: float = 100.0,
    baseline: float = 2.0,
    baseline_slope: float = 0.0,
    noise: float = 0.02,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Mass-spectrometry trace (e.g. m/z 32) with one Gaussian release peak on a linear baseline.

    Parameters
    ----------
    temperatures : array_like, optional
        Temperatures (C); default 30-500 C every 0.5 C.
    peak_c, sigma_c : float
        Peak temperature and Gaussian standard deviation (C).
    amount : float
        Integrated release (signal x C).
    baseline, baseline_slope : float
        Baseline level and slope (signal, signal/C) at 0 C.
    noise : float
        Gaussian noise standard deviation (signal units).
    seed : int
        Seed of the noise.

    Returns
    -------
    trace : pandas.DataFrame
        ``temperature_C`` and ``signal``.
    truth : dict
        ``peak_C``, ``onset_tangent_C`` (= peak - 2 sigma: the inflection-point tangent of a
        Gaussian meets the baseline there), ``onset_5pct_C`` (= peak - sigma sqrt(2 ln 20)),
        ``fwhm_C`` (= 2 sqrt(2 ln 2) sigma), ``amount``.
    """
    t = np.arange(30.0, 500.0001, 0.5) if temperatures is None else np.asarray(temperatures, float)
    rng = np.random.default_rng(seed)
    g = amount / (sigma_c * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((t - peak_c) / sigma_c) ** 2)
    y = baseline + baseline_slope * t + g + rng.normal(0.0, noise, t.size)
    truth = {
        "peak_C": peak_c,
        "onset_tangent_C": peak_c - 2 * sigma_c,
        "onset_5pct_C": peak_c - sigma_c * np.sqrt(2 * np.log(20.0)),
        "fwhm_C": 2 * np.sqrt(2 * np.log(2)) * sigma_c,
        "amount": amount,
    }
    return pd.DataFrame({"temperature_C": t, "signal": y}), truth
