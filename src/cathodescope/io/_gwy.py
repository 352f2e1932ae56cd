"""Gwyddion native files: ``.gwy`` of Gwyddion 2 (magic ``GWYP``, read with ``gwyfile``) and of
Gwyddion 1.x (magic ``GWYO``, which ``gwyfile`` cannot read; parsed here).

Both serialise a ``GwyContainer`` of ``/N/data`` ``GwyDataField`` objects. In a 2.x file every
container item is ``key, type letter, value``; in a 1.x file it is ``GType (uint32), key,
value``; the data fields themselves have the same layout in both.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import FileFormatError, TruncatedFileError
from cathodescope.io._ibw import _asylum_metadata
from cathodescope.io._spm import (
    SPMScan,
    _check_file,
    _make_channel,
    _split_direction,
    _unique_names,
)

__all__ = ["read_gwy"]

_LENGTH_TO_UM = {"m": 1e6, "um": 1.0, "µm": 1.0, "nm": 1e-3}


def read_gwy(path: str | os.PathLike[str]) -> SPMScan:
    """Read the image channels of a Gwyddion native file (``.gwy``, Gwyddion 2 or 1.x).

    Parameters
    ----------
    path : path-like
        A ``.gwy`` file (magic ``GWYP``: Gwyddion 2, read with ``gwyfile``; ``GWYO``:
        Gwyddion 1.x, parsed by cathodescope).

    Returns
    -------
    SPMScan
        One map per ``/N/data`` field, named from ``/N/data/title`` without its
        ``Trace``/``Retrace`` suffix, units from the field's ``si_unit_z`` (SI, e.g. ``m``,
        ``deg``). Pixel spacing is ``xreal/xres`` (Gwyddion's convention). Asylum metadata
        kept in ``/N/meta`` (drive amplitude, tune Q, DART width...) is parsed as for .ibw.
        Gwyddion 1.x stores values in base SI units whatever prefix its unit string shows
        (``'nm'``, ``'µm'``); the prefix is dropped, as Gwyddion 2 does when it opens them.

    Raises
    ------
    TruncatedFileError, FileFormatError
        If the file is truncated or is not a Gwyddion file with image channels.
    """
    p = _check_file(path)
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic == b"GWYO":
        container, fmt = _load_gwyo(p), "Gwyddion 1.x .gwy"
    elif magic == b"GWYP":
        container, fmt = _load_gwyp(p), "Gwyddion .gwy"
    else:
        raise FileFormatError(
            f"{p} does not start with a Gwyddion magic ('GWYP' for Gwyddion 2, 'GWYO' for 1.x)."
        )
    keys = sorted(
        (k for k in container if re.fullmatch(r"/\d+/data", k)),
        key=lambda k: int(k.split("/")[1]),
    )
    if not keys:
        raise FileFormatError(f"{p} contains no image channels (/N/data fields).")
    labels, fields = [], []
    for k in keys:
        idx = k.split("/")[1]
        labels.append(str(container.get(f"/{idx}/data/title", f"Channel{idx}")))
        fields.append(container[k])
    channels = _channels(p, labels, fields, units_from=f"{fmt} si_unit_z")
    meta = container.get(f"/{keys[0].split('/')[1]}/meta")
    meta_raw = {str(k): str(v) for k, v in dict(meta).items()} if meta is not None else {}
    metadata: dict[str, Any] = {"format": fmt}
    if meta_raw:
        metadata.update(_asylum_metadata(meta_raw))
    first = next(iter(channels.values()))
    if not np.isfinite(metadata.get("scan_size_um", np.nan)):
        metadata["scan_size_um"] = first.attrs["xreal_um"]
    metadata["xreal_um"] = first.attrs["xreal_um"]
    metadata["yreal_um"] = first.attrs["yreal_um"]
    metadata["raw"] = meta_raw
    return SPMScan(channels=channels, metadata=metadata, source=os.fspath(p))


def _channels(
    p: Path, labels: list[str], fields: list[Mapping[str, Any]], *, units_from: str
) -> dict[str, xr.DataArray]:
    """``(y, x)`` channels from plain data-field mappings (see :func:`_field`)."""
    bases, directions = zip(*(_split_direction(lab) for lab in labels), strict=True)
    names = _unique_names(list(bases), list(directions), labels)
    channels: dict[str, xr.DataArray] = {}
    for name, label, direction, fld in zip(names, labels, directions, fields, strict=True):
        xres, yres, data = fld["xres"], fld["yres"], fld["data"]
        if data.shape != (yres, xres):
            raise FileFormatError(
                f"{p}: channel {label!r} has data {data.shape} but xres x yres = {xres} x {yres}."
            )
        to_um = _LENGTH_TO_UM.get(fld["xy_unit"])
        if to_um is None:
            raise FileFormatError(f"{p}: lateral unit {fld['xy_unit']!r} is not a length.")
        channels[name] = _make_channel(
            data,
            name=name,
            units=fld["z_unit"],
            spacing_um=(fld["yreal"] / yres * to_um, fld["xreal"] / xres * to_um),
            origin_um=(fld["yoff"] * to_um, fld["xoff"] * to_um),
            direction=direction,
            extra={
                "label": label,
                "units_from": units_from,
                "xreal_um": fld["xreal"] * to_um,
                "yreal_um": fld["yreal"] * to_um,
                "source": os.fspath(p),
            },
        )
    return channels


# -- Gwyddion 2 (gwyfile) ----------------------------------------------------------------------


def _check_gwyp_size(p: Path) -> None:
    """Refuse a GWYP file shorter than its top-level object says.

    A GWYP file is ``GWYP`` + one object: its NUL-terminated name, a little-endian uint32
    size, then that many bytes. gwyfile loops forever on a file cut short (seen on a .gwy cut
    by one byte), so the size is checked before gwyfile sees the file.
    """
    import struct

    with open(p, "rb") as fh:
        head = fh.read(4 + 256 + 4)
    end = head.find(b"\0", 4)
    if end < 0 or len(head) < end + 5:
        raise TruncatedFileError(f"{p} ends inside its Gwyddion header: export it again.")
    (size,) = struct.unpack("<I", head[end + 1 : end + 5])
    expected = end + 5 + size
    actual = p.stat().st_size
    if actual < expected:
        raise TruncatedFileError(
            f"{p} is truncated: its Gwyddion object says {expected} bytes but the file has "
            f"{actual}; copy or export it again."
        )


def _load_gwyp(p: Path) -> dict[str, Any]:
    import gwyfile

    _check_gwyp_size(p)
    try:
        obj = gwyfile.load(str(p))
    except Exception as exc:
        raise TruncatedFileError(
            f"{p} could not be parsed by gwyfile ({type(exc).__name__}: {exc}); the file is "
            "probably truncated or corrupt: export it again from Gwyddion."
        ) from exc
    out: dict[str, Any] = {}
    for key in obj:
        value = obj[key]
        out[key] = _gwyp_field(value) if re.fullmatch(r"/\d+/data", key) else value
    return out


def _gwyp_field(fld: Any) -> dict[str, Any]:
    xy = fld["si_unit_xy"].get("unitstr", "m") if fld.get("si_unit_xy") else "m"
    z = fld["si_unit_z"].get("unitstr", "") if fld.get("si_unit_z") else ""
    return {
        "xres": int(fld["xres"]),
        "yres": int(fld["yres"]),
        "xreal": float(fld["xreal"]),
        "yreal": float(fld["yreal"]),
        "xoff": float(fld.get("xoff", 0.0) or 0.0),
        "yoff": float(fld.get("yoff", 0.0) or 0.0),
        "xy_unit": xy,
        "z_unit": str(z),
        "data": np.asarray(fld.data, dtype=np.float64),
    }


# -- Gwyddion 1.x ('GWYO') ----------------------------------------------------------------------

# GType fundamentals (type << 2) that Gwyddion 1.x containers hold
_GTYPE_SIZES = {20: "<B", 24: "<i", 28: "<I", 32: "<q", 36: "<Q", 40: "<q", 44: "<Q", 56: "<f"}
_GTYPE_DOUBLE, _GTYPE_STRING, _GTYPE_OBJECT = 60, 64, 80
_SCALARS = {"b": "<B", "c": "<B", "i": "<i", "q": "<q", "d": "<d"}
_ARRAYS = {"C": "<u1", "I": "<i4", "Q": "<i8", "D": "<f8"}
_SI_PREFIXES = ("y", "z", "a", "f", "p", "n", "u", "µ", "\xb5", "m", "k", "M", "G", "T")


class _Reader:
    """Cursor over the bytes of a serialised Gwyddion object; truncation -> our error."""

    def __init__(self, raw: bytes, path: Path) -> None:
        self.raw, self.path, self.pos = raw, path, 0

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.raw):
            raise TruncatedFileError(
                f"{self.path} ends inside its Gwyddion 1.x data (byte {self.pos} of "
                f"{len(self.raw)}); the file is truncated: copy it again."
            )

    def string(self) -> str:
        end = self.raw.find(b"\0", self.pos)
        if end < 0:
            self._need(len(self.raw) + 1)
        text = self.raw[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return text

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self._need(size)
        (value,) = struct.unpack_from(fmt, self.raw, self.pos)
        self.pos += size
        return value

    def array(self, dtype: str) -> np.ndarray:
        n = self.unpack("<I")
        size = n * np.dtype(dtype).itemsize
        self._need(size)
        out = np.frombuffer(self.raw, dtype=dtype, count=n, offset=self.pos)
        self.pos += size
        return out

    def obj(self) -> tuple[str, dict[str, Any]]:
        name = self.string()
        end = self.pos + 4 + self.unpack("<I")
        self._need(end - self.pos)
        items: dict[str, Any] = {}
        while self.pos < end:
            if name == "GwyContainer":
                gtype = self.unpack("<I")
                key = self.string()
                items[key] = self._gvalue(gtype, key)
            else:
                key = self.string()
                items[key] = self._typed(chr(self.unpack("<B")), key)
        return name, items

    def _gvalue(self, gtype: int, key: str) -> Any:
        if gtype == _GTYPE_STRING:
            return self.string()
        if gtype == _GTYPE_OBJECT:
            return self.obj()
        if gtype == _GTYPE_DOUBLE:
            return self.unpack("<d")
        if gtype in _GTYPE_SIZES:
            return self.unpack(_GTYPE_SIZES[gtype])
        raise FileFormatError(f"{self.path}: unknown Gwyddion 1.x value type {gtype} of {key!r}.")

    def _typed(self, kind: str, key: str) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == "s":
            return self.string()
        if kind == "o":
            return self.obj()
        if kind in _ARRAYS:
            return self.array(_ARRAYS[kind])
        if kind in ("S", "O"):
            n = self.unpack("<I")
            return [self.string() if kind == "S" else self.obj() for _ in range(n)]
        raise FileFormatError(f"{self.path}: unknown Gwyddion component type {kind!r} of {key!r}.")


def _base_unit(unitstr: str) -> str:
    """``'nm'`` -> ``'m'``, ``'\\xb5m'`` -> ``'m'``; a unit without an SI prefix is unchanged."""
    unit = unitstr.strip()
    if len(unit) > 1 and unit[0] in _SI_PREFIXES and unit[1:] in ("m", "A", "V", "Hz", "N", "s"):
        return unit[1:]
    return unit


def _load_gwyo(p: Path) -> dict[str, Any]:
    reader = _Reader(p.read_bytes(), p)
    reader.pos = 4
    name, items = reader.obj()
    if name != "GwyContainer":
        raise FileFormatError(f"{p}: a Gwyddion 1.x file must hold a GwyContainer, not {name!r}.")
    out: dict[str, Any] = {}
    for key, value in items.items():
        if re.fullmatch(r"/\d+/data", key) and isinstance(value, tuple):
            out[key] = _gwyo_field(p, key, value)
        else:
            out[key] = value
    return out


def _gwyo_field(p: Path, key: str, value: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    kind, fld = value
    if kind != "GwyDataField":
        raise FileFormatError(f"{p}: {key} is a {kind}, not a GwyDataField.")

    def unit(name: str) -> str:
        sub = fld.get(name)
        return _base_unit(sub[1].get("unitstr", "")) if isinstance(sub, tuple) else ""

    xres, yres = int(fld["xres"]), int(fld["yres"])
    data = np.asarray(fld["data"], dtype=np.float64)
    if data.size != xres * yres:
        raise FileFormatError(f"{p}: {key} holds {data.size} values, not {xres} x {yres}.")
    return {
        "xres": xres,
        "yres": yres,
        "xreal": float(fld["xreal"]),
        "yreal": float(fld["yreal"]),
        "xoff": float(fld.get("xoff", 0.0)),
        "yoff": float(fld.get("yoff", 0.0)),
        "xy_unit": unit("si_unit_xy") or "m",
        "z_unit": unit("si_unit_z"),
        "data": data.reshape(yres, xres),
    }
