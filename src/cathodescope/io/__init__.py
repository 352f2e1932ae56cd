"""Readers and writers. One private module per format family; writers are atomic.

Readers return the project's data model (``xarray.DataArray`` with named dims, physical
coordinates and ``attrs["units"]``, or documented pandas DataFrames) and raise specific
exceptions from :mod:`cathodescope.errors` on corrupt, truncated or unrecognised files.
"""

from cathodescope.common.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    sha256_file,
)
from cathodescope.common.schemas import CANONICAL_COLUMNS, STEP_TYPES
from cathodescope.io._arbin import read_arbin_csv, read_arbin_res
from cathodescope.io._biologic import read_biologic_mpr, read_biologic_mpt
from cathodescope.io._cycler_table import build_cycling_table, join_cycling_tables
from cathodescope.io._cyclers import read_cycler, read_cycler_csv
from cathodescope.io._maccor import read_maccor
from cathodescope.io._neware import read_neware_ndax
from cathodescope.io._spm import SPMScan, read_gwy, read_ibw, read_nanoscope, read_spm
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
from cathodescope.io._volumes import as_channel_array, read_channel, read_channels
from cathodescope.io._xas import (
    AthenaGroup,
    read_athena,
    read_xanes_stack,
    read_xas_columns,
    read_xdi,
    resolve_energy_units,
    write_athena_json,
)
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
from cathodescope.io._xrf import (
    read_maps_h5,
    read_pyxrf_h5,
    read_xrf_map,
    read_xrf_tiffs,
    write_pyxrf_h5,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "STEP_TYPES",
    "AthenaGroup",
    "RawProjections",
    "SPMScan",
    "as_channel_array",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "build_cycling_table",
    "join_cycling_tables",
    "make_pattern",
    "make_projections",
    "make_series",
    "read_angles_file",
    "read_arbin_csv",
    "read_arbin_res",
    "read_athena",
    "read_biologic_mpr",
    "read_biologic_mpt",
    "read_bruker_raw",
    "read_channel",
    "read_channels",
    "read_cycler",
    "read_cycler_csv",
    "read_data_exchange",
    "read_fxi",
    "read_gsas",
    "read_gwy",
    "read_ibw",
    "read_maccor",
    "read_maps_h5",
    "read_nanoscope",
    "read_neware_ndax",
    "read_pattern",
    "read_projections",
    "read_pyxrf_h5",
    "read_series",
    "read_spm",
    "read_tiff_stack",
    "read_uxd",
    "read_xanes_stack",
    "read_xas_columns",
    "read_xdi",
    "read_xradia",
    "read_xrf_map",
    "read_xrf_tiffs",
    "read_xy",
    "resolve_energy_units",
    "sha256_file",
    "write_athena_json",
    "write_pyxrf_h5",
]
