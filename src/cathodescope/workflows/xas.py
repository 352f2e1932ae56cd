"""X-ray absorption runs that write a run folder: normalize, calibrate, merge, XANES maps.

Wiring only: reading lives in :mod:`cathodescope.io`, the analysis in :mod:`cathodescope.xas`,
figures and the run folder in :mod:`cathodescope.report`. Each function is what one
``cathodescope xas ...`` command runs, callable from Python with the same options; the LCF and
self-absorption runs are in :mod:`cathodescope.workflows.xas_lcf` and
:mod:`cathodescope.workflows.xas_selfabs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from cathodescope.common import check_spacing_plausible
from cathodescope.workflows._xas_common import (
    XasRun,
    _as_dataarray,
    _call_parameters,
    _norm_options,
    _open,
)


def run_normalize(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    group: str | None = None,
    athena_params: bool = False,
    e0_method: Literal["derivative_max", "first_inflection", "half_step"] = "derivative_max",
    energy_units: Literal["eV", "keV", "auto"] = "auto",
    normalize_options: Mapping[str, Any] | None = None,
    channels: Sequence[str] | None = None,
    i0: str | None = None,
    dead_time: bool = False,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Normalize every spectrum of a file; write ``summary``, ``normalized`` and a figure.

    Parameters
    ----------
    path : path-like
        XDI, column file or ATHENA project.
    out : path-like
        Run folder to create.
    group : str, optional
        One group of an ATHENA project (default: all).
    athena_params : bool
        Normalize ATHENA groups with the parameters stored in the project.
    e0_method : {"derivative_max", "first_inflection", "half_step"}
        How e0 is found when it is not given.
    energy_units : {"auto", "eV", "keV"}
        Units of a column file's energy.
    normalize_options : mapping, optional
        ``e0, pre1, pre2, norm1, norm2`` (eV) and ``nnorm`` for :func:`cathodescope.xas.normalize`.
    channels, i0, dead_time
        Detector channels to sum, the column dividing them and the dead-time correction (see
        :func:`cathodescope.io.read_xas_file`).
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest (default: these arguments).

    Returns
    -------
    XasRun
    """
    params = _call_parameters(locals(), parameters)
    import pandas as pd

    from cathodescope.io import AthenaGroup, read_xas_file
    from cathodescope.report import plot_normalization
    from cathodescope.xas import normalize, normalize_athena_group

    opts = _norm_options(normalize_options)
    with _open(out, "xas normalize", params, overwrite) as run:
        run.add_input(path)
        spectra = read_xas_file(
            path,
            group=group,
            energy_units=energy_units,
            channels=channels,
            i0=i0,
            dead_time=dead_time,
        )
        results, rows, long = {}, [], []
        with run.timer("normalize"):
            for name, s in spectra.items():
                if isinstance(s, AthenaGroup):
                    r = (
                        normalize_athena_group(s)
                        if athena_params
                        else normalize(s.to_dataarray(), e0_method=e0_method, **opts)
                    )
                    stored = s.edge_step
                else:
                    r = normalize(s, e0_method=e0_method, **opts)
                    stored = float("nan")
                results[name] = r
                rows.append(
                    {
                        "spectrum": name,
                        "e0_eV": r.e0,
                        "edge_step": r.edge_step,
                        "stored_edge_step": stored,
                        **{k: r.parameters[k] for k in ("pre1", "pre2", "norm1", "norm2", "nnorm")},
                    }
                )
                df = r.to_dataframe()
                df.insert(0, "spectrum", name)
                long.append(df)
        run.write_table("summary", pd.DataFrame(rows))
        run.write_table("normalized", pd.concat(long, ignore_index=True))
        run.write_figure("normalized", plot_normalization(results))
        run.results["n_spectra"] = len(results)
    return XasRun(Path(out), dict(run.results), tuple(run.warnings))


