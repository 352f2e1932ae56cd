"""The shared lower layer: what several packages need, with no analysis in it.

Everything here sits just above :mod:`cathodescope.errors` and below every domain package
(``io``, ``phantom``, ``segment``, ``profile``, the modality packages, ``report``,
``workflows``, ``cli``). Packages import these names from here instead of reaching into each
other's private modules.

- :mod:`cathodescope.common.atomic`: atomic writes (temp file + rename) and checksums.
- :mod:`cathodescope.common.hdf5`: the one HDF5 opener, with truncation mapped to
  :class:`~cathodescope.errors.TruncatedFileError`.
"""

from cathodescope.common.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    sha256_file,
)
from cathodescope.common.hdf5 import open_h5

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "open_h5", "sha256_file"]
