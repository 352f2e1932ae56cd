"""Chunked on-disk volumes (HDF5 dataset ``volume`` or a Zarr array) opened lazily with dask."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cathodescope.errors import FileFormatError


def open_volume(path: str | os.PathLike[str], *, dataset: str = "volume") -> Any:
    """Open a reconstructed volume lazily as a dask-backed DataArray with dims (z, y, x).

    Parameters
    ----------
    path : path
        ``.h5``/``.hdf5`` file holding ``dataset`` or a ``.zarr`` folder holding one array.
    dataset : str
        HDF5 dataset name.

    Returns
    -------
    xarray.DataArray, dims (z, y, x)
        Values read on demand, chunk by chunk (``.compute()`` or ``np.asarray`` to load).
    """
    import dask.array as da
    import xarray as xr

    p = Path(path)
    if p.suffix.lower() == ".zarr":
        arr = da.from_zarr(str(p))
    elif p.suffix.lower() in (".h5", ".hdf5", ".nxs"):
        import h5py

        fh = h5py.File(p, "r")  # kept open by the dask graph for lazy reads
        if dataset not in fh:
            fh.close()
            raise FileFormatError(
                f"{p} has no dataset {dataset!r}; pass dataset= the volume's name."
            )
        dset = fh[dataset]
        arr = da.from_array(dset, chunks=dset.chunks or "auto")
    else:
        raise FileFormatError(f"{p}: expected a .h5/.hdf5 file or a .zarr folder.")
    if arr.ndim != 3:
        raise FileFormatError(f"{p}: volume must be 3-D (z, y, x), got shape {arr.shape}.")
    return xr.DataArray(arr, dims=("z", "y", "x"))
