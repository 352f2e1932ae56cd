"""Readers for raw transmission X-ray microscopy (TXM) / tomography projections.

Formats: APS Data Exchange HDF5, NSLS-II FXI (18-ID) HDF5, Xradia/Zeiss ``.xrm``/``.txrm`` (OLE2
compound files, :mod:`cathodescope.io._xradia`), and TIFF stacks with an angles file. Every
reader returns a :class:`RawProjections`: the projections as an ``xarray.DataArray`` with dims
``(angle, y, x)`` (angle coordinate in degrees, ``y``/``x`` in um when the pixel size is known,
else in pixels), plus flat (white/reference) and dark frames as DataArrays with dims
``(frame, y, x)``, and the photon energy in eV (None when the file does not record it, never 0).

HDF5 readers can return lazy (dask) arrays (``lazy=True``) so that stacks larger than memory
are processed slab by slab by :func:`cathodescope.tomo.preprocess`.
"""

from __future__ import annotations

import glob
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope._validation import normalize_spacing
from cathodescope.common.files import check_input_file
from cathodescope.common.plausibility import check_energy_ev_plausible
from cathodescope.errors import (
    CathodescopeError,
    EnergyFromFileNameWarning,
    FileFormatError,
    InputNotFoundError,
    MissingMetadataError,
    ProjectionGeometryError,
    ShapeMismatchError,
)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RawProjections:
    """Raw projections of one energy with their reference frames.

    Parameters
    ----------
    data : xarray.DataArray, dims (angle, y, x)
        Raw detector counts. ``angle`` coordinate in degrees; ``y``/``x`` in um (pixel centres,
        ``attrs["spacing_um"]``) or pixels when the pixel size is unknown.
    flats : xarray.DataArray, dims (frame, y, x), or None
        Flat-field (white, reference) frames, counts.
    darks : xarray.DataArray, dims (frame, y, x), or None
        Dark frames, counts.
    energy_ev : float or None
        Photon energy in eV; None when unknown (never 0).
    spacing : tuple of float or None
        Detector pixel pitch ``(dy, dx)`` in the sample plane, um; None when unknown.
    source : str
        File the data came from.
    metadata : dict
        Other metadata read from the file (magnification, exposure time...).
    """

    data: Any
    flats: Any = None
    darks: Any = None
    energy_ev: float | None = None
    spacing: tuple[float, float] | None = None
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def angles(self) -> np.ndarray:
        """Projection angles in degrees, shape (n_angles,)."""
        return np.asarray(self.data["angle"].values, dtype=float)

    def with_metadata(
        self,
        *,
        energy_ev: float | None = None,
        spacing: float | Sequence[float] | None = None,
    ) -> RawProjections:
        """Return a copy with the photon energy and/or the detector pitch replaced.

        Parameters
        ----------
        energy_ev : float, optional
            Photon energy in eV (kept when None).
        spacing : float or (dy, dx), optional
            Detector pixel pitch in the sample plane, um (kept when None); the ``y``/``x``
            coordinates are rebuilt in um.

        Returns
        -------
        RawProjections
        """
        new = self
        if energy_ev is not None:
            e = _energy_or_none(energy_ev)
            if e is None:
                raise MissingMetadataError(
                    f"energy {energy_ev!r} eV is not a positive number; give the photon energy "
                    "in eV (--energy on the command line)."
                )
            check_energy_ev_plausible(e, name=f"energy of {self.source or 'the scan'}")
            new = replace(new, energy_ev=e, data=new.data.assign_attrs(energy_ev=e))
        if spacing is not None:
            dy, dx = normalize_spacing(spacing, 2)
            ny, nx = new.data.shape[1:]
            data = new.data.assign_coords(
                y=("y", np.arange(ny) * dy, {"units": "um"}),
                x=("x", np.arange(nx) * dx, {"units": "um"}),
            ).assign_attrs(spacing_um=(dy, dx))
            new = replace(new, data=data, spacing=(dy, dx))
        return new

    def select_rows(self, rows: slice) -> RawProjections:
        """Return a copy restricted to detector rows ``rows`` (projections, flats and darks).

        Parameters
        ----------
        rows : slice
            Detector rows (``y`` indices), e.g. ``slice(100, 164)``.

        Returns
        -------
        RawProjections
        """
        return replace(
            self,
            data=self.data.isel(y=rows),
            flats=None if self.flats is None else self.flats.isel(y=rows),
            darks=None if self.darks is None else self.darks.isel(y=rows),
        )

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


def _energy_or_none(value: Any) -> float | None:
    """A photon energy in eV, or None for a missing, zero, negative or non-finite value."""
    if value is None:
        return None
    try:
        e = float(value)
    except (TypeError, ValueError):
        return None
    return e if math.isfinite(e) and e > 0 else None


