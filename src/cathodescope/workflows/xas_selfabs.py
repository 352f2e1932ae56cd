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

THICK_TRANSMISSION_STEP = 1.5
"""Transmission edge steps above this (ln units, absorption lengths of the absorber's jump)
make the reference sensitive to leakage and thickness effects: :func:`run_selfabs` warns."""


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
    baseline: str | os.PathLike[str] | None = None,
    diluent: str = "C6H10O5",
    diluent_ratio: float | None = None,
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
    baseline : str or path-like, optional
        Transmission scan (``FILE`` or ``FILE:GROUP``) of the same compound *without* diluent,
        taken with the same detectors (e.g. a sedimented film): the excess pre-edge absorbance
        of ``transmission`` over it, in the transmission's pre-edge window, measures a diluent
        mixed into the sample (:func:`cathodescope.xas.diluent_from_transmission`).
    diluent : str
        Formula of the diluent (its energy dependence only), default cellulose.
    diluent_ratio : float, optional
        Diluent absorbance at the edge / transmission edge step, when known; overrides
        ``baseline``. Default: measured with ``baseline``, else 0 (no diluent).
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
        ``results``: ``thickness_um``, ``thickness_source``, ``diluent_ratio``,
        ``diluent_source`` (with ``baseline``: ``diluent_absorbance``, its error and the gain
        ``diluent_offset``) and, with a transmission spectrum, ``transmission_edge_step``,
        ``rms_corrected`` and ``rms_uncorrected`` (normalized, in ``compare_window``).

    Warns when the transmission reference is optically thick (edge step above
    :data:`THICK_TRANSMISSION_STEP`): pinholes, harmonics and thickness variations flatten such
    a spectrum (Stern & Kim 1981), so it is a weaker reference.
    """
    params = _call_parameters(locals(), parameters)
    import numpy as np
    import pandas as pd

    from cathodescope.errors import ParameterError
    from cathodescope.io import read_xas_spectrum, split_group
    from cathodescope.report import plot_selfabs
    from cathodescope.xas import (
        absorption_model,
        correct_self_absorption,
        diluent_from_transmission,
        thickness_from_edge_step,
    )

    if baseline is not None and transmission is None and diluent_ratio is None:
        raise ParameterError(
            "a baseline measures the diluent of the transmission sample: give --transmission "
            "too (or the diluent ratio itself with --diluent-ratio)."
        )

    with _open(out, "xas selfabs", params, overwrite) as run:
        run.add_input(split_group(fluorescence)[0])
        name, fy_raw = read_xas_spectrum(fluorescence, energy_units=energy_units)
        fy = _normalized(name, fy_raw, athena_params)
        trans = None
        if transmission is not None:
            run.add_input(split_group(transmission)[0])
            t_name, t_raw = read_xas_spectrum(transmission, energy_units=energy_units)
            trans = _normalized(t_name, t_raw, athena_params)
        ratio, dil_source = 0.0, "none"
        if diluent_ratio is not None:
            ratio, dil_source = float(diluent_ratio), "given"
            if baseline is not None:
                run.warn("the diluent ratio was given: the baseline scan is not used.")
        elif baseline is not None and trans is not None:
            run.add_input(split_group(baseline)[0])
            b_name, b_raw = read_xas_spectrum(baseline, energy_units=energy_units)
            base = _normalized(b_name, b_raw, athena_params)
            window = (trans.e0 + trans.parameters["pre1"], trans.e0 + trans.parameters["pre2"])
            est = diluent_from_transmission(
                trans.energy,
                trans.mu,
                base.energy,
                base.mu,
                edge_step=trans.edge_step,
                baseline_edge_step=base.edge_step,
                formula=formula,
                element=element,
                edge=edge,
                window_eV=window,
                diluent=diluent,
            )
            run.results.update(
                {
                    "diluent_absorbance": est.absorbance,
                    "diluent_absorbance_error": est.absorbance_error,
                    "diluent_offset": est.offset,
                    "diluent_fit_rms": est.rms,
                }
            )
            dil_source = f"excess pre-edge absorbance over {b_name}"
            if est.absorbance < 0:
                run.warn(
                    f"the baseline {b_name} absorbs more below the edge than the sample "
                    f"({est.absorbance:.3g} +- {est.absorbance_error:.2g}): no diluent taken; "
                    "check that both scans used the same detectors."
                )
            else:
                ratio = est.ratio
        model = absorption_model(
            fy.energy,
            formula=formula,
            density=density,
            element=element,
            edge=edge,
            line=line,
            diluent=diluent,
            diluent_ratio=ratio,
        )
        run.results.update({"diluent_ratio": ratio, "diluent_source": dil_source})
        if trans is not None:
            run.results["transmission_edge_step"] = float(trans.edge_step)
            if trans.edge_step > THICK_TRANSMISSION_STEP:
                run.warn(
                    f"the transmission reference is optically thick (edge step "
                    f"{trans.edge_step:.3g} > {THICK_TRANSMISSION_STEP:g}): leakage through "
                    "pinholes or harmonics and thickness variations flatten it; compare with a "
                    "thinner sample when the RMS matters."
                )
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
                    f"({source}); a diluent mixed into the sample (--baseline, "
                    "--diluent-ratio) lowers the self-absorption."
                )
        run.write_table("selfabs", table)
        run.write_figure("selfabs", plot_selfabs(table, e0=fy.e0))
    summary = f"thickness {run.results['thickness_um']} um ({source})"
    if run.results["diluent_ratio"] > 0:
        summary += (
            f"; diluent ratio {run.results['diluent_ratio']:.3g} ({run.results['diluent_source']})"
        )
    if "rms_corrected" in run.results:
        summary += (
            f"; RMS vs transmission {run.results['rms_uncorrected']:.4f} -> "
            f"{run.results['rms_corrected']:.4f}"
        )
    return XasRun(Path(out), dict(run.results), tuple(run.warnings), summary)


__all__ = ["THICK_TRANSMISSION_STEP", "run_selfabs"]
