"""Exceptions raised by cathodescope.

Every error a user can cause by handing us bad input has a specific class here, and its message
says what was wrong and what to do about it. All classes derive from :class:`CathodescopeError`;
most also derive from the built-in exception a Python user would expect (``ValueError``,
``OSError``...), so ``except ValueError`` keeps working.

Each subpackage adds its own classes in its own section below.
"""

from __future__ import annotations


class CathodescopeError(Exception):
    """Base class of every exception raised deliberately by cathodescope."""


class CathodescopeWarning(UserWarning):
    """Base class of warnings that a run records in its manifest and carries on."""


# --- shared: parameters, arrays, units -----------------------------------------------------


class ParameterError(CathodescopeError, ValueError):
    """An option or parameter is impossible (negative width, unknown method name...)."""


class SpacingError(ParameterError):
    """Voxel/pixel spacing is missing, non-finite, non-positive or of the wrong length."""


class ShapeMismatchError(CathodescopeError, ValueError):
    """Arrays that must share a shape (channels of one scene, frames of one series) do not."""


class NonFiniteDataError(CathodescopeError, ValueError):
    """The data contain NaN or infinite values where finite numbers are required."""


class EmptyDataError(CathodescopeError, ValueError):
    """An input is empty, all zero or carries no usable signal."""


class UnitsError(CathodescopeError, ValueError):
    """Units are missing, undeclared, ambiguous or inconsistent."""


class MissingMetadataError(CathodescopeError, KeyError):
    """A file or array lacks metadata that the requested operation needs."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


# --- io: files ------------------------------------------------------------------------------


class FileFormatError(CathodescopeError, ValueError):
    """A file is not of the format it claims to be, or its layout is not understood."""


class TruncatedFileError(FileFormatError):
    """A file ends before its header says it should (interrupted copy or acquisition)."""


class OutputExistsError(CathodescopeError, FileExistsError):
    """An output folder or file already exists and overwriting was not asked for."""


# --- segment / profile ------------------------------------------------------------------------


class EmptySegmentationError(CathodescopeError, ValueError):
    """Segmentation found no particle (threshold too high, empty field of view...)."""


class ParticleTooSmallError(CathodescopeError, ValueError):
    """A particle is too small (too shallow) for the requested depth windows."""


class CathodescopeRunWarning(CathodescopeWarning):
    """Something questionable that does not stop a run; recorded in ``manifest.json``."""


# --- tomo -----------------------------------------------------------------------------------


# --- xas ------------------------------------------------------------------------------------


# --- echem ----------------------------------------------------------------------------------


# --- xrf / spm ------------------------------------------------------------------------------


# spm (scanning probe): added at the bottom of this section by the spm helper


class SPMChannelMissingError(MissingMetadataError):
    """An SPM scan lacks a channel the analysis needs (e.g. Phase2 for DART)."""


class ScanSizeMismatchError(ShapeMismatchError):
    """SPM maps that must share one grid differ in pixels or in physical scan size."""


class DartError(CathodescopeError, ValueError):
    """DART inputs cannot give a resonance (phases out of range, identical drive frequencies)."""


# --- xrd / thermal --------------------------------------------------------------------------
