"""Readers and writers. One private module per format family; writers are atomic.

Readers return the project's data model (``xarray.DataArray`` with named dims, physical
coordinates and ``attrs["units"]``, or documented pandas DataFrames) and raise specific
exceptions from :mod:`cathodescope.errors` on corrupt, truncated or unrecognised files.
"""

from cathodescope.io._atomic import atomic_path, atomic_write_bytes, atomic_write_text, sha256_file

# -- image channels and volumes (TIFF, npy, HDF5, Zarr) --
from cathodescope.io._volumes import as_channel_array, read_channel, read_channels

# --

# -- TXM projections --

# --

# -- XAS --

# --

# -- cyclers --

# --

# -- XRF --
from cathodescope.io._xrf import (
    read_maps_h5,
    read_pyxrf_h5,
    read_xrf_map,
    read_xrf_tiffs,
    write_pyxrf_h5,
)

# --

# -- SPM --

# --

# -- XRD and thermal --

# --

__all__ = [
    "as_channel_array",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "read_channel",
    "read_channels",
    "sha256_file",
]
