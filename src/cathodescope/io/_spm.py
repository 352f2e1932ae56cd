"""Scanning-probe microscopy readers: Asylum .ibw, Bruker NanoScope, Gwyddion .gwy.

Every reader returns an :class:`SPMScan`: one ``(y, x)`` :class:`xarray.DataArray` per channel
with coordinates in um, ``attrs["units"]`` in SI base units as stored by the instrument
(heights and amplitudes in m, phase in degrees, frequency in Hz, current in A, voltages in V),
plus the instrument metadata later steps need (drive amplitude and frequencies, tune Q, DART
frequency width, scan size...).

Why our own code rather than a wrapper: a popular reader multiplies every .ibw channel by 1e9
(to "nm"), phase and frequency included; igor2 keeps the bytes that follow the NUL terminator of
an Igor dimension label (``Phase1Retrace\\x00ce`` comes out as ``Phase1Retracece``); NanoScope
heights need the soft scale (``Sens. Zscan``, nm/V) times the hard value of ``@2:Z scale``
divided by the ADC range, exactly as Gwyddion's ``nanoscope.c`` does for images.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
    CathodescopeWarning,
    EmptyDataError,
    FileFormatError,
    ScanSizeMismatchError,
    SPMChannelMissingError,
    TruncatedFileError,
)

__all__ = ["SPMScan", "read_gwy", "read_ibw", "read_nanoscope", "read_spm"]


@dataclass(frozen=True)
class SPMScan:
    """One scanning-probe image: named channels on a common ``(y, x)`` grid plus metadata.

    Attributes
    ----------
    channels : dict of str to xarray.DataArray
        ``(y, x)`` maps, coordinates ``y`` and ``x`` in um (pixel centres, first row at the top
        of the image as the instrument software displays it), ``attrs["units"]`` (``"m"``,
        ``"deg"``, ``"Hz"``, ``"A"``, ``"V"``...), ``attrs["channel"]`` and
        ``attrs["direction"]`` (``"Trace"``/``"Retrace"`` where known).
    metadata : dict
        Instrument metadata in SI units with the unit in the key name (``scan_size_um``,
        ``drive_amplitude_V``, ``drive_frequency_Hz``, ``dart_frequency_width_Hz``,
        ``tune_q``...), plus ``raw`` (every header key as read).
    source : str
        Path of the file read.
    """

    channels: dict[str, xr.DataArray]
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.channels:
            raise EmptyDataError(f"{self.source or 'scan'} holds no image channel.")
        grids = {}
        for name, da in self.channels.items():
            if da.dims != ("y", "x"):
                raise ScanSizeMismatchError(f"channel {name!r} has dims {da.dims}, not (y, x).")
            sp = tuple(float(v) for v in da.attrs.get("spacing_um", (np.nan, np.nan)))
            grids[name] = (da.shape, sp)
        (shape0, sp0) = next(iter(grids.values()))
        for shape, sp in grids.values():
            if shape != shape0 or not np.allclose(sp, sp0, rtol=1e-6, equal_nan=True):
                raise ScanSizeMismatchError(
                    f"{self.source or 'scan'}: channels do not share one grid: "
                    + ", ".join(f"{n} {g[0]} px at {g[1]} um" for n, g in grids.items())
                    + ". Resample them onto one grid (or read them as separate scans)."
                )

    def __getitem__(self, name: str) -> xr.DataArray:
        try:
            return self.channels[name]
        except KeyError:
            raise SPMChannelMissingError(
                f"channel {name!r} is not in {self.source or 'this scan'}; available channels: "
                f"{list(self.channels)}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.channels

    def __iter__(self) -> Iterator[str]:
        return iter(self.channels)

    @property
    def names(self) -> list[str]:
        """Channel names in file order."""
        return list(self.channels)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of every channel."""
        first = next(iter(self.channels.values()))
        return (int(first.sizes["y"]), int(first.sizes["x"]))

    @property
    def spacing(self) -> tuple[float, float]:
        """Pixel size ``(dy, dx)`` in um."""
        first = next(iter(self.channels.values()))
        return (float(first.attrs["spacing_um"][0]), float(first.attrs["spacing_um"][1]))

    def to_dataarray(self, names: list[str] | None = None) -> xr.DataArray:
        """Stack channels into one ``(channel, y, x)`` array; ``attrs["units"]`` is per channel.

        Parameters
        ----------
        names : list of str, optional
            Channels to stack (default: all).

        Returns
        -------
        xarray.DataArray
            dims ``("channel", "y", "x")``; ``attrs["units"]`` is a list aligned with the
            ``channel`` coordinate, because SPM channels differ in units.
        """
        names = self.names if names is None else list(names)
        arrays = [self[n] for n in names]
        out = xr.concat(arrays, dim=xr.DataArray(names, dims="channel", name="channel"))
        out.attrs = {"units": [a.attrs.get("units", "") for a in arrays], "source": self.source}
        return out

    def to_dataframe(self) -> Any:
        """One row per channel: name, units, shape, min, max, mean, std, n_nan (pandas)."""
        import pandas as pd

        rows = []
        for name, da in self.channels.items():
            v = np.asarray(da.values, dtype=float)
            finite = np.isfinite(v)
            vals = v[finite]
            rows.append(
                {
                    "channel": name,
                    "units": da.attrs.get("units", ""),
                    "direction": da.attrs.get("direction", ""),
                    "ny": v.shape[0],
                    "nx": v.shape[1],
                    "min": float(vals.min()) if vals.size else math.nan,
                    "max": float(vals.max()) if vals.size else math.nan,
                    "mean": float(vals.mean()) if vals.size else math.nan,
                    "std": float(vals.std()) if vals.size else math.nan,
                    "n_nan": int(v.size - vals.size),
                }
            )
        return pd.DataFrame(rows)


