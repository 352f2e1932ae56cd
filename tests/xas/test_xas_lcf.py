"""Exact simplex LCF: independent SLSQP solution, real-reference mixtures, intervals, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from cathodescope.errors import ParameterError, StandardRangeError, TooFewPointsError
from cathodescope.io import read_xas_columns
from cathodescope.phantom import k_edge_standards, mixture_spectrum
from cathodescope.xas import average_valence, lcf, lcf_combinations, simplex_lstsq


def _slsqp(a, y):
    k = a.shape[1]
    res = minimize(
        lambda w: np.sum((a @ w - y) ** 2),
        np.full(k, 1.0 / k),
        jac=lambda w: 2 * a.T @ (a @ w - y),
        method="SLSQP",
        bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return res.x, res.fun


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_simplex_matches_slsqp(rng, k):
    for _ in range(20):
        a = rng.random((40, k))
        y = rng.random(40) * 1.5  # many optima on a face/vertex of the simplex
        w, ssr = simplex_lstsq(a, y)
        w_ref, ssr_ref = _slsqp(a, y)
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(w >= 0)
        assert ssr <= ssr_ref + 1e-9  # never worse than the independent solver
        np.testing.assert_allclose(w, w_ref, atol=2e-5)


def test_simplex_batch_equals_single(rng):
    a = rng.random((30, 3))
    y = rng.random((30, 50))
    w, ssr = simplex_lstsq(a, y)
    for j in (0, 17, 49):
        wj, sj = simplex_lstsq(a, y[:, j])
        np.testing.assert_allclose(w[:, j], wj, atol=1e-12)
        assert ssr[j] == pytest.approx(sj, rel=1e-10)


@pytest.fixture
def ni_refs(shared_data):
    d = shared_data / "xas"
    return {
        "NiO": read_xas_columns(d / "ref_NiO_Kedge.txt"),
        "LiNiO2": read_xas_columns(d / "ref_LiNiO2_Kedge.txt"),
    }


def test_real_reference_mixtures(ni_refs, rng):
    errs = []
    for w_true in (0.0, 0.1, 0.33, 0.5, 0.9, 1.0):
        spec, _truth = mixture_spectrum(
            ni_refs, {"NiO": w_true, "LiNiO2": 1 - w_true}, noise=0.005, rng=rng
        )
        res = lcf(spec, ni_refs, fit_range=(8320, 8420))
        assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert res.weight("NiO") == pytest.approx(w_true, abs=0.01)
        assert res.ci_low[0] <= res.weight("NiO") <= res.ci_high[0]
        errs.append(res.weight("NiO") - w_true)
        if w_true == 0.0:  # at the bound the interval is one-sided but not zero-width
            assert res.ci_low[0] == 0.0
            assert res.ci_high[0] > 1e-3
    assert np.max(np.abs(errs)) < 0.01


def test_profile_interval_coverage(ni_refs):
    """68 % intervals should contain the truth in roughly 68 % of noisy repeats."""
    rng = np.random.default_rng(7)
    hits = 0
    n = 120
    for _ in range(n):
        spec, _ = mixture_spectrum(ni_refs, {"NiO": 0.4, "LiNiO2": 0.6}, noise=0.02, rng=rng)
        res = lcf(spec, ni_refs, fit_range=(8320, 8420), n_grid=201)
        hits += res.ci_low[0] <= 0.4 <= res.ci_high[0]
    assert 0.55 <= hits / n <= 0.82  # binomial 3-sigma band around 0.68 for n = 120


def test_shift_fit_recovers_known_shift(ni_refs, rng):
    spec, _ = mixture_spectrum(
        ni_refs, {"NiO": 0.3, "LiNiO2": 0.7}, noise=0.002, shift=0.8, rng=rng
    )
    res = lcf(spec, ni_refs, fit_range=(8320, 8420), fit_shifts=True, max_shift=2.0)
    np.testing.assert_allclose(res.shifts, [0.8, 0.8], atol=0.1)
    assert res.weight("NiO") == pytest.approx(0.3, abs=0.02)
    assert res.n_free == 3


def test_statistics_definitions(ni_refs, rng):
    spec, _ = mixture_spectrum(ni_refs, {"NiO": 0.5, "LiNiO2": 0.5}, noise=0.01, rng=rng)
    res = lcf(spec, ni_refs, fit_range=(8320, 8420), sigma=0.01)
    r = res.residual
    assert res.chi2 == pytest.approx(np.sum((r / 0.01) ** 2), rel=1e-9)
    assert res.reduced_chi2 == pytest.approx(res.chi2 / (res.n_points - 1), rel=1e-12)
    assert res.reduced_chi2 == pytest.approx(1.0, abs=0.25)  # correct sigma -> ~1
    assert res.r_factor == pytest.approx(np.sum(r**2) / np.sum(res.data**2), rel=1e-12)


def test_combinations_ranked():
    std = k_edge_standards(n_standards=3)
    spec, _ = mixture_spectrum(std, {"M2+": 0.6, "M3+": 0.4, "M4+": 0.0}, noise=0.003)
    table, results = lcf_combinations(spec, std, fit_range=(8310, 8400), uncertainty="none")
    assert len(table) == 7
    assert table["reduced_chi2"].is_monotonic_increasing
    best = results[0]
    assert {"M2+", "M3+"} <= set(best.standards)
    assert table.iloc[0]["standards"] == "+".join(best.standards)
    assert best.weight("M2+") == pytest.approx(0.6, abs=0.02)


def test_valence_from_fractions():
    v, s = average_valence(
        {"NiO": 0.25, "LiNiO2": 0.75},
        {"NiO": 2, "LiNiO2": 3},
        uncertainties={"NiO": 0.02, "LiNiO2": 0.02},
    )
    assert v == pytest.approx(2.75)
    assert s == pytest.approx(0.02)
    with pytest.raises(ParameterError, match="sum to 1"):
        average_valence({"a": 0.5, "b": 0.6}, {"a": 2, "b": 3})


def test_lcf_bad_input(ni_refs):
    spec, _ = mixture_spectrum(ni_refs, {"NiO": 0.5, "LiNiO2": 0.5})
    with pytest.raises(StandardRangeError, match="covers"):
        lcf(spec, ni_refs, fit_range=(8100, 8400))
    with pytest.raises(TooFewPointsError, match="holds"):
        lcf(spec, ni_refs, fit_range=(8350, 8350.5))
    short = {"NiO": ni_refs["NiO"].sel(energy=slice(8300, 8380)), "LiNiO2": ni_refs["LiNiO2"]}
    with pytest.raises(StandardRangeError, match="NiO"):
        lcf(spec, short, fit_range=(8320, 8420))
    with pytest.raises(ParameterError, match="uncertainty"):
        lcf(spec, ni_refs, uncertainty="bogus")


def test_real_mn_standards_three_valences(shared_data):
    """Mixtures of the real Mn K-edge standards of Mn.prj (MnO 2+, Mn2O3 3+, pyrolusite MnO2
    4+), each normalized with ATHENA's stored parameters: weights back within 0.03 (noise
    0.005; measured <= 0.017) and the average valence within 0.05."""
    from cathodescope.io import read_athena
    from cathodescope.xas import normalize_athena_group

    groups = read_athena(shared_data / "xas" / "Mn.prj")
    names = {"MnO": 2, "Mn2O3x": 3, "Pyrolusite": 4}
    std = {k: normalize_athena_group(groups[k]).to_dataarray("flat") for k in names}
    rng = np.random.default_rng(5)
    for w in [(0.2, 0.3, 0.5), (0.0, 0.6, 0.4), (0.1, 0.9, 0.0)]:
        spec, _ = mixture_spectrum(std, dict(zip(std, w, strict=True)), noise=0.005, rng=rng)
        res = lcf(spec, std, fit_range=(6530, 6600))
        np.testing.assert_allclose(res.weights, w, atol=0.03)
        v, _ = average_valence(dict(zip(res.standards, res.weights, strict=True)), names)
        assert v == pytest.approx(np.dot(w, [2, 3, 4]), abs=0.05)


def test_bootstrap_intervals(ni_refs):
    rng = np.random.default_rng(8)
    hits = 0
    n = 60
    for _ in range(n):
        spec, _ = mixture_spectrum(ni_refs, {"NiO": 0.4, "LiNiO2": 0.6}, noise=0.02, rng=rng)
        res = lcf(
            spec,
            ni_refs,
            fit_range=(8320, 8420),
            uncertainty="bootstrap",
            n_boot=300,
            block_length=1,
        )
        hits += res.ci_low[0] <= 0.4 <= res.ci_high[0]
    assert 0.5 <= hits / n <= 0.85  # ~68 % for white noise (binomial band for n = 60)
    # at a bound: one-sided, not zero-width, reproducible with the seed
    spec, _ = mixture_spectrum(ni_refs, {"NiO": 0.0, "LiNiO2": 1.0}, noise=0.01, rng=rng)
    r1 = lcf(spec, ni_refs, fit_range=(8320, 8420), uncertainty="bootstrap", seed=3)
    r2 = lcf(spec, ni_refs, fit_range=(8320, 8420), uncertainty="bootstrap", seed=3)
    assert r1.ci_low[0] == 0.0 or r1.weights[0] > 0
    assert r1.ci_high[0] > 1e-3
    np.testing.assert_array_equal(r1.ci_high, r2.ci_high)
    with pytest.raises(ParameterError, match="n_boot"):
        lcf(spec, ni_refs, uncertainty="bootstrap", n_boot=5)
