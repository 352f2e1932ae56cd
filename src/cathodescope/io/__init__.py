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
from cathodescope.common.schemas import (
    CANONICAL_COLUMNS,
    STEP_TYPES,
)
from cathodescope.io._arbin import (
    read_arbin_csv,
    read_arbin_res,
)
from cathodescope.io._athena import (
    AthenaGroup,
    read_athena,
    write_athena_json,
)
from cathodescope.io._biologic import (
    read_biologic_mpr,
    read_biologic_mpt,
)
from cathodescope.io._columns import (
    read_xas_columns,
)
from cathodescope.io._cycler_table import (
    build_cycling_table,
    join_cycling_tables,
)
from cathodescope.io._cyclers import (
    read_cycler,
    read_cycler_csv,
)
from cathodescope.io._gwy import (
    read_gwy,
)
from cathodescope.io._ibw import (
    ibw_kind,
    read_ibw,
    read_ibw_cube,
    read_ibw_curve,
)
from cathodescope.io._info import (
    describe_file,
)
from cathodescope.io._maccor import (
    read_maccor,
)
from cathodescope.io._maps import (
    read_maps_h5,
)
from cathodescope.io._nanoscope import (
    read_nanoscope,
)
from cathodescope.io._neware import (
    read_neware_ndax,
)
from cathodescope.io._pattern import (
    make_pattern,
)
from cathodescope.io._pyxrf import (
    read_pyxrf_h5,
    write_pyxrf_h5,
)
from cathodescope.io._spm import (
    SPMScan,
    read_spm,
    spm_kind,
)
from cathodescope.io._stoe import (
    read_stoe_raw,
)
from cathodescope.io._txm import (
    RawProjections,
    make_projections,
    read_angles_file,
    read_projections,
    read_tiff_stack,
)
from cathodescope.io._txm_hdf5 import (
    read_data_exchange,
    read_fxi,
)
from cathodescope.io._volumes import (
    as_channel_array,
    read_channel,
    read_channels,
    split_dataset_path,
)
from cathodescope.io._xanes_stack import (
    read_xanes_stack,
)
from cathodescope.io._xas_common import (
    resolve_energy_units,
)
from cathodescope.io._xas_files import (
    read_xas_file,
    read_xas_spectrum,
    split_group,
)
from cathodescope.io._xdi import (
    read_xdi,
)
from cathodescope.io._xradia import (
    energy_from_file_name,
    read_xradia,
)
from cathodescope.io._xrd import (
    PATTERN_FORMATS,
    detect_pattern_format,
    make_series,
    read_bruker_raw,
    read_gsas,
    read_pattern,
    read_series,
    read_uxd,
    read_xy,
)
from cathodescope.io._xrf import (
    detect_xrf_format,
    read_xrf_map,
    resolve_channels,
)
from cathodescope.io._xrf_tiff import (
    read_xrf_tiffs,
)
from cathodescope.io._xy import (
    read_chi,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "PATTERN_FORMATS",
    "STEP_TYPES",
    "AthenaGroup",
    "RawProjections",
    "SPMScan",
    "as_channel_array",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "build_cycling_table",
    "describe_file",
    "detect_pattern_format",
    "detect_xrf_format",
    "energy_from_file_name",
    "ibw_kind",
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
    "read_chi",
    "read_cycler",
    "read_cycler_csv",
    "read_data_exchange",
    "read_fxi",
    "read_gsas",
    "read_gwy",
    "read_ibw",
    "read_ibw_cube",
    "read_ibw_curve",
    "read_maccor",
    "read_maps_h5",
    "read_nanoscope",
    "read_neware_ndax",
    "read_pattern",
    "read_projections",
    "read_pyxrf_h5",
    "read_series",
    "read_spm",
    "read_stoe_raw",
    "read_tiff_stack",
    "read_uxd",
    "read_xanes_stack",
    "read_xas_columns",
    "read_xas_file",
    "read_xas_spectrum",
    "read_xdi",
    "read_xradia",
    "read_xrf_map",
    "read_xrf_tiffs",
    "read_xy",
    "resolve_channels",
    "resolve_energy_units",
    "sha256_file",
    "split_dataset_path",
    "split_group",
    "spm_kind",
    "write_athena_json",
    "write_pyxrf_h5",
]