# -- shared helpers -------------------------------------------------------------------------


def _make_channel(
    data: np.ndarray,
    *,
    name: str,
    units: str,
    spacing_um: tuple[float, float],
    origin_um: tuple[float, float] = (0.0, 0.0),
    direction: str = "",
    extra: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    ny, nx = data.shape
    dy, dx = spacing_um
    coords = {
        "y": ("y", origin_um[0] + dy * np.arange(ny), {"units": "um"}),
        "x": ("x", origin_um[1] + dx * np.arange(nx), {"units": "um"}),
    }
    attrs = {
        "units": units,
        "channel": name,
        "direction": direction,
        "spacing_um": (float(dy), float(dx)),
    }
    if extra:
        attrs.update(extra)
    return xr.DataArray(
        np.asarray(data, dtype=np.float64), dims=("y", "x"), coords=coords, attrs=attrs, name=name
    )


def _check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"SPM file not found: {p}")
    if p.stat().st_size == 0:
        raise TruncatedFileError(
            f"{p} is empty (0 bytes); copy the file again from the instrument."
        )
    return p


def _to_float(text: Any) -> float:
    try:
        return float(str(text).strip().split()[0])
    except (ValueError, IndexError):
        return math.nan


_DIRECTION_RE = re.compile(r"^(?P<base>.*?)(?P<dir>Retrace|Trace|ReTrace)$")


def _split_direction(label: str) -> tuple[str, str]:
    """``'Phase1Retrace'`` -> ``('Phase1', 'Retrace')``; labels without a suffix pass through."""
    m = _DIRECTION_RE.match(label)
    if not m or not m.group("base"):
        return label, ""
    direction = "Retrace" if m.group("dir").lower() == "retrace" else "Trace"
    return m.group("base"), direction


def _unique_names(bases: list[str], directions: list[str], fulls: list[str]) -> list[str]:
    """Base names where unique (``Height``); full labels where trace and retrace both exist."""
    counts: dict[str, int] = {}
    for b in bases:
        counts[b] = counts.get(b, 0) + 1
    names = [
        b if counts[b] == 1 else f"{b}{d}" if d else f
        for b, d, f in zip(bases, directions, fulls, strict=True)
    ]
    seen: dict[str, int] = {}
    out = []
    for n in names:  # last resort: never silently overwrite a channel
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


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


# -- Gwyddion .gwy ----------------------------------------------------------------------------