def make_projections(
    data: Any,
    angles_deg: Any,
    *,
    flats: Any = None,
    darks: Any = None,
    energy_ev: float | None = None,
    spacing: float | Sequence[float] | None = None,
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
        Flat-field (beam, no sample) and dark (no beam) frames, raw counts.
    energy_ev : float, optional
        Photon energy in eV; 0, negative or non-finite values (files that store 0 for
        "unknown") become None.
    spacing : float or (dy, dx), optional
        Detector pixel pitch in the sample plane, um.
    source : str
        Where the data came from (file name).
    metadata : dict, optional
        Other metadata.

    Returns
    -------
    RawProjections

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
    px: tuple[float, float] | None = None
    if spacing is not None:
        try:
            px = normalize_spacing(spacing, 2)  # type: ignore[assignment]
        except CathodescopeError as exc:
            raise MissingMetadataError(
                f"pixel size {spacing!r} um is not a positive number (or a (dy, dx) pair)."
            ) from exc
    dy, dx = px if px is not None else (1.0, 1.0)
    unit = "um" if px else "pixel"
    energy = _energy_or_none(energy_ev)
    if energy is not None:
        check_energy_ev_plausible(energy, name=f"energy of {source or 'the scan'}")
    coords = {
        "angle": ("angle", angles, {"units": "degree"}),
        "y": ("y", np.arange(ny) * dy, {"units": unit}),
        "x": ("x", np.arange(nx) * dx, {"units": unit}),
    }
    attrs = {"units": "counts", "energy_ev": energy, "spacing_um": px, "source": source}
    da_ = xr.DataArray(data, dims=("angle", "y", "x"), coords=coords, attrs=attrs)
    return RawProjections(
        data=da_,
        flats=None if flats is None else _frames(flats, "flats", (ny, nx)),
        darks=None if darks is None else _frames(darks, "darks", (ny, nx)),
        energy_ev=energy,
        spacing=px,
        source=source,
        metadata=dict(metadata or {}),
    )


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
            files = [check_input_file(p, "TIFF")]
    else:
        files = [check_input_file(f, "TIFF") for f in spec]
    if not files:
        raise InputNotFoundError(
            f"no TIFF files found for {spec!r}; check the path, folder or glob pattern."
        )
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

    Parameters
    ----------
    path : path
        Text file.

    Returns
    -------
    ndarray, shape (n_angles,)
        Angles in degrees.
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
    spacing: float | Sequence[float] | None = None,
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
    energy_ev : float, optional
        Photon energy in eV (TIFFs carry no beamline metadata).
    spacing : float or (dy, dx), optional
        Detector pixel pitch in um.

    Returns
    -------
    RawProjections
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
        spacing=spacing,
        source=str(projections) if not isinstance(projections, list) else str(projections[0]),
        metadata={"format": "tiff"},
    )


def read_projections(
    path: PathLike,
    *,
    lazy: bool = False,
    reference: PathLike | RawProjections | None = None,
    angles: PathLike | np.ndarray | None = None,
    flats: PathLike | list[PathLike] | None = None,
    darks: PathLike | list[PathLike] | None = None,
    energy_ev: float | None = None,
    spacing: float | Sequence[float] | None = None,
) -> RawProjections:
    """Read raw projections, choosing the reader from the file (HDF5 layout or extension).

    ``.xrm``/``.txrm`` -> :func:`read_xradia` (with ``reference``); HDF5 with
    ``/exchange/data`` -> :func:`read_data_exchange`; HDF5 with ``/img_tomo`` ->
    :func:`read_fxi`; ``.tif``/``.tiff`` (or a folder) -> :func:`read_tiff_stack` (needs
    ``angles``, takes ``flats``/``darks``).

    Parameters
    ----------
    path : path
        Projection file or TIFF folder.
    lazy : bool
        HDF5 only: dask arrays backed by the file, read slab by slab.
    reference : path or RawProjections, optional
        Xradia only: the flat-field ``.xrm``.
    angles : path or array, optional
        TIFF only: angles file or array in degrees.
    flats, darks : path, glob or list, optional
        TIFF only: reference frames.
    energy_ev : float, optional
        Photon energy in eV, replacing what the file says (or does not say).
    spacing : float or (dy, dx), optional
        Detector pixel pitch in um, replacing the file's.

    Returns
    -------
    RawProjections

    Raises
    ------
    FileFormatError
        An HDF5 layout that is neither Data Exchange nor FXI.
    MissingMetadataError
        TIFF projections without ``angles``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".xrm", ".txrm"):
        from cathodescope.io._xradia import read_xradia

        with warnings.catch_warnings():
            if energy_ev is not None:  # given: a guess from the file name is not used
                warnings.simplefilter("ignore", EnergyFromFileNameWarning)
            raw = read_xradia(p, reference=reference)
    elif suffix in (".tif", ".tiff") or p.is_dir():
        if angles is None:
            raise MissingMetadataError(
                "TIFF projections need angles=: an angles file or array in degrees (--angles)."
            )
        raw = read_tiff_stack(p, angles, flats=flats, darks=darks)
    else:
        from cathodescope.io._txm_hdf5 import read_hdf5_projections

        raw = read_hdf5_projections(p, lazy=lazy)
    if energy_ev is not None or spacing is not None:
        raw = raw.with_metadata(energy_ev=energy_ev, spacing=spacing)
    return raw
