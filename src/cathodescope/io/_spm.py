"""Scanning-probe microscopy readers: Asylum .ibw, Bruker NanoScope, Gwyddion .gwy.

Every reader returns an :class:`SPMScan`: one ``(y, x)`` :class:`xarray.DataArray` per channel
with coordinates in um, ``attrs["units"]`` in SI base units as stored by the instrument
(heights and amplitudes in m, phase in degrees, frequency in Hz, current in A, voltages in V),
plus the instrument metadata later steps need (drive amplitude and frequencies, tune Q, DART
frequency width, scan size...).

Why our own code rather than a wrapper: a popular reader multiplies every .ibw channel by 1e9
(to "nm"), phase and frequency included; igor2 keeps the bytes that follow the NUL terminator of
an Igor dimension label (``Phase1Retrace\\x00ce`` comes out as ``Phase1Retracece``); NanoScope
heights need the soft scale (``Sens. Zscan``, nm/V) times the hard value of ``@2:Z scale``
divided by the ADC range, exactly as Gwyddion's ``nanoscope.c`` does for images.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from cathodescope.errors import (
    EmptyDataError,
    FileFormatError,
    InputNotFoundError,
    ScanSizeMismatchError,
    SPMChannelMissingError,
    TruncatedFileError,
)

__all__ = ["SPMScan", "read_spm", "spm_kind"]


@dataclass(frozen=True)
class SPMScan:
    """One scanning-probe image: named channels on a common ``(y, x)`` grid plus metadata.

    Parameters
    ----------
    channels : dict of str to xarray.DataArray
        ``(y, x)`` maps, coordinates ``y`` and ``x`` in um (pixel centres, first row at the top
        of the image as the instrument software displays it), ``attrs["units"]`` (``"m"``,
        ``"deg"``, ``"Hz"``, ``"A"``, ``"V"``...), ``attrs["channel"]`` and
        ``attrs["direction"]`` (``"Trace"``/``"Retrace"`` where known).
    metadata : dict
        Instrument metadata in SI units with the unit in the key name (``scan_size_um``,
        ``drive_amplitude_V``, ``drive_frequency_Hz``, ``dart_frequency_width_Hz``,
        ``tune_q``...), plus ``raw`` (every header key as read).
    source : str
        Path of the file read.
    """

    channels: dict[str, xr.DataArray]
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.channels:
            raise EmptyDataError(f"{self.source or 'scan'} holds no image channel.")
        grids = {}
        for name, da in self.channels.items():
            if da.dims != ("y", "x"):
                raise ScanSizeMismatchError(f"channel {name!r} has dims {da.dims}, not (y, x).")
            sp = tuple(float(v) for v in da.attrs.get("spacing_um", (np.nan, np.nan)))
            grids[name] = (da.shape, sp)
        (shape0, sp0) = next(iter(grids.values()))
        for shape, sp in grids.values():
            if shape != shape0 or not np.allclose(sp, sp0, rtol=1e-6, equal_nan=True):
                raise ScanSizeMismatchError(
                    f"{self.source or 'scan'}: channels do not share one grid: "
                    + ", ".join(f"{n} {g[0]} px at {g[1]} um" for n, g in grids.items())
                    + ". Resample them onto one grid (or read them as separate scans)."
                )

    def __getitem__(self, name: str) -> xr.DataArray:
        try:
            return self.channels[name]
        except KeyError:
            raise SPMChannelMissingError(
                f"channel {name!r} is not in {self.source or 'this scan'}; available channels: "
                f"{list(self.channels)}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.channels

    def __iter__(self) -> Iterator[str]:
        return iter(self.channels)

    @property
    def names(self) -> list[str]:
        """Channel names in file order."""
        return list(self.channels)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of every channel."""
        first = next(iter(self.channels.values()))
        return (int(first.sizes["y"]), int(first.sizes["x"]))

    @property
    def spacing(self) -> tuple[float, float]:
        """Pixel size ``(dy, dx)`` in um."""
        first = next(iter(self.channels.values()))
        return (float(first.attrs["spacing_um"][0]), float(first.attrs["spacing_um"][1]))

    def to_dataarray(self, names: list[str] | None = None) -> xr.DataArray:
        """Stack channels into one ``(channel, y, x)`` array; ``attrs["units"]`` is per channel.

        Parameters
        ----------
        names : list of str, optional
            Channels to stack (default: all).

        Returns
        -------
        xarray.DataArray
            dims ``("channel", "y", "x")``; ``attrs["units"]`` is a list aligned with the
            ``channel`` coordinate, because SPM channels differ in units.
        """
        names = self.names if names is None else list(names)
        arrays = [self[n] for n in names]
        out = xr.concat(arrays, dim=xr.DataArray(names, dims="channel", name="channel"))
        out.attrs = {"units": [a.attrs.get("units", "") for a in arrays], "source": self.source}
        return out

    def describe(self) -> str:
        """One line: pixels, scan size (um) and channels with units.

        Returns
        -------
        str
            E.g. ``"256x256 px, 5 um, channels Height [m], Phase [deg]"``.
        """
        size = self.metadata.get("scan_size_um", math.nan)
        return f"{self.shape[0]}x{self.shape[1]} px, {size:.4g} um, channels " + ", ".join(
            f"{n} [{self[n].attrs['units']}]" for n in self
        )

    def to_dataframe(self) -> Any:
        """One row per channel: name, units, shape, min, max, mean, std, n_nan (pandas)."""
        import pandas as pd

        rows = []
        for name, da in self.channels.items():
            v = np.asarray(da.values, dtype=float)
            finite = np.isfinite(v)
            vals = v[finite]
            rows.append(
                {
                    "channel": name,
                    "units": da.attrs.get("units", ""),
                    "direction": da.attrs.get("direction", ""),
                    "ny": v.shape[0],
                    "nx": v.shape[1],
                    "min": float(vals.min()) if vals.size else math.nan,
                    "max": float(vals.max()) if vals.size else math.nan,
                    "mean": float(vals.mean()) if vals.size else math.nan,
                    "std": float(vals.std()) if vals.size else math.nan,
                    "n_nan": int(v.size - vals.size),
                }
            )
        return pd.DataFrame(rows)


