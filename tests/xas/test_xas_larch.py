"""Cross-check against xraylarch, run in a separate environment (never a project dependency).

Set ``CATHODESCOPE_LARCH_PYTHON`` to the python of a venv with xraylarch installed
(``python -m venv /tmp/larchenv && /tmp/larchenv/bin/pip install xraylarch``); the test is
skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from cathodescope.io import read_athena, read_xas_columns
from cathodescope.phantom import mixture_spectrum
from cathodescope.xas import lcf, normalize, normalize_athena_group

LARCH = r"""
import json, sys, numpy as np
from larch import Group
from larch.xafs import pre_edge
from larch.math import lincombo_fit
d = json.load(open(sys.argv[1]))
stds = [Group(energy=np.array(e), norm=np.array(m), label=f"s{i}", filename=f"s{i}")
        for i, (e, m) in enumerate(d["standards"])]
w = []
for y in d["mixtures"]:
    g = Group(energy=np.array(d["energy"]), norm=np.array(y))
    r = lincombo_fit(g, stds, xmin=d["xmin"], xmax=d["xmax"], sum_to_one=True,
                     minvals=[0.0] * len(stds), maxvals=[1.0] * len(stds))
    w.append([float(r.params[f"s{i}"].value) for i in range(len(stds))])
steps = []
for e, mu, p in d["steps"]:
    g = Group(energy=np.array(e), mu=np.array(mu))
    pre_edge(g, **p)
    steps.append(float(g.edge_step))
print(json.dumps({"w": w, "steps": steps}))
"""


@pytest.fixture(scope="module")
def larch_python():
    exe = os.environ.get("CATHODESCOPE_LARCH_PYTHON")
    if not exe or not os.path.exists(exe):
        pytest.skip("set CATHODESCOPE_LARCH_PYTHON to a python with xraylarch to cross-check")
    return exe


def test_against_larch(larch_python, shared_data, tmp_path):
    d = shared_data / "xas"
    refs = {
        "NiO": read_xas_columns(d / "ref_NiO_Kedge.txt"),
        "LiNiO2": read_xas_columns(d / "ref_LiNiO2_Kedge.txt"),
    }
    rng = np.random.default_rng(4)
    truths = [0.15, 0.45, 0.75]  # interior: larch's bounds/sum constraint are inactive
    mixtures = [
        mixture_spectrum(refs, {"NiO": t, "LiNiO2": 1 - t}, noise=0.004, rng=rng)[0] for t in truths
    ]
    groups = [g for g in read_athena(d / "NiO.prj").values() if g.stored_values_current]
    payload = {
        "energy": mixtures[0].energy.values.tolist(),
        "standards": [[s.energy.values.tolist(), s.values.tolist()] for s in refs.values()],
        "mixtures": [m.values.tolist() for m in mixtures],
        "xmin": 8320.0,
        "xmax": 8420.0,
        "steps": [
            [
                (g.energy + g.eshift).tolist(),
                g.mu.tolist(),
                {k: v for k, v in g.normalization_parameters().items() if k != "window_convention"},
            ]
            for g in groups
        ],
    }
    (tmp_path / "d.json").write_text(json.dumps(payload))
    (tmp_path / "l.py").write_text(LARCH)
    out = subprocess.run(
        [larch_python, str(tmp_path / "l.py"), str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lar = json.loads(out.stdout.strip().splitlines()[-1])
    for m, wl in zip(mixtures, lar["w"], strict=True):
        ours = lcf(m, refs, fit_range=(8320, 8420), uncertainty="none")
        np.testing.assert_allclose(ours.weights, wl, atol=1e-3)  # measured: ~1e-10
    for g, sl in zip(groups, lar["steps"], strict=True):
        assert normalize_athena_group(g).edge_step == pytest.approx(sl, rel=1e-5)


LARCH_PROJECTS = r"""
import json, sys, numpy as np
from larch import Group
from larch.xafs import pre_edge
from larch.math import lincombo_fit
d = json.load(open(sys.argv[1]))
stds = [Group(energy=np.array(e), norm=np.array(m), label=n, filename=n)
        for n, (e, m) in d["standards"].items()]
g = Group(energy=np.array(d["energy"]), norm=np.array(d["data"]))
r = lincombo_fit(g, stds, xmin=d["xmin"], xmax=d["xmax"], sum_to_one=True,
                 minvals=[0.0] * len(stds), maxvals=[1.0] * len(stds))
w = [float(r.params[s.label].value) for s in stds]
norms = []
for e, mu, p in d["fixed"]:
    h = Group(energy=np.array(e), mu=np.array(mu))
    pre_edge(h, **p)
    norms.append(np.asarray(h.norm).tolist())
print(json.dumps({"w": w, "norms": norms}))
"""


def test_projects_against_larch(larch_python, shared_data, tmp_path):
    """Issue 13 where larch is right: the interior Mn3O4 fit on ATHENA-normalized groups, and
    fixed-step (``bkg_fixstep``) groups normalized with ``step=`` given."""
    mn = read_athena(shared_data / "xas" / "Mn.prj")
    norm = {k: normalize_athena_group(mn[k]) for k in ("Mn3O4", "MnO", "Mn2O3x")}
    e0 = mn["Mn3O4"].e0
    fe = [
        g for g in read_athena(shared_data / "xas" / "Fe_fixed_step.prj").values() if g.fixed_step
    ]
    payload = {
        "energy": norm["Mn3O4"].energy.tolist(),
        "data": norm["Mn3O4"].norm.tolist(),
        "standards": {
            k: [norm[k].energy.tolist(), norm[k].norm.tolist()] for k in ("MnO", "Mn2O3x")
        },
        "xmin": e0 - 20,
        "xmax": e0 + 30,
        "fixed": [
            [
                (g.energy + g.eshift).tolist(),
                g.mu.tolist(),
                {k: v for k, v in g.normalization_parameters().items() if k != "window_convention"},
            ]
            for g in fe
        ],
    }
    (tmp_path / "d.json").write_text(json.dumps(payload))
    (tmp_path / "l.py").write_text(LARCH_PROJECTS)
    out = subprocess.run(
        [larch_python, str(tmp_path / "l.py"), str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lar = json.loads(out.stdout.strip().splitlines()[-1])
    std = {k: norm[k].to_dataarray("norm") for k in ("MnO", "Mn2O3x")}
    ours = lcf(norm["Mn3O4"].to_dataarray("norm"), std, fit_range=(e0 - 20, e0 + 30))
    np.testing.assert_allclose(ours.weights, lar["w"], atol=2e-3)  # interior optimum
    for g, ln in zip(fe, lar["norms"], strict=True):
        assert normalize_athena_group(g).edge_step == 1.0
        # the same parameters (step= included) with larch's window ends: the same norm(E)
        p = {**g.normalization_parameters(), "window_convention": "larch"}
        r = normalize(g.mu, g.energy + g.eshift, **p)
        np.testing.assert_allclose(r.norm, ln, atol=1e-8)
