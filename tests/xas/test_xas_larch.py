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
from cathodescope.xas import lcf, normalize_athena_group

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
