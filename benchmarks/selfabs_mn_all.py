"""The self-absorption study of the two MnO samples of Mn_all.prj (issue 13 item 5).

Prints every number quoted in docs/xas_selfabs.md, then times the correction:

    PYTHONPATH=src CATHODESCOPE_SHARED_DATA=/work/shared/data python benchmarks/selfabs_mn_all.py

Nothing here feeds the tool: the study shows *why* a pure-film model fails on the ground sample
(its transmission is not distorted, no thickness distribution consistent with it helps) and
what the measured diluent does.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, machine_context
from cathodescope.io import read_athena
from cathodescope.xas import (
    absorption_model,
    correct_self_absorption,
    diluent_from_transmission,
    normalize_athena_group,
    thickness_from_edge_step,
)

PRJ = Path(os.environ.get("CATHODESCOPE_SHARED_DATA", "../shared/data")) / "xas" / "Mn_all.prj"
S45 = np.sin(np.pi / 4)


def intensity(n, jump, mu_b, mu_f, t_cm):
    """Booth/Troger fluorescence of a uniform film at 45/45 degrees (unnormalized)."""
    total = (n * jump + mu_b) / S45 + mu_f / S45
    return n * jump / S45 / total * (-np.expm1(-t_cm * total))


def gamma_thickness(mean_cm, cv, m=4000):
    """Quantiles of a gamma thickness distribution (Stern & Kim style thickness variation)."""
    if cv == 0:
        return np.array([mean_cm])
    k = 1 / cv**2
    return stats.gamma.ppf((np.arange(m) + 0.5) / m, k, scale=mean_cm / k)


def rms(corrected, trans, sel):
    return float(np.sqrt(np.mean((corrected - trans)[sel] ** 2)))


def main() -> None:
    print(machine_context())
    g = read_athena(PRJ)
    norm = {k: normalize_athena_group(g[k]) for k in g}
    tg, ts = norm["MnO ground"], norm["MnO sedimented"]

    # 1. is the ground transmission itself distorted?
    e0 = tg.e0
    sel = (tg.energy >= e0 - 20) & (tg.energy <= e0 + 80)
    ns = np.interp(tg.energy, ts.energy, ts.flat)
    b, a = np.polyfit(ns[sel], tg.flat[sel], 1)
    print(
        f"[1] white line (max flat, e0-20..+80): ground {tg.flat[sel].max():.4f}, sedimented "
        f"{ts.flat[(ts.energy >= e0 - 20) & (ts.energy <= e0 + 80)].max():.4f}; "
        f"flat_ground = {a:+.4f} + {b:.4f} flat_sed; RMS(ground - sed) "
        f"{np.sqrt(np.mean((tg.flat - ns)[sel] ** 2)):.4f}"
    )

    # 2. thickness distributions constrained by the ground edge step (1.748)
    m0 = absorption_model(np.array([6539.0]), formula="MnO", density=5.37, element="Mn")
    jump, mu_b, mu_f = float(m0.jump[0]), float(m0.mu_background[0]), m0.mu_fluor

    def absorb(mu, t):
        return -np.log(np.mean(np.exp(-mu * t)))

    def n_fy(n, t):
        return np.mean(intensity(n, jump, mu_b, mu_f, t)) / np.mean(
            intensity(1.0, jump, mu_b, mu_f, t)
        )

    for cv in (0.0, 0.1, 0.2, 0.5, 1.0):
        tau = optimize.brentq(
            lambda x, cv=cv: (
                absorb(mu_b + jump, gamma_thickness(x, cv))
                - absorb(mu_b, gamma_thickness(x, cv))
                - tg.edge_step
            ),
            1e-5,
            0.05,
        )
        t = gamma_thickness(tau, cv)
        wl = (absorb(mu_b + 1.78 * jump, t) - absorb(mu_b, t)) / tg.edge_step
        target = n_fy(1.78, t)
        d_eq = optimize.brentq(lambda d, v=target: n_fy(1.78, np.array([d])) - v, 1e-6, 0.05)
        print(
            f"[2] thickness cv {cv:.1f}: mean {tau * 1e4:6.2f} um, transmission white line "
            f"1.78 -> {wl:.3f}, fluorescence as a uniform film of {d_eq * 1e4:.2f} um"
        )

    # 3. the diluent: excess pre-edge absorbance of the ground scan over the sedimented one
    window = (tg.e0 + tg.parameters["pre1"], tg.e0 + tg.parameters["pre2"])
    ests = {}
    for dil in ("C6H10O5", "BN", "C3H6"):
        ests[dil] = est = diluent_from_transmission(
            tg.energy,
            tg.mu,
            ts.energy,
            ts.mu,
            edge_step=tg.edge_step,
            baseline_edge_step=ts.edge_step,
            formula="MnO",
            element="Mn",
            window_eV=window,
            diluent=dil,
        )
        print(
            f"[3] diluent {dil:8s}: absorbance at the edge {est.absorbance:.4f} +- "
            f"{est.absorbance_error:.4f}, offset {est.offset:+.4f}, fit RMS {est.rms:.2e}, "
            f"ratio {est.ratio:.4f} ({est.n_points} points {window[0]:.1f}..{window[1]:.1f} eV)"
        )

    # 4. fluorescence corrections against the transmission
    fy = {k: norm[f"MnO {k}"] for k in ("sedimented fuorescence", "ground fluorescence")}
    cases = [("sedimented fuorescence", ts, 0.0), ("ground fluorescence", tg, 0.0)]
    cases += [("ground fluorescence", tg, ests[d].ratio) for d in ests]
    for key, tr, ratio in cases:
        f = fy[key]
        m = absorption_model(f.energy, formula="MnO", density=5.37, element="Mn",
                             diluent_ratio=ratio)  # fmt: skip
        d = thickness_from_edge_step(tr.edge_step, m)
        trans = np.interp(f.energy, tr.energy, tr.flat)
        w = (f.energy >= f.e0 - 20) & (f.energy <= f.e0 + 80)
        c = correct_self_absorption(f.flat, m, energy=f.energy, thickness_um=d)
        print(
            f"[4] {key:22s} d {d:6.3f} um, diluent ratio {ratio:.4f}: RMS uncorrected "
            f"{rms(f.flat, trans, w):.4f} -> corrected {rms(c, trans, w):.4f}"
        )
    f = fy["ground fluorescence"]
    m = absorption_model(f.energy, formula="MnO", density=5.37, element="Mn")
    trans = np.interp(f.energy, tg.energy, tg.flat)
    w = (f.energy >= f.e0 - 20) & (f.energy <= f.e0 + 80)
    scan = []
    for d in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0):
        scan.append(f"{d:g} um {rms(correct_self_absorption(f.flat, m, energy=f.energy, thickness_um=d), trans, w):.4f}")  # fmt: skip
    print("[4] ground, pure film of a chosen thickness (tuning, for reference):", ", ".join(scan))

    # 5. independent check: absolute fluorescence edge steps (signal / I0, same detectors?)
    e = np.array([6560.0, 6600.0, 6700.0])
    ratio = ests["C6H10O5"].ratio

    def fy_step(r, d_um):
        mm = absorption_model(e, formula="MnO", density=5.37, element="Mn", diluent_ratio=r)
        args = (mm.jump, mm.mu_background, mm.mu_fluor, d_um * 1e-4)
        return intensity(1.0, *args) - intensity(0.0, *args)

    d_g = thickness_from_edge_step(tg.edge_step, m)
    d_s = thickness_from_edge_step(ts.edge_step, m)
    measured = fy["ground fluorescence"].edge_step / fy["sedimented fuorescence"].edge_step
    pure = np.mean(fy_step(0.0, d_g) / fy_step(0.0, d_s))
    mixed = np.mean(fy_step(ratio, d_g) / fy_step(0.0, d_s))
    frac = optimize.brentq(
        lambda x: np.mean(fy_step(x * ratio, d_g) / fy_step(0.0, d_s)) - measured, 0.0, 1.0
    )
    mf = absorption_model(f.energy, formula="MnO", density=5.37, element="Mn",
                          diluent_ratio=frac * ratio)  # fmt: skip
    c = correct_self_absorption(f.flat, mf, energy=f.energy, thickness_um=d_g)
    print(
        f"[5] fluorescence edge step ground/sedimented: measured {measured:.3f}, pure film "
        f"{pure:.3f}, fully mixed diluent {mixed:.3f}; the measured ratio needs {frac:.2f} of "
        f"the diluent mixed, which gives RMS {rms(c, trans, w):.4f} (consistency check only)"
    )

    # 6. timing of the correction (250 points), median of 7
    mg = absorption_model(f.energy, formula="MnO", density=5.37, element="Mn",
                          diluent_ratio=ratio)  # fmt: skip
    walls, cpus = [], []
    for _ in range(7):
        t0, c0 = time.perf_counter(), cpu_seconds()
        correct_self_absorption(f.flat, mg, energy=f.energy, thickness_um=d_g)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    print(
        f"[6] correct_self_absorption, {f.energy.size} points: median wall "
        f"{statistics.median(walls) * 1e3:.1f} ms, CPU {statistics.median(cpus) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
