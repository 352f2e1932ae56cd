"""Image channels and volumes: TIFF stacks, ``.npy``, HDF5 datasets and Zarr arrays.

One file (or dataset) per channel. Paths may name a dataset inside a container with a colon:
``scan.h5:/exchange/ni`` or ``volumes.zarr:/mn``. Readers return an ``xarray.DataArray`` with dims
``(z, y, x)`` or ``(y, x)`` and, when a spacing is given, coordinates in um.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope._validation import normalize_spacing
from cathodescope.common.files import check_input_file
from cathodescope.errors import (
    CathodescopeError,
    FileFormatError,
    ParameterError,
    ShapeMismatchError,
)

_TIFF_SUFFIXES = (".tif", ".tiff")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs")


def split_dataset_path(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Split ``file.h5:/group/data`` into ``(Path("file.h5"), "/group/data")``.

    A plain path returns ``(path, None)``. Windows drive letters (``C:\\...``) are not split.

    Parameters
    ----------
    spec : str or path
        ``file`` or ``file:dataset``.

    Returns
    -------
    (pathlib.Path, str or None)
        The container file and the dataset inside it (None for a plain path).

    Examples
    --------
    >>> path, dataset = split_dataset_path("scan.h5:/exchange/ni")
    >>> path.name, dataset
    ('scan.h5', '/exchange/ni')
    """
    text = os.fspath(spec)
    head, sep, tail = text.rpartition(":")
    if sep and head and len(head) > 1 and tail and not tail.startswith("\\"):
        return Path(head), tail
    return Path(text), None


def _dims_for(ndim: int) -> tuple[str, ...]:
    if ndim == 3:
        return ("z", "y", "x")
    if ndim == 2:
        return ("y", "x")
    raise ShapeMismatchError(
        f"expected a 2D image (y, x) or a 3D volume (z, y, x), got an array with {ndim} "
        "dimensions; split multi-channel files into one file per channel."
    )


def as_channel_array(
    data: np.ndarray | xr.DataArray,
    *,
    spacing: float | Sequence[float] | None = None,
    name: str | None = None,
    units: str = "a.u.",
) -> xr.DataArray:
    """Wrap an image or volume in a DataArray with named dims and (optional) um coordinates.

    Parameters
    ----------
    data : array, shape (y, x) or (z, y, x)
        Intensities of one channel.
    spacing : float or sequence of float, optional
        Pixel/voxel size in um (array axis order). When given, coordinates are pixel centres in
        um from 0, and ``attrs["spacing_um"]`` records it.
    name : str, optional
        Channel name, e.g. ``"Ni"``.
    units : str
        Units of the intensities.

    Returns
    -------
    xarray.DataArray
        Dims ``(y, x)`` or ``(z, y, x)``; coordinates in um when ``spacing`` is given.
    """
    if isinstance(data, xr.DataArray) and spacing is None:
        return data
    values = data.values if isinstance(data, xr.DataArray) else np.asarray(data)
    dims = _dims_for(values.ndim)
    coords: dict[str, Any] = {}
    attrs: dict[str, Any] = {"units": units}
    if spacing is not None:
        sp = normalize_spacing(spacing, values.ndim)
        coords = {d: np.arange(n) * s for d, n, s in zip(dims, values.shape, sp, strict=True)}
        attrs["spacing_um"] = sp
        for d in dims:
            coords[d] = xr.Variable(d, coords[d], attrs={"units": "um"})
    return xr.DataArray(values, dims=dims, coords=coords, name=name, attrs=attrs)