def read_gwy(path: str | os.PathLike[str]) -> SPMScan:
    """Read the image channels of a Gwyddion native file (``.gwy``) with ``gwyfile``.

    Parameters
    ----------
    path : path-like
        A ``.gwy`` file.

    Returns
    -------
    SPMScan
        One map per ``/N/data`` field, named from ``/N/data/title`` without its
        ``Trace``/``Retrace`` suffix, units from the field's ``si_unit_z`` (SI, e.g. ``m``,
        ``deg``). Pixel spacing is ``xreal/xres`` (Gwyddion's convention). Asylum metadata
        kept in ``/N/meta`` (drive amplitude, tune Q, DART width...) is parsed as for .ibw.

    Raises
    ------
    TruncatedFileError, FileFormatError
        If the file is truncated or is not a Gwyddion file with image channels.
    """
    import gwyfile

    p = _check_file(path)
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GWYP":
        raise FileFormatError(f"{p} does not start with the Gwyddion magic 'GWYP'.")
    try:
        obj = gwyfile.load(str(p))
    except Exception as exc:
        raise TruncatedFileError(
            f"{p} could not be parsed by gwyfile ({type(exc).__name__}: {exc}); the file is "
            "probably truncated or corrupt: export it again from Gwyddion."
        ) from exc
    keys = sorted(
        (k for k in obj if re.fullmatch(r"/\d+/data", k)), key=lambda k: int(k.split("/")[1])
    )
    if not keys:
        raise FileFormatError(f"{p} contains no image channels (/N/data fields).")
    labels, fields, metas = [], [], []
    for k in keys:
        idx = k.split("/")[1]
        labels.append(str(obj.get(f"/{idx}/data/title", f"Channel{idx}")))
        fields.append(obj[k])
        metas.append(obj.get(f"/{idx}/meta"))
    bases, directions = zip(*(_split_direction(lab) for lab in labels), strict=True)
    names = _unique_names(list(bases), list(directions), labels)
    channels: dict[str, xr.DataArray] = {}
    shape0 = None
    for name, label, _base, direction, fld in zip(
        names, labels, bases, directions, fields, strict=True
    ):
        xres, yres = int(fld["xres"]), int(fld["yres"])
        data = np.asarray(fld.data, dtype=np.float64)
        if data.shape != (yres, xres):
            raise FileFormatError(
                f"{p}: channel {label!r} has data {data.shape} but xres x yres = {xres} x {yres}."
            )
        if shape0 is None:
            shape0 = data.shape
        xy_unit = fld["si_unit_xy"].get("unitstr", "m") if fld.get("si_unit_xy") else "m"
        z_unit = fld["si_unit_z"].get("unitstr", "") if fld.get("si_unit_z") else ""
        to_um = {"m": 1e6, "um": 1.0, "µm": 1.0, "nm": 1e-3}.get(xy_unit)
        if to_um is None:
            raise FileFormatError(f"{p}: lateral unit {xy_unit!r} is not a length.")
        dx = float(fld["xreal"]) / xres * to_um
        dy = float(fld["yreal"]) / yres * to_um
        origin = (
            float(fld.get("yoff", 0.0) or 0.0) * to_um,
            float(fld.get("xoff", 0.0) or 0.0) * to_um,
        )
        channels[name] = _make_channel(
            data,
            name=name,
            units=str(z_unit),
            spacing_um=(dy, dx),
            origin_um=origin,
            direction=direction,
            extra={
                "label": label,
                "units_from": "gwy si_unit_z",
                "xreal_um": float(fld["xreal"]) * to_um,
                "yreal_um": float(fld["yreal"]) * to_um,
                "source": os.fspath(p),
            },
        )
    meta_raw: dict[str, str] = {}
    if metas[0] is not None:
        meta_raw = {str(k): str(v) for k, v in dict(metas[0]).items()}
    metadata: dict[str, Any] = {"format": "Gwyddion .gwy"}
    if meta_raw:
        metadata.update(_asylum_metadata(meta_raw))
    first = next(iter(channels.values()))
    metadata["xreal_um"] = first.attrs["xreal_um"]
    metadata["yreal_um"] = first.attrs["yreal_um"]
    metadata["raw"] = meta_raw
    return SPMScan(channels=channels, metadata=metadata, source=os.fspath(p))


