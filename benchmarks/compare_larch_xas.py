"""Side-by-side check of cathodescope.xas against xraylarch (run from the project venv).

larch is NOT a project dependency: install it in a separate venv, e.g.
``python -m venv /tmp/larchenv && /tmp/larchenv/bin/pip install xraylarch``, then
``PYTHONPATH=src python benchmarks/compare_larch_xas.py --larch-python /tmp/larchenv/bin/python``.

Prints: (1) LCF weights of larch's lincombo_fit vs ours on mixtures of the real NiO / LiNiO2
references (interior weights and weights at a bound), with larch's sum of weights and its
reported uncertainties; (2) e0 from larch's find_e0 vs ours when the energy axis is shifted
by 0.5 eV; (3) larch's pre_edge edge step vs ATHENA's stored one in NiO.prj.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

LARCH = r"""
import json, sys, numpy as np
from larch import Group
from larch.xafs import pre_edge, find_e0
from larch.math import lincombo_fit
d = json.load(open(sys.argv[1]))
out = {"lcf": [], "e0": [], "step": [], "lcf3": []}
stds = []
for i, (e, mu) in enumerate(d["standards"]):
    stds.append(Group(energy=np.array(e), norm=np.array(mu), mu=np.array(mu), label=f"s{i}",
                      filename=f"s{i}"))
for y in d["mixtures"]:
    g = Group(energy=np.array(d["energy"]), norm=np.array(y), mu=np.array(y))
    r = lincombo_fit(g, stds, xmin=d["xmin"], xmax=d["xmax"], arrayname="norm", sum_to_one=True,
                     minvals=[0.0] * len(stds), maxvals=[1.0] * len(stds))
    w = [float(r.params[f"s{i}"].value) for i in range(len(stds))]
    s = [float(r.params[f"s{i}"].stderr or 0.0) for i in range(len(stds))]
    out["lcf"].append({"w": w, "stderr": s})
stds3 = [Group(energy=np.array(d["energy3"]), norm=np.array(mu), mu=np.array(mu), label=f"t{i}",
               filename=f"t{i}") for i, mu in enumerate(d["standards3"])]
for y in d["mixtures3"]:
    g = Group(energy=np.array(d["energy3"]), norm=np.array(y), mu=np.array(y))
    r = lincombo_fit(g, stds3, xmin=d["xmin3"], xmax=d["xmax3"], arrayname="norm",
                     sum_to_one=True, minvals=[0.0] * 3, maxvals=[1.0] * 3)
    out["lcf3"].append({"w": [float(r.params[f"t{i}"].value) for i in range(3)],
                        "stderr": [float(r.params[f"t{i}"].stderr or 0.0) for i in range(3)]})
for e, mu in d["e0_spectra"]:
    e = np.array(e); mu = np.array(mu)
    out["e0"].append([float(find_e0(e + s, mu)) for s in d["shifts"]])
