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
from cathodescope.io._txm import (
    RawProjections,
    make_projections,
    read_angles_file,
    read_data_exchange,
    read_fxi,
    read_projections,
    read_tiff_stack,
    read_xradia,
)

# --
# -- XAS --
from cathodescope.io._xas import (
    AthenaGroup,
    read_athena,
    read_xanes_stack,
    read_xas_columns,
    read_xdi,
    resolve_energy_units,
    write_athena_json,
)

# --
# -- SPM --
# --
# -- XRD and thermal --
from cathodescope.io._xrd import (
    make_pattern,
    make_series,
    read_bruker_raw,
    read_gsas,
    read_pattern,
    read_series,
    read_uxd,
    read_xy,
)

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

__all__ = [
    "AthenaGroup",
    "as_channel_array",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "make_pattern",
    "make_series",
    "read_athena",
    "read_bruker_raw",
    "read_channel",
    "read_channels",
    "read_gsas",
    "read_maps_h5",
    "read_pattern",
    "read_pyxrf_h5",
    "read_series",
    "read_uxd",
    "read_xanes_stack",
    "read_xas_columns",
    "read_xdi",
    "read_xrf_map",
    "read_xrf_tiffs",
    "read_xy",
    "resolve_energy_units",
    "sha256_file",
    "write_athena_json",
    "write_pyxrf_h5",
]