# -- Bruker NanoScope -------------------------------------------------------------------------

_NS_VALUE_RE = re.compile(
    r"^(?P<type>[VCS])\s*(?:\[(?P<soft>[^\]]*)\])?\s*(?:\((?P<hard_scale>[-+0-9.eE]+)\s*"
    r"(?P<hard_scale_units>[^)]*)\))?\s*(?P<value>[-+0-9.eE]+)?\s*(?P<units>.*)$"
)

_SI_PREFIX = {
    "": 1.0,
    "k": 1e3,
    "m": 1e-3,
    "u": 1e-6,
    "~": 1e-6,
    "µ": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
    "M": 1e6,
    "G": 1e9,
}


def _split_unit(unit: str) -> tuple[float, str]:
    """``'nm'`` -> ``(1e-9, 'm')``, ``'nA'`` -> ``(1e-9, 'A')``, ``'~m'`` -> ``(1e-6, 'm')``."""
    unit = unit.strip()
    if unit in ("º", "°", "\xb0", "deg") or unit.endswith("\xb0"):
        return 1.0, "deg"
    for base in ("Hz", "m", "A", "V", "N", "s"):
        if unit.endswith(base):
            prefix = unit[: -len(base)]
            if prefix in _SI_PREFIX:
                return _SI_PREFIX[prefix], base
    return 1.0, unit


def _parse_nanoscope_header(text: str) -> list[tuple[str, dict[str, str]]]:
    """Split a NanoScope text header into ``(section name, {key: value})`` in file order."""
    sections: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("\\"):
            continue
        if line.startswith("\\*"):
            if name or current:
                sections.append((name, current))
            name, current = line[2:].strip(), {}
            if name.lower() == "file list end":
                break
            continue
        key, sep, value = line[1:].partition(": ")
        if not sep:
            key, _, value = line[1:].partition(":")
        key = key.strip()
        if key not in current:
            current[key] = value.strip()
    else:
        if name or current:
            sections.append((name, current))
    return sections


def _ns_value(text: str) -> dict[str, Any]:
    m = _NS_VALUE_RE.match(text.strip())
    if not m:
        return {"value": _to_float(text), "units": ""}
    return {
        "type": m.group("type"),
        "soft": (m.group("soft") or "").strip(),
        "hard_scale": _to_float(m.group("hard_scale")) if m.group("hard_scale") else math.nan,
        "hard_scale_units": (m.group("hard_scale_units") or "").strip(),
        "value": _to_float(m.group("value")) if m.group("value") else math.nan,
        "units": (m.group("units") or "").strip(),
    }


def _ns_scan_size_um(text: str) -> tuple[float, float]:
    """``'15 15 ~m'`` or ``'15000 nm'`` -> ``(15.0, 15.0)`` in um (fast, slow)."""
    parts = text.split()
    numbers = [float(t) for t in parts if re.fullmatch(r"[-+0-9.eE]+", t)]
    units = [t for t in parts if not re.fullmatch(r"[-+0-9.eE]+", t)]
    factor, base = _split_unit(units[0] if units else "nm")
    if base != "m" or not numbers:
        raise FileFormatError(f"cannot read the NanoScope scan size {text!r}.")
    size = [n * factor * 1e6 for n in numbers]
    return (size[0], size[1] if len(size) > 1 else size[0])


