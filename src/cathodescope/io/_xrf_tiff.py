"""TIFF exports of XRF element maps (one image per element, or a multi-page stack)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.errors import (
    InputNotFoundError,
    MissingMetadataError,
    ParameterError,
    ScanGeometryError,
    TruncatedFileError,
)
from cathodescope.io._xrf import (
    _ELEMENT_IN_NAME,
    _TO_UM,
    _build_dataarray,
    _coords_from_spacing,
    _unit_from_text,
    resolve_channels,
)

__all__ = ["read_xrf_tiffs"]


# -- TIFF --------------------------------------------------------------------------------------


def _tiff_pixel_size_um(tif: Any) -> tuple[float, float] | None:
    """Pixel size (dy, dx) in um from ImageJ metadata or resolution tags, if declared."""
    page = tif.pages[0]
    tags = page.tags
    ij = tif.imagej_metadata or {}
    unit = None
    if "unit" in ij:
        unit = _unit_from_text(str(ij["unit"]))
        if unit is None and str(ij["unit"]).strip().lower() in ("cm", "centimeter"):
            unit = "cm"
    elif "ResolutionUnit" in tags:
        code = int(tags["ResolutionUnit"].value)
        unit = {3: "cm"}.get(code)  # 2 = inch is a print resolution, not a pixel size
    if unit is None or "XResolution" not in tags or "YResolution" not in tags:
        return None
    factor = 1e4 if unit == "cm" else _TO_UM[unit]

    def size(tag: str) -> float:
        num, den = tags[tag].value
        return den / num * factor if num else float("nan")

    sizes = (size("YResolution"), size("XResolution"))
    if not all(np.isfinite(s) and s > 0 for s in sizes):
        return None
    return sizes


def _channel_from_stem(stem: str) -> str:
    m = _ELEMENT_IN_NAME.search(stem)
    return m.group(1) if m else stem


def read_xrf_tiffs(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Mapping[str, Any],
    *,
    channels: Sequence[str] | None = None,
    spacing: float | Sequence[float] | None = None,
    units: str = "counts",
):
    """Read element maps exported as TIFF (one file per element, or one multi-page stack).

    Parameters
    ----------
    paths : path, sequence of paths, or mapping channel -> path
        One image per element (PyXRF writes ``<scan>_Ni_K.tiff``; the channel name is taken
        from the ``Xx_K``/``_L``/``_M`` part of the file name, else the whole stem), a mapping
        that names them, or a single multi-page TIFF of shape (n_channels, ny, nx).
    channels : sequence of str, optional
        Names of the pages of a multi-page TIFF (required unless its ImageJ ``Labels`` name them).
    spacing : float or (float, float), optional
        Pixel size in um ``(dy, dx)``. Required unless the files declare it (ImageJ ``unit`` with
        resolution tags, or a centimetre ResolutionUnit); overrides what the files declare.
    units : str
        What a pixel value is (``"counts"``, ``"counts/s"``, ``"ug/cm2"``...): TIFF cannot say.

    Returns
    -------
    xarray.DataArray
        dims ``("channel", "y", "x")``, coordinates in um starting at 0, ``attrs["units"]``.

    Raises
    ------
    ScanGeometryError
        Images of different sizes, or a page count that does not match ``channels``.
    MissingMetadataError
        No pixel size in the files and no ``spacing``.
    TruncatedFileError, FileFormatError
        Cut or unreadable TIFF.
    EmptyMapError
        An image is all NaN.
    """

    items: list[tuple[str | None, Path]]
    if isinstance(paths, Mapping):
        items = [(str(k), Path(v)) for k, v in paths.items()]
    elif isinstance(paths, str | os.PathLike):
        items = [(None, Path(paths))]
    else:
        items = [(None, Path(v)) for v in paths]
    if not items:
        raise ParameterError("no TIFF file given.")

    arrays, names, file_sizes = _read_pages(items, channels)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        detail = ", ".join(f"{n}: {a.shape}" for n, a in zip(names, arrays, strict=True))
        raise ScanGeometryError(
            f"the TIFF maps have different sizes ({detail}); they come from different scans "
            "or were cropped differently. Use maps of one scan."
        )
    if len(set(names)) != len(names):
        raise ParameterError(
            f"channel names {names} repeat; pass a mapping {{'Ni': path, ...}} to name them."
        )
    ny, nx = arrays[0].shape
    attrs: dict[str, Any] = {
        "source": [os.fspath(p.resolve()) for _, p in items],
        "format": "tiff",
        "units": units,
        "scaler": None,
        "scan_shape": (int(ny), int(nx)),
    }
    if spacing is not None:
        y, x, sp = _coords_from_spacing(spacing, ny, nx)
        attrs["spacing_source"] = "spacing argument"
    else:
        declared = {s for s in file_sizes if s is not None}
        if not declared or len(declared) != 1 or None in file_sizes:
            raise MissingMetadataError(
                "the TIFF files do not (all) declare one pixel size; give spacing=(dy_um, dx_um)."
            )
        y, x, sp = _coords_from_spacing(declared.pop(), ny, nx)
        attrs["spacing_source"] = "TIFF resolution tags"
    if channels is not None and len(items) > 1:
        keep = resolve_channels(names, channels)
        arrays = [arrays[names.index(n)] for n in keep]
        names = keep
    attrs["spacing_um"] = tuple(float(v) for v in sp)
    return _build_dataarray(np.stack(arrays), names, y, x, attrs)


def _read_pages(
    items: list[tuple[str | None, Path]], channels: Sequence[str] | None
) -> tuple[list[np.ndarray], list[str], list[tuple[float, float] | None]]:
    """The 2-D maps of every file (or the pages of one stack), their channel names and the
    pixel size each file declares (None where it declares none)."""
    import tifffile

    arrays: list[np.ndarray] = []
    names: list[str] = []
    file_sizes = []
    for name, p in items:
        if not p.is_file():
            raise InputNotFoundError(f"TIFF file {p} does not exist.")
        try:
            with tifffile.TiffFile(p) as tif:
                arr = np.asarray(tif.asarray(), dtype=float)
                file_sizes.append(_tiff_pixel_size_um(tif))
                labels = (tif.imagej_metadata or {}).get("Labels")
        except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
            size = p.stat().st_size
            raise TruncatedFileError(
                f"{p} cannot be read as TIFF ({exc}; {size} bytes): truncated or not a TIFF. "
                "Export the map again."
            ) from exc
        if arr.ndim == 2:
            arrays.append(arr)
            names.append(name or _channel_from_stem(p.stem))
        elif arr.ndim == 3 and len(items) == 1:
            page_names = list(channels) if channels is not None else labels
            if page_names is None:
                raise MissingMetadataError(
                    f"{p} holds {arr.shape[0]} images but does not name them; pass "
                    "channels=['Ni', 'Mn', ...] in page order."
                )
            if len(page_names) != arr.shape[0]:
                raise ScanGeometryError(
                    f"{p} holds {arr.shape[0]} images but {len(page_names)} channel names "
                    f"were given ({list(page_names)})."
                )
            arrays.extend(arr)
            names.extend(str(n) for n in page_names)
        else:
            raise ScanGeometryError(
                f"{p} has shape {arr.shape}; expected one 2-D map per file, or a single "
                "(n_channels, ny, nx) stack."
            )
    return arrays, names, file_sizes
