"""``xas layer`` run: read a probe file, fit the surface layer (one point or a series), write
``layer.csv``, ``probes.csv``, figures and the manifest.

Probe file (TOML)::

    [layer]                      # optional
    shape = "sharp"              # or "erf" with width_nm (transition standard deviation, nm)
    width_nm = 3.0
    fixed = { surface_fraction = 0.8 }
    thickness_bounds_nm = [0, 500]
    series = "cycle"             # probe key indexing a series (default: "cycle" or "soc")

    [[probe]]
    name = "TEY"
    kernel = "exponential"       # exponential | fluorescence | sphere | tabulated
    depth_nm = 5.0               # escape depth; depth_stderr_nm = 1.0 makes it uncertain
    weight = 0.789               # or weight_from = "RUN_DIR:NiO" (an ``xas lcf`` run folder)
    stderr = 0.005

Fluorescence probes give ``formula``, ``density_g_cm3``, ``edge`` ("Ni L3"), ``line``
("Ni La"), optionally ``incident_eV`` (default edge + 10 eV) and ``angles_deg`` ([in, out],
default [45, 45]), or ``depth_nm`` directly. Sphere probes give ``radius_um`` (and optionally
``radius_stderr_um``); tabulated ones ``depth_table_nm`` and ``sensitivity`` lists, or
``table = "FILE.csv"`` with columns ``depth_nm, sensitivity``. Relative paths are relative to
the probe file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cathodescope.errors import FileFormatError, MissingMetadataError, ParameterError
from cathodescope.xas import (
    ExponentialKernel,
    LayerFit,
    LayerSeries,
    Probe,
    SphereKernel,
    TabulatedKernel,
    fit_layer,
    fit_layer_series,
    fluorescence_depth,
)

__all__ = ["LayerSetup", "read_probe_file", "run_xas_layer"]

_COMMON = {"name", "kernel", "weight", "weight_from", "stderr", "depth_stderr_nm"}
_KERNEL_KEYS = {
    "exponential": {"depth_nm"},
    "fluorescence": {
        "depth_nm",
        "formula",
        "density_g_cm3",
        "edge",
        "line",
        "incident_eV",
        "angles_deg",
    },
    "sphere": {"radius_um", "radius_stderr_um"},
    "tabulated": {"depth_table_nm", "sensitivity", "table"},
}
_MAX_PROFILE_FIGURES = 12  # a series writes one profile figure per point up to this many
_LAYER_KEYS = {"shape", "width_nm", "fixed", "thickness_bounds_nm", "series"}


@dataclass(frozen=True)
class LayerSetup:
    """What a probe file asks for.

    Attributes
    ----------
    probe_sets : dict
        Series index -> probes (the single key ``None`` when the file is not a series).
    index_name : str or None
        Probe key that indexes the series.
    options : dict
        Keyword arguments for :func:`cathodescope.xas.fit_layer` (shape, width_nm, fixed,
        thickness_bounds_nm).
    inputs : tuple of Path
        Files read besides the probe file (LCF ``weights.csv``, kernel tables).
    """

    probe_sets: dict[Any, tuple[Probe, ...]]
    index_name: str | None
    options: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[Path, ...] = ()


def _need(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise MissingMetadataError(f"{where} needs {key!r}; it has {sorted(entry)}.")
    return entry[key]


def _weight_from(spec: str, base: Path, where: str) -> tuple[float, float, Path]:
    """(weight, stderr from the 68 % interval, file) of one standard of an ``xas lcf`` run."""
    import pandas as pd

    if ":" not in spec:
        raise ParameterError(f"{where}: weight_from must be 'RUN_DIR:STANDARD', got {spec!r}.")
    folder, name = spec.rsplit(":", 1)
    path = Path(folder) if os.path.isabs(folder) else base / folder
    csv = path / "weights.csv"
    if not csv.is_file():
        raise MissingMetadataError(
            f"{where}: no weights.csv in {path}; weight_from must name an 'xas lcf' run folder."
        )
    table = pd.read_csv(csv)
    missing = {"standard", "weight", "ci_low", "ci_high"} - set(table.columns)
    if missing:
        raise FileFormatError(f"{csv} lacks columns {sorted(missing)}; is it an 'xas lcf' run?")
    row = table[table["standard"].astype(str) == name]
    if row.empty:
        raise MissingMetadataError(
            f"{where}: standard {name!r} is not in {csv}; standards: {list(table['standard'])}."
        )
    r = row.iloc[0]
    stderr = 0.5 * (float(r["ci_high"]) - float(r["ci_low"]))
    if not np.isfinite(stderr) or stderr <= 0:
        stderr = float(r.get("stderr", np.nan))
    if not np.isfinite(stderr) or stderr <= 0:
        raise ParameterError(
            f"{where}: {csv} gives no interval for {name!r}; rerun 'xas lcf' with "
            "--uncertainty profile, or give stderr in the probe file."
        )
    return float(r["weight"]), stderr, csv


def _kernel(entry: Mapping[str, Any], kind: str, base: Path, where: str, inputs: list[Path]):
    if kind == "exponential":
        return ExponentialKernel(float(_need(entry, "depth_nm", where)))
    if kind == "fluorescence":
        if "depth_nm" in entry:
            return ExponentialKernel(float(entry["depth_nm"]), kind="fluorescence")
        fd = fluorescence_depth(
            str(_need(entry, "formula", where)),
            float(_need(entry, "density_g_cm3", where)),
            edge=str(_need(entry, "edge", where)),
            line=str(_need(entry, "line", where)),
            incident_eV=entry.get("incident_eV"),
            angles_deg=tuple(entry.get("angles_deg", (45.0, 45.0))),
        )
        return fd.kernel()
    if kind == "sphere":
        return SphereKernel(1000.0 * float(_need(entry, "radius_um", where)))
    if "table" in entry:
        import pandas as pd

        path = base / str(entry["table"])
        if not path.is_file():
            raise MissingMetadataError(f"{where}: kernel table {path} not found.")
        tab = pd.read_csv(path)
        if not {"depth_nm", "sensitivity"} <= set(tab.columns):
            raise FileFormatError(f"{path} needs columns depth_nm, sensitivity.")
        inputs.append(path)
        return TabulatedKernel(tab["depth_nm"].to_numpy(), tab["sensitivity"].to_numpy())
    return TabulatedKernel(
        np.asarray(_need(entry, "depth_table_nm", where), dtype=float),
        np.asarray(_need(entry, "sensitivity", where), dtype=float),
    )


def _probe(entry: Mapping[str, Any], base: Path, i: int, series: str | None, inputs: list[Path]):
    name = str(entry.get("name", f"probe {i + 1}"))
    where = f"probe {name!r}"
    kind = str(_need(entry, "kernel", where))
    if kind not in _KERNEL_KEYS:
        raise ParameterError(f"{where}: kernel={kind!r} is not one of {tuple(_KERNEL_KEYS)}.")
    allowed = _COMMON | _KERNEL_KEYS[kind] | ({series} if series else set())
    unknown = set(entry) - allowed
    if unknown:
        raise ParameterError(
            f"{where}: unknown keys {sorted(unknown)} for kernel {kind!r}; valid: {sorted(allowed)}."
        )
    kernel = _kernel(entry, kind, base, where, inputs)
    if "weight_from" in entry:
        if "weight" in entry:
            raise ParameterError(f"{where}: give weight or weight_from, not both.")
        weight, stderr, csv = _weight_from(str(entry["weight_from"]), base, where)
        inputs.append(csv)
        stderr = float(entry.get("stderr", stderr))
    else:
        weight = float(_need(entry, "weight", where))
        stderr = float(_need(entry, "stderr", where))
    depth_sd = float(entry.get("depth_stderr_nm", 0.0))
    if kind == "sphere" and "radius_stderr_um" in entry:
        depth_sd = 1000.0 * float(entry["radius_stderr_um"])
    return Probe(name, kernel, weight, stderr, depth_stderr_nm=depth_sd)


def read_probe_file(path: str | os.PathLike[str]) -> LayerSetup:
    """Read a probe file (TOML, see the module docstring) into probes and fit options.

    Parameters
    ----------
    path : path-like
        The probe file.

    Returns
    -------
    LayerSetup
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise MissingMetadataError(f"probe file {path} not found.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(f"{path} is not valid TOML: {exc}") from exc
    layer = dict(doc.get("layer", {}))
    unknown = set(layer) - _LAYER_KEYS
    if unknown:
        raise ParameterError(
            f"[layer] has unknown keys {sorted(unknown)}; valid: {sorted(_LAYER_KEYS)}."
        )
    entries = doc.get("probe", [])
    if not entries:
        raise MissingMetadataError(f"{path} has no [[probe]] tables.")
    series = layer.pop("series", None)
    if series is None:
        series = next((k for k in ("cycle", "soc") if any(k in e for e in entries)), None)
    inputs: list[Path] = []
    sets: dict[Any, list[Probe]] = {}
    for i, entry in enumerate(entries):
        key = None
        if series is not None:
            key = _need(entry, series, f"probe {entry.get('name', i + 1)!r} of a series")
        sets.setdefault(key, []).append(_probe(entry, path.parent, i, series, inputs))
    options = {k: layer[k] for k in ("shape", "width_nm", "fixed") if k in layer}
    if "thickness_bounds_nm" in layer:
        options["thickness_bounds_nm"] = tuple(float(v) for v in layer["thickness_bounds_nm"])
    return LayerSetup(
        {k: tuple(v) for k, v in sets.items()}, series, options, tuple(dict.fromkeys(inputs))
    )


def _write_point(run: Any, fit: LayerFit, suffix: str = "") -> None:
    from cathodescope.report import plot_layer_kernels, plot_layer_profile, plot_layer_weights

    run.write_figure(f"layer_kernels{suffix}", plot_layer_kernels(fit))
    run.write_figure(f"layer_profile{suffix}", plot_layer_profile(fit))
    run.write_figure(f"layer_weights{suffix}", plot_layer_weights(fit))


def _summary(fit: LayerFit) -> dict[str, Any]:
    return {
        "status": {n: e.status for n, e in fit.estimates.items()},
        "determined": list(fit.determined),
        "surface_excess_nm": fit.surface_excess_nm[0],
        "surface_excess_stderr_nm": fit.surface_excess_nm[1],
        "chi2": fit.chi2,
        "message": fit.message,
        "kernels": {p.name: {"kind": p.kernel.kind, **p.kernel.details} for p in fit.probes},
    }


def _write_outputs(run: Any, result: LayerFit | LayerSeries) -> None:
    """Tables, figures and manifest results of one fit or a series."""
    from cathodescope.report import plot_layer_kernels, plot_layer_profile, plot_layer_series

    run.write_table("layer", result.to_dataframe())
    run.write_table("probes", result.probes_dataframe())
    if isinstance(result, LayerFit):
        _write_point(run, result)
        run.results.update(_summary(result))
    else:
        run.write_figure("layer_kernels", plot_layer_kernels(result.fits[0]))
        if len(result.fits) <= _MAX_PROFILE_FIGURES:
            for i, f in zip(result.index, result.fits, strict=True):
                run.write_figure(f"layer_profile_{result.index_name}_{i}", plot_layer_profile(f))
        run.results["points"] = {
            str(i): _summary(f) for i, f in zip(result.index, result.fits, strict=True)
        }
        run.write_figure(f"thickness_vs_{result.index_name}", plot_layer_series(result))


def run_xas_layer(
    probe_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    shape: str | None = None,
    width_nm: float | None = None,
    fixed: Mapping[str, float] | None = None,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> LayerFit | LayerSeries:
    """Fit the layer of a probe file and write the run folder ``out``.

    Parameters
    ----------
    probe_file : path-like
        TOML probe file (see the module docstring).
    out : path-like
        Run folder: ``layer.csv`` (``parameter, value, ci_low, ci_high``), ``probes.csv``
        (``name, kernel, depth_nm, weight, stderr, predicted``), figures, ``manifest.json``.
        For a series both tables get the index column first; figures ``thickness_vs_<index>``,
        the kernels of the first point and one profile per point (up to 12 points).
    shape, width_nm, fixed
        Override the file's ``[layer]`` options (width in nm).
    overwrite : bool
        Replace an earlier run in ``out``.
    parameters : mapping, optional
        Parameters to record in the manifest (default the arguments of this call).

    Returns
    -------
    LayerFit or LayerSeries
    """
    from cathodescope.report import RunFolder

    params = (
        dict(parameters)
        if parameters is not None
        else {"probe_file": probe_file, "shape": shape, "width_nm": width_nm, "fixed": fixed}
    )
    with RunFolder(out, command="xas layer", parameters=params, overwrite=overwrite) as run:
        run.add_input(probe_file)
        setup = read_probe_file(probe_file)
        for p in setup.inputs:
            run.add_input(p)
        options = dict(setup.options)
        if shape is not None:
            options["shape"] = shape
        if width_nm is not None:
            options["width_nm"] = width_nm
        if fixed:
            options["fixed"] = {**options.get("fixed", {}), **fixed}
        if options.get("shape") == "erf" and not options.get("width_nm"):
            raise ParameterError(
                "an erf layer needs its transition width: --width NM on the command line or "
                "width_nm in the [layer] table of the probe file."
            )
        run.results["fit_options"] = options
        with run.timer("fit"):
            if setup.index_name is None:
                result: LayerFit | LayerSeries = fit_layer(setup.probe_sets[None], **options)
            else:
                result = fit_layer_series(setup.probe_sets, index_name=setup.index_name, **options)
        _write_outputs(run, result)
    return result
