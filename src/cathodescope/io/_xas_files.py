"""Read any X-ray absorption file the CLI accepts: ATHENA project, XDI or column file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cathodescope.errors import MissingMetadataError, ParameterError
from cathodescope.io._athena import read_athena
from cathodescope.io._columns import read_xas_columns
from cathodescope.io._xas_common import EnergyUnits
from cathodescope.io._xdi import read_xdi


def read_xas_file(
    path: str | os.PathLike[str],
    *,
    group: str | None = None,
    energy_units: EnergyUnits = "auto",
    channels: Sequence[str] | None = None,
    i0: str | None = None,
    dead_time: bool = False,
) -> dict[str, Any]:
    """Every spectrum of one file, keyed by name.

    Parameters
    ----------
    path : path-like
        An ATHENA project (``.prj``), an XDI file (``.xdi``) or a column file (anything else).
    group : str, optional
        For an ATHENA project, only this group (its label).
    energy_units : {"auto", "eV", "keV"}
        Units of the energy column (XDI: overrides the declared unit).
    channels : sequence of str, optional
        Detector channels to sum: XDI column names or patterns (``"fe_ka_mca*"``); for a column
        file, zero-based column indices as text (``["3", "4", "5"]``).
    i0 : str, optional
        The column dividing the summed channels (XDI name, default ``"i0"``; column index for
        a column file, default none).
    dead_time : bool
        Dead-time correction of XDI channels (see :func:`read_xdi`).

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
        kw: dict[str, Any] = {"channels": channels, "dead_time": dead_time}
        if i0 is not None:
            kw["i0"] = i0
        return {p.stem: read_xdi(p, energy_units=energy_units, **kw)}
    if dead_time:
        raise ParameterError(
            f"{p}: dead-time correction needs named detector columns (XDI); a column file has "
            "none. Drop --dead-time."
        )
    ckw: dict[str, Any] = {}
    try:
        if channels:
            ckw["mu_column"] = [int(c) for c in channels]
        if i0 is not None:
            ckw["i0_column"] = int(i0)
    except ValueError:
        raise ParameterError(
            f"{p} is a column file: give channels and i0 as zero-based column numbers "
            f"(e.g. --channels 3,4,5 --i0 1), got {list(channels or [])} and {i0!r}."
        ) from None
    return {p.stem: read_xas_columns(p, energy_units=energy_units, **ckw)}


def split_group(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """Split ``FILE:GROUP`` into the file and the group (None when there is no group).

    A spec that names an existing file as a whole is a file (so ``C:\\data\\x.prj`` and file
    names with colons work); otherwise the text after the last ``:`` is the group.

    Parameters
    ----------
    spec : str or path-like
        ``FILE`` or ``FILE:GROUP``.

    Returns
    -------
    (Path, str or None)

    Examples
    --------
    >>> split_group("Mn.prj:Mn3O4")
    (PosixPath('Mn.prj'), 'Mn3O4')
    """
    text = os.fspath(spec)
    if Path(text).exists() or ":" not in text:
        return Path(text), None
    head, _, tail = text.rpartition(":")
    return Path(head), (tail.strip() or None)


def _pick_group(groups: dict[str, Any], group: str, where: Path) -> str:
    if group in groups:
        return group
    by_id = [k for k, g in groups.items() if getattr(g, "group_id", None) == group]
    folded = [k for k in groups if k.casefold() == group.casefold()]
    hits = by_id or folded
    if len(hits) == 1:
        return hits[0]
    what = "several" if hits else "no"
    raise MissingMetadataError(
        f"{what} group {group!r} in {where}; give one of the groups {list(groups)}."
    )


def read_xas_spectrum(
    spec: str | os.PathLike[str],
    *,
    group: str | None = None,
    energy_units: EnergyUnits = "auto",
    channels: Sequence[str] | None = None,
    i0: str | None = None,
    dead_time: bool = False,
) -> tuple[str, Any]:
    """Exactly one spectrum: ``FILE``, or ``FILE:GROUP`` for a group of an ATHENA project.

    Parameters
    ----------
    spec : str or path-like
        ``FILE`` or ``FILE:GROUP`` (see :func:`split_group`).
    group : str, optional
        The group, when not in ``spec`` (giving both, different, is an error).
    energy_units, channels, i0, dead_time
        As for :func:`read_xas_file`.

    Returns
    -------
    (str, AthenaGroup or xarray.DataArray)
        The spectrum's name (group label or file stem) and the spectrum.

    Raises
    ------
    MissingMetadataError
        If the project has several groups and none was chosen, or the group is missing or
        ambiguous; the message lists the groups. A project is never reduced silently to its
        first group.
    """
    path, in_spec = split_group(spec)
    if in_spec is not None and group is not None and in_spec != group:
        raise ParameterError(f"{spec}: group {in_spec!r} in the name and {group!r} given.")
    chosen = in_spec or group
    found = read_xas_file(
        path, energy_units=energy_units, channels=channels, i0=i0, dead_time=dead_time
    )
    if chosen is not None:
        if path.suffix.lower() != ".prj":
            raise ParameterError(f"{path} is not an ATHENA project; it has no group {chosen!r}.")
        key = _pick_group(found, chosen, path)
        return key, found[key]
    if len(found) > 1:
        raise MissingMetadataError(
            f"{path} holds {len(found)} groups; choose one as FILE:GROUP (or --group) from "
            f"{list(found)}."
        )
    key = next(iter(found))
    return key, found[key]
