"""A diluent in the self-absorption model, measured from transmission pre-edge absorbance.

Independent references: spectra built from xraydb's ``material_mu`` of the mixtures themselves
(not from the model's fitted curves), and the thick-limit model of a mixture written as one
chemical formula.
"""

from __future__ import annotations

import numpy as np
import pytest
import xraydb

from cathodescope.errors import ParameterError
from cathodescope.xas import (
    absorption_model,
    diluent_from_transmission,
    diluent_shape,
    fluorescence_forward,
)

E_EDGE = 6539.0  # Mn K, xraydb


def _jump_per_density(formula: str) -> float:
    m = absorption_model(np.array([E_EDGE]), formula=formula, density=1.0, element="Mn")
    return float(m.jump[0])


@pytest.mark.parametrize("diluent", ["BN", "C6H10O5"])
def test_diluent_from_transmission_recovers_xraydb_mixture(diluent):
    e = np.linspace(6340.0, 6510.0, 80)
    mno = xraydb.material_mu("MnO", e, density=5.37)
    dil = xraydb.material_mu(diluent, e, density=1.6)
    # the detectors: a curved instrument background common to both scans, different gains
    instrument = 0.4 + 1.1e-3 * (6500.0 - e) + 2e-7 * (6500.0 - e) ** 2
    d_sample, d_base, t_dil = 10e-4, 3e-4, 60e-4  # cm
    sample = instrument + mno * d_sample + dil * t_dil + 0.25
    base = instrument + mno * d_base
    j = _jump_per_density("MnO") * 5.37
    est = diluent_from_transmission(
        e,
        sample,
        e[::-1],
        base[::-1],  # any order
        edge_step=j * d_sample,
        baseline_edge_step=j * d_base,
        formula="MnO",
        element="Mn",
        window_eV=(6340.0, 6510.0),
        diluent=diluent,
    )
    truth = float(xraydb.material_mu(diluent, E_EDGE, density=1.6)) * t_dil
    assert est.absorbance == pytest.approx(truth, rel=2e-3)  # measured 3-4e-4
    assert est.offset == pytest.approx(0.25, abs=5e-4)
    assert est.ratio == pytest.approx(truth / (j * d_sample), rel=2e-3)
    assert est.n_points == 80 and est.rms < 1e-5


def test_diluent_from_transmission_bad_input():
    e = np.linspace(6340.0, 6510.0, 20)
    kw = dict(formula="MnO", element="Mn", baseline_edge_step=0.4)
    with pytest.raises(ParameterError, match="holds 0 points"):
        diluent_from_transmission(e, e * 0, e, e * 0, edge_step=1.0, window_eV=(6600, 6700), **kw)
    with pytest.raises(ParameterError, match="edge_step must be > 0"):
        diluent_from_transmission(e, e * 0, e, e * 0, edge_step=0.0, window_eV=(6340, 6500), **kw)
    with pytest.raises(ParameterError, match="not a formula xraydb can read"):
        diluent_shape("Qq2", e, E_EDGE)
    with pytest.raises(ParameterError, match="diluent_ratio must be >= 0"):
        absorption_model(e, formula="MnO", density=5.37, element="Mn", diluent_ratio=-0.1)


def test_diluted_model_equals_model_of_the_mixture_formula():
    # MnO + 2 C6H10O5 per formula unit, as one compound: MnC12H20O11
    e = np.linspace(6440.0, 6740.0, 151)
    m_mno, m_cell = 70.937, 2 * 162.14  # g/mol
    mass = m_mno + m_cell
    ratio = (
        float(xraydb.material_mu("C6H10O5", E_EDGE, density=1.0))
        * m_cell
        / (_jump_per_density("MnO") * m_mno)
    )
    diluted = absorption_model(
        e, formula="MnO", density=5.37, element="Mn", diluent="C6H10O5", diluent_ratio=ratio
    )
    mixture = absorption_model(e, formula="MnC12H20O11", density=1.0, element="Mn")
    # per unit jump the two background attenuations agree (the mixture's per-density values
    # scale by the MnO mass fraction)
    scale = diluted.jump / mixture.jump
    np.testing.assert_allclose(mixture.mu_background * scale, diluted.mu_background, rtol=5e-4)
    assert mixture.mu_fluor * scale.mean() == pytest.approx(diluted.mu_fluor, rel=1e-4)
    assert scale.mean() == pytest.approx(5.37 * mass / m_mno, rel=1e-4)
    n = np.clip(np.linspace(-0.1, 1.8, e.size), None, 1.8)
    np.testing.assert_allclose(
        fluorescence_forward(n, diluted), fluorescence_forward(n, mixture), atol=1e-4
    )  # the distortion itself reaches 0.53 here


def test_a_diluent_lowers_the_self_absorption():
    e = np.linspace(6440.0, 6740.0, 31)
    n = np.full(e.size, 1.8)  # a white line everywhere
    heights = [
        fluorescence_forward(
            n,
            absorption_model(e, formula="MnO", density=5.37, element="Mn", diluent_ratio=r),
            thickness_um=10.0,
        )[15]
        for r in (0.0, 0.2, 0.4, 5.0, 500.0)
    ]
    assert np.all(np.diff(heights) > 0)  # less flattened with more diluent
    assert heights[-1] == pytest.approx(1.8, rel=1e-2)  # the dilute limit: no self-absorption
