"""HDF5 tomography files: APS Data Exchange and NSLS-II FXI (18-ID).

Both readers return a :class:`~cathodescope.io.RawProjections`; with ``lazy=True`` the arrays
are dask arrays backed by the open file, chunked in slabs of detector rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.common.hdf5 import open_h5
from cathodescope.errors import FileFormatError, MissingMetadataError, TruncatedFileError
from cathodescope.io._txm import PathLike, RawProjections, make_projections


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
    return (order[0], order[1], order[2])


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
        spacing=None if pixel is None else float(pixel),
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
        The FXI HDF5 file.
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
    meta: dict[str, Any] = {"format": "nsls2_fxi"}
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
        spacing=pixel_um,
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


def read_hdf5_projections(p: Path, *, lazy: bool = False) -> RawProjections:
    """Read an HDF5 projection file: Data Exchange (``/exchange/data``) or FXI (``/img_tomo``)."""
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
