"""Asylum Research / Igor binary waves (``.ibw``): images, and the waves that are not images."""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
    CathodescopeWarning,
    FileFormatError,
    TruncatedFileError,
)
from cathodescope.io._spm import (
    SPMScan,
    _check_file,
    _make_channel,
    _split_direction,
    _to_float,
    _unique_names,
)

__all__ = ["read_ibw"]


# Asylum Research channel types and the units the ARC software stores them in (SI).
_ASYLUM_UNITS: dict[str, str] = {
    "height": "m",
    "zsensor": "m",
    "deflection": "m",
    "amplitude": "m",
    "phase": "deg",
    "frequency": "Hz",
    "current": "A",
    "potential": "V",
    "bias": "V",
    "tipvoltage": "V",
    "userin": "V",
    "lateral": "V",
    "inputi": "V",
    "inputq": "V",
    "capacitance": "F",
    "dissipation": "W",
    "count": "",
}


def _asylum_units(base: str, values: np.ndarray, meta: Mapping[str, str]) -> tuple[str, str]:
    """Return (units, how they were decided) for an Asylum channel type such as ``Amplitude1``."""
    kind = re.sub(r"\d+$", "", base).lower()
    if kind.startswith("usercalcb"):
        return meta.get("UserCalcBUnit", "").strip() or "", "note UserCalcBUnit"
    if kind.startswith("usercalc"):
        unit = meta.get("UserCalcUnit", "").strip()
        return ("deg" if unit in ("°", "deg") else unit), "note UserCalcUnit"
    for key, unit in _ASYLUM_UNITS.items():
        if kind.startswith(key):
            if key in ("amplitude", "deflection"):
                # ARC stores amplitudes/deflection in m when InvOLS is applied, in V otherwise.
                # An oscillation above 1e-4 m (100 um) is physically impossible, so values of
                # that size are volts.
                finite = np.abs(values[np.isfinite(values)])
                if finite.size and float(np.median(finite)) > 1e-4:
                    return "V", "magnitude (no InvOLS applied)"
            return unit, "Asylum channel type"
    warnings.warn(
        f"unknown Asylum channel type {base!r}: its units are not known, recorded as ''.",
        CathodescopeWarning,
        stacklevel=3,
    )
    return "", "unknown"


def _asylum_metadata(meta: Mapping[str, str]) -> dict[str, Any]:
    """Instrument metadata from an Asylum note (or a Gwyddion meta container of Asylum origin)."""

    def num(key: str) -> float:
        return _to_float(meta[key]) if key in meta else math.nan

    out: dict[str, Any] = {
        "instrument": "Asylum Research " + meta.get("MicroscopeModel", "").strip(),
        "imaging_mode": meta.get("ImagingMode", "").strip(),
        "scan_size_um": num("ScanSize") * 1e6,
        "fast_scan_size_um": num("FastScanSize") * 1e6,
        "slow_scan_size_um": num("SlowScanSize") * 1e6,
        "scan_points": num("ScanPoints"),
        "scan_lines": num("ScanLines"),
        "scan_rate_Hz": num("ScanRate"),
        "scan_angle_deg": num("ScanAngle"),
        "x_offset_um": num("XOffset") * 1e6,
        "y_offset_um": num("YOffset") * 1e6,
        "drive_amplitude_V": num("DriveAmplitude"),
        "drive_amplitude2_V": num("DriveAmplitude1"),
        "drive_frequency_Hz": num("DriveFrequency"),
        "drive_frequency2_Hz": num("DriveFrequency1"),
        "dual_ac_mode": bool(num("DualACMode") == 1),
        "dart_frequency_center_Hz": num("DFRTFrequencyCenter"),
        "dart_frequency_width_Hz": num("DFRTFrequencyWidth"),
        "tune_q": num("TuneQResult"),
        "tune_frequency_Hz": num("TuneFreqResult"),
        "spring_constant_N_per_m": num("SpringConstant"),
        "invols_m_per_V": num("InvOLS"),
        "amp_invols_m_per_V": num("AmpInvOLS"),
        "tip_voltage_V": num("TipVoltage"),
        "surface_voltage_V": num("SurfaceVoltage"),
        "phase_offset_deg": num("PhaseOffset"),
    }
    return out


