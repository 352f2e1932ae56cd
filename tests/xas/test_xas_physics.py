"""Self-absorption, valence calculators, surface vs bulk (TEY/PFY) with L-edge phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import MissingMetadataError, ParameterError
from cathodescope.phantom import k_edge_model, l_edge_standards, surface_bulk_series
from cathodescope.report import plot_surface_bulk
from cathodescope.xas import (
    absorption_model,
    correct_self_absorption,
    correct_self_absorption_thick,
    fluorescence_forward,
    nominal_valence,
    surface_bulk_table,
    surface_charge_balance,
    tabulated_edge,
)

E = np.arange(8300.0, 8500.0, 1.0)


@pytest.fixture(scope="module")
def nmc_model():
    return absorption_model(E, formula="LiNi0.6Mn0.2Co0.2O2", density=4.7, element="Ni")


def test_absorption_model_from_xraydb(nmc_model):
    import xraydb

    # background + jump reproduce xraydb's tabulated total well above the edge
    e_hi = np.array([8450.0])
    mu_tab = xraydb.material_mu("LiNi0.6Mn0.2Co0.2O2", e_hi, density=4.7)[0]
    i = int(np.searchsorted(E, 8450.0))
    assert nmc_model.jump[i] + nmc_model.mu_background[i] == pytest.approx(mu_tab, rel=0.02)
    assert nmc_model.parameters["fluorescence_eV"] == pytest.approx(
        xraydb.xray_lines("Ni")["Ka1"].energy
    )


@pytest.mark.parametrize("thickness", [0.5, 2.0, 10.0, None])
def test_booth_correction_inverts_forward_model(nmc_model, thickness):
    n = k_edge_model(E, e0=8345.0)
    measured = fluorescence_forward(
        n, nmc_model, incidence_deg=45, exit_deg=45, thickness_um=thickness
    )
    assert np.max(np.abs(measured - n)) > 0.005  # self-absorption is visible (0.009 at 0.5 um)
    corr = correct_self_absorption(measured, nmc_model, thickness_um=thickness, energy=E)
    np.testing.assert_allclose(corr, n, atol=1e-9)


def test_thick_limit_exact_for_thick_and_overcorrects_thin(nmc_model):
    n = k_edge_model(E, e0=8345.0)
    thick = fluorescence_forward(n, nmc_model, thickness_um=None)
    np.testing.assert_allclose(
        correct_self_absorption_thick(thick, nmc_model, energy=E), n, atol=1e-12
    )
    thin = fluorescence_forward(n, nmc_model, thickness_um=0.5)
    over = correct_self_absorption_thick(thin, nmc_model, energy=E)
    wl = np.argmax(n)
    assert over[wl] > n[wl] + 0.05  # thick-limit correction exaggerates the white line
    with pytest.raises(ParameterError, match=r"angle|degrees"):
        fluorescence_forward(n, nmc_model, incidence_deg=0)


def test_nominal_valence_nmc622():
    # charge neutrality: Li(+1) + 0.6 v + 0.2*4 (Mn) + 0.2*3 (Co) - 2*2 (O) = 0 -> v = 8/3
    assert nominal_valence("LiNi0.6Mn0.2Co0.2O2", "Ni") == pytest.approx(8 / 3, abs=1e-12)
    assert nominal_valence("LiNiO2", "Ni") == pytest.approx(3.0)
    assert nominal_valence("LiNi0.8Co0.15Al0.05O2", "Ni") == pytest.approx(3.0)
    with pytest.raises(ParameterError, match="fixed"):
        nominal_valence("LiNiFeO2", "Ni")


def test_charge_balance_paper_numbers():
    conv = surface_charge_balance(x_mn=0.2, x_ni=0.6)
    assert (conv.electrons_gained_mn, conv.electrons_lost_ni) == pytest.approx((0.4, 0.6))
    assert "can compensate" in conv.explanation
    cg = surface_charge_balance(x_mn=0.4, x_ni=0.4)
    assert (cg.electrons_gained_mn, cg.electrons_lost_ni) == pytest.approx((0.8, 0.4))
    assert cg.balance == pytest.approx(0.4)
    assert "cannot" in cg.explanation
    with pytest.raises(ParameterError, match="site fraction"):
        surface_charge_balance(1.2, 0.3)


def test_l_edge_standards_use_xraydb_edges():
    ni = l_edge_standards("Ni")
    mn = l_edge_standards("Mn")
    assert set(ni) == {"NiO", "LiNiO2"} and set(mn) == {"MnO", "Mn2O3", "MnO2"}
    l3 = tabulated_edge("Ni", "L3")
    e = ni["NiO"].energy.values
    assert e[0] < l3 < e[-1]
    assert ni["NiO"].values[-1] == pytest.approx(1.0, abs=0.01)


def test_surface_bulk_table_recovers_truth(tmp_path):
    std = l_edge_standards("Ni")
    spectra, truth = surface_bulk_series(std, noise=0.01, rng=np.random.default_rng(3))
    table = surface_bulk_table(spectra, std, fraction_of="NiO", fit_range=(848, 880))
    merged = table.merge(truth, on=["sample", "cycle", "mode"], suffixes=("", "_true"))
    assert len(merged) == 8
    np.testing.assert_allclose(merged["fraction"], merged["fraction_true"], atol=0.01)
    assert ((merged.ci_low <= merged.fraction) & (merged.fraction <= merged.ci_high)).all()
    tey = table[table["mode"] == "TEY"]["fraction"].to_numpy()
    pfy = table[table["mode"] == "PFY"]["fraction"].to_numpy()
    assert np.all(tey > pfy)  # surface more reduced than bulk, as built
    fig = plot_surface_bulk(table)
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_mn_l_edge_three_standards():
    from cathodescope.phantom import mixture_spectrum
    from cathodescope.xas import average_valence, lcf

    std = l_edge_standards("Mn")
    spec, _truth = mixture_spectrum(std, {"MnO": 0.2, "Mn2O3": 0.3, "MnO2": 0.5}, noise=0.005)
    res = lcf(spec, std, fit_range=(635, 665))
    np.testing.assert_allclose(res.weights, [0.2, 0.3, 0.5], atol=0.01)
    v, _ = average_valence(
        dict(zip(res.standards, res.weights, strict=True)), {"MnO": 2, "Mn2O3": 3, "MnO2": 4}
    )
    assert v == pytest.approx(0.2 * 2 + 0.3 * 3 + 0.5 * 4, abs=0.02)


def test_surface_bulk_bad_input():
    std = l_edge_standards("Ni")
    with pytest.raises(MissingMetadataError, match="mode"):
        surface_bulk_table(
            [{"sample": "a", "cycle": 1, "spectrum": std["NiO"]}],
            std,
            fraction_of="NiO",
            fit_range=(848, 880),
        )
    with pytest.raises(ParameterError, match="fraction_of"):
        surface_bulk_table([], std, fraction_of="Ni2+", fit_range=(848, 880))
