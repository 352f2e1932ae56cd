"""Zeiss/Xradia ``.xrm`` (one image) and ``.txrm`` (tomography series) files: OLE2 compound
documents read with olefile.

The photon energy is taken, in this order, from the non-zero entries of ``ImageInfo/Energy``
(a ``.txrm`` may hold one value followed by zero padding), from the ``Energy`` motor of
``PositionInfo``, and only then from an energy written in the file name (``..._08324.0_eV_...``,
``..._8250_0eV...``), with an :class:`~cathodescope.errors.EnergyFromFileNameWarning`. A file
that says nothing has ``energy_ev = None``, never 0.
"""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.common.files import check_input_file, warn_if_out_of_range
from cathodescope.errors import (
    CathodescopeError,
    EnergyFromFileNameWarning,
    FileFormatError,
    MissingMetadataError,
    ShapeMismatchError,
    TruncatedFileError,
)
from cathodescope.io._txm import PathLike, RawProjections, make_projections

# an energy in a file name: 08324.0_eV, 8250_0eV, 8353.5eV (underscore as decimal point allowed)
_ENERGY_IN_NAME = re.compile(r"(?<![\d.])(\d{3,6}(?:[._]\d+)?)_?eV(?![A-Za-z])")


def energy_from_file_name(name: str) -> float | None:
    """Photon energy in eV written in a file name, or None.

    Parameters
    ----------
    name : str
        File name (or path).

    Returns
    -------
    float or None
        The last energy between 100 eV and 100 keV found in the name.

    Examples
    --------
    >>> energy_from_file_name("rep01_20161456_ssrl-test-data_08324.0_eV_001of003.xrm")
    8324.0
    >>> energy_from_file_name("fov07_xanessoc01_8250_0eV.xrm")
    8250.0
    >>> energy_from_file_name("scan_001.xrm") is None
    True
    """
    hits = [float(m.replace("_", ".")) for m in _ENERGY_IN_NAME.findall(Path(name).name)]
    hits = [e for e in hits if 100.0 <= e <= 1e5]
    return hits[-1] if hits else None


def _motor_energy(ole: Any, n_images: int) -> float | None:
    """The ``Energy`` motor of ``PositionInfo`` (first image with a non-zero value), eV."""
    if not (ole.exists("PositionInfo/AxisNames") and ole.exists("PositionInfo/MotorPositions")):
        return None
    names = [
        n.decode(errors="replace").strip()
        for n in ole.openstream("PositionInfo/AxisNames").read().split(b"\0")
        if n
    ]
    if "Energy" not in names:
        return None
    pos = np.frombuffer(ole.openstream("PositionInfo/MotorPositions").read(), "<f4")
    k, m = names.index("Energy"), len(names)
    values = pos[k::m][: max(n_images, 1)] if m else pos[:0]
    values = values[np.isfinite(values) & (values > 0)]
    return float(values[0]) if values.size else None


def _xradia_energy(ole: Any, path: Path, n_images: int, meta: dict[str, Any]) -> float | None:
    """Photon energy in eV of an Xradia file (see the module docstring for the order)."""
    energies = _ole_array(ole, "ImageInfo/Energy", "<f4")
    if energies is not None and energies.size:
        per_image = energies[:n_images].astype(float)
        good = per_image[np.isfinite(per_image) & (per_image > 0)]
        if good.size:
            meta["energies_ev"] = good.tolist()
            meta["energy_source"] = "ImageInfo/Energy"
            return float(np.mean(good))
    motor = _motor_energy(ole, n_images)
    if motor is not None:
        meta["energy_source"] = "PositionInfo Energy motor"
        return motor
    named = energy_from_file_name(path.name)
    if named is not None:
        meta["energy_source"] = "file name"
        warnings.warn(
            f"{path.name}: the file records no photon energy (ImageInfo/Energy is 0); using "
            f"{named:g} eV from the file name. Check it, or give the energy explicitly "
            "(--energy on the command line, energy_ev in a pipeline config).",
            EnergyFromFileNameWarning,
            stacklevel=3,
        )
        return named
    meta["energy_source"] = "unknown"
    return None


# sanity bounds: no TXM detector is wider than 64k pixels, no frame value beyond 1e12 counts
_MAX_SIDE = 65536
_MAX_VALUE = 1e12
_XRADIA_DTYPES: dict[int, np.dtype] = {
    5: np.dtype("<u2"),
    10: np.dtype("<f4"),
    3: np.dtype("<u1"),
    4: np.dtype("<i2"),
}


