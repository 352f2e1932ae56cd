"""Dual AC resonance tracking (DART): per-pixel resonance, Q and drive amplitude; ESM normalisation.

Model: the cantilever in contact is a damped harmonic oscillator (DHO) driven at angular
frequency ``w`` by a force equivalent to a quasi-static displacement ``A_d``::

    A(w)   = A_d w0^2 / sqrt((w0^2 - w^2)^2 + (w w0 / Q)^2)
    tan phi(w) = (w w0 / Q) / (w0^2 - w^2)            (phase lag, 0 -> 180 deg through w0)

Derivation of the closed form (Gannepalli et al., Nanotechnology 22 (2011) 355705). From the
phase equation, ``(w0^2 - w^2) = w w0 cot(phi) / Q``; substituting into the amplitude gives
``A(w) = A_d Q w0 sin(phi) / w``. Two drives at ``w1 < w2`` therefore satisfy

    Omega := (w1 A1) / (w2 A2) = sin(phi1) / sin(phi2),     Phi := phi2 - phi1 > 0.

Writing ``phi2 = phi1 + Phi`` and solving for the cotangents ``X_i = cot(phi_i)``::

    X1 = (1/Omega - cos Phi) / sin Phi,     X2 = (cos Phi - Omega) / sin Phi.

The phase equations ``Q (w0^2 - w_i^2) = w_i w0 X_i`` for i = 1, 2 then give

    w0 = sqrt( w1 w2 (w2 X1 - w1 X2) / (w1 X1 - w2 X2) )
    Q  = sqrt( w1 w2 (w2 X1 - w1 X2) (w1 X1 - w2 X2) ) / (w2^2 - w1^2)
    A_d = A1 sqrt((w0^2 - w1^2)^2 + (w1 w0 / Q)^2) / w0^2
    phi_d = phi1 - atan2(w1 w0 / Q, w0^2 - w1^2)          (instrument phase offset)

Only the amplitude *ratio* and the phase *difference* enter, so a common gain on both
amplitudes and a common phase offset (ARC's PhaseOffset) cancel. Frequencies enter as ratios,
so Hz can be used instead of rad/s.

ESM normalisation: the resonance amplifies the sample's response by Q, and the response
scales with the AC drive voltage, so the quantity comparable between tips, samples and
sessions is ``A_d / V_ac = A_res / (Q V_ac)`` (m/V). With DART it comes per pixel from the
closed form; for single-frequency data measured at the contact resonance a given Q is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from cathodescope._validation import check_choice, check_positive
from cathodescope.errors import (
    DartError,
    EmptyDataError,
    ScanSizeMismatchError,
    SPMChannelMissingError,
)

__all__ = ["DartResult", "dart_from_scan", "dart_solve", "dho_response", "normalize_esm"]


def dho_response(
    frequency: np.ndarray | float,
    *,
    f0: np.ndarray | float,
    q: np.ndarray | float,
    drive_amplitude: np.ndarray | float,
    drive_phase_deg: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude and phase of a driven damped harmonic oscillator.

    Parameters
    ----------
    frequency : array_like
        Drive frequency (Hz, or any unit shared with ``f0``).
    f0 : array_like
        Resonance frequency (same unit as ``frequency``).
    q : array_like
        Quality factor (dimensionless, > 0).
    drive_amplitude : array_like
        Quasi-static (zero-frequency) amplitude ``A_d`` (m or V; the output has its unit).
    drive_phase_deg : array_like
        Phase added to the oscillator's lag (instrument offset), degrees.

    Returns
    -------
    amplitude : ndarray
        ``A_d f0^2 / sqrt((f0^2 - f^2)^2 + (f f0 / Q)^2)``, unit of ``drive_amplitude``.
    phase_deg : ndarray
        Phase lag in degrees, in (0, 180) plus ``drive_phase_deg``; 90 at resonance.
    """
    f = np.asarray(frequency, dtype=float)
    f0 = np.asarray(f0, dtype=float)
    q = np.asarray(q, dtype=float)
    re = f0**2 - f**2
    im = f * f0 / q
    amplitude = np.asarray(drive_amplitude, dtype=float) * f0**2 / np.hypot(re, im)
    phase = np.degrees(np.arctan2(im, re)) + np.asarray(drive_phase_deg, dtype=float)
    return amplitude, phase


