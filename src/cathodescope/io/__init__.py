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

# --

# -- SPM --
from cathodescope.io._spm import SPMScan, read_gwy, read_ibw, read_nanoscope, read_spm

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