def run_calibrate(
    reference: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    element: str,
    edge: str = "K",
    group: str | None = None,
    sample: str | os.PathLike[str] | None = None,
    energy_units: Literal["eV", "keV", "auto"] = "auto",
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Shift a reference foil to the tabulated edge; apply the shift to a sample.

    Parameters
    ----------
    reference : str or path-like
        Reference-foil spectrum: a file, or ``FILE:GROUP`` (or ``group``) for a project group;
        a project with several groups needs its group.
    out : path-like
        Run folder to create.
    element, edge : str
        Absorber and edge of the tabulated (xraydb) energy.
    group : str, optional
        Group of an ATHENA project holding the reference.
    sample : path-like, optional
        Spectra to shift by the same amount (``calibrated_<name>`` tables).
    energy_units : {"auto", "eV", "keV"}
        Units of a column file's energy.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``shift_eV``, ``measured_e0_eV``, ``tabulated_e0_eV``.
    """
    params = _call_parameters(locals(), parameters)
    import pandas as pd

    from cathodescope.io import read_xas_file, read_xas_spectrum, split_group
    from cathodescope.xas import calibrate

    with _open(out, "xas calibrate", params, overwrite) as run:
        run.add_input(split_group(reference)[0])
        _, ref = read_xas_spectrum(reference, group=group, energy_units=energy_units)
        cal = calibrate(_as_dataarray(ref), element=element, edge=edge)
        run.write_table("calibration", cal.to_dataframe())
        run.results["shift_eV"] = cal.shift
        if sample:
            run.add_input(sample)
            for name, s in read_xas_file(sample, energy_units=energy_units).items():
                shifted = cal.apply(_as_dataarray(s))
                run.write_table(
                    f"calibrated_{Path(name).stem}",
                    pd.DataFrame({"energy_eV": shifted.energy.values, "mu": shifted.values}),
                )
    summary = (
        f"shift {cal.shift:+.3f} eV (measured {cal.measured_e0:.3f}, tabulated "
        f"{cal.tabulated_e0:.3f})"
    )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


def run_map(
    stack_path: str | os.PathLike[str],
    energies: str | os.PathLike[str] | Sequence[float],
    standards: Mapping[str, str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    spacing: float | Sequence[float],
    fit_range: tuple[float, float],
    dataset: str | None = None,
    chunks: int | None = None,
    energy_units: Literal["eV", "keV", "auto"] = "auto",
    normalize_options: Mapping[str, Any] | None = None,
    normalize_standards: bool = True,
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Per-pixel XANES maps of a stack; write ``pixels``, ``maps.nc`` and a figure.

    Parameters
    ----------
    stack_path : path-like
        TIFF or HDF5 stack (energy, y, x).
    energies : path-like or sequence of float
        One energy per frame (a text file, or the values).
    standards : mapping of name to path-like
        One file per standard.
    out : path-like
        Run folder to create.
    spacing : float or (float, float)
        Pixel size in um (``y, x``).
    fit_range : (float, float)
        LCF window, eV.
    dataset : str, optional
        HDF5 dataset path.
    chunks : int, optional
        Image rows per dask block (stacks larger than memory).
    energy_units : {"auto", "eV", "keV"}
        Units of ``energies``.
    normalize_options : mapping, optional
        ``e0, pre1, pre2, norm1, norm2`` (eV), ``nnorm`` of the per-pixel normalization.
    normalize_standards : bool
        Normalize the standards like the stack (False: they are already normalized).
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``masked_pixels``; ``summary`` says how many pixels were mapped.
    """
    params = _call_parameters(locals(), parameters)
    from cathodescope.common.atomic import atomic_path
    from cathodescope.io import read_xanes_stack, read_xas_file
    from cathodescope.report import plot_xanes_maps
    from cathodescope.xas import xanes_maps

    with _open(out, "xas map", params, overwrite) as run:
        check_spacing_plausible(spacing)
        run.add_input(stack_path)
        stack = read_xanes_stack(
            stack_path, energies, spacing=spacing, energy_units=energy_units, dataset=dataset
        )
        stds = {
            name: _as_dataarray(next(iter(read_xas_file(p).values())))
            for name, p in standards.items()
        }
        with run.timer("maps"):
            maps = xanes_maps(
                stack,
                stds,
                fit_range=cast("tuple[float, float]", tuple(fit_range)),
                chunks=chunks,
                progress=True,
                normalize_standards=normalize_standards,
                **_norm_options(normalize_options),
            )
        run.write_table("pixels", maps.to_dataframe())
        ds = maps.fractions.to_dataset(dim="channel")
        for name, da in (
            ("edge_energy", maps.edge_energy),
            ("edge_step", maps.edge_step),
            ("r_factor", maps.r_factor),
            ("low_edge_jump", maps.mask),
        ):
            ds[name] = da.astype("float64") if name == "low_edge_jump" else da
        with atomic_path(run.file("maps.nc")) as tmp:
            ds.to_netcdf(tmp, engine="scipy")
        run.write_figure("maps", plot_xanes_maps(maps))
        run.results["masked_pixels"] = int(maps.mask.values.sum())
    summary = f"mapped {stack.sizes['y']}x{stack.sizes['x']} pixels"
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


def run_merge(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    groups: Sequence[str] | None = None,
    reference: str | None = None,
    e0_method: Literal["derivative_max", "first_inflection", "half_step"] = "derivative_max",
    max_shift: float = 10.0,
    energy_units: Literal["eV", "keV", "auto"] = "auto",
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Align and merge repeat scans; one e0 for all; write ``repeats``, ``merged``, a figure.

    Parameters
    ----------
    path : path-like
        An ATHENA project holding the repeats (or any file :func:`read_xas_file` reads).
    out : path-like
        Run folder to create.
    groups : sequence of str, optional
        The repeats (default: every group of the project).
    reference : str, optional
        The scan to align on (default: the first).
    e0_method : {"derivative_max", "first_inflection", "half_step"}
        How e0 is found on the merge.
    max_shift : float
        Largest alignment shift, eV.
    energy_units : {"auto", "eV", "keV"}
        Units of a column file's energy.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``e0_eV`` (of the merge), ``e0_spread_eV`` (of the repeats' consistent
        e0), ``e0_spread_independent_eV`` (scan by scan), ``multi_step``.
    """
    params = _call_parameters(locals(), parameters)

    from cathodescope.io import read_xas_file
    from cathodescope.report import plot_normalization
    from cathodescope.xas import merge_repeats, normalize

    with _open(out, "xas merge", params, overwrite) as run:
        run.add_input(path)
        found = read_xas_file(path, energy_units=energy_units)
        if groups:
            missing = [g for g in groups if g not in found]
            if missing:
                from cathodescope.errors import MissingMetadataError

                raise MissingMetadataError(f"no group {missing} in {path}; groups: {list(found)}.")
            found = {g: found[g] for g in groups}
        spectra = {k: _as_dataarray(v) for k, v in found.items()}
        with run.timer("merge"):
            m = merge_repeats(
                spectra, reference=reference, e0_method=e0_method, max_shift=max_shift
            )
        run.write_table("repeats", m.to_dataframe())
        norm = normalize(m.merged, e0=m.e0)
        merged = norm.to_dataframe()
        run.write_table("merged", merged)
        run.write_figure("merged", plot_normalization({"merge": norm}))
        run.results.update(
            {
                "e0_eV": m.e0,
                "e0_spread_eV": m.spread,
                "e0_spread_independent_eV": m.spread_independent,
                "multi_step": m.multi_step,
                "n_scans": len(m.names),
            }
        )
    summary = (
        f"merged {len(m.names)} scans: e0 {m.e0:.2f} eV, spread {m.spread:.2f} eV (scan by "
        f"scan {m.spread_independent:.2f} eV)"
    )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


__all__ = ["XasRun", "run_calibrate", "run_map", "run_merge", "run_normalize"]