for e, mu, p in d["steps"]:
    g = Group(energy=np.array(e), mu=np.array(mu))
    pre_edge(g, **p)
    out["step"].append(float(g.edge_step))
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--larch-python", required=True)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()

    from cathodescope.io import read_athena, read_xas_columns, read_xdi
    from cathodescope.phantom import mixture_spectrum
    from cathodescope.xas import find_e0, lcf, normalize_athena_group

    d = Path(args.data) / "xas"
    refs = {
        "NiO": read_xas_columns(d / "ref_NiO_Kedge.txt"),
        "LiNiO2": read_xas_columns(d / "ref_LiNiO2_Kedge.txt"),
    }
    rng = np.random.default_rng(11)
    truths = [
        0.2,
        0.5,
        0.8,
        0.0,
        1.0,
        -0.03,
        1.03,
    ]  # last ones: the data push a weight past a bound
    mixtures = []
    for t in truths:
        tt = min(max(t, 0.0), 1.0)
        spec, _ = mixture_spectrum(refs, {"NiO": tt, "LiNiO2": 1 - tt}, noise=0.004, rng=rng)
        if t < 0 or t > 1:  # extrapolated mixture: a weight wants to leave [0, 1]
            e = spec.energy.values
            a = np.interp(e, refs["NiO"].energy.values, refs["NiO"].values)
            b = np.interp(e, refs["LiNiO2"].energy.values, refs["LiNiO2"].values)
            spec = spec.copy(data=t * a + (1 - t) * b + rng.normal(0, 0.004, e.size))
        mixtures.append(spec)
    spectra = [
        read_xdi(d / "ni_metal_rt.xdi"),
        refs["NiO"],
        refs["LiNiO2"],
        read_xas_columns(d / "NCA_txm_xanes.csv"),
    ]
    groups = read_athena(d / "NiO.prj")
    current = [g for g in groups.values() if g.stored_values_current]
    from cathodescope.phantom import k_edge_standards

    std3 = k_edge_standards(n_standards=3)
    e3 = std3["M2+"].energy.values
    a3 = np.stack([v.values for v in std3.values()])
    truths3 = [(0.5, 0.3, 0.2), (0.7, 0.4, -0.1), (-0.08, 0.6, 0.48)]
    mixtures3 = [np.asarray(t) @ a3 + rng.normal(0, 0.003, e3.size) for t in truths3]
    payload = {
        "energy3": e3.tolist(),
        "standards3": a3.tolist(),
        "mixtures3": [m.tolist() for m in mixtures3],
        "xmin3": 8310.0,
        "xmax3": 8400.0,
        "energy": mixtures[0].energy.values.tolist(),
        "standards": [[s.energy.values.tolist(), s.values.tolist()] for s in refs.values()],
        "mixtures": [m.values.tolist() for m in mixtures],
        "xmin": 8320.0,
        "xmax": 8420.0,
        "shifts": [0.0, 0.5],
        "e0_spectra": [[s.energy.values.tolist(), s.values.tolist()] for s in spectra],
        "steps": [
            [
                (g.energy + g.eshift).tolist(),
                g.mu.tolist(),
                {k: v for k, v in g.normalization_parameters().items()},
            ]
            for g in current
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.json"
        path.write_text(json.dumps(payload))
        script = Path(tmp) / "l.py"
        script.write_text(LARCH)
        res = subprocess.run(
            [args.larch_python, str(script), str(path)], capture_output=True, text=True, check=False
        )
    if res.returncode:
        print(res.stderr[-3000:], file=sys.stderr)
        return 1
    lar = json.loads(res.stdout.strip().splitlines()[-1])
    print("LCF (truth NiO weight | larch w_NiO, w_LiNiO2, sum, stderr | ours w_NiO, 68% CI)")
    for t, m, lr in zip(truths, mixtures, lar["lcf"], strict=True):
        ours = lcf(m, refs, fit_range=(8320, 8420))
        print(
            f"  {t:+.2f} | {lr['w'][0]:.4f} {lr['w'][1]:.4f} sum {sum(lr['w']):.4f} "
            f"stderr {lr['stderr'][0]:.2e} | {ours.weights[0]:.4f} "
            f"[{ours.ci_low[0]:.4f}, {ours.ci_high[0]:.4f}] diff {ours.weights[0] - lr['w'][0]:+.1e}"
        )
    from cathodescope.xas import simplex_lstsq

    print("3 standards (truth | larch weights, sum, stderr | ours exact weights, sum, CI of w0)")
    sel = (e3 >= 8310) & (e3 <= 8400)
    for t, m, lr in zip(truths3, mixtures3, lar["lcf3"], strict=True):
        std_map = {k: (e3, v.values) for k, v in std3.items()}
        ours = lcf(m, std_map, energy=e3, fit_range=(8310, 8400))
        w_ex, ssr_ex = simplex_lstsq(a3.T[sel], m[sel])
        ssr_larch = float(np.sum((a3.T[sel] @ np.array(lr["w"]) - m[sel]) ** 2))
        print(
            f"  {t} | {np.round(lr['w'], 4).tolist()} sum {sum(lr['w']):.4f} stderr "
            f"{np.array(lr['stderr']).round(5).tolist()} | {np.round(ours.weights, 4).tolist()}"
            f" sum {ours.weights.sum():.12f} ssr-check {np.abs(w_ex - ours.weights).max():.1e}"
            f" CI w0 [{ours.ci_low[0]:.4f}, {ours.ci_high[0]:.4f}]"
            f" | SSR larch {ssr_larch:.5g} ours {float(ssr_ex):.5g}"
        )
    print("e0 shift test (axis +0.5 eV): larch moved / ours moved")
    for s, le in zip(spectra, lar["e0"], strict=True):
        e, mu = s.energy.values, s.values
        ours = find_e0(mu, e + 0.5) - find_e0(mu, e)
        print(
            f"  {s.name or 'spectrum'}: larch {le[1] - le[0]:+.3f} eV (e0 {le[0]:.2f}), "
            f"ours {ours:+.3f} eV"
        )
    print("edge step vs ATHENA stored (current groups): larch / ours max relative error")
    lerr = [abs(ls / g.edge_step - 1) for ls, g in zip(lar["step"], current, strict=True)]
    oerr = [abs(normalize_athena_group(g).edge_step / g.edge_step - 1) for g in current]
    print(f"  larch {max(lerr):.2e}, ours {max(oerr):.2e} over {len(current)} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())