def read_nanoscope(path: str | os.PathLike[str]) -> SPMScan:
    """Read a Bruker/Veeco NanoScope image file (``.spm``, ``.001``, ``.002``...; v4.3+).

    Z values follow Gwyddion's ``nanoscope.c`` for images::

        z = raw / 2**(8*bytes_per_pixel) * hard_value(@2:Z scale) * soft_scale

    where ``@2:Z scale: V [Sens. Zscan] (0.0067 V/LSB) 439.99 V`` gives the hard value
    (439.99 V over the full ADC range, i.e. the hard scale in V/LSB times 2**16) and
    ``\\@Sens. Zscan: V 15.068 nm/V`` the soft scale. Channels whose soft scale has no units
    (``Sens. Phase``, ``Sens. Amplitude``...) are in V, phase in degrees. Rows are flipped so
    that the first row is the top of the image (NanoScope stores the bottom line first).

    Parameters
    ----------
    path : path-like
        The NanoScope file.

    Returns
    -------
    SPMScan
        One ``(y, x)`` map per ``Ciao image list`` (``Height``, ``Deflection``...), in SI
        units (``m``, ``V``, ``deg``, ``A``), pixel size = scan size / samples per line.

    Raises
    ------
    FileFormatError
        Not a NanoScope file, or a header field needed for the scaling is missing.
    TruncatedFileError
        The file ends before an image's ``Data offset + Data length``.
    """
    p = _check_file(path)
    raw = p.read_bytes()
    if not raw.startswith(b"\\*File list") and not raw.startswith(b"\\*EC File list"):
        raise FileFormatError(f"{p} does not start with '\\*File list': not a NanoScope file.")
    end = raw.find(b"\\*File list end")
    if end < 0:
        raise TruncatedFileError(
            f"{p}: the NanoScope header has no '\\*File list end'; the file is truncated."
        )
    sections = _parse_nanoscope_header(raw[: end + 16].decode("latin-1"))
    merged: dict[str, str] = {}
    for sec_name, sec in sections:
        if "image list" not in sec_name.lower():
            for k, v in sec.items():
                merged.setdefault(k, v)
    images = [sec for sec_name, sec in sections if sec_name.lower() == "ciao image list"]
    if not images:
        raise FileFormatError(f"{p} has no '\\*Ciao image list' section (no image data).")
    version = merged.get("Version", "")
    scan_list = next((s for n, s in sections if n.lower() == "ciao scan list"), {})
    channels: dict[str, xr.DataArray] = {}
    labels, bases, directions, arrays, units_list, extras = [], [], [], [], [], []
    for img in images:
        try:
            offset = int(img["Data offset"])
            length = int(img["Data length"])
            bpp = int(img.get("Bytes/pixel", "2"))
            nx = int(img["Samps/line"])
            ny = int(img.get("Number of lines", img.get("Lines", "0")))
        except (KeyError, ValueError) as exc:
            raise FileFormatError(f"{p}: image header field missing or unreadable: {exc}") from exc
        if bpp not in (2, 4) or nx * ny * bpp > length or nx <= 0 or ny <= 0:
            raise FileFormatError(
                f"{p}: image of {nx} x {ny} pixels x {bpp} bytes does not fit its data "
                f"length {length}."
            )
        if offset + nx * ny * bpp > len(raw):
            raise TruncatedFileError(
                f"{p} has {len(raw)} bytes but its image data end at byte "
                f"{offset + nx * ny * bpp}; the file is truncated: copy it again."
            )
        dtype = "<i2" if bpp == 2 else "<i4"
        counts = np.frombuffer(raw, dtype=dtype, count=nx * ny, offset=offset)
        counts = counts.reshape(ny, nx).astype(np.float64)[::-1]

        image_data = img.get("@2:Image Data", img.get("Image Data", ""))
        m = re.search(r'"([^"]*)"', image_data)
        label = m.group(1) if m else (image_data.split()[-1] if image_data else "Channel")
        zkey = next((k for k in ("@2:Z scale", "@4:Z scale", "Z scale") if k in img), None)
        if zkey is None:
            raise FileFormatError(f"{p}: channel {label!r} has no '@2:Z scale' line.")
        zs = _ns_value(img[zkey])
        hard_value = zs["value"]
        if not np.isfinite(hard_value):
            raise FileFormatError(f"{p}: cannot read the Z scale {img[zkey]!r}.")
        lsb = 2.0 ** (8 * bpp)
        hv_factor, hv_unit = _split_unit(zs["units"] or "V")
        if zs.get("soft"):
            soft_key = f"@{zs['soft']}"
            if soft_key not in merged:
                raise FileFormatError(
                    f"{p}: the soft scale {soft_key!r} referenced by channel {label!r} is not "
                    "in the header; cannot convert to physical units."
                )
            sv = _ns_value(merged[soft_key])
            soft_value = sv["value"]
            soft_units = sv["units"]  # e.g. 'nm/V', 'nA/V', '' (then the result is in V)
            num_unit = soft_units.split("/")[0] if soft_units else ""
            if num_unit:
                s_factor, unit = _split_unit(num_unit)
            else:
                s_factor, unit = 1.0, ("deg" if "phase" in zs["soft"].lower() else "V")
            scale = hard_value * hv_factor / lsb * soft_value * s_factor
            how = f"{zkey} hard value x {soft_key}"
        else:
            scale, unit = hard_value * hv_factor / lsb, hv_unit
            how = f"{zkey} hard value (no soft scale)"
        base, direction = _split_direction(label)
        labels.append(label)
        bases.append(base)
        directions.append(direction or img.get("Line direction", ""))
        arrays.append(counts * scale)
        units_list.append(unit)
        size_text = img.get("Scan size", scan_list.get("Scan size", ""))
        if not size_text:
            raise FileFormatError(f"{p}: no 'Scan size' in the header.")
        fast_um, slow_um = _ns_scan_size_um(size_text)
        if len(size_text.split()) < 3:  # Ciao scan list form '15000 nm': aspect ratio applies
            slow_um = fast_um * ny / nx
        extras.append(
            {
                "label": label,
                "units_from": how,
                "z_scale_per_lsb": scale,
                "hard_scale_V_per_LSB": zs.get("hard_scale", math.nan),
                "scan_size_um": (slow_um, fast_um),
                "spacing_um": (slow_um / ny, fast_um / nx),
                "source": os.fspath(p),
            }
        )
    names = _unique_names(
        bases, [d if d in ("Trace", "Retrace") else "" for d in directions], labels
    )
    for name, arr, unit, extra, direction in zip(
        names, arrays, units_list, extras, directions, strict=True
    ):
        channels[name] = _make_channel(
            arr,
            name=name,
            units=unit,
            spacing_um=extra.pop("spacing_um"),
            direction=direction,
            extra=extra,
        )
    first = extras[0]
    drive_f = _ns_value(merged.get("@2:Drive frequency", ""))
    drive_a = _ns_value(merged.get("@2:Drive amplitude", ""))
    f_factor, _ = _split_unit(drive_f.get("units", "") or "Hz")
    a_factor, _ = _split_unit(drive_a.get("units", "") or "V")
    metadata: dict[str, Any] = {
        "format": "Bruker NanoScope",
        "version": version,
        "instrument": merged.get("Microscope", "") + " " + merged.get("Description", ""),
        "imaging_mode": merged.get("Operating mode", ""),
        "scan_size_um": first["scan_size_um"][1],
        "slow_scan_size_um": first["scan_size_um"][0],
        "scan_rate_Hz": _to_float(merged.get("Scan rate", "nan")),
        "drive_frequency_Hz": drive_f.get("value", math.nan) * f_factor,
        "drive_amplitude_V": drive_a.get("value", math.nan) * a_factor,
        "raw": merged,
    }
    return SPMScan(channels=channels, metadata=metadata, source=os.fspath(p))


# -- dispatch ---------------------------------------------------------------------------------


def read_spm(path: str | os.PathLike[str]) -> SPMScan:
    """Read any supported SPM image, choosing the reader from the file's first bytes.

    ``.ibw`` (Asylum/Igor), ``.gwy`` (Gwyddion, magic ``GWYP``) and Bruker NanoScope files
    (text header ``\\*File list``, any extension such as ``.spm`` or ``.002``).

    Raises
    ------
    FileFormatError
        If the format is not recognised.
    """
    p = _check_file(path)
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"GWYP"):
        return read_gwy(p)
    if head.startswith(b"\\*File list") or head.startswith(b"\\*EC File list"):
        return read_nanoscope(p)
    if p.suffix.lower() == ".ibw":
        return read_ibw(p)
    raise FileFormatError(
        f"{p}: format not recognised; supported are Asylum .ibw, Gwyddion .gwy and Bruker "
        "NanoScope (.spm, .000-.999)."
    )