def read_channel(
    spec: str | os.PathLike[str],
    *,
    spacing: float | Sequence[float] | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Read one channel (2D image or 3D volume) from a TIFF, ``.npy``, HDF5 or Zarr file.

    Parameters
    ----------
    spec : str or path
        ``stack.tif``, ``volume.npy``, ``scan.h5:/dataset`` (the dataset is required when the file
        holds more than one), ``store.zarr`` or ``store.zarr:/array``.
    spacing : float or sequence of float, optional
        Voxel size in um; attached as coordinates.
    name : str, optional
        Channel name; defaults to the file stem.

    Returns
    -------
    xarray.DataArray
        Dims ``(z, y, x)`` or ``(y, x)``; float32 for integer data is *not* forced (the engine
        converts), the file's dtype is kept.

    Raises
    ------
    InputNotFoundError, InputIsFolderError, InputPermissionError
        If the file does not exist, is a folder (that is no Zarr store) or cannot be read.
    FileFormatError
        If the file cannot be read as the format its extension names, the dataset is missing, or
        the file holds several datasets and none was named.
    """
    path, inner = split_dataset_path(spec)
    suffix = path.suffix.lower()
    if not (path.is_dir() and _is_zarr_store(path)):
        check_input_file(path, "input")
    label = name or path.stem
    try:
        if suffix in _TIFF_SUFFIXES:
            import tifffile

            values = tifffile.imread(path)
        elif suffix == ".npy":
            values = np.load(path, mmap_mode="r", allow_pickle=False)
        elif suffix in _HDF5_SUFFIXES:
            values = _read_hdf5(path, inner)
        elif _is_zarr_store(path):
            values = _read_zarr(path, inner)
        else:
            raise FileFormatError(
                f"cannot tell the format of {path} from its extension {suffix!r}; use .tif/.tiff, "
                ".npy, .h5 (with file.h5:/dataset) or .zarr."
            )
    except (CathodescopeError, FileNotFoundError):
        raise
    except Exception as exc:  # the format libraries raise many different types
        raise FileFormatError(
            f"could not read {path} as {suffix or 'a known format'}: {exc}. The file may be "
            "truncated or of another format."
        ) from exc
    values = np.asarray(values)
    if values.ndim == 3 and 1 in values.shape[:1]:
        values = values[0]
    return as_channel_array(values, spacing=spacing, name=label)


def _is_zarr_store(path: Path) -> bool:
    """Whether ``path`` names a Zarr store (by extension, or a folder with Zarr metadata)."""
    return path.suffix.lower() == ".zarr" or (
        path.is_dir() and ((path / ".zarray").exists() or (path / "zarr.json").exists())
    )


def _read_hdf5(path: Path, inner: str | None) -> np.ndarray:
    import h5py

    from cathodescope.common.hdf5 import open_h5

    with open_h5(path) as fh:
        if inner is None:
            datasets: list[str] = []
            fh.visititems(
                lambda key, obj: datasets.append(key) if isinstance(obj, h5py.Dataset) else None
            )
            candidates = [d for d in datasets if fh[d].ndim in (2, 3)]
            if len(candidates) != 1:
                raise FileFormatError(
                    f"{path} holds {len(candidates)} image datasets {candidates[:6]}; name one as "
                    f"{path.name}:/path/to/dataset."
                )
            inner = candidates[0]
        if inner not in fh or not isinstance(fh[inner], h5py.Dataset):
            raise FileFormatError(f"{path} has no dataset {inner!r}; check the name with h5ls.")
        return fh[inner][...]


def _read_zarr(path: Path, inner: str | None) -> np.ndarray:
    import zarr

    node: Any = zarr.open(str(path), mode="r")  # an Array or a Group, known only at run time
    if inner is not None:
        node = node[inner.strip("/")]
    if not hasattr(node, "shape"):
        names = list(node.array_keys()) if hasattr(node, "array_keys") else []
        raise FileFormatError(
            f"{path} is a Zarr group; name one of its arrays {names[:6]} as {path.name}:/array."
        )
    return node[...]


def read_channels(
    specs: Sequence[str | os.PathLike[str]],
    names: Sequence[str],
    *,
    spacing: float | Sequence[float] | None = None,
) -> dict[str, xr.DataArray]:
    """Read one file per channel and check that they describe the same grid.

    Parameters
    ----------
    specs : sequence of path
        One file (or ``file:dataset``) per channel, see :func:`read_channel`.
    names : sequence of str
        Channel names in file order.
    spacing : float or sequence of float, optional
        Pixel/voxel size in um (array axis order) for the coordinates.

    Returns
    -------
    dict of str to xarray.DataArray
        The channels by name, in file order.

    Raises
    ------
    ParameterError
        If the number of files and names differ.
    ShapeMismatchError
        If the channels have different shapes.
    """
    if len(specs) != len(names):
        raise ParameterError(
            f"got {len(specs)} files but {len(names)} channel names {list(names)}; give one "
            "file per channel, in the same order as --channels."
        )
    channels = {
        n: read_channel(s, spacing=spacing, name=n) for s, n in zip(specs, names, strict=True)
    }
    shapes = {n: a.shape for n, a in channels.items()}
    if len(set(shapes.values())) > 1:
        raise ShapeMismatchError(
            f"channels have different shapes {shapes}; register/crop them onto one grid first."
        )
    return channels
