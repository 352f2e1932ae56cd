"""Readers and writers. One private module per format family; writers are atomic."""

from cathodescope.io._atomic import atomic_path, atomic_write_bytes, atomic_write_text, sha256_file

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "sha256_file"]