def _ole_array(ole: Any, stream: str, dtype: str) -> np.ndarray | None:
    """The values of one metadata stream (a cut stream gives its complete values only)."""
    if not ole.exists(stream):
        return None
    raw = ole.openstream(stream).read()
    size = np.dtype(dtype).itemsize
    return np.frombuffer(raw[: len(raw) - len(raw) % size], dtype=dtype)


def _read_frames(ole: Any, p: Path) -> np.ndarray:
    """The image stack ``(n_images, ny, nx)`` of an open Xradia file."""
    width = _ole_array(ole, "ImageInfo/ImageWidth", "<i4")
    height = _ole_array(ole, "ImageInfo/ImageHeight", "<i4")
    if width is None or height is None or not width.size or not height.size:
        raise MissingMetadataError(f"{p} lacks ImageInfo/ImageWidth or ImageHeight.")
    nx, ny = int(width[0]), int(height[0])
    if not (0 < nx <= _MAX_SIDE and 0 < ny <= _MAX_SIDE):
        raise FileFormatError(
            f"{p}: ImageInfo says the image is {ny} x {nx} pixels, which no detector has; the "
            "file is corrupt: copy it again."
        )
    dtype_code = _ole_array(ole, "ImageInfo/DataType", "<i4")
    n_images_arr = _ole_array(ole, "ImageInfo/NoOfImages", "<i4")
    n_images = int(n_images_arr[0]) if n_images_arr is not None and n_images_arr.size else 1
    streams = []
    for k in range(1, n_images + 1):
        folder = (k - 1) // 100 + 1
        name = f"ImageData{folder}/Image{k}"
        if not ole.exists(name):
            break
        streams.append(name)
    if not streams:
        raise FileFormatError(f"{p} has no ImageData*/Image* streams: no image to read.")
    frame_bytes = ole.get_size(streams[0])
    if dtype_code is not None and int(dtype_code[0]) in _XRADIA_DTYPES:
        dtype = _XRADIA_DTYPES[int(dtype_code[0])]
    else:  # infer from the stream size
        dtype = np.dtype("<f4") if frame_bytes == 4 * nx * ny else np.dtype("<u2")
    frames = []
    for name in streams:
        raw = ole.openstream(name).read()
        if len(raw) < nx * ny * dtype.itemsize:
            raise TruncatedFileError(
                f"{p}: {name} holds {len(raw)} bytes, expected {nx * ny * dtype.itemsize} for a "
                f"{ny} x {nx} {dtype} image; the file is truncated: copy it again."
            )
        frames.append(np.frombuffer(raw[: nx * ny * dtype.itemsize], dtype=dtype).reshape(ny, nx))
    data = np.stack(frames)
    warn_if_out_of_range(data, limit=_MAX_VALUE, what="pixel values", source=str(p), stacklevel=4)
    return data


def _reference_frame(ole: Any, ny: int, nx: int, p: Path) -> np.ndarray | None:
    """The flat-field frame stored in the file (``ReferenceData/Image``), if any."""
    if not ole.exists("ReferenceData/Image"):
        return None
    ref_raw = ole.openstream("ReferenceData/Image").read()
    ref_dtype = np.dtype("<f4") if len(ref_raw) >= 4 * nx * ny else np.dtype("<u2")
    if len(ref_raw) < nx * ny * ref_dtype.itemsize:
        raise TruncatedFileError(
            f"{p}: ReferenceData/Image holds {len(ref_raw)} bytes, fewer than a {ny} x {nx} frame; "
            "the file is truncated: copy it again."
        )
    ref = np.frombuffer(ref_raw[: nx * ny * ref_dtype.itemsize], ref_dtype).reshape(ny, nx)
    warn_if_out_of_range(
        ref, limit=_MAX_VALUE, what="reference pixel values", source=str(p), stacklevel=4
    )
    return ref


