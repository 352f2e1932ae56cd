"""``cathodescope diffusion simulate / fit / demo`` end to end, and the figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cathodescope.cli import main
from cathodescope.diffusion import Precursor, Schedule, fit_ratios, simulate
from cathodescope.errors import ParameterError

PRECURSOR = """radius_um = 5.0
[[layer]]            # from the centre outwards
outer_radius_um = 3.5
Ni = 0.90
Mn = 0.05
Co = 0.05
[[layer]]
outer_radius_um = 5.0
Ni = 0.60
Mn = 0.20
Co = 0.20
[sintering]
temperature_C = 800
time_h = 12
"""
D_TRUE = {"Ni": 2e-17, "Mn": 2e-18, "Co": 2e-17}


@pytest.fixture
def precursor_file(tmp_path):
    path = tmp_path / "precursor.toml"
    path.write_text(PRECURSOR)
    return path


def test_simulate_writes_profiles_on_engine_bins(tmp_path, precursor_file):
    out = tmp_path / "sim"
    rc = main(
        [
            "diffusion",
            "simulate",
            str(precursor_file),
            "--D-m2-s",
            "Ni=2e-17,Mn=2e-18,Co=2e-17",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    prof = pd.read_csv(out / "profiles.csv")
    assert list(prof.columns) == ["element", "depth_um", "radius_um", "fraction"]
    ni = prof[prof.element == "Ni"]
    np.testing.assert_allclose(ni.depth_um, (np.arange(100) + 0.5) * 0.05)
    np.testing.assert_allclose(ni.radius_um, 5.0 - ni.depth_um)
    # fractions sum to 1 in every bin; the surface is Ni-poor, the core Ni-rich
    per_bin = prof.groupby("depth_um").fraction.sum()
    np.testing.assert_allclose(per_bin, 1.0, atol=1e-12)
    assert ni.fraction.iloc[0] < 0.7 < ni.fraction.iloc[-1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and (out / "profiles.png").is_file()
    assert max(abs(v) for v in manifest["results"]["relative_inventory_change"].values()) < 1e-10


def test_simulate_without_D_names_the_flag(tmp_path, precursor_file, capsys):
    rc = main(["diffusion", "simulate", str(precursor_file), "--out", str(tmp_path / "s")])
    assert rc == 2
    assert "--D-m2-s" in capsys.readouterr().err


def test_fit_cli_recovers_D_from_a_ratio_table(tmp_path, precursor_file):
    # ratios made by our forward model on the engine's bins, with the engine's noise level
    pre = Precursor(
        5.0, (3.5, 5.0), ({"Ni": 0.9, "Mn": 0.05, "Co": 0.05}, {"Ni": 0.6, "Mn": 0.2, "Co": 0.2})
    )
    binned = simulate(pre, D_TRUE, Schedule.isothermal(800, 12), n_cells=200).binned()
    binned = binned[binned.depth_um.between(0.25, 2.0)]
    rng = np.random.default_rng(5)
    rows = []
    for pid in (1, 2, 3):
        y = binned.fraction.to_numpy() + rng.normal(0, 0.002, len(binned))
        rows.append(
            pd.DataFrame(
                {
                    "particle_id": pid,
                    "element": binned.element,
                    "depth_um": binned.depth_um,
                    "ratio": y,
                    "ci_low": y - 0.00515,
                    "ci_high": y + 0.00515,
                    "flagged": False,
                }
            )
        )
    run1 = tmp_path / "run1"
    run1.mkdir()
    pd.concat(rows).to_csv(run1 / "ratios.csv", index=False)
    out = tmp_path / "fit"
    rc = main(
        [
            "diffusion",
            "fit",
            str(run1 / "ratios.csv"),
            "--precursor",
            str(precursor_file),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    fit = pd.read_csv(out / "fit.csv")
    assert list(fit.columns[:5]) == ["particle_id", "element", "D_m2_s", "ci_low", "ci_high"]
    assert {"chi2", "reduced_chi2", "n_points", "separable"} <= set(fit.columns)
    sample = pd.read_csv(out / "sample_fit.csv").set_index("element")
    for e, d in D_TRUE.items():
        assert sample.loc[e, "D_m2_s"] == pytest.approx(d, rel=0.05)
    assert (out / "D_per_particle.png").is_file() and (out / "fit_particle_1.png").is_file()


def test_demo_recovers_the_sintering_D(tmp_path):
    out = tmp_path / "demo"
    assert main(["diffusion", "demo", "--n-particles", "1", "--out", str(out)]) == 0
    rec = pd.read_csv(out / "recovery.csv").set_index("element")
    # through phantom rendering, segmentation and the hull depth map at 0.098 um voxels the
    # engine's depth is ~0.015 um too deep (see the demo notes): D comes back within 40 %
    ratio = rec.recovered_over_true
    assert ((ratio > 0.6) & (ratio < 1.4)).all(), ratio.to_dict()
    # and the layer structure is seen: Co's D above Mn's, as put in
    assert rec.loc["Co", "D_sample_m2_s"] > 3 * rec.loc["Mn", "D_sample_m2_s"]
    for name in ("ratios.csv", "fit.csv", "precursor.toml", "manifest.json"):
        assert (out / name).is_file()
    # `diffusion fit` on the demo's folder reads the same windows, radii and interval level
    again = tmp_path / "refit"
    rc = main(
        [
            "diffusion",
            "fit",
            str(out / "ratios.csv"),
            "--precursor",
            str(out / "precursor.toml"),
            "--out",
            str(again),
        ]
    )
    assert rc == 0
    a = pd.read_csv(out / "fit.csv")
    b = pd.read_csv(again / "fit.csv")
    np.testing.assert_allclose(b.D_m2_s, a.D_m2_s, rtol=1e-6)


def test_figures_draw_without_pyplot():
    from cathodescope.report import plot_diffusion_D, plot_diffusion_fit, plot_diffusion_profiles

    pre = Precursor(2.0, (1.2, 2.0), ({"Ni": 0.9, "Mn": 0.1}, {"Ni": 0.5, "Mn": 0.5}))
    res = simulate(pre, 1e-18, Schedule.isothermal(800, 12), n_cells=40)
    fig = plot_diffusion_profiles(res)
    assert len(fig.axes) == 1
    b = res.binned()
    b = b[b.depth_um.between(0.2, 1.5)]
    table = pd.DataFrame(
        {
            "particle_id": np.repeat([1, 2], len(b)),
            "element": np.tile(b.element, 2),
            "depth_um": np.tile(b.depth_um, 2),
            "ratio": np.tile(b.fraction, 2),
            "ci_low": np.tile(b.fraction - 0.01, 2),
            "ci_high": np.tile(b.fraction + 0.01, 2),
        }
    )
    fit = fit_ratios(table, pre, Schedule.isothermal(800, 12), shared=True)
    assert len(plot_diffusion_fit(fit, 1).axes) == 1
    assert len(plot_diffusion_D(fit).axes) == 2
    with pytest.raises(ParameterError, match="was not fitted"):
        plot_diffusion_fit(fit, 7)