# -- shared helpers -------------------------------------------------------------------------


def _make_channel(
    data: np.ndarray,
    *,
    name: str,
    units: str,
    spacing_um: tuple[float, float],
    origin_um: tuple[float, float] = (0.0, 0.0),
    direction: str = "",
    extra: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    ny, nx = data.shape
    dy, dx = spacing_um
    coords = {
        "y": ("y", origin_um[0] + dy * np.arange(ny), {"units": "um"}),
        "x": ("x", origin_um[1] + dx * np.arange(nx), {"units": "um"}),
    }
    attrs = {
        "units": units,
        "channel": name,
        "direction": direction,
        "spacing_um": (float(dy), float(dx)),
    }
    if extra:
        attrs.update(extra)
    return xr.DataArray(
        np.asarray(data, dtype=np.float64), dims=("y", "x"), coords=coords, attrs=attrs, name=name
    )


def _check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"SPM file not found: {p}")
    if p.stat().st_size == 0:
        raise TruncatedFileError(
            f"{p} is empty (0 bytes); copy the file again from the instrument."
        )
    return p


def _to_float(text: Any) -> float:
    try:
        return float(str(text).strip().split()[0])
    except (ValueError, IndexError):
        return math.nan


_DIRECTION_RE = re.compile(r"^(?P<base>.*?)(?P<dir>Retrace|Trace|ReTrace)$")


def _split_direction(label: str) -> tuple[str, str]:
    """``'Phase1Retrace'`` -> ``('Phase1', 'Retrace')``; labels without a suffix pass through."""
    m = _DIRECTION_RE.match(label)
    if not m or not m.group("base"):
        return label, ""
    direction = "Retrace" if m.group("dir").lower() == "retrace" else "Trace"
    return m.group("base"), direction


def _unique_names(bases: list[str], directions: list[str], fulls: list[str]) -> list[str]:
    """Base names where unique (``Height``); full labels where trace and retrace both exist."""
    counts: dict[str, int] = {}
    for b in bases:
        counts[b] = counts.get(b, 0) + 1
    names = [
        b if counts[b] == 1 else f"{b}{d}" if d else f
        for b, d, f in zip(bases, directions, fulls, strict=True)
    ]
    seen: dict[str, int] = {}
    out = []
    for n in names:  # last resort: never silently overwrite a channel
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


# -- dispatch ---------------------------------------------------------------------------------


def read_spm(path: str | os.PathLike[str]) -> SPMScan:
    """Read any supported SPM image, choosing the reader from the file's first bytes.

    ``.ibw`` (Asylum/Igor), ``.gwy`` (Gwyddion 2, magic ``GWYP``, and Gwyddion 1.x, magic
    ``GWYO``) and Bruker NanoScope files (text header ``\\*File list``, any extension such as
    ``.spm`` or ``.002``).

    Parameters
    ----------
    path : path-like
        The SPM file.

    Returns
    -------
    SPMScan
        The image channels.

    Raises
    ------
    NotAnImageError
        The file holds force curves (Igor or NanoScope ``\\*Force file list``) or a
        spectroscopy cube; the message says which and names the reader to use.
    FileFormatError
        If the format is not recognised.
    """
    from cathodescope.io._gwy import read_gwy
    from cathodescope.io._ibw import read_ibw
    from cathodescope.io._nanoscope import read_nanoscope

    p = _check_file(path)
    with open(p, "rb") as fh:
        head = fh.read(32)
    if head.startswith((b"GWYP", b"GWYO")):
        return read_gwy(p)
    if head.startswith((b"\\*File list", b"\\*EC File list", b"\\*Force file list")):
        return read_nanoscope(p)
    if p.suffix.lower() == ".ibw":
        return read_ibw(p)
    raise FileFormatError(
        f"{p}: format not recognised; supported are Asylum .ibw, Gwyddion .gwy (2.x and "
        "1.x) and Bruker NanoScope images (.spm, .000-.999)."
    )


def spm_kind(path: str | os.PathLike[str]) -> str:
    """What an SPM file holds, from its first bytes (and, for Igor waves, its header and note).

    Parameters
    ----------
    path : path-like
        The SPM file.

    Returns
    -------
    str
        ``"image"`` (read with :func:`read_spm`), ``"force curve"`` or ``"curve"`` (Igor:
        :func:`cathodescope.io.read_ibw_curve`; NanoScope force files are not read),
        ``"spectroscopy cube"`` (:func:`cathodescope.io.read_ibw_cube`).

    Raises
    ------
    FileFormatError
        If the format is not recognised.
    """
    from cathodescope.io._ibw import ibw_kind

    p = _check_file(path)
    with open(p, "rb") as fh:
        head = fh.read(32)
    if head.startswith(b"\\*Force file list"):
        return "force curve"
    if head.startswith((b"GWYP", b"GWYO", b"\\*File list", b"\\*EC File list")):
        return "image"
    if p.suffix.lower() == ".ibw":
        return ibw_kind(p)
    read_spm(p)  # raises the format error
    return "image"  # pragma: no cover
