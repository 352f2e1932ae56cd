"""Readers for raw transmission X-ray microscopy (TXM) / tomography projections.

Formats: APS Data Exchange HDF5, NSLS-II FXI (18-ID) HDF5, Xradia/Zeiss ``.xrm``/``.txrm`` (OLE2
compound files, read with olefile), and TIFF stacks with an angles file. Every reader returns a
:class:`RawProjections`: the projections as an ``xarray.DataArray`` with dims
``(angle, y, x)`` (angle coordinate in degrees, ``y``/``x`` in um when the pixel size is known,
else in pixels), plus flat (white/reference) and dark frames as DataArrays with dims
``(frame, y, x)``, and the photon energy in eV.

HDF5 readers can return lazy (dask) arrays (``lazy=True``) so that stacks larger than memory
are processed slab by slab by :func:`cathodescope.tomo.preprocess`.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.common.hdf5 import open_h5
from cathodescope.errors import (
    FileFormatError,
    MissingMetadataError,
    ProjectionGeometryError,
    ShapeMismatchError,
    TruncatedFileError,
)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RawProjections:
    """Raw projections of one energy with their reference frames.

    Attributes
    ----------
    data : xarray.DataArray, dims (angle, y, x)
        Raw detector counts. ``angle`` coordinate in degrees; ``y``/``x`` in um (pixel centres,
        ``attrs["pixel_size_um"]``) or pixels when the pixel size is unknown.
    flats : xarray.DataArray, dims (frame, y, x), or None
        Flat-field (white, reference) frames, counts.
    darks : xarray.DataArray, dims (frame, y, x), or None
        Dark frames, counts.
    energy_ev : float or None
        Photon energy in eV.
    pixel_size_um : float or None
        Pixel size in the sample plane in um.
    source : str
        File the data came from.
    metadata : dict
        Other metadata read from the file (magnification, exposure time...).
    """

    data: Any
    flats: Any = None
    darks: Any = None
    energy_ev: float | None = None
    pixel_size_um: float | None = None
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def angles(self) -> np.ndarray:
        """Projection angles in degrees, shape (n_angles,)."""
        return np.asarray(self.data["angle"].values, dtype=float)

    def with_flats(self, flats: Any, darks: Any = None) -> RawProjections:
        """Return a copy with reference frames taken from arrays or other :class:`RawProjections`."""
        f = flats.data if isinstance(flats, RawProjections) else flats
        d = darks.data if isinstance(darks, RawProjections) else darks
        ny, nx = self.data.shape[1:]
        return replace(
            self,
            flats=None if f is None else _frames(f, "flats", (ny, nx)),
            darks=self.darks if d is None else _frames(d, "darks", (ny, nx)),
        )


# -- building the data model ------------------------------------------------------------------


def _frames(array: Any, name: str, shape: tuple[int, int]) -> Any:
    import xarray as xr

    arr = array.data if isinstance(array, xr.DataArray) else array
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ShapeMismatchError(
            f"{name} must be (n_frames, y, x) or (y, x), got shape {arr.shape}."
        )
    if tuple(arr.shape[1:]) != tuple(shape):
        raise ShapeMismatchError(
            f"{name} frames are {tuple(arr.shape[1:])} (y, x) but the projections are {shape}; "
            "use reference frames taken with the same detector binning and region of interest."
        )
    return xr.DataArray(arr, dims=("frame", "y", "x"), attrs={"units": "counts"})


def make_projections(
    data: Any,
    angles_deg: Any,
    *,
    flats: Any = None,
    darks: Any = None,
    energy_ev: float | None = None,
    pixel_size_um: float | None = None,
    source: str = "",
    metadata: dict[str, Any] | None = None,
) -> RawProjections:
    """Assemble and check a :class:`RawProjections` from arrays.

    Parameters
    ----------
    data : array-like, shape (n_angles, ny, nx)
        Raw counts (numpy, h5py or dask array).
    angles_deg : array-like, shape (n_angles,)
        Projection angles in degrees.
    flats, darks : array-like, shape (n_frames, ny, nx) or (ny, nx), optional
    energy_ev : float, optional
        Photon energy in eV.
    pixel_size_um : float, optional
        Pixel size in um.

    Raises
    ------
    ProjectionGeometryError
        If the number of angles differs from the number of projections.
    ShapeMismatchError
        If flats or darks have another frame shape than the projections.
    """
    import xarray as xr

    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise ProjectionGeometryError(
            f"projections must be (n_angles, y, x), got shape {tuple(data.shape)}."
        )
    angles = np.asarray(angles_deg, dtype=float).ravel()
    n_ang, ny, nx = (int(s) for s in data.shape)
    if angles.size != n_ang:
        raise ProjectionGeometryError(
            f"{n_ang} projections but {angles.size} angles in {source or 'the input'}; the angles "
            "list must have exactly one entry (degrees) per projection. Check the angles file or "
            "drop the extra projections (e.g. a final 180-degree frame) before reading."
        )
    if not np.all(np.isfinite(angles)):
        raise ProjectionGeometryError("projection angles contain NaN/inf; fix the angles list.")
    px = None if pixel_size_um is None else float(pixel_size_um)
    if px is not None and not (np.isfinite(px) and px > 0):
        raise MissingMetadataError(f"pixel size {pixel_size_um!r} um is not a positive number.")
    step = px if px is not None else 1.0
    coords = {
        "angle": ("angle", angles, {"units": "degree"}),
        "y": ("y", np.arange(ny) * step, {"units": "um" if px else "pixel"}),
        "x": ("x", np.arange(nx) * step, {"units": "um" if px else "pixel"}),
    }
    attrs = {
        "units": "counts",
        "energy_ev": None if energy_ev is None else float(energy_ev),
        "pixel_size_um": px,
        "source": source,
    }
    da_ = xr.DataArray(data, dims=("angle", "y", "x"), coords=coords, attrs=attrs)
    return RawProjections(
        data=da_,
        flats=None if flats is None else _frames(flats, "flats", (ny, nx)),
        darks=None if darks is None else _frames(darks, "darks", (ny, nx)),
        energy_ev=None if energy_ev is None else float(energy_ev),
        pixel_size_um=px,
        source=source,
        metadata=dict(metadata or {}),
    )


# -- HDF5: APS Data Exchange and NSLS-II FXI ----------------------------------------------------


def _open_h5(path):
    return open_h5(path)


def _load(dset: Any, lazy: bool) -> Any:
    if lazy:
        import dask.array as da

        # slabs of detector rows across all angles: what pre-processing and reconstruction
        # read (h5py then reads hyperslabs, not whole frames, for each slab)
        chunks = (
            (dset.shape[0], min(32, dset.shape[1]), dset.shape[2]) if dset.ndim == 3 else "auto"
        )
        return da.from_array(dset, chunks=chunks)
    try:
        return dset[...]
    except OSError as exc:
        raise TruncatedFileError(
            f"could not read {dset.name} from {dset.file.filename} ({exc}); the file is probably "
            "truncated: copy it again."
        ) from exc


def _scalar(fh: Any, paths: tuple[str, ...]) -> Any:
    for p in paths:
        if p in fh:
            value = fh[p][()]
            if isinstance(value, np.ndarray):
                value = value.ravel()[0] if value.size else None
            if isinstance(value, bytes):
                value = value.decode(errors="replace")
            return value
    return None


def _axes_order(dset: Any) -> tuple[int, int, int] | None:
    axes = dset.attrs.get("axes")
    if axes is None:
        return None
    if isinstance(axes, bytes):
        axes = axes.decode()
    names = [a.strip().lower() for a in str(axes).split(":")]
    if len(names) != 3:
        return None
    order = []
    for key in ("theta", "y", "x"):
        hits = [i for i, n in enumerate(names) if n.split("_")[0] == key]
        if len(hits) != 1:
            return None
        order.append(hits[0])
    return tuple(order)


def read_data_exchange(path: PathLike, *, lazy: bool = False) -> RawProjections:
    """Read an APS Data Exchange HDF5 tomography file.

    Reads ``/exchange/data`` (projections), ``/exchange/data_white`` (flats),
    ``/exchange/data_dark`` (darks) and ``/exchange/theta`` (degrees). The ``axes`` attribute
    (e.g. ``"theta:y:x"``) is honoured; without ``theta`` the angles are taken as evenly spaced
    over [0, 180) degrees. Energy (``/measurement/instrument/monochromator/energy``, keV or eV)
    and pixel size (``.../detection_system/objective/resolution`` or ``.../detector/pixel_size``,
    um) are read when present.

    Parameters
    ----------
    path : path
        The ``.h5`` file.
    lazy : bool
        Return dask arrays backed by the file (keeps it open) instead of loading into memory.

    Returns
    -------
    RawProjections

    Raises
    ------
    FileFormatError
        If the file is not HDF5 or has no ``/exchange/data``.
    """
    fh = _open_h5(path)
    if "exchange/data" not in fh:
        fh.close()
        raise FileFormatError(
            f"{path} has no /exchange/data dataset: it is not an APS Data Exchange tomography file "
            "(for NSLS-II FXI files use read_fxi)."
        )
    dset = fh["exchange/data"]
    data = _load(dset, lazy)
    order = _axes_order(dset)
    if order is not None and order != (0, 1, 2):
        data = data.transpose(order)
    n_ang = int(data.shape[0])
    if "exchange/theta" in fh:
        theta = np.asarray(fh["exchange/theta"][...], dtype=float).ravel()
        units = fh["exchange/theta"].attrs.get("units", b"degrees")
        units = units.decode() if isinstance(units, bytes) else str(units)
        if units.lower().startswith("rad"):
            theta = np.degrees(theta)
        angle_source = "exchange/theta"
    else:
        theta = np.linspace(0.0, 180.0, n_ang, endpoint=False)
        angle_source = "evenly spaced over [0, 180) degrees (no /exchange/theta)"
    flats = _load(fh["exchange/data_white"], lazy) if "exchange/data_white" in fh else None
    darks = _load(fh["exchange/data_dark"], lazy) if "exchange/data_dark" in fh else None
    energy = _scalar(fh, ("measurement/instrument/monochromator/energy",))
    if energy is not None:
        energy = float(energy)
        energy = energy * 1000.0 if energy < 200 else energy  # keV -> eV
    pixel = _scalar(
        fh,
        (
            "measurement/instrument/detection_system/objective/resolution",
            "measurement/instrument/detector/pixel_size",
        ),
    )
    meta = {"angle_source": angle_source, "format": "aps_data_exchange"}
    if not lazy:
        fh.close()
    return make_projections(
        data,
        theta,
        flats=flats,
        darks=darks,
        energy_ev=energy,
        pixel_size_um=None if pixel is None else float(pixel),
        source=str(path),
        metadata=meta,
    )


def read_fxi(path: PathLike, *, lazy: bool = False) -> RawProjections:
    """Read an NSLS-II FXI (18-ID) tomography HDF5 file.

    Datasets: ``/img_tomo`` (projections), ``/img_bkg`` (flats), ``/img_dark`` (darks),
    ``/angle`` (degrees), ``/X_eng`` (keV). The pixel size is read from ``/Pixel Size``
    (e.g. ``"21.3nm"``) when present.

    Parameters
    ----------
    path : path
    lazy : bool
        Return dask arrays backed by the file.

    Returns
    -------
    RawProjections

    Raises
    ------
    FileFormatError
        If ``/img_tomo`` is missing.
    MissingMetadataError
        If ``/angle`` is missing.
    """
    fh = _open_h5(path)
    if "img_tomo" not in fh:
        fh.close()
        raise FileFormatError(f"{path} has no /img_tomo dataset: not an FXI tomography file.")
    if "angle" not in fh:
        fh.close()
        raise MissingMetadataError(
            f"{path} has no /angle dataset; pass the angles explicitly with make_projections()."
        )
    data = _load(fh["img_tomo"], lazy)
    angles = np.asarray(fh["angle"][...], dtype=float).ravel()
    flats = _load(fh["img_bkg"], lazy) if "img_bkg" in fh else None
    darks = _load(fh["img_dark"], lazy) if "img_dark" in fh else None
    energy = _scalar(fh, ("X_eng",))
    if energy is not None:
        energy = float(energy)
        energy = energy * 1000.0 if energy < 200 else energy  # FXI stores keV
    pixel = _scalar(fh, ("Pixel Size", "pixel_size"))
    pixel_um = _parse_length_um(pixel)
    meta = {"format": "nsls2_fxi"}
    for key in ("scan_id", "note", "scan_time"):
        value = _scalar(fh, (key,))
        if value is not None:
            meta[key] = value if isinstance(value, str | int | float) else str(value)
    if not lazy:
        fh.close()
    return make_projections(
        data,
        angles,
        flats=flats,
        darks=darks,
        energy_ev=energy,
        pixel_size_um=pixel_um,
        source=str(path),
        metadata=meta,
    )


def _parse_length_um(value: Any) -> float | None:
    """Parse ``21.3nm``, ``0.0213 um`` or a bare number (taken as nm if > 1, as FXI does)."""
    if value is None:
        return None
    if isinstance(value, int | float | np.number):
        v = float(value)
        return v / 1000.0 if v > 1 else v
    text = str(value).strip().lower().replace("μ", "u")
    for unit, factor in (("nm", 1e-3), ("um", 1.0), ("mm", 1e3)):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * factor
            except ValueError:
                return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v / 1000.0 if v > 1 else v


# -- Xradia / Zeiss .xrm / .txrm ------------------------------------------------------------------

_XRADIA_DTYPES = {5: np.dtype("<u2"), 10: np.dtype("<f4"), 3: np.dtype("<u1"), 4: np.dtype("<i2")}


def _ole_array(ole: Any, stream: str, dtype: str) -> np.ndarray | None:
    if not ole.exists(stream):
        return None
    return np.frombuffer(ole.openstream(stream).read(), dtype=dtype)


def read_xradia(
    path: PathLike, *, reference: PathLike | RawProjections | None = None
) -> RawProjections:
    """Read a Zeiss/Xradia ``.xrm`` (one image) or ``.txrm`` (tomography series) file.

    Image size, data type, pixel size (``ImageInfo/PixelSize``, um), energy
    (``ImageInfo/Energy``, eV) and angles (``ImageInfo/Angles``, degrees) come from the OLE
    metadata streams. A reference (flat) frame is taken from ``ReferenceData/Image`` when the file
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
        ``date`` and the per-image ``energies_ev`` of a ``.txrm``.

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

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if not olefile.isOleFile(str(p)):
        raise FileFormatError(
            f"{p} is not an Xradia .xrm/.txrm file (not an OLE2 compound document); check the "
            "file type or that the copy is complete."
        )
    try:
        ole = olefile.OleFileIO(str(p))
    except OSError as exc:
        raise TruncatedFileError(
            f"{p}: cannot parse the OLE2 container ({exc}); copy it again."
        ) from exc
    try:
        width = _ole_array(ole, "ImageInfo/ImageWidth", "<i4")
        height = _ole_array(ole, "ImageInfo/ImageHeight", "<i4")
        if width is None or height is None:
            raise MissingMetadataError(f"{p} lacks ImageInfo/ImageWidth or ImageHeight.")
        nx, ny = int(width[0]), int(height[0])
        dtype_code = _ole_array(ole, "ImageInfo/DataType", "<i4")
        n_images_arr = _ole_array(ole, "ImageInfo/NoOfImages", "<i4")
        n_images = int(n_images_arr[0]) if n_images_arr is not None else 1
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
            frames.append(
                np.frombuffer(raw[: nx * ny * dtype.itemsize], dtype=dtype).reshape(ny, nx)
            )
        data = np.stack(frames)
        n = data.shape[0]
        angles = _ole_array(ole, "ImageInfo/Angles", "<f4")
        energies = _ole_array(ole, "ImageInfo/Energy", "<f4")
        pixel = _ole_array(ole, "ImageInfo/PixelSize", "<f4")
        if angles is None or angles.size < n:
            raise MissingMetadataError(
                f"{p}: ImageInfo/Angles has {0 if angles is None else angles.size} values for {n} "
                "images; pass the angles explicitly with make_projections()."
            )
        flats = None
        if ole.exists("ReferenceData/Image"):
            ref_raw = ole.openstream("ReferenceData/Image").read()
            ref_dtype = np.dtype("<f4") if len(ref_raw) >= 4 * nx * ny else np.dtype("<u2")
            flats = np.frombuffer(ref_raw[: nx * ny * ref_dtype.itemsize], ref_dtype).reshape(
                ny, nx
            )
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
        energy_ev = None
        if energies is not None and energies.size:
            energy_ev = float(np.mean(energies[:n]))
            meta["energies_ev"] = energies[:n].astype(float).tolist()
    finally:
        ole.close()
    proj = make_projections(
        data,
        angles[:n].astype(float),
        flats=flats,
        energy_ev=energy_ev,
        pixel_size_um=None if pixel is None or not pixel.size or pixel[0] <= 0 else float(pixel[0]),
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


# -- TIFF stacks ------------------------------------------------------------------------------------


def _read_tiffs(spec: Any) -> np.ndarray:
    import tifffile

    if isinstance(spec, str | os.PathLike):
        p = Path(spec)
        if p.is_dir():
            files = sorted(p.glob("*.tif")) + sorted(p.glob("*.tiff"))
        elif any(ch in str(spec) for ch in "*?["):
            files = [Path(f) for f in sorted(glob.glob(str(spec)))]
        else:
            files = [p]
    else:
        files = [Path(f) for f in spec]
    if not files:
        raise FileNotFoundError(f"no TIFF files found for {spec!r}.")
    arrays = []
    for f in files:
        try:
            arr = tifffile.imread(f)
        except Exception as exc:  # tifffile raises several types on corrupt files
            raise FileFormatError(f"{f} is not a readable TIFF ({exc}).") from exc
        arrays.append(arr if arr.ndim == 3 else arr[None])
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1:
        raise ShapeMismatchError(
            f"TIFF frames have different shapes {sorted(shapes)}; use one detector ROI."
        )
    return np.concatenate(arrays)


def read_angles_file(path: PathLike) -> np.ndarray:
    """Read projection angles in degrees from a text file (one number per line or per row).

    Lines starting with ``#`` are ignored; if rows have several columns the last one is used.
    """
    p = Path(path)
    try:
        table = np.loadtxt(p, comments="#", ndmin=2, delimiter=None)
    except ValueError as exc:
        raise FileFormatError(
            f"{p}: angles file must hold numbers (degrees), one per line ({exc})."
        ) from exc
    return table[:, -1].astype(float)


def read_tiff_stack(
    projections: PathLike | list[PathLike],
    angles: PathLike | np.ndarray,
    *,
    flats: PathLike | list[PathLike] | None = None,
    darks: PathLike | list[PathLike] | None = None,
    energy_ev: float | None = None,
    pixel_size_um: float | None = None,
) -> RawProjections:
    """Read projections from TIFF file(s) (a multi-page stack, a folder, a glob or a list).

    Parameters
    ----------
    projections : path, glob or list of paths
        Files sorted by name give the projection order.
    angles : path or array, shape (n_angles,)
        Angles file (see :func:`read_angles_file`) or array, degrees.
    flats, darks : path, glob or list, optional
        Reference frames.
    energy_ev, pixel_size_um : float, optional
        TIFFs carry no beamline metadata: give them here.
    """
    data = _read_tiffs(projections)
    theta = (
        read_angles_file(angles)
        if isinstance(angles, str | os.PathLike)
        else np.asarray(angles, float)
    )
    return make_projections(
        data,
        theta,
        flats=None if flats is None else _read_tiffs(flats),
        darks=None if darks is None else _read_tiffs(darks),
        energy_ev=energy_ev,
        pixel_size_um=pixel_size_um,
        source=str(projections) if not isinstance(projections, list) else str(projections[0]),
        metadata={"format": "tiff"},
    )


def read_projections(path: PathLike, *, lazy: bool = False, **kwargs: Any) -> RawProjections:
    """Read raw projections, choosing the reader from the file (HDF5 layout or extension).

    ``.xrm``/``.txrm`` -> :func:`read_xradia`; HDF5 with ``/exchange/data`` ->
    :func:`read_data_exchange`; HDF5 with ``/img_tomo`` -> :func:`read_fxi`; ``.tif``/``.tiff``
    (or a folder) -> :func:`read_tiff_stack` (needs ``angles=``).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".xrm", ".txrm"):
        return read_xradia(p, **kwargs)
    if suffix in (".tif", ".tiff") or p.is_dir():
        if "angles" not in kwargs:
            raise MissingMetadataError(
                "TIFF projections need angles=: an angles file or array in degrees."
            )
        return read_tiff_stack(p, **kwargs)
    fh = _open_h5(p)
    try:
        is_dx, is_fxi = "exchange/data" in fh, "img_tomo" in fh
    finally:
        fh.close()
    if is_dx:
        return read_data_exchange(p, lazy=lazy)
    if is_fxi:
        return read_fxi(p, lazy=lazy)
    raise FileFormatError(
        f"{p}: HDF5 layout not recognised (expected /exchange/data for APS Data Exchange or "
        "/img_tomo for NSLS-II FXI)."
    )
