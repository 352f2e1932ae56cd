"""Surface layer from probes of different depth: kernels against closed forms and independent
quadrature, fluorescence depth against xraydb, recovery and interval coverage on synthetic
weights, what two probes cannot determine, series, probe files and the CLI."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from cathodescope.cli import main
from cathodescope.errors import CathodescopeRunWarning, MissingMetadataError, ParameterError
from cathodescope.xas import (
    ExponentialKernel,
    LayerProfile,
    Probe,
    SphereKernel,
    TabulatedKernel,
    fit_layer,
    fit_layer_series,
    fluorescence_depth,
    forward_weight,
)

NMC = {"formula": "LiNi0.6Mn0.2Co0.2O2", "density_g_cm3": 4.7}
TRUTH = LayerProfile(20.0, 0.8, 0.2)


def _quad(kernel, profile, z_max):
    """Independent kernel-weighted mean by adaptive quadrature of k(z) x(z) / int k, on panels
    split around the transition."""
    t, w = profile.thickness_nm, max(profile.width_nm, 1e-3)
    cuts = [0.0, *[c for c in (t - 12 * w, t, t + 12 * w) if 0 < c < z_max], z_max]

    def integral(f):
        return sum(
            integrate.quad(f, a, b, limit=400, epsabs=1e-14, epsrel=1e-12)[0]
            for a, b in itertools.pairwise(cuts)
        )

    return integral(lambda z: kernel.density(z) * profile(z)) / integral(kernel.density)


@pytest.mark.parametrize("L", [2.0, 5.0, 116.0, 1e3])
@pytest.mark.parametrize("t", [0.0, 1.0, 20.0, 300.0])
def test_exponential_sharp_closed_form(L, t):
    p = LayerProfile(t, 0.8, 0.2)
    expected = 0.2 + (0.8 - 0.2) * (1 - np.exp(-t / L))
    assert forward_weight(p, ExponentialKernel(L)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("R", [50.0, 5000.0])
@pytest.mark.parametrize("t", [0.0, 5.0, 20.0, 49.0])
def test_sphere_sharp_closed_form(R, t):
    p = LayerProfile(t, 0.8, 0.2)
    expected = 0.2 + (0.8 - 0.2) * (1 - ((R - t) / R) ** 3)
    assert forward_weight(p, SphereKernel(R)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("kernel", "z_max"),
    [
        (ExponentialKernel(5.0), 400.0),
        (ExponentialKernel(116.0), 5000.0),
        (SphereKernel(80.0), 80.0),
        (SphereKernel(5000.0), 5000.0),
        (TabulatedKernel(np.linspace(0, 100, 11), np.linspace(1, 0, 11) ** 2), 100.0),
    ],
)
@pytest.mark.parametrize("width", [0.0, 1.0, 8.0])
def test_forward_weight_against_quadrature(kernel, z_max, width):
    p = LayerProfile(20.0, 0.8, 0.2, width_nm=width)
    assert forward_weight(p, kernel) == pytest.approx(_quad(kernel, p, z_max), abs=1e-6)


def test_erf_tends_to_sharp_and_tabulated_exponential_matches_closed_form():
    k = ExponentialKernel(10.0)
    sharp = forward_weight(TRUTH, k)
    assert forward_weight(LayerProfile(20.0, 0.8, 0.2, width_nm=1e-4), k) == pytest.approx(
        sharp, abs=1e-6
    )
    # a finely tabulated exp(-z/L) to 30 L: piecewise-linear error ~ (dz/L)^2 / 8 ~ 3e-8
    z = np.linspace(0.0, 300.0, 60001)
    tab = TabulatedKernel(z, np.exp(-z / 10.0))
    for prof in (TRUTH, LayerProfile(20.0, 0.8, 0.2, width_nm=5.0)):
        assert forward_weight(prof, tab) == pytest.approx(forward_weight(prof, k), abs=1e-6)


@pytest.mark.parametrize(
    ("incident", "angles"), [(None, (45.0, 45.0)), (870.0, (30.0, 60.0)), (None, (90.0, 10.0))]
)
def test_fluorescence_depth_against_direct_xraydb(incident, angles):
    import xraydb

    fd = fluorescence_depth(
        **NMC, edge="Ni L3", line="Ni La", incident_eV=incident, angles_deg=angles
    )
    e_in = xraydb.xray_edge("Ni", "L3").energy + 10.0 if incident is None else incident
    lines = xraydb.xray_lines("Ni")
    la = [lines["La1"], lines["La2"]]
    e_f = sum(x.energy * x.intensity for x in la) / sum(x.intensity for x in la)
    mu_in = xraydb.material_mu(NMC["formula"], e_in, density=4.7)
    mu_f = xraydb.material_mu(NMC["formula"], e_f, density=4.7)
    a, b = np.radians(angles)
    L = 1e7 / (mu_in / np.sin(a) + mu_f / np.sin(b))
    assert fd.depth_nm == pytest.approx(L, rel=0.01)
    # "a few hundred nm" at most for FY at the Ni L edge (NCM622 paper)
    assert 10 < fd.depth_nm < 500


def _probes(weights, stderr=0.005, tey_sd=0.0):
    fy = fluorescence_depth(**NMC, edge="Ni L3", line="Ni La").kernel()
    kernels = {"TEY": ExponentialKernel(5.0), "FY": fy, "hard XAS": SphereKernel(5000.0)}
    return [
        Probe(n, k, w, stderr, depth_stderr_nm=tey_sd if n == "TEY" else 0.0)
        for (n, k), w in zip(kernels.items(), weights, strict=True)
    ]


def _truth_weights():
    return [forward_weight(TRUTH, p.kernel) for p in _probes([0, 0, 0])]


def test_recovery_and_coverage_over_seeds():
    """t = 20 nm, x_s = 0.8, x_b = 0.2, noise 0.005: t within 25 %, 68 % intervals cover
    at their level (200 seeds: binomial sd 0.033, so accept 0.68 +/- 0.10)."""
    rng = np.random.default_rng(20261201)
    exact = np.array(_truth_weights())
    n, hits, within = (
        200,
        dict.fromkeys(("thickness_nm", "surface_fraction", "bulk_fraction"), 0),
        0,
    )
    for _ in range(n):
        fit = fit_layer(_probes(exact + rng.normal(0, 0.005, 3)), warn=False)
        within += abs(fit.profile.thickness_nm / 20.0 - 1) < 0.25
        for name in hits:
            e = fit.estimates[name]
            hits[name] += e.ci_low <= getattr(TRUTH, name) <= e.ci_high
    assert within / n >= 0.95
    for name, h in hits.items():
        assert 0.58 <= h / n <= 0.78, (name, h / n)


def test_exact_weights_recover_the_layer():
    fit = fit_layer(_probes(_truth_weights()))
    assert fit.profile.thickness_nm == pytest.approx(20.0, rel=1e-4)
    assert fit.profile.surface_fraction == pytest.approx(0.8, abs=1e-5)
    assert fit.profile.bulk_fraction == pytest.approx(0.2, abs=1e-5)
    assert fit.chi2 < 1e-8 and not fit.message
    assert all(e.status == "determined" for e in fit.estimates.values())
    np.testing.assert_allclose(fit.predicted, _truth_weights(), atol=1e-6)


def test_two_probes_say_what_is_not_determined_and_fixing_one_helps():
    w = _truth_weights()
    probes = [p for p, wi in zip(_probes(w), w, strict=True) if p.name != "FY"]
    with pytest.warns(CathodescopeRunWarning, match="2 probes cannot determine 3 unknowns"):
        fit = fit_layer(probes)
    assert "fix one" in fit.message
    assert fit.estimates["surface_fraction"].status != "determined"
    fixed = fit_layer(probes, fixed={"surface_fraction": 0.8})
    assert not fixed.message
    assert fixed.estimates["surface_fraction"].status == "fixed"
    assert fixed.profile.thickness_nm == pytest.approx(20.0, rel=1e-3)
    e = fixed.estimates["thickness_nm"]
    assert e.ci_low < 20.0 < e.ci_high


def test_thin_layer_surface_excess_is_what_deep_probes_determine():
    """Two probes much deeper than a 2 nm layer see only (x_s - x_b) t."""
    truth = LayerProfile(2.0, 0.8, 0.2)
    ks = [ExponentialKernel(116.0, kind="fluorescence"), SphereKernel(500.0)]
    probes = [Probe(f"p{i}", k, forward_weight(truth, k), 0.0005) for i, k in enumerate(ks)]
    # the layer is known to be thinner than 10 nm (else an inverted thick layer fits as well)
    with pytest.warns(CathodescopeRunWarning, match="surface excess"):
        fit = fit_layer(probes, thickness_bounds_nm=(0.0, 10.0))
    assert "surface_excess_nm" in fit.determined
    # determined to within the thin-layer approximation (t / L <= 10 / 116)
    assert fit.surface_excess_nm[0] == pytest.approx(truth.surface_excess_nm, rel=0.1)


def test_bounds_hold_at_the_edges():
    fit = fit_layer(_probes([1.02, 0.4, 0.0]), warn=False)
    for n in ("surface_fraction", "bulk_fraction"):
        e = fit.estimates[n]
        assert 0.0 <= e.ci_low <= e.value <= e.ci_high <= 1.0
    assert fit.estimates["bulk_fraction"].lower_by == "bound"


def test_uncertain_escape_depth_widens_the_intervals():
    w = _truth_weights()
    known = fit_layer(_probes(w))
    unsure = fit_layer(_probes(w, tey_sd=1.5))

    def width(f, n):
        return f.estimates[n].ci_high - f.estimates[n].ci_low

    assert width(unsure, "surface_fraction") > 1.5 * width(known, "surface_fraction")
    assert unsure.profile.thickness_nm == pytest.approx(20.0, rel=0.02)


def test_erf_layer_fit_recovers_thickness():
    truth = LayerProfile(20.0, 0.8, 0.2, width_nm=4.0)
    probes = [
        Probe(p.name, p.kernel, forward_weight(truth, p.kernel), 0.005) for p in _probes([0] * 3)
    ]
    fit = fit_layer(probes, shape="erf", width_nm=4.0)
    assert fit.profile.thickness_nm == pytest.approx(20.0, rel=1e-3)


def test_series_fits_every_point():
    sets = {}
    for cycle, t in ((1, 5.0), (50, 15.0), (100, 30.0)):
        prof = LayerProfile(t, 0.8, 0.2)
        sets[cycle] = [
            Probe(p.name, p.kernel, forward_weight(prof, p.kernel), 0.005) for p in _probes([0] * 3)
        ]
    with pytest.warns(CathodescopeRunWarning, match="cycle 1: .*surface_fraction >= "):
        series = fit_layer_series(sets, index_name="cycle")
    df = series.to_dataframe()
    assert list(df.columns) == ["cycle", "parameter", "value", "ci_low", "ci_high"]
    t = df[df.parameter == "thickness_nm"].value.to_numpy()
    np.testing.assert_allclose(t, [5.0, 15.0, 30.0], rtol=1e-3)


def test_bad_inputs_raise_specific_errors():
    k = ExponentialKernel(5.0)
    with pytest.raises(ParameterError, match=">= 2 probes"):
        fit_layer([Probe("a", k, 0.5, 0.01)])
    with pytest.raises(ParameterError, match="shape"):
        fit_layer(_probes(_truth_weights()), shape="box")
    with pytest.raises(ParameterError, match="stderr"):
        Probe("a", k, 0.5, 0.0)
    with pytest.raises(ParameterError, match="no line"):
        fluorescence_depth(**NMC, edge="Ni L3", line="Ni Zq")
    with pytest.raises(ParameterError, match="strictly increasing"):
        TabulatedKernel([0.0, 0.0], [1.0, 1.0])


PROBES_TOML = """
[[probe]]
name = "TEY"
kernel = "exponential"
depth_nm = 5.0
weight = 0.789
stderr = 0.005
[[probe]]
name = "FY"
kernel = "fluorescence"
formula = "LiNi0.6Mn0.2Co0.2O2"
density_g_cm3 = 4.7
edge = "Ni L3"
incident_eV = 862.7
line = "Ni La"
angles_deg = [45, 45]
weight = 0.292
stderr = 0.005
[[probe]]
name = "hard XAS"
kernel = "sphere"
radius_um = 5.0
weight_from = "lcf_run:NiO"
"""


def _lcf_run_folder(folder, fraction):
    """A real ``xas lcf`` run folder: LCF of a synthetic two-standard mixture."""
    from cathodescope.xas import lcf

    e = np.linspace(8300, 8400, 201)
    a = 1 / (1 + np.exp(-(e - 8340) / 2))
    b = 1 / (1 + np.exp(-(e - 8344) / 2)) + 0.1 * np.exp(-(((e - 8350) / 3) ** 2))
    mix = fraction * a + (1 - fraction) * b + np.random.default_rng(3).normal(0, 0.002, e.size)
    res = lcf(mix, {"NiO": (e, a), "LiNiO2": (e, b)}, energy=e, fit_range=(8310, 8390))
    folder.mkdir()
    res.to_dataframe().to_csv(folder / "weights.csv", index=False)
    return res


def test_cli_layer_writes_tables_and_figures(tmp_path):
    res = _lcf_run_folder(tmp_path / "lcf_run", 0.2072)
    (tmp_path / "probes.toml").write_text(PROBES_TOML)
    out = tmp_path / "run"
    assert main(["xas", "layer", str(tmp_path / "probes.toml"), "--out", str(out)]) == 0
    layer = pd.read_csv(out / "layer.csv")
    assert list(layer.columns) == ["parameter", "value", "ci_low", "ci_high"]
    assert list(layer.parameter) == ["thickness_nm", "surface_fraction", "bulk_fraction"]
    probes = pd.read_csv(out / "probes.csv")
    assert list(probes.columns) == ["name", "kernel", "depth_nm", "weight", "stderr", "predicted"]
    hard = probes.set_index("name").loc["hard XAS"]
    j = res.standards.index("NiO")
    assert hard.weight == pytest.approx(res.weights[j], abs=1e-12)
    assert hard.stderr == pytest.approx((res.ci_high[j] - res.ci_low[j]) / 2, abs=1e-12)
    assert hard.depth_nm == 5000.0
    t = layer.set_index("parameter").loc["thickness_nm"]
    assert t.ci_low < 20.0 < t.ci_high
    for name in ("layer_kernels", "layer_profile", "layer_weights"):
        assert (out / f"{name}.png").is_file()
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "ok"
    assert any(i["path"].endswith("weights.csv") for i in m["inputs"])


def test_cli_layer_series_and_fix(tmp_path, capsys):
    lines = ["[layer]", 'series = "cycle"']
    for cycle, t in ((1, 5.0), (100, 25.0)):
        prof = LayerProfile(t, 0.8, 0.2)
        for name, kind, extra, k in (
            ("TEY", "exponential", "depth_nm = 5.0", ExponentialKernel(5.0)),
            ("hard", "sphere", "radius_um = 5.0", SphereKernel(5000.0)),
        ):
            lines += [
                "[[probe]]",
                f'name = "{name}"',
                f'kernel = "{kind}"',
                extra,
                f"cycle = {cycle}",
                f"weight = {forward_weight(prof, k)!r}",
                "stderr = 0.002",
            ]
    (tmp_path / "p.toml").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    argv = [
        "xas",
        "layer",
        str(tmp_path / "p.toml"),
        "--fix",
        "surface_fraction=0.8",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    layer = pd.read_csv(out / "layer.csv")
    t = layer[layer.parameter == "thickness_nm"].set_index("cycle").value
    assert t.loc[1] == pytest.approx(5.0, rel=1e-3) and t.loc[100] == pytest.approx(25.0, rel=1e-3)
    assert (out / "thickness_vs_cycle.png").is_file()
    # without --fix, two probes and three unknowns: said on the console and in the manifest
    out2 = tmp_path / "run2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["xas", "layer", str(tmp_path / "p.toml"), "--out", str(out2)]) == 0
    assert "cannot determine" in capsys.readouterr().out
    m = json.loads((out2 / "manifest.json").read_text())
    assert any("cannot determine" in w for w in m["warnings"])


def test_cli_layer_bad_probe_file(tmp_path, capsys):
    (tmp_path / "p.toml").write_text('[[probe]]\nname = "a"\nkernel = "gaussian"\n')
    assert main(["xas", "layer", str(tmp_path / "p.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "kernel='gaussian' is not one of" in capsys.readouterr().err
    (tmp_path / "e.toml").write_text(
        PROBES_TOML.replace('weight_from = "lcf_run:NiO"', "weight = 0.2072\nstderr = 0.005")
    )
    argv = [
        "xas",
        "layer",
        str(tmp_path / "e.toml"),
        "--shape",
        "erf",
        "--out",
        str(tmp_path / "e"),
    ]
    assert main(argv) == 2
    assert "--width NM" in capsys.readouterr().err
    (tmp_path / "q.toml").write_text(PROBES_TOML)
    with pytest.raises(MissingMetadataError, match=r"no weights\.csv"):
        from cathodescope.workflows.xas_layer import read_probe_file

        read_probe_file(tmp_path / "q.toml")


def test_uniform_weights_say_there_is_no_layer():
    ks = [ExponentialKernel(5.0), ExponentialKernel(116.0), SphereKernel(5000.0)]
    fit = fit_layer([Probe(f"p{i}", k, 0.3, 0.005) for i, k in enumerate(ks)], warn=False)
    assert "consistent with no layer (uniform x = 0.3)" in fit.message
    assert fit.estimates["thickness_nm"].status == "undetermined"


def test_probe_file_kernels_tabulated_and_given_depth(tmp_path):
    from cathodescope.workflows.xas_layer import read_probe_file

    z = np.linspace(0.0, 60.0, 61)
    pd.DataFrame({"depth_nm": z, "sensitivity": np.exp(-z / 6.0)}).to_csv(
        tmp_path / "tey.csv", index=False
    )
    (tmp_path / "p.toml").write_text(
        "[layer]\nfixed = { bulk_fraction = 0.2 }\n"
        '[[probe]]\nname = "TEY"\nkernel = "tabulated"\ntable = "tey.csv"\n'
        "weight = 0.7\nstderr = 0.01\n"
        '[[probe]]\nname = "TEY inline"\nkernel = "tabulated"\n'
        "depth_table_nm = [0.0, 10.0]\nsensitivity = [1.0, 1.0]\nweight = 0.7\nstderr = 0.01\n"
        '[[probe]]\nname = "FY"\nkernel = "fluorescence"\ndepth_nm = 150.0\n'
        "depth_stderr_nm = 20.0\nweight = 0.3\nstderr = 0.01\n"
    )
    setup = read_probe_file(tmp_path / "p.toml")
    assert setup.index_name is None and setup.options == {"fixed": {"bulk_fraction": 0.2}}
    tey, inline, fy = setup.probe_sets[None]
    assert isinstance(tey.kernel, TabulatedKernel) and tey.kernel.z_nm[-1] == 60.0
    assert inline.kernel.depth_nm == pytest.approx(5.0)  # mean depth of a uniform 10 nm
    assert fy.kernel.kind == "fluorescence" and fy.kernel.depth_nm == 150.0
    assert fy.depth_stderr_nm == 20.0
    assert setup.inputs == (tmp_path / "tey.csv",)
    (tmp_path / "bad.toml").write_text(
        '[[probe]]\nname = "x"\nkernel = "sphere"\nradius_nm = 5.0\nweight = 0.2\nstderr = 0.01\n'
    )
    with pytest.raises(ParameterError, match=r"unknown keys \['radius_nm'\]"):
        read_probe_file(tmp_path / "bad.toml")


def test_inconsistent_weights_are_called_out():
    """TEY 0.789 and FY 0.292 need a 20 nm layer over x_b = 0.2; a bulk weight of 0 +/- 0.006
    cannot follow (the layer alone gives ~0.025 in a 5 um sphere)."""
    w = _truth_weights()
    fit = fit_layer(_probes([w[0], w[1], 0.0], stderr=0.006), warn=False)
    assert "'hard XAS' is -4." in fit.message
    assert "no layer within the bounds reproduces every weight" in fit.message
