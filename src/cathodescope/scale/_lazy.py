"""Lazy channels: Zarr arrays, HDF5 datasets, TIFF stacks and .npy files as dask arrays.

Every source is a small picklable object that opens its file on each read, so that the dask
arrays built on it can be shipped to the workers of a distributed cluster (an open ``h5py``
dataset cannot be pickled).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.errors import (
    FileFormatError,
    InputNotFoundError,
    ParameterError,
    ShapeMismatchError,
)
from cathodescope.io import split_dataset_path


class _Source:
    """Array-like over one file: ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` by slices."""

    def __init__(self, path: Path, inner: str | None) -> None:
        self.path = path
        self.inner = inner
        self.shape, self.dtype = self._probe()
        self.ndim = len(self.shape)

    def _probe(self) -> tuple[tuple[int, ...], np.dtype]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({os.fspath(self.path)!r}, shape={self.shape})"


class _ZarrSource(_Source):
    def _open(self) -> Any:
        import zarr

        node = zarr.open(str(self.path), mode="r")
        if self.inner is not None:
            node = node[self.inner.strip("/")]
        elif not hasattr(node, "shape"):
            names = [k for k, v in node.arrays()]
            if len(names) != 1:
                raise FileFormatError(
                    f"{self.path} is a Zarr group with arrays {names}; name one as "
                    f"{self.path}:/ARRAY."
                )
            node = node[names[0]]
        return node

    def _probe(self) -> tuple[tuple[int, ...], np.dtype]:
        node = self._open()
        return tuple(int(n) for n in node.shape), np.dtype(node.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._open()[key])


class _H5Source(_Source):
    def _probe(self) -> tuple[tuple[int, ...], np.dtype]:
        from cathodescope.common.hdf5 import open_h5

        with open_h5(self.path) as fh:
            dset = self._dataset(fh)
            return tuple(int(n) for n in dset.shape), np.dtype(dset.dtype)

    def _dataset(self, fh: Any) -> Any:
        import h5py

        if self.inner is None:
            found: list[str] = []
            fh.visititems(
                lambda n, o: (
                    found.append(n) if isinstance(o, h5py.Dataset) and o.ndim >= 2 else None
                )
            )
            if len(found) != 1:
                raise FileFormatError(
                    f"{self.path} holds {len(found)} image datasets {found[:5]}; name one as "
                    f"{self.path}:/DATASET."
                )
            return fh[found[0]]
        if self.inner not in fh:
            raise FileFormatError(f"{self.path} has no dataset {self.inner!r}.")
        return fh[self.inner]

    def __getitem__(self, key: Any) -> np.ndarray:
        from cathodescope.common.hdf5 import open_h5

        with open_h5(self.path) as fh:
            return np.asarray(self._dataset(fh)[key])


class _TiffSource(_Source):
    """A multi-page TIFF stack (one page per z slice) read page by page."""

    def _probe(self) -> tuple[tuple[int, ...], np.dtype]:
        import tifffile

        with tifffile.TiffFile(self.path) as tif:
            series = tif.series[0]
            return tuple(int(n) for n in series.shape), np.dtype(series.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        import tifffile

        key = key if isinstance(key, tuple) else (key,)
        if len(self.shape) != 3:
            return tifffile.imread(self.path)[key]
        zsel = key[0] if key else slice(None)
        pages = range(self.shape[0])[zsel] if isinstance(zsel, slice) else [int(zsel)]
        with tifffile.TiffFile(self.path) as tif:
            planes = [tif.pages[int(i)].asarray()[key[1:]] for i in pages]
        out = np.stack(planes) if planes else np.empty((0, *self.shape[1:]), self.dtype)
        return out if isinstance(zsel, slice) else out[0]


class _NpySource(_Source):
    def _probe(self) -> tuple[tuple[int, ...], np.dtype]:
        arr = np.load(self.path, mmap_mode="r")
        return tuple(int(n) for n in arr.shape), arr.dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(np.load(self.path, mmap_mode="r")[key])


def open_source(spec: str | os.PathLike[str]) -> _Source:
    """Open one channel file lazily (nothing but its header is read).

    Parameters
    ----------
    spec : path
        ``store.zarr`` (or ``store.zarr:/array``), ``file.h5:/dataset``, a TIFF stack or a
        ``.npy`` file.

    Returns
    -------
    array-like
        A picklable object with ``shape``, ``dtype`` and slicing that reads only the slab asked.

    Raises
    ------
    InputNotFoundError, FileFormatError
        For a missing file or a format that cannot be read lazily.
    """
    path, inner = split_dataset_path(spec)
    if not path.exists():
        raise InputNotFoundError(f"channel file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".zarr" or (
        path.is_dir() and any((path / m).exists() for m in (".zarray", "zarr.json", ".zgroup"))
    ):
        return _ZarrSource(path, inner)
    if suffix in (".h5", ".hdf5", ".hdf", ".nxs", ".cxi"):
        return _H5Source(path, inner)
    if suffix in (".tif", ".tiff"):
        return _TiffSource(path, inner)
    if suffix == ".npy":
        return _NpySource(path, inner)
    raise FileFormatError(
        f"{path} cannot be read lazily; use a Zarr store, an HDF5 dataset (file.h5:/dataset), a "
        "TIFF stack or a .npy file."
    )


def open_lazy_channels(
    files: Sequence[str | os.PathLike[str]] | Mapping[str, Any],
    channels: Sequence[str] | None = None,
    *,
    chunks: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Open one file per channel as float32 dask arrays, chunked for the out-of-core passes.

    Parameters
    ----------
    files : sequence of path, or mapping of str to path or array
        One Zarr / HDF5 / TIFF / .npy file per channel (see :func:`open_source`); a mapping
        gives channel names directly and may hold in-memory arrays (wrapped as they are).
    channels : sequence of str, optional
        Channel names in file order (required when ``files`` is a sequence).
    chunks : sequence of int, optional
        Chunk shape (voxels per axis); default: dask's automatic chunking.

    Returns
    -------
    dict of str to dask.array.Array
        float32 arrays of one common shape; nothing is read yet.

    Raises
    ------
    ParameterError
        If names and files do not pair up.
    ShapeMismatchError
        If the channels have different shapes or are not 2D/3D.

    Examples
    --------
    >>> import numpy as np
    >>> lazy = open_lazy_channels({"Ni": np.ones((4, 8, 8))}, chunks=(2, 8, 8))
    >>> lazy["Ni"].chunks[0], lazy["Ni"].dtype.name
    ((2, 2), 'float32')
    """
    import dask.array as da

    if isinstance(files, Mapping):
        pairs = list(files.items())
    else:
        files = list(files)
        names = list(channels or [])
        if len(names) != len(files):
            raise ParameterError(
                f"{len(files)} file(s) but {len(names)} channel name(s); give one name per file "
                "with --channels."
            )
        pairs = list(zip(names, files, strict=True))
    out: dict[str, Any] = {}
    for name, spec in pairs:
        if isinstance(spec, str | os.PathLike):
            src: Any = open_source(spec)
        else:
            src = getattr(spec, "values", spec)
            if not isinstance(src, da.Array):
                src = np.asarray(src)
        if src.ndim not in (2, 3):
            raise ShapeMismatchError(
                f"channel {name!r} has {src.ndim} dimensions; expected a 2D image or 3D volume."
            )
        arr = (
            src
            if isinstance(src, da.Array)
            else da.from_array(
                src, chunks=tuple(chunks) if chunks is not None else "auto", asarray=True
            )
        )
        if chunks is not None:
            arr = arr.rechunk(tuple(chunks))
        out[str(name)] = arr.astype(np.float32)
    shapes = {n: a.shape for n, a in out.items()}
    if len(set(shapes.values())) != 1:
        raise ShapeMismatchError(
            f"channels have different shapes {shapes}; register and crop them onto one grid "
            "before the analysis."
        )
    return out
