"""The self-absorption run: correct fluorescence XANES, compare it with transmission."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from cathodescope.workflows._xas_common import (
    XasRun,
    _call_parameters,
    _normalized,
    _open,
)


def run_selfabs(
    fluorescence: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    formula: str,
    density: float,
    element: str,
    edge: str = "K",
    line: str = "Ka1",
    incidence_deg: float = 45.0,
    exit_deg: float = 45.0,
    thickness_um: float | None = None,
    transmission: str | os.PathLike[str] | None = None,
    transmission_incidence_deg: float = 90.0,
    athena_params: bool = True,
    compare_window: tuple[float, float] = (-20.0, 80.0),
    energy_units: Literal["eV", "keV", "auto"] = "auto",
    overwrite: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> XasRun:
    """Self-absorption correction of a fluorescence spectrum; write ``selfabs`` and a figure.

    Parameters
    ----------
    fluorescence : str or path-like
        The fluorescence spectrum, ``FILE`` or ``FILE:GROUP``.
    out : path-like
        Run folder to create.
    formula : str
        Composition of the sample, e.g. ``"MnO"`` or ``"LiNi0.6Mn0.2Co0.2O2"``.
    density : float
        g/cm^3 of the dense material (a powder film is described by its equivalent dense
        thickness, see :func:`cathodescope.xas.thickness_from_edge_step`).
    element, edge, line : str
        Absorber, edge and fluorescence line.
    incidence_deg, exit_deg : float
        Beam-to-surface and surface-to-detector angles of the fluorescence measurement.
    thickness_um : float, optional
        Sample thickness in um; default: from the ``transmission`` edge step, or the thick
        limit when there is no transmission spectrum.
    transmission : str or path-like, optional
        Transmission spectrum of the same sample (``FILE`` or ``FILE:GROUP``): its edge step
        gives the thickness, and the corrected spectrum is compared with it (``rms``).
    transmission_incidence_deg : float
        Beam-to-surface angle of the transmission scan (90: normal incidence).
    athena_params : bool
        Normalize ATHENA groups with their stored parameters (else the defaults).
    compare_window : (float, float)
        Window relative to e0 (eV) of the comparison with the transmission spectrum.
    energy_units : {"auto", "eV", "keV"}
        Units of column files' energy.
    overwrite : bool
        Write into a non-empty ``out``.
    parameters : mapping, optional
        Parameters recorded in the manifest.

    Returns
    -------
    XasRun
        ``results``: ``thickness_um``, ``thickness_source`` and, with a transmission spectrum,
        ``rms_corrected`` and ``rms_uncorrected`` (normalized, in ``compare_window``).
    """
    params = _call_parameters(locals(), parameters)
    import numpy as np
    import pandas as pd

    from cathodescope.io import read_xas_spectrum, split_group
    from cathodescope.report import plot_selfabs
    from cathodescope.xas import (
        absorption_model,
        correct_self_absorption,
        thickness_from_edge_step,
    )

    with _open(out, "xas selfabs", params, overwrite) as run:
        run.add_input(split_group(fluorescence)[0])
        name, fy_raw = read_xas_spectrum(fluorescence, energy_units=energy_units)
        fy = _normalized(name, fy_raw, athena_params)
        model = absorption_model(
            fy.energy, formula=formula, density=density, element=element, edge=edge, line=line
        )
        trans = None
        if transmission is not None:
            run.add_input(split_group(transmission)[0])
            t_name, t_raw = read_xas_spectrum(transmission, energy_units=energy_units)
            trans = _normalized(t_name, t_raw, athena_params)
        if thickness_um is not None:
            d, source = float(thickness_um), "given"
        elif trans is not None:
            d = thickness_from_edge_step(
                trans.edge_step, model, incidence_deg=transmission_incidence_deg
            )
            source = f"transmission edge step {trans.edge_step:.4g}"
        else:
            d, source = None, "thick limit (no thickness, no transmission spectrum)"
        with run.timer("selfabs"):
            corrected = correct_self_absorption(
                fy.flat,
                model,
                energy=fy.energy,
                incidence_deg=incidence_deg,
                exit_deg=exit_deg,
                thickness_um=d,
            )
        table = pd.DataFrame({"energy_eV": fy.energy, "measured": fy.flat, "corrected": corrected})
        run.results.update(
            {"thickness_um": d if d is not None else "inf", "thickness_source": source}
        )
        if trans is not None:
            table["transmission"] = np.interp(fy.energy, trans.energy, trans.flat)
            sel = (fy.energy >= fy.e0 + compare_window[0]) & (
                fy.energy <= fy.e0 + compare_window[1]
            )
            rms = float(np.sqrt(np.mean((corrected - table["transmission"])[sel] ** 2)))
            rms0 = float(np.sqrt(np.mean((fy.flat - table["transmission"])[sel] ** 2)))
            run.results.update({"rms_corrected": rms, "rms_uncorrected": rms0})
            if rms > rms0:
                run.warn(
                    f"the correction moved the spectrum away from the transmission spectrum "
                    f"(RMS {rms0:.3f} -> {rms:.3f} in e0{compare_window[0]:+g}.."
                    f"{compare_window[1]:+g} eV): check composition, angles and thickness "
                    f"({source})."
                )
        run.write_table("selfabs", table)
        run.write_figure("selfabs", plot_selfabs(table, e0=fy.e0))
    summary = f"thickness {run.results['thickness_um']} um ({source})"
    if "rms_corrected" in run.results:
        summary += (
            f"; RMS vs transmission {run.results['rms_uncorrected']:.4f} -> "
            f"{run.results['rms_corrected']:.4f}"
        )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


__all__ = ["run_selfabs"]