@dataclass(frozen=True)
class DartResult:
    """Per-pixel DHO parameters from DART.

    Parameters
    ----------
    resonance_frequency : xarray.DataArray
        Contact resonance frequency ``f0`` (Hz), dims of the inputs; NaN where invalid.
    q : xarray.DataArray
        Quality factor (dimensionless).
    drive_amplitude : xarray.DataArray
        Quasi-static amplitude ``A_d`` = resonance amplitude / Q (unit of the amplitudes).
    drive_phase : xarray.DataArray
        Phase of the excitation (deg), i.e. the measured phase minus the oscillator lag.
    esm_amplitude : xarray.DataArray or None
        ``A_d / V_ac`` (m/V or V/V) when the AC drive voltage was given, else None.
    valid : xarray.DataArray
        Boolean map: True where the closed form has a physical solution.
    parameters : dict
        Drive frequencies, voltage, phase convention used.
    """

    resonance_frequency: xr.DataArray
    q: xr.DataArray
    drive_amplitude: xr.DataArray
    drive_phase: xr.DataArray
    esm_amplitude: xr.DataArray | None
    valid: xr.DataArray
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def valid_fraction(self) -> float:
        """Fraction of pixels with a physical solution."""
        return float(np.mean(self.valid.values))

    def maps(self) -> dict[str, xr.DataArray]:
        """The result maps by name (for plotting or per-particle statistics)."""
        out = {
            "resonance_frequency": self.resonance_frequency,
            "q": self.q,
            "drive_amplitude": self.drive_amplitude,
            "drive_phase": self.drive_phase,
        }
        if self.esm_amplitude is not None:
            out["esm_amplitude"] = self.esm_amplitude
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """Summary per map: name, units, n_valid, mean, std, median, p05, p95 (valid pixels)."""
        rows = []
        mask = self.valid.values
        for name, da in self.maps().items():
            v = np.asarray(da.values, dtype=float)[mask]
            v = v[np.isfinite(v)]
            rows.append(
                {
                    "quantity": name,
                    "units": da.attrs.get("units", ""),
                    "n_valid": int(v.size),
                    "mean": float(v.mean()) if v.size else np.nan,
                    "std": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                    "median": float(np.median(v)) if v.size else np.nan,
                    "p05": float(np.percentile(v, 5)) if v.size else np.nan,
                    "p95": float(np.percentile(v, 95)) if v.size else np.nan,
                }
            )
        return pd.DataFrame(rows)


def _like(template: Any, values: np.ndarray, name: str, units: str) -> xr.DataArray:
    if isinstance(template, xr.DataArray):
        out = template.copy(data=values)
        out.attrs = {k: v for k, v in template.attrs.items() if k in ("spacing_um", "source")}
    else:
        dims = ("y", "x") if values.ndim == 2 else tuple(f"dim_{i}" for i in range(values.ndim))
        out = xr.DataArray(values, dims=dims)
    out.name = name
    out.attrs.update({"units": units, "channel": name})
    return out


