"""Gwyddion native files (``.gwy``)."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
    FileFormatError,
    TruncatedFileError,
)
from cathodescope.io._ibw import _asylum_metadata
from cathodescope.io._spm import (
    SPMScan,
    _check_file,
    _make_channel,
    _split_direction,
    _unique_names,
)

__all__ = ["read_gwy"]


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
