"""Readers and writers. One private module per format family; writers are atomic.

Readers return the project's data model (``xarray.DataArray`` with named dims, physical
coordinates and ``attrs["units"]``, or documented pandas DataFrames) and raise specific
exceptions from :mod:`cathodescope.errors` on corrupt, truncated or unrecognised files.
"""

from cathodescope.io._atomic import atomic_path, atomic_write_bytes, atomic_write_text, sha256_file

# -- image channels and volumes (TIFF, npy, HDF5, Zarr) --

# --

# -- TXM projections --

# --

# -- XAS --

# --

# -- cyclers --
from cathodescope.io._biologic import read_biologic_mpr, read_biologic_mpt
from cathodescope.io._cycler_table import (
    CANONICAL_COLUMNS,
    STEP_TYPES,
    build_cycling_table,
    join_cycling_tables,
)
from cathodescope.io._cyclers import read_arbin_csv, read_cycler, read_cycler_csv, read_neware_ndax
from cathodescope.io._maccor import read_maccor

# --

# -- XRF --

# --

# -- SPM --

# --

# -- XRD and thermal --

# --

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "sha256_file"]
