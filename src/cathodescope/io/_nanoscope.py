"""Bruker / Veeco NanoScope files (``.spm``, ``.000``-``.999``)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
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

__all__ = ["read_nanoscope"]


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
    if raw.startswith(b"\\*Force file list"):
        raise NotAnImageError(
            f"{p} is a Bruker NanoScope force-curve file ('\\*Force file list'), not an image; "
            "cathodescope reads NanoScope images ('\\*File list'). Export the curves as text "
            "from NanoScope Analysis to analyse them."
        )
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
        label, base, direction, values, unit, extra = _ns_image(p, raw, img, merged, scan_list)
        labels.append(label)
        bases.append(base)
        directions.append(direction)
        arrays.append(values)
        units_list.append(unit)
        extras.append(extra)
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


def _ns_image(
    p: Path, raw: bytes, img: dict[str, str], merged: dict[str, str], scan_list: dict[str, str]
) -> tuple[str, str, str, np.ndarray, str, dict[str, Any]]:
    """Decode one ``Ciao image list`` entry: label, base name, direction, values (SI), units
    and the per-channel attributes (scaling used, scan size, spacing)."""
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
            f"{p}: image of {nx} x {ny} pixels x {bpp} bytes does not fit its data length {length}."
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
    size_text = img.get("Scan size", scan_list.get("Scan size", ""))
    if not size_text:
        raise FileFormatError(f"{p}: no 'Scan size' in the header.")
    fast_um, slow_um = _ns_scan_size_um(size_text)
    if len(size_text.split()) < 3:  # Ciao scan list form '15000 nm': aspect ratio applies
        slow_um = fast_um * ny / nx
    extra = {
        "label": label,
        "units_from": how,
        "z_scale_per_lsb": scale,
        "hard_scale_V_per_LSB": zs.get("hard_scale", math.nan),
        "scan_size_um": (slow_um, fast_um),
        "spacing_um": (slow_um / ny, fast_um / nx),
        "source": os.fspath(p),
    }
    return label, base, direction or img.get("Line direction", ""), counts * scale, unit, extra