def _xradia_metadata(ole: Any, p: Path) -> dict[str, Any]:
    """Magnifications, exposure, binning and date of an open Xradia file."""
    meta: dict[str, Any] = {"format": "xradia_" + p.suffix.lstrip(".").lower()}
    for key, stream, dt in (
        ("xray_magnification", "ImageInfo/XrayMagnification", "<f4"),
        ("optical_magnification", "ImageInfo/OpticalMagnification", "<f4"),
        ("exposure_s", "ImageInfo/ExpTimes", "<f4"),
        ("horizontal_bin", "ImageInfo/HorizontalBin", "<i4"),
    ):
        arr = _ole_array(ole, stream, dt)
        if arr is not None and arr.size:
            meta[key] = float(arr[0])
    if ole.exists("ImageInfo/Date"):
        meta["date"] = (
            ole.openstream("ImageInfo/Date").read().split(b"\0")[0].decode(errors="replace")
        )
    return meta


def read_xradia(
    path: PathLike, *, reference: PathLike | RawProjections | None = None
) -> RawProjections:
    """Read a Zeiss/Xradia ``.xrm`` (one image) or ``.txrm`` (tomography series) file.

    Image size, data type, pixel size (``ImageInfo/PixelSize``, um), energy (eV, see the module
    docstring: never 0, None when unknown) and angles (``ImageInfo/Angles``, degrees) come from
    the OLE metadata streams. A reference (flat) frame is taken from ``ReferenceData/Image`` when the file
    has one, or from ``reference`` (another ``.xrm``, e.g. ``ref_*.xrm`` beside the sample file).

    Parameters
    ----------
    path : path
        ``.xrm`` or ``.txrm`` file.
    reference : path or RawProjections, optional
        Flat-field image(s) of the same energy and geometry.

    Returns
    -------
    RawProjections
        ``metadata`` holds ``xray_magnification``, ``optical_magnification``, ``exposure_s``,
        ``date``, the non-zero ``energies_ev`` of ``ImageInfo/Energy`` and ``energy_source``.

    Warns
    -----
    EnergyFromFileNameWarning
        When the energy could only be read from the file name.

    Raises
    ------
    FileFormatError
        If the file is not an OLE2 compound file or lacks image streams.
    TruncatedFileError
        If an image stream is shorter than width x height.
    MissingMetadataError
        If image width/height are missing.
    """
    import olefile

    p = check_input_file(path, "Xradia")
    if not olefile.isOleFile(str(p)):
        raise FileFormatError(
            f"{p} is not an Xradia .xrm/.txrm file (not an OLE2 compound document); check the "
            "file type or that the copy is complete."
        )
    try:
        return _read_xradia_ole(olefile, p, reference)
    except CathodescopeError:
        raise
    except (OSError, ValueError, IndexError, KeyError, struct.error, OverflowError) as exc:
        # olefile and numpy report a corrupt container with plain exceptions
        raise TruncatedFileError(
            f"{p}: the OLE2 container is corrupt or cut short ({type(exc).__name__}: {exc}); "
            "copy the file again."
        ) from exc


def _read_xradia_ole(
    olefile: Any, p: Path, reference: PathLike | RawProjections | None
) -> RawProjections:
    """Body of :func:`read_xradia` once ``p`` is known to be an OLE2 file."""
    ole = olefile.OleFileIO(str(p))
    try:
        data = _read_frames(ole, p)
        n, ny, nx = data.shape
        angles = _ole_array(ole, "ImageInfo/Angles", "<f4")
        pixel = _ole_array(ole, "ImageInfo/PixelSize", "<f4")
        if angles is None or angles.size < n:
            raise MissingMetadataError(
                f"{p}: ImageInfo/Angles has {0 if angles is None else angles.size} values for {n} "
                "images; pass the angles explicitly with make_projections()."
            )
        flats = _reference_frame(ole, ny, nx, p)
        meta = _xradia_metadata(ole, p)
        energy_ev = _xradia_energy(ole, p, n, meta)
    finally:
        ole.close()
    proj = make_projections(
        data,
        angles[:n].astype(float),
        flats=flats,
        energy_ev=energy_ev,
        spacing=None if pixel is None or not pixel.size or pixel[0] <= 0 else float(pixel[0]),
        source=str(p),
        metadata=meta,
    )
    if reference is not None:
        ref = reference if isinstance(reference, RawProjections) else read_xradia(reference)
        if ref.energy_ev and proj.energy_ev and abs(ref.energy_ev - proj.energy_ev) > 1.0:
            raise ShapeMismatchError(
                f"reference {ref.source} was taken at {ref.energy_ev:.1f} eV but the sample image at "
                f"{proj.energy_ev:.1f} eV; use the reference frame of the same energy."
            )
        proj = proj.with_flats(ref.data)
    return proj