def _parse_asylum_note(text: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in re.split(r"[\r\n]+", text):
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in meta:  # first occurrence wins (the 'Real Parms' block)
            meta[key] = value.strip()
    return meta


# -- Asylum .ibw ------------------------------------------------------------------------------


def _ibw_raw_labels(raw: bytes, version: int, bin_header: Mapping[str, Any]) -> list[list[str]]:
    """Dimension labels read straight from the file, each cut at its NUL terminator (TN003)."""
    if version != 5:
        return [[], [], [], []]
    offset = 64 + int(bin_header["wfmSize"]) + int(bin_header["formulaSize"])
    offset += int(bin_header["noteSize"]) + int(bin_header["dataEUnitsSize"])
    offset += int(np.sum(bin_header["dimEUnitsSize"]))
    labels: list[list[str]] = []
    for size in np.asarray(bin_header["dimLabelsSize"], dtype=int):
        block = raw[offset : offset + size]
        if len(block) < size:
            raise TruncatedFileError("the .ibw file ends inside its dimension labels.")
        names = [
            block[32 * i : 32 * (i + 1)].split(b"\x00", 1)[0].decode("latin-1")
            for i in range(size // 32)
        ]
        labels.append(names)
        offset += size
    return labels


def read_ibw(path: str | os.PathLike[str]) -> SPMScan:
    """Read an Asylum Research Igor binary wave image (``.ibw``, MFP-3D / Cypher).

    Parameters
    ----------
    path : path-like
        The ``.ibw`` file: a 3-D wave ``(x, y, channel)`` with the channel names as layer
        labels and the ARC parameters in the wave note.

    Returns
    -------
    SPMScan
        One ``(y, x)`` map per layer. Names are the layer labels without the
        ``Trace``/``Retrace`` suffix (``Height``, ``Amplitude1``, ``Phase2``...). Values are
        as stored by ARC: heights/amplitudes in m, phase in degrees, frequency in Hz, current
        in A; nothing is rescaled. Pixel spacing is the wave scaling (``ScanSize/(N-1)``).

    Raises
    ------
    TruncatedFileError
        If the file is shorter than its header says.
    FileFormatError
        If the file is not an Igor binary wave or holds no 2-D/3-D image.
    """
    from igor2 import binarywave

    p = _check_file(path)
    raw = p.read_bytes()
    if len(raw) < 64 + 320:
        raise TruncatedFileError(f"{p} has {len(raw)} bytes, fewer than an Igor wave header.")
    igor_logger = logging.getLogger("igor2.binarywave")
    was_disabled = igor_logger.disabled
    igor_logger.disabled = True  # igor2 logs whole data buffers on corrupt files; we raise instead
    try:
        loaded = binarywave.load(str(p))
    except Exception as exc:  # igor2 raises bare ValueError/struct.error on corrupt files
        if len(raw) < 1024 or "unpack" in str(exc) or "buffer" in str(exc):
            raise TruncatedFileError(
                f"{p} could not be read completely ({exc}); the file is probably truncated."
            ) from exc
        raise FileFormatError(f"{p} is not a readable Igor binary wave: {exc}") from exc
    finally:
        igor_logger.disabled = was_disabled
    wave = loaded["wave"]
    header = wave["wave_header"]
    bin_header = wave["bin_header"]
    expected = 64 + int(bin_header["wfmSize"]) if loaded["version"] == 5 else 0
    if expected and len(raw) < expected:
        raise TruncatedFileError(
            f"{p} has {len(raw)} bytes but its header announces {expected} for the wave data; "
            "the file is truncated: copy it again."
        )
    data = np.asarray(wave["wData"])
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3 or min(data.shape[:2]) < 2:
        raise FileFormatError(f"{p} holds a wave of shape {data.shape}, not an image.")
    note = wave["note"].decode("latin-1") if isinstance(wave["note"], bytes) else str(wave["note"])
    meta = _parse_asylum_note(note)
    labels = _ibw_raw_labels(raw, int(loaded["version"]), bin_header)
    layer_labels = labels[2][1:] if len(labels) > 2 and len(labels[2]) > 1 else []
    n_layers = data.shape[2]
    if len(layer_labels) < n_layers:  # fall back on the note's channel list
        from_note = [meta.get(f"Channel{i + 1}DataType", "") for i in range(n_layers)]
        layer_labels = [
            layer_labels[i]
            if i < len(layer_labels) and layer_labels[i]
            else from_note[i] or f"Channel{i + 1}"
            for i in range(n_layers)
        ]
    bases, directions = zip(
        *(_split_direction(lab) for lab in layer_labels[:n_layers]), strict=True
    )
    names = _unique_names(list(bases), list(directions), layer_labels[:n_layers])

    sf_a = np.asarray(header["sfA"], dtype=float)
    dx_um, dy_um = sf_a[0] * 1e6, sf_a[1] * 1e6
    if not (np.isfinite(dx_um) and dx_um > 0 and np.isfinite(dy_um) and dy_um > 0):
        scan = _to_float(meta.get("ScanSize", "nan"))
        if not (scan > 0):
            raise FileFormatError(
                f"{p}: neither the wave scaling nor the note's ScanSize gives a pixel size."
            )
        dx_um = scan * 1e6 / (data.shape[0] - 1)
        dy_um = scan * 1e6 / (data.shape[1] - 1)
    fast = _to_float(meta.get("FastScanSize", meta.get("ScanSize", "nan"))) * 1e6
    if np.isfinite(fast) and fast > 0 and abs(dx_um * (data.shape[0] - 1) - fast) > 1e-3 * fast:
        warnings.warn(
            f"{p}: the wave scaling gives a {dx_um * (data.shape[0] - 1):.4g} um fast scan but "
            f"the note says FastScanSize = {fast:.4g} um (cropped or rescaled in Igor?); the "
            "wave scaling is used.",
            CathodescopeWarning,
            stacklevel=2,
        )
    # y is measured downward from the top row (image convention shared by all readers); the
    # stage offsets of the scan stay in metadata (x_offset_um, y_offset_um).
    origin = (0.0, 0.0)
    metadata = _asylum_metadata(meta)
    metadata.update(
        {"format": "Asylum .ibw", "wave_name": header["bname"].decode("latin-1"), "raw": meta}
    )
    channels: dict[str, xr.DataArray] = {}
    for i, name in enumerate(names):
        # Igor stores (x, y) with row index = x; transpose to (y, x) and flip so that the
        # first row is the top of the image as ARC displays it (y grows upward in Igor).
        layer = np.asarray(data[:, :, i], dtype=np.float64).T[::-1]
        units, how = _asylum_units(bases[i], layer, meta)
        channels[name] = _make_channel(
            layer,
            name=name,
            units=units,
            spacing_um=(dy_um, dx_um),
            origin_um=origin,
            direction=directions[i],
            extra={"label": layer_labels[i], "units_from": how, "source": os.fspath(p)},
        )
    return SPMScan(channels=channels, metadata=metadata, source=os.fspath(p))
