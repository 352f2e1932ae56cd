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


class ProjectionGeometryError(CathodescopeError, ValueError):
    """Projection stack, angles, flats/darks or detector geometry do not fit together."""


class NonPositiveIntensityError(CathodescopeError, ValueError):
    """Flat/dark-normalized transmission is <= 0 where -log is needed (bad darks or flats)."""


class RotationCentreError(ProjectionGeometryError):
    """A rotation centre lies outside the detector or could not be determined."""


class EdgeBracketError(CathodescopeError, ValueError):
    """Energies of an elemental pair do not bracket a tabulated absorption edge."""


class AlignmentError(CathodescopeError, RuntimeError):
    """Registration between energies or volumes failed (no overlap, no contrast)."""


class UndersamplingWarning(CathodescopeRunWarning):
    """Too few projection angles, or too small an angular range, for the detector width."""


class EnergyFromFileNameWarning(CathodescopeRunWarning):
    """A photon energy was taken from a file name because the file itself does not record it."""


# --- xas ------------------------------------------------------------------------------------


class EnergyAxisError(CathodescopeError, ValueError):
    """An energy axis is not strictly increasing (duplicated or out-of-order points)."""


class TooFewPointsError(CathodescopeError, ValueError):
    """A spectrum or a fit window holds too few energy points for the requested operation."""


class StandardRangeError(CathodescopeError, ValueError):
    """LCF standards (or a reference) do not cover the requested energy range."""


class EdgeNotFoundError(CathodescopeError, ValueError):
    """No absorption edge could be located (flat spectrum, edge outside the data, edge step <= 0)."""


class XASQualityWarning(CathodescopeRunWarning):
    """An XAS result is computed but questionable (few window points, weight at a bound with
    structured residuals, energy offset, high R-factor, e0 spread between repeats)."""


# --- echem ----------------------------------------------------------------------------------


class CyclerColumnError(FileFormatError):
    """A cycler table lacks a required column (time, voltage, current) or has unknown columns."""


class NonMonotonicTimeError(CathodescopeError, ValueError):
    """Time goes backwards inside one cycler file (corrupt export or files concatenated)."""


class ActiveMassError(CathodescopeError, ValueError):
    """Per-gram values were asked for but the active mass is missing, zero or negative."""


class NoCyclesError(EmptyDataError):
    """The data hold no charge or discharge step to analyse (only rests, EIS...)."""


class GITTError(EmptyDataError):
    """No usable GITT pulse/rest pair was found, or a pulse is too short to analyse."""


# --- xrf / spm ------------------------------------------------------------------------------


class XRFChannelError(MissingMetadataError):
    """A requested element channel is not in the XRF map (or a name matches several)."""


class ScanGeometryError(ShapeMismatchError):
    """Scan sizes disagree: positions vs map shape, channels or TIFF exports of different sizes,
    or positions that are not a monotonic grid."""


class EmptyMapError(EmptyDataError):
    """An element map is all NaN, all zero, or has no pixel above the low-signal threshold."""


class CoreShellFitError(CathodescopeError, RuntimeError):
    """A core/shell step model could not be fitted to a profile (no step, too few points)."""


# spm (scanning probe): added at the bottom of this section by the spm helper


class SPMChannelMissingError(MissingMetadataError):
    """An SPM scan lacks a channel the analysis needs (e.g. Phase2 for DART)."""


class ScanSizeMismatchError(ShapeMismatchError):
    """SPM maps that must share one grid differ in pixels or in physical scan size."""


class NotAnImageError(FileFormatError):
    """An SPM file holds something other than images (a force curve, a spectroscopy cube);
    the message says what it is and which reader reads it."""


class DartError(CathodescopeError, ValueError):
    """DART inputs cannot give a resonance (phases out of range, identical drive frequencies)."""


# --- xrd / thermal --------------------------------------------------------------------------


class MissingWavelengthError(MissingMetadataError):
    """A pattern has no wavelength but the operation (d, Q, wavelength conversion) needs one."""


class NonMonotonicAxisError(CathodescopeError, ValueError):
    """A 2theta (or temperature) axis is not strictly increasing."""


class FrameLengthMismatchError(ShapeMismatchError):
    """The frames of one diffraction series have different lengths or 2theta grids."""


class EmptyWindowError(EmptyDataError):
    """A fitting window contains no (or too few) data points."""


class UnreachableAngleError(ParameterError):
    """A 2theta cannot be reached at the target wavelength (sin(theta) would exceed 1)."""


class InsufficientPeaksError(CathodescopeError, ValueError):
    """Too few indexed peaks to determine the requested lattice or broadening parameters."""


class NoReleasePeakError(EmptyDataError):
    """A gas-release (mass-spectrometry) trace shows no peak above its baseline noise."""


# --- files and folders: the command line's usual mistakes ---------------------------------


class InputNotFoundError(CathodescopeError, FileNotFoundError):
    """An input file or folder does not exist (mistyped path, file not copied yet)."""


class InputIsFolderError(CathodescopeError, IsADirectoryError):
    """A folder was given where a file is needed (or the folder is not a store we read)."""


class InputPermissionError(CathodescopeError, PermissionError):
    """An input exists but cannot be read with this account's permissions."""


class OutputPathError(CathodescopeError, OSError):
    """The run folder cannot be created (a parent is a file, no write permission, disk full)."""


class FileEncodingError(FileFormatError):
    """A text file is in an encoding that could not be decoded (give ``--encoding``)."""


class DataTooLargeError(CathodescopeError, MemoryError):
    """An input (or its decompressed content) is larger than the memory this run may use."""


class CorruptValuesWarning(CathodescopeRunWarning):
    """A file was read but holds values its format cannot hold physically (corrupt bytes)."""


class UnitPlausibilityWarning(CathodescopeRunWarning):
    """A number is implausible in the unit asked for (nm typed for um, keV for eV, A for mA)."""


class IncompleteRowWarning(CathodescopeRunWarning):
    """A text table ends inside its last row (an interrupted copy); that row was left out."""


class DeviceUnavailableError(CathodescopeError, RuntimeError):
    """A compute device was asked for (``--device cuda``) but is not there (no CuPy, no GPU)."""
