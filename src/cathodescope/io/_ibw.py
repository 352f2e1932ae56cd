"""Asylum Research / Igor binary waves (``.ibw``): images, and the waves that are not images."""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from cathodescope.errors import (
    CathodescopeWarning,
    FileFormatError,
    NotAnImageError,
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

__all__ = ["ibw_kind", "read_ibw", "read_ibw_cube", "read_ibw_curve"]


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


@dataclass(frozen=True)
class _Wave:
    """One Igor binary wave as read by igor2, with the parts the readers use."""

    path: Path
    data: np.ndarray
    header: Any
    note: str
    meta: dict[str, str]
    labels: list[list[str]]
    data_units: str
    dim_units: tuple[str, str, str, str]
    name: str

    @property
    def kind(self) -> WaveKind:
        return _wave_kind(self)

    def axis(self, dim: int) -> np.ndarray:
        """Physical coordinate of Igor dimension ``dim`` (``sfB + sfA * i``, file units)."""
        sf_a = float(np.asarray(self.header["sfA"], dtype=float)[dim])
        sf_b = float(np.asarray(self.header["sfB"], dtype=float)[dim])
        return sf_b + sf_a * np.arange(self.data.shape[dim])


WaveKind = Literal["image", "force curve", "curve", "spectroscopy cube"]
_FORCE_KEYS = ("ForceDist", "NumOfSegments", "ARDoIVCurve", "TriggerChannel")


def _decode_units(value: Any) -> str:
    if isinstance(value, bytes):
        return value.split(b"\x00", 1)[0].decode("latin-1").strip()
    return str(value).strip()


def _load_wave(path: str | os.PathLike[str]) -> _Wave:
    """Load a ``.ibw`` with igor2, mapping corrupt or truncated files to our errors."""
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
    note = wave["note"].decode("latin-1") if isinstance(wave["note"], bytes) else str(wave["note"])
    # extended units (longer than 3 characters) replace the short ones when present
    data_units = _decode_units(wave.get("data_units", b"")) or _decode_units(
        np.atleast_1d(header.get("dataUnits", [b""])).tobytes()
    )
    short = np.atleast_2d(header.get("dimUnits", [[b""]] * 4))
    dim_units = [_decode_units(short[d].tobytes()) if d < len(short) else "" for d in range(4)]
    return _Wave(
        path=p,
        data=np.asarray(wave["wData"]),
        header=header,
        note=note,
        meta=_parse_asylum_note(note),
        labels=_ibw_raw_labels(raw, int(loaded["version"]), bin_header),
        data_units=data_units,
        dim_units=(dim_units[0], dim_units[1], dim_units[2], dim_units[3]),
        name=header["bname"].decode("latin-1"),
    )


def _wave_kind(w: _Wave) -> WaveKind:
    """What a wave is, from its dimensions, dimension units, labels and note.

    - 1-D, or 2-D whose first axis is not a length (time ``s`` or points) with a few labelled
      columns, or any wave whose note holds Asylum force settings: a curve (a force curve when
      the note says so);
    - 3-D whose third axis has units (bias ``V``...) and no layer labels, or whose note says
      CITS / spectroscopy: a spectroscopy cube;
    - otherwise an image (2-D, or 3-D with one layer per channel).
    """
    shape = w.data.shape
    force = any(k in w.meta for k in _FORCE_KEYS)
    has_layer_labels = len(w.labels) > 2 and any(w.labels[2][1:])
    if w.data.ndim == 1:
        return "force curve" if force else "curve"
    if w.data.ndim == 2:
        first_is_length = w.dim_units[0] == "m" and w.dim_units[1] == "m"
        if force or (not first_is_length and shape[1] <= 16 and shape[0] > 8 * shape[1]):
            return "force curve" if force else "curve"
        return "image"
    if w.data.ndim == 3 and not has_layer_labels:
        spectro = "CITS" in w.note or "Spectroscopy points" in w.note
        if spectro or w.dim_units[2] not in ("", "m"):
            return "spectroscopy cube"
    return "image"


def _describe(w: _Wave) -> str:
    kind = w.kind
    if kind in ("force curve", "curve"):
        columns = [c for c in (w.labels[1][1:] if len(w.labels) > 1 else []) if c]
        n = w.data.shape[0]
        return f"{n:,} points" + (f", columns {', '.join(columns)}" if columns else "")
    nx, ny, nb = w.data.shape[:3]
    axis = "bias" if w.dim_units[2] == "V" else "spectral"
    return f"{nx} x {ny} pixels x {nb} {axis} points, {w.dim_units[2] or 'no units'}"


def _refuse(w: _Wave) -> None:
    reader = "read_ibw_curve (a table)" if "curve" in w.kind else "read_ibw_cube (a cube)"
    raise NotAnImageError(
        f"{w.path} is an Igor {w.kind} ({_describe(w)}), not an image; read it with "
        f"cathodescope.io.{reader}."
    )


def read_ibw(path: str | os.PathLike[str]) -> SPMScan:
    """Read an Asylum Research Igor binary wave image (``.ibw``, MFP-3D / Cypher).

    Parameters
    ----------
    path : path-like
        The ``.ibw`` file: a 3-D wave ``(x, y, channel)`` with the channel names as layer
        labels and the ARC parameters in the wave note, or a 2-D ``(x, y)`` image wave.

    Returns
    -------
    SPMScan
        One ``(y, x)`` map per layer. Names are the layer labels without the
        ``Trace``/``Retrace`` suffix (``Height``, ``Amplitude1``, ``Phase2``...). Values are
        as stored by ARC: heights/amplitudes in m, phase in degrees, frequency in Hz, current
        in A; nothing is rescaled. A single-layer wave takes its units from the wave header
        (e.g. an STM current in ``A``). Pixel spacing is the wave scaling
        (``ScanSize/(N-1)``).

    Raises
    ------
    NotAnImageError
        The wave is a force curve or a spectroscopy cube (the message says which, and names
        :func:`read_ibw_curve` / :func:`read_ibw_cube`).
    TruncatedFileError
        If the file is shorter than its header says.
    FileFormatError
        If the file is not an Igor binary wave or holds no 2-D/3-D image.
    """
    w = _load_wave(path)
    if w.kind != "image":
        _refuse(w)
    data = w.data[:, :, None] if w.data.ndim == 2 else w.data
    if data.ndim != 3 or min(data.shape[:2]) < 2:
        raise FileFormatError(f"{w.path} holds a wave of shape {data.shape}, not an image.")
    layer_labels = _layer_labels(w, data.shape[2])
    bases, directions = zip(*(_split_direction(lab) for lab in layer_labels), strict=True)
    names = _unique_names(list(bases), list(directions), layer_labels)
    dy_um, dx_um = _image_spacing(w, data.shape)
    metadata = _asylum_metadata(w.meta)
    metadata.update({"format": "Asylum .ibw", "wave_name": w.name, "raw": w.meta})
    single = data.shape[2] == 1 and bool(w.data_units)
    channels: dict[str, xr.DataArray] = {}
    for i, name in enumerate(names):
        # Igor stores (x, y) with row index = x; transpose to (y, x) and flip so that the
        # first row is the top of the image as ARC displays it (y grows upward in Igor).
        layer = np.asarray(data[:, :, i], dtype=np.float64).T[::-1]
        if single:  # one channel: the wave's own data units are the channel's
            units, how = w.data_units, "wave header data units"
        else:
            units, how = _asylum_units(bases[i], layer, w.meta)
        # y is measured downward from the top row (image convention shared by all readers);
        # the stage offsets of the scan stay in metadata (x_offset_um, y_offset_um).
        channels[name] = _make_channel(
            layer,
            name=name,
            units=units,
            spacing_um=(dy_um, dx_um),
            direction=directions[i],
            extra={"label": layer_labels[i], "units_from": how, "source": os.fspath(w.path)},
        )
    return SPMScan(channels=channels, metadata=metadata, source=os.fspath(w.path))


def _layer_labels(w: _Wave, n_layers: int) -> list[str]:
    """Layer labels from the file, else the note's channel list, else ``Channel<i>``."""
    labels = w.labels
    layer_labels = labels[2][1:] if len(labels) > 2 and len(labels[2]) > 1 else []
    if len(layer_labels) < n_layers:  # fall back on the note's channel list
        from_note = [w.meta.get(f"Channel{i + 1}DataType", "") for i in range(n_layers)]
        layer_labels = [
            layer_labels[i]
            if i < len(layer_labels) and layer_labels[i]
            else from_note[i] or f"Channel{i + 1}"
            for i in range(n_layers)
        ]
    return list(layer_labels[:n_layers])


def _image_spacing(w: _Wave, shape: tuple[int, ...]) -> tuple[float, float]:
    """Pixel size ``(dy, dx)`` in um from the wave scaling (else the note's ScanSize)."""
    sf_a = np.asarray(w.header["sfA"], dtype=float)
    dx_um, dy_um = sf_a[0] * 1e6, sf_a[1] * 1e6
    if not (np.isfinite(dx_um) and dx_um > 0 and np.isfinite(dy_um) and dy_um > 0):
        scan = _to_float(w.meta.get("ScanSize", "nan"))
        if not (scan > 0):
            raise FileFormatError(
                f"{w.path}: neither the wave scaling nor the note's ScanSize gives a pixel size."
            )
        dx_um = scan * 1e6 / (shape[0] - 1)
        dy_um = scan * 1e6 / (shape[1] - 1)
    fast = _to_float(w.meta.get("FastScanSize", w.meta.get("ScanSize", "nan"))) * 1e6
    if np.isfinite(fast) and fast > 0 and abs(dx_um * (shape[0] - 1) - fast) > 1e-3 * fast:
        warnings.warn(
            f"{w.path}: the wave scaling gives a {dx_um * (shape[0] - 1):.4g} um fast scan but "
            f"the note says FastScanSize = {fast:.4g} um (cropped or rescaled in Igor?); the "
            "wave scaling is used.",
            CathodescopeWarning,
            stacklevel=3,
        )
    return float(dy_um), float(dx_um)


# -- waves that are not images -------------------------------------------------------------------

_DIRECTION_NAMES = {1: "extend", -1: "retract", 0: "dwell"}


def _column_name(label: str, units: str) -> str:
    token = units.replace("/", "_per_").replace(" ", "")
    return f"{label}_{token}" if token else label


def read_ibw_curve(path: str | os.PathLike[str]) -> Any:
    """Read an Igor wave that is a curve (an Asylum force curve) as a table.

    Parameters
    ----------
    path : path-like
        ``.ibw`` holding a 1-D wave or a 2-D ``(points, columns)`` wave (Asylum force curves
        store ``Raw``, ``Defl``, ``ZSnsr`` as columns, with the force settings in the note).

    Returns
    -------
    pandas.DataFrame
        The first column is the wave's x axis (``time_s`` when the axis is in seconds, else
        ``<axis>_<units>`` or ``point``); then one column per labelled column, named
        ``<label>_<units>`` with the wave's data units (``Defl_m``); for Asylum force curves
        ``segment`` (1, 2, ...) and ``direction`` (``extend``, ``retract``, ``dwell``) from
        the note's ``Indexes`` and ``Direction``. ``attrs``: ``kind``, ``units`` per column,
        ``source``, ``metadata`` (spring constant in N/m, InvOLS in m/V where present).

    Raises
    ------
    NotAnImageError
        The wave is an image or a spectroscopy cube (read it with :func:`read_ibw` /
        :func:`read_ibw_cube`).
    TruncatedFileError, FileFormatError
        Truncated or unreadable file.
    """
    import pandas as pd

    w = _load_wave(path)
    if "curve" not in w.kind:
        raise NotAnImageError(
            f"{w.path} is an Igor {w.kind}, not a curve; read it with "
            + (
                "cathodescope.io.read_ibw."
                if w.kind == "image"
                else "cathodescope.io.read_ibw_cube."
            )
        )
    data = w.data[:, None] if w.data.ndim == 1 else w.data
    x_units = w.dim_units[0]
    x_name = "time_s" if x_units == "s" else _column_name("x", x_units) if x_units else "point"
    table = pd.DataFrame({x_name: w.axis(0) if x_units else np.arange(data.shape[0])})
    labels = w.labels[1][1:] if len(w.labels) > 1 else []
    units: dict[str, str] = {x_name: x_units}
    for j in range(data.shape[1]):
        label = labels[j] if j < len(labels) and labels[j] else f"column{j + 1}"
        name = _column_name(label, w.data_units)
        table[name] = np.asarray(data[:, j], dtype=np.float64)
        units[name] = w.data_units
    _add_segments(table, w.meta)
    table.attrs = {
        "kind": w.kind,
        "units": units,
        "source": os.fspath(w.path),
        "wave_name": w.name,
        "metadata": {
            "spring_constant_N_per_m": _to_float(w.meta.get("SpringConstant", "nan")),
            "invols_m_per_V": _to_float(w.meta.get("InvOLS", "nan")),
        },
    }
    return table


def _add_segments(table: Any, meta: Mapping[str, str]) -> None:
    """``segment`` and ``direction`` columns from an Asylum note (``Indexes``, ``Direction``)."""
    try:
        indexes = [int(float(v)) for v in meta["Indexes"].strip(",").split(",")]
        directions = [v.strip() for v in meta["Direction"].strip(",").split(",")]
    except (KeyError, ValueError):
        return
    if len(indexes) != len(directions) or len(indexes) < 2 or indexes[-1] >= len(table) + 1:
        return
    segment = np.zeros(len(table), dtype=np.int64)
    direction = np.full(len(table), "", dtype=object)
    for k in range(1, len(indexes)):
        lo = indexes[k - 1] + (1 if k > 1 else 0)
        segment[lo : indexes[k] + 1] = k
        d = _to_float(directions[k])
        direction[lo : indexes[k] + 1] = _DIRECTION_NAMES.get(int(d), "") if d == d else ""
    table["segment"] = segment
    table["direction"] = direction


def read_ibw_cube(path: str | os.PathLike[str]) -> xr.DataArray:
    """Read an Igor wave that is a spectroscopy cube (e.g. STM CITS) as ``(bias, y, x)``.

    Parameters
    ----------
    path : path-like
        ``.ibw`` holding a 3-D wave ``(x, y, spectral)`` whose third axis has units (bias in
        V) and no layer labels.

    Returns
    -------
    xarray.DataArray
        dims ``("bias", "y", "x")`` (``"spectral"`` instead of ``"bias"`` when the third axis
        is not in V); ``bias`` in V from the wave scaling, ``y``/``x`` in um with the first row
        at the top as for images; ``attrs``: ``units`` (the wave's data units, e.g. ``"V"`` or
        ``"A"``), ``spacing_um`` ``(dy, dx)``, ``channel`` (wave name), ``kind``, ``note``,
        ``x_offset_um``, ``y_offset_um``, ``source``.

    Raises
    ------
    NotAnImageError
        The wave is an image or a curve (read it with :func:`read_ibw` /
        :func:`read_ibw_curve`).
    TruncatedFileError, FileFormatError
        Truncated or unreadable file.
    """
    w = _load_wave(path)
    if w.kind != "spectroscopy cube":
        raise NotAnImageError(
            f"{w.path} is an Igor {w.kind}, not a spectroscopy cube; read it with "
            + (
                "cathodescope.io.read_ibw."
                if w.kind == "image"
                else "cathodescope.io.read_ibw_curve."
            )
        )
    sf_a = np.asarray(w.header["sfA"], dtype=float)
    sf_b = np.asarray(w.header["sfB"], dtype=float)
    to_um = {"m": 1e6, "um": 1.0, "nm": 1e-3}
    if w.dim_units[0] not in to_um or w.dim_units[1] not in to_um:
        raise FileFormatError(
            f"{w.path}: the cube's x/y axes are in {w.dim_units[:2]}, not lengths; the pixel "
            "size is unknown."
        )
    dx, dy = sf_a[0] * to_um[w.dim_units[0]], sf_a[1] * to_um[w.dim_units[1]]
    spectral = "bias" if w.dim_units[2] == "V" else "spectral"
    values = np.transpose(np.asarray(w.data, dtype=np.float64), (2, 1, 0))[:, ::-1, :]
    _, ny, nx = values.shape
    return xr.DataArray(
        values,
        dims=(spectral, "y", "x"),
        coords={
            spectral: (spectral, w.axis(2), {"units": w.dim_units[2]}),
            "y": ("y", dy * np.arange(ny), {"units": "um"}),
            "x": ("x", dx * np.arange(nx), {"units": "um"}),
        },
        attrs={
            "units": w.data_units,
            "spacing_um": (float(dy), float(dx)),
            "channel": w.name.strip(),
            "kind": "spectroscopy cube",
            "note": w.note,
            "x_offset_um": float(sf_b[0] * to_um[w.dim_units[0]]),
            "y_offset_um": float(sf_b[1] * to_um[w.dim_units[1]]),
            "source": os.fspath(w.path),
        },
        name=w.name.strip(),
    )


def ibw_kind(path: str | os.PathLike[str]) -> WaveKind:
    """What an Igor wave holds: ``"image"``, ``"force curve"``, ``"curve"`` or
    ``"spectroscopy cube"`` (from its dimensions, units, labels and note).

    Parameters
    ----------
    path : path-like
        ``.ibw`` file.

    Returns
    -------
    str
        The kind; :func:`read_ibw`, :func:`read_ibw_curve` or :func:`read_ibw_cube` reads it.
    """
    return _load_wave(path).kind
