"""Helpers shared by the XAS workflows: the run record, the run folder, inputs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NORM_KEYS = ("e0", "pre1", "pre2", "norm1", "norm2", "nnorm")


@dataclass(frozen=True)
class XasRun:
    """What an XAS run wrote.

    Attributes
    ----------
    path : Path
        The run folder.
    results : dict
        The headline numbers also stored in ``manifest.json`` (``results``).
    warnings : tuple of str
        Warnings recorded in the manifest.
    summary : str
        A short text for the terminal (e.g. the weights table).
    """

    path: Path
    results: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    summary: str = ""


def _open(out: str | os.PathLike[str], command: str, parameters: Any, overwrite: bool):
    from cathodescope.report import RunFolder

    return RunFolder(out, command=command, parameters=parameters, overwrite=overwrite)


def _as_dataarray(spectrum: Any) -> Any:
    return spectrum if hasattr(spectrum, "dims") else spectrum.to_dataarray()


def _call_parameters(values: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict:
    """Manifest parameters: those given, else the call's own arguments."""
    if given is not None:
        return dict(given)
    return {k: v for k, v in values.items() if k != "parameters"}


def _norm_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in dict(options or {}).items() if v is not None}


def _normalized(name: str, spectrum: Any, athena_params: bool) -> Any:
    """Normalization of one spectrum: ATHENA's stored parameters for a group, else defaults."""
    from cathodescope.io import AthenaGroup
    from cathodescope.xas import normalize, normalize_athena_group

    if isinstance(spectrum, AthenaGroup) and athena_params:
        return normalize_athena_group(spectrum)
    return normalize(_as_dataarray(spectrum))
