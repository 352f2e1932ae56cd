"""Reader of XANES image stacks (multi-page TIFF or HDF5) with their energy list."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cathodescope._validation import check_choice
from cathodescope.errors import (
    FileFormatError,
    MissingMetadataError,
    ShapeMismatchError,
)
from cathodescope.io._xas_common import (
    _UNIT_CHOICES,
    EnergyUnits,
    _check_energy_axis,
    resolve_energy_units,
)


def read_xanes_stack(
    path: str | os.PathLike[str],
    energies: Sequence[float] | np.ndarray | str | os.PathLike[str],
    *,
    spacing: float | Sequence[float],
    energy_units: EnergyUnits = "auto",
    dataset: str | None = None,
):
    """Read a XANES image stack (multi-page TIFF or HDF5) with its energy list.

    Parameters
    ----------
    path : path-like
        ``.tif``/``.tiff`` (pages = energies) or ``.h5``/``.hdf5`` (``dataset`` of shape
        ``(n_energy, ny, nx)``).
    energies : array-like or path-like
        One energy per frame, or a text file with one energy per line.
    spacing : float or (float, float)
        Pixel size in um, one value or one per axis (``y, x``).
    energy_units : {"auto", "eV", "keV"}
        Units of ``energies``.
    dataset : str, optional
        HDF5 dataset path (required for HDF5 files with more than one 3-D dataset).

    Returns
    -------
    xarray.DataArray
        Shape ``(n_energy, ny, nx)``, dims ``("energy", "y", "x")``, energy in eV, y/x in um.

    Raises
    ------
    ShapeMismatchError
        If the number of energies differs from the number of frames.
    UnitsError, EnergyAxisError
        For ambiguous units or a bad energy list.
    """
    import xarray as xr

    from cathodescope._validation import normalize_spacing

    check_choice(energy_units, _UNIT_CHOICES, "energy_units")
    path = Path(path)
    sp = normalize_spacing(spacing, 2)
    if isinstance(energies, str | os.PathLike):
        e = np.loadtxt(energies, comments="#", ndmin=1, dtype=float)
    else:
        e = np.asarray(energies, dtype=float).ravel()
    factor = resolve_energy_units(
        e, None if energy_units == "auto" else energy_units, source=f"{path} energies"
    )
    e = e * factor
    _check_energy_axis(e, f"{path} energies")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        data = np.asarray(tifffile.imread(path))
    elif suffix in (".h5", ".hdf5", ".hdf", ".nxs"):
        import h5py

        with h5py.File(path, "r") as fh:
            if dataset is None:
                found: list[str] = []
                fh.visititems(
                    lambda n, o: (
                        found.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 3 else None
                    )
                )
                if len(found) != 1:
                    raise MissingMetadataError(
                        f"{path}: {len(found)} 3-D datasets ({found[:5]}); pass dataset= "
                        "(--dataset on the command line)."
                    )
                dataset = found[0]
            data = np.asarray(fh[dataset])
    else:
        raise FileFormatError(f"{path}: unsupported stack format {suffix!r}; use TIFF or HDF5.")
    if data.ndim != 3:
        raise ShapeMismatchError(f"{path}: expected a 3-D stack (energy, y, x), got {data.shape}.")
    if data.shape[0] != e.size:
        raise ShapeMismatchError(
            f"{path}: {data.shape[0]} frames but {e.size} energies; give one energy per frame."
        )
    ny, nx = data.shape[1:]
    return xr.DataArray(
        data,
        dims=("energy", "y", "x"),
        coords={
            "energy": ("energy", e, {"units": "eV"}),
            "y": ("y", np.arange(ny) * sp[0], {"units": "um"}),
            "x": ("x", np.arange(nx) * sp[1], {"units": "um"}),
        },
        attrs={"units": "a.u.", "source": os.fspath(path), "spacing_um": sp},
    )
