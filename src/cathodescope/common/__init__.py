"""The shared lower layer: what several packages need, with no analysis in it.

Everything here sits just above :mod:`cathodescope.errors` and below every domain package
(``io``, ``phantom``, ``segment``, ``profile``, the modality packages, ``report``,
``workflows``, ``cli``). Packages import these names from here instead of reaching into each
other's private modules.

- :mod:`cathodescope.common.atomic`: atomic writes (temp file + rename) and checksums.
- :mod:`cathodescope.common.files`: input checks shared by readers (missing file, folder,
  permissions, a text table cut mid-line, bounded decompression, values out of range).
- :mod:`cathodescope.common.plausibility`: warnings where a unit mistake is likely (nm for
  um, keV for eV, A for mA).
- :mod:`cathodescope.common.device`: the compute device (numpy or CuPy), never a fallback.
- :mod:`cathodescope.common.hdf5`: the one HDF5 opener, with truncation mapped to
  :class:`~cathodescope.errors.TruncatedFileError`.
"""

from cathodescope.common.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    sha256_file,
)
from cathodescope.common.device import gpu_available, resolve_device
from cathodescope.common.files import (
    check_input_file,
    incomplete_last_line,
    raise_if_cut,
    read_gzip_bounded,
    warn_if_out_of_range,
    warn_incomplete_row,
)
from cathodescope.common.hdf5 import open_h5
from cathodescope.common.plausibility import (
    check_current_ma_plausible,
    check_energy_ev_plausible,
    check_spacing_plausible,
)

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_current_ma_plausible",
    "check_energy_ev_plausible",
    "check_input_file",
    "check_spacing_plausible",
    "gpu_available",
    "incomplete_last_line",
    "open_h5",
    "raise_if_cut",
    "read_gzip_bounded",
    "resolve_device",
    "sha256_file",
    "warn_if_out_of_range",
    "warn_incomplete_row",
]
