"""Read any X-ray absorption file the CLI accepts: ATHENA project, XDI or column file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cathodescope.errors import MissingMetadataError
from cathodescope.io._athena import read_athena
from cathodescope.io._columns import read_xas_columns
from cathodescope.io._xas_common import EnergyUnits
from cathodescope.io._xdi import read_xdi


def read_xas_file(
    path: str | os.PathLike[str],
    *,
    group: str | None = None,
    energy_units: EnergyUnits = "auto",
) -> dict[str, Any]:
    """Every spectrum of one file, keyed by name.

    Parameters
    ----------
    path : path-like
        An ATHENA project (``.prj``), an XDI file (``.xdi``) or a column file (anything else).
    group : str, optional
        For an ATHENA project, only this group (its label).
    energy_units : {"auto", "eV", "keV"}
        Units of the energy column of a column file.

    Returns
    -------
    dict of str to AthenaGroup or xarray.DataArray
        ATHENA groups keyed by label (every group, or ``group``); one spectrum keyed by the
        file's stem for XDI and column files.

    Raises
    ------
    MissingMetadataError
        If ``group`` is not in the project (the message lists the groups).
    """
    p = Path(path)
    if p.suffix.lower() == ".prj":
        groups = read_athena(p)
        if group is not None:
            if group not in groups:
                raise MissingMetadataError(f"no group {group!r} in {p}; groups: {list(groups)}")
            groups = {group: groups[group]}
        return dict(groups)
    if p.suffix.lower() == ".xdi":
        return {p.stem: read_xdi(p)}
    return {p.stem: read_xas_columns(p, energy_units=energy_units)}