def dart_solve(
    amplitude1: Any,
    amplitude2: Any,
    phase1: Any,
    phase2: Any,
    *,
    f1: Any,
    f2: Any,
    phase_convention: Literal["lag", "lead"] = "lag",
    drive_voltage: float | None = None,
    amplitude_units: str | None = None,
    max_f0_offset: float | None = 3.0,
    max_q: float | None = 1e4,
) -> DartResult:
    """Closed-form DART: resonance frequency, Q and drive amplitude per pixel.

    Parameters
    ----------
    amplitude1, amplitude2 : array_like or xarray.DataArray
        Amplitudes at the lower (``f1``) and upper (``f2``) drive frequency (m or V; same
        unit for both). Same shape.
    phase1, phase2 : array_like or xarray.DataArray
        Phases at ``f1`` and ``f2`` in degrees. A common offset cancels.
    f1, f2 : float or array_like
        Drive frequencies in Hz, scalars or per pixel (DART moves both with the tracked
        centre frequency: ``f1 = F - width/2``, ``f2 = F + width/2``). ``f2 > f1``.
    phase_convention : {"lag", "lead"}
        "lag" if the measured phase increases through resonance (Asylum ARC), "lead" if it
        decreases.
    drive_voltage : float, optional
        AC drive amplitude in V; gives ``esm_amplitude = A_d / drive_voltage`` (m/V).
    amplitude_units : str, optional
        Units of the amplitudes (default: ``attrs["units"]`` of ``amplitude1`` or "").
    max_f0_offset : float or None
        Solutions whose ``f0`` lies farther than this many drive separations ``f2 - f1`` from
        the centre ``(f1 + f2)/2`` are extrapolations (e.g. on domain walls where both
        amplitudes vanish) and are marked invalid. None = keep all.
    max_q : float or None
        Solutions with Q above this are marked invalid (numerically degenerate when the phase
        difference approaches 0 or 180 deg). None = keep all.

    Returns
    -------
    DartResult
        Maps of ``f0`` (Hz), Q, ``A_d``, drive phase, the ESM amplitude and a validity mask.
        Pixels where the phase difference is not in (0, 180) deg or the closed form has no
        real solution are NaN and ``valid`` is False.

    Raises
    ------
    ScanSizeMismatchError
        If the four maps differ in shape.
    DartError
        If ``f2 <= f1`` anywhere or no pixel has a physical solution.
    EmptyDataError
        If the inputs are all NaN.

    Examples
    --------
    >>> a1, p1 = dho_response(99e3, f0=100e3, q=50, drive_amplitude=1e-11)
    >>> a2, p2 = dho_response(101e3, f0=100e3, q=50, drive_amplitude=1e-11)
    >>> r = dart_solve(a1, a2, p1, p2, f1=99e3, f2=101e3)
    >>> round(float(r.resonance_frequency), 3), round(float(r.q), 6)
    (100000.0, 50.0)
    """
    check_choice(phase_convention, ("lag", "lead"), "phase_convention")
    # keep the caller's float dtype (float32 maps stay float32); blocks are cast to float64
    arrays = [np.asarray(getattr(a, "values", a)) for a in (amplitude1, amplitude2, phase1, phase2)]
    arrays = [a if a.dtype.kind == "f" else a.astype(float) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ScanSizeMismatchError(
            f"DART needs Amplitude1, Amplitude2, Phase1, Phase2 on one grid; got shapes "
            f"{[a.shape for a in arrays]}. Use the four channels of the same scan."
        )
    a1, a2, p1, p2 = arrays
    if not np.any(np.isfinite(a1) & np.isfinite(a2) & np.isfinite(p1) & np.isfinite(p2)):
        raise EmptyDataError("the DART amplitude/phase maps are all NaN; nothing to solve.")
    w1 = np.broadcast_to(np.asarray(getattr(f1, "values", f1), dtype=float), a1.shape)
    w2 = np.broadcast_to(np.asarray(getattr(f2, "values", f2), dtype=float), a1.shape)
    ok_f = np.isfinite(w1) & np.isfinite(w2)
    if np.any(w2[ok_f] <= w1[ok_f]) or np.any(w1[ok_f] <= 0):
        raise DartError(
            "DART drive frequencies must satisfy 0 < f1 < f2 (Hz); check the order of the two "
            "channels and the DART frequency width."
        )
    if drive_voltage is not None:
        drive_voltage = check_positive(drive_voltage, "drive_voltage")
    sign = 1.0 if phase_convention == "lag" else -1.0
    # Solve in blocks of rows so that the ~20 temporaries of a 4096 x 4096 map stay small.
    f0 = np.full(a1.shape, np.nan)
    q = np.full(a1.shape, np.nan)
    ad = np.full(a1.shape, np.nan)
    drive_phase = np.full(a1.shape, np.nan)
    valid = np.zeros(a1.shape, dtype=bool)
    flat = [x.reshape(-1) for x in (a1, a2, p1, p2, w1, w2, ok_f)]
    outs = [x.reshape(-1) for x in (f0, q, ad, drive_phase, valid)]
    block = 1 << 20
    for start in range(0, a1.size, block):
        sl = slice(start, start + block)
        res = _solve_block(
            *(np.asarray(x[sl], dtype=np.float64) if x.dtype.kind == "f" else x[sl] for x in flat),
            sign=sign,
            max_f0_offset=max_f0_offset,
            max_q=max_q,
        )
        for out, r in zip(outs, res, strict=True):
            out[sl] = r
    if not np.any(valid):
        raise DartError(
            "no pixel has a physical DART solution: the phase difference phase2 - phase1 must be "
            "between 0 and 180 deg for f2 > f1; try phase_convention='lead' or swap the channels."
        )
    units = amplitude_units
    if units is None:
        units = getattr(amplitude1, "attrs", {}).get("units", "")
    esm = None
    if drive_voltage is not None:
        esm = _like(
            amplitude1, ad / drive_voltage, "esm_amplitude", f"{units}/V" if units else "1/V"
        )
    params = {
        "f1_Hz": float(np.nanmedian(w1)),
        "f2_Hz": float(np.nanmedian(w2)),
        "phase_convention": phase_convention,
        "drive_voltage_V": drive_voltage,
        "max_f0_offset": max_f0_offset,
        "max_q": max_q,
        "method": "closed-form DHO (Gannepalli et al. 2011)",
    }
    return DartResult(
        resonance_frequency=_like(amplitude1, f0, "resonance_frequency", "Hz"),
        q=_like(amplitude1, q, "q", ""),
        drive_amplitude=_like(amplitude1, ad, "drive_amplitude", units),
        drive_phase=_like(amplitude1, drive_phase, "drive_phase", "deg"),
        esm_amplitude=esm,
        valid=_like(amplitude1, valid, "valid", ""),
        parameters=params,
    )


def _solve_block(a1, a2, p1, p2, w1, w2, ok_f, *, sign, max_f0_offset=None, max_q=None):
    """Closed form on 1-D blocks; returns f0, Q, A_d, drive phase (NaN where invalid), valid."""
    dphi = np.radians(sign * (p2 - p1))
    dphi = np.mod(dphi + np.pi, 2 * np.pi) - np.pi  # wrap to [-pi, pi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        omega = (w1 * a1) / (w2 * a2)
        s, c = np.sin(dphi), np.cos(dphi)
        x1 = (1.0 / omega - c) / s
        x2 = (c - omega) / s
        num = w2 * x1 - w1 * x2
        den = w1 * x1 - w2 * x2
        f0 = np.sqrt(w1 * w2 * num / den)
        q = np.sqrt(w1 * w2 * num * den) / (w2**2 - w1**2)
        re1 = f0**2 - w1**2
        im1 = w1 * f0 / q
        ad = a1 * np.hypot(re1, im1) / f0**2
        drive_phase = sign * (sign * p1 - np.degrees(np.arctan2(im1, re1)))
    valid = (
        ok_f
        & (dphi > 0)
        & (dphi < np.pi)
        & (a1 > 0)
        & (a2 > 0)
        & (num > 0)
        & (den > 0)
        & np.isfinite(f0)
        & np.isfinite(q)
        & (q > 0)
        & np.isfinite(ad)
    )
    with np.errstate(invalid="ignore"):
        if max_f0_offset is not None:
            valid &= np.abs(f0 - 0.5 * (w1 + w2)) <= max_f0_offset * (w2 - w1)
        if max_q is not None:
            valid &= q <= max_q
    return (
        np.where(valid, f0, np.nan),
        np.where(valid, q, np.nan),
        np.where(valid, ad, np.nan),
        np.where(valid, drive_phase, np.nan),
        valid,
    )


def dart_from_scan(
    scan: Any,
    *,
    frequency_width: float | None = None,
    drive_voltage: float | None = None,
    channels: tuple[str, str, str, str, str] = (
        "Amplitude1",
        "Amplitude2",
        "Phase1",
        "Phase2",
        "Frequency",
    ),
    phase_convention: Literal["lag", "lead"] = "lag",
    max_f0_offset: float | None = 3.0,
    max_q: float | None = 1e4,
) -> DartResult:
    """Run :func:`dart_solve` on an Asylum DART scan (``SPMScan`` from ``read_spm``).

    Parameters
    ----------
    scan : SPMScan
        Must hold the two amplitudes, two phases and the tracked centre ``Frequency`` (Hz).
    frequency_width : float, optional
        ``f2 - f1`` in Hz; default: ``metadata["dart_frequency_width_Hz"]`` (ARC's
        ``DFRTFrequencyWidth``) or the difference of the two drive frequencies in the note.
    drive_voltage : float, optional
        AC drive amplitude (V); default ``metadata["drive_amplitude_V"]``.
    channels : tuple of 5 str
        Names of amplitude 1, amplitude 2, phase 1, phase 2 and the centre frequency.
    phase_convention : {"lag", "lead"}
        See :func:`dart_solve`.
    max_f0_offset, max_q : float or None
        Validity limits, see :func:`dart_solve`.

    Returns
    -------
    DartResult

    Raises
    ------
    SPMChannelMissingError
        If a channel is missing (e.g. a single-frequency scan: use :func:`normalize_esm`).
    """
    missing = [c for c in channels if c not in scan]
    if missing:
        raise SPMChannelMissingError(
            f"DART needs channels {list(channels)}; {missing} missing in {scan.source!r} "
            f"(has {scan.names}). For single-frequency data use normalize_esm with a given Q."
        )
    meta = scan.metadata
    if frequency_width is None:
        frequency_width = meta.get("dart_frequency_width_Hz", np.nan)
        if not (np.isfinite(frequency_width) and frequency_width > 0):
            frequency_width = abs(
                meta.get("drive_frequency2_Hz", np.nan) - meta.get("drive_frequency_Hz", np.nan)
            )
    if not (np.isfinite(frequency_width) and frequency_width > 0):
        from cathodescope.errors import MissingMetadataError

        raise MissingMetadataError(
            f"{scan.source}: the DART frequency width (f2 - f1) is not in the metadata; pass "
            "frequency_width= in Hz."
        )
    if drive_voltage is None:
        v = meta.get("drive_amplitude_V", np.nan)
        drive_voltage = float(v) if np.isfinite(v) and v > 0 else None
    a1, a2, p1, p2, fc = (scan[c] for c in channels)
    if fc.attrs.get("units") not in ("Hz", ""):
        from cathodescope.errors import UnitsError

        raise UnitsError(f"channel {channels[4]!r} is in {fc.attrs.get('units')!r}, not Hz.")
    result = dart_solve(
        a1,
        a2,
        p1,
        p2,
        f1=fc.values - frequency_width / 2,
        f2=fc.values + frequency_width / 2,
        phase_convention=phase_convention,
        drive_voltage=drive_voltage,
        max_f0_offset=max_f0_offset,
        max_q=max_q,
    )
    result.parameters["frequency_width_Hz"] = float(frequency_width)
    result.parameters["channels"] = list(channels)
    return result


def normalize_esm(
    amplitude: Any,
    *,
    q: float | Any,
    drive_voltage: float,
) -> xr.DataArray:
    """ESM amplitude normalised by the quality factor and the AC drive: ``A / (Q V_ac)``.

    For single-frequency (or PLL-tracked) data measured at the contact resonance, whose Q is
    known from a tune or thermal spectrum, this is the quasi-static response per volt, the
    quantity DART gives per pixel as ``A_d / V_ac``.

    Parameters
    ----------
    amplitude : array_like or xarray.DataArray
        Amplitude at resonance (m, or V if InvOLS was not applied).
    q : float or array_like
        Quality factor (> 0), scalar or per pixel.
    drive_voltage : float
        AC drive amplitude in V (> 0).

    Returns
    -------
    xarray.DataArray
        ``A / (Q V_ac)`` in ``<amplitude units>/V`` (pm/V-scale numbers in m/V).

    Raises
    ------
    ParameterError
        If ``q`` or ``drive_voltage`` is not finite and positive.
    EmptyDataError
        If the amplitude map is all NaN.
    """
    drive_voltage = check_positive(drive_voltage, "drive_voltage")
    q_arr = np.asarray(getattr(q, "values", q), dtype=float)
    if q_arr.ndim == 0:
        check_positive(float(q_arr), "q")
    elif not np.all(np.isfinite(q_arr) & (q_arr > 0)):
        from cathodescope.errors import ParameterError

        raise ParameterError("q must be finite and > 0 at every pixel.")
    values = np.asarray(getattr(amplitude, "values", amplitude), dtype=float)
    if not np.any(np.isfinite(values)):
        raise EmptyDataError("the amplitude map is all NaN; nothing to normalise.")
    units = getattr(amplitude, "attrs", {}).get("units", "")
    out = _like(
        amplitude,
        values / (q_arr * drive_voltage),
        "esm_amplitude",
        f"{units}/V" if units else "1/V",
    )
    out.attrs["q"] = float(q_arr) if q_arr.ndim == 0 else "per pixel"
    out.attrs["drive_voltage_V"] = drive_voltage
    return out
