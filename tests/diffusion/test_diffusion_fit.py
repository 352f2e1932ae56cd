"""Inverse: D from ratio profiles made by the exact series (not by our solver)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cathodescope.diffusion import Precursor, Schedule, fit_ratios, simulate
from cathodescope.errors import CathodescopeRunWarning, EmptyDataError, FileFormatError

R_UM, B_UM = 2.75, 1.9  # a paper-sized particle, interface 0.85 um below the surface
CORE = {"Ni": 0.90, "Mn": 0.05, "Co": 0.05}
SHELL = {"Ni": 0.60, "Mn": 0.20, "Co": 0.20}
D_TRUE = {"Ni": 6e-18, "Mn": 1e-18, "Co": 1e-17}  # Co 10x Mn; L = 0.51, 0.21, 0.66 um
HOLD = Schedule.isothermal(800.0, 12.0)
W = 0.05
DEPTH = np.arange(5, 40) * W + W / 2  # the engine's bins in the paper's 0.25-2.0 um window
SIGMA = 0.002  # the engine's standard error per 0.05 um bin on the demo's 3D scene (median)
Z99 = 2.5758293035489004  # the engine's 99 % intervals


def _series_ratios(series, d, core=CORE, shell=SHELL):
    lo = R_UM - DEPTH - W / 2
    u = {
        e: series.shell_average(
            lo,
            lo + W,
            HOLD.total_time_s,
            radius_um=R_UM,
            b_um=B_UM,
            c_in=core[e],
            c_out=shell[e],
            D_m2_s=d[e],
        )
        for e in core
    }
    total = sum(u.values())
    return {e: u[e] / total for e in core}  # renormalised: the independent model's fractions


def _table(truth, n_particles, sigma, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(1, n_particles + 1):
        for e, y0 in truth.items():
            y = y0 + rng.normal(0.0, sigma, y0.size)
            rows.append(
                pd.DataFrame(
                    {
                        "particle_id": pid,
                        "element": e,
                        "depth_um": DEPTH,
                        "ratio": y,
                        "ci_low": y - Z99 * sigma,
                        "ci_high": y + Z99 * sigma,
                        "flagged": False,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def precursor():
    return Precursor(R_UM, (B_UM, R_UM), (CORE, SHELL))


def test_noise_free_series_profiles_give_D_within_1_percent(series, precursor):
    exact = _series_ratios(series, D_TRUE)
    table = _table(exact, 1, SIGMA, seed=0)  # intervals of the engine's width; ratios exact:
    for e in CORE:
        table.loc[table.element == e, "ratio"] = exact[e]
    fit = fit_ratios(table, precursor, HOLD, sample=False)
    got = fit.particles.set_index("element").D_m2_s
    for e, d in D_TRUE.items():
        assert got[e] == pytest.approx(d, rel=0.01)
    assert fit.particles.converged.all()


def test_noisy_series_profiles_recover_D_and_intervals_cover(series, precursor):
    # 300 particles at the engine's noise level: each metal's D within 10 % for >= 85 % of
    # particles (the per-particle 1-sigma precision is ~6 % for Ni, 3 % Mn, 2 % Co), median
    # within 2 %, the joint fit within 2 %; 95 % profile-likelihood intervals cover the truth
    # in 91-99 % of particles (binomial sd 1.3 % at n = 300)
    n = 300
    fit = fit_ratios(_table(_series_ratios(series, D_TRUE), n, SIGMA, seed=1), precursor, HOLD)
    tab = fit.particles
    assert tab.converged.all()
    assert tab.separable.all()  # Co ~10x Mn: a shared D is rejected everywhere
    for e, d in D_TRUE.items():
        t = tab[tab.element == e]
        rel = t.D_m2_s / d - 1
        assert (rel.abs() <= 0.10).mean() >= 0.85, e
        assert abs(np.median(t.D_m2_s) / d - 1) <= 0.02, e
        cover = ((t.ci_low <= d) & (t.ci_high >= d)).mean()
        assert 0.91 <= cover <= 0.99, (e, cover)
        s = fit.sample.set_index("element").loc[e]
        assert s.D_m2_s == pytest.approx(d, rel=0.02)
        assert s.ci_low <= d <= s.ci_high
    assert tab.reduced_chi2.median() == pytest.approx(1.0, abs=0.1)


def test_shared_D_is_reported_as_not_separable(series, precursor):
    d = dict.fromkeys(CORE, 5e-18)
    table = _table(_series_ratios(series, d), 20, SIGMA, seed=2)
    with pytest.warns(CathodescopeRunWarning, match="cannot separate"):
        free = fit_ratios(table, precursor, HOLD, sample=False)
    assert (free.particles.p_shared >= 0.05).mean() >= 0.8
    shared = fit_ratios(table, precursor, HOLD, shared=True, sample=False)
    per = shared.particles.drop_duplicates("particle_id")
    assert np.median(per.D_m2_s) == pytest.approx(5e-18, rel=0.02)
    assert per.p_shared.isna().all()


def test_metal_without_contrast_has_an_open_interval(series):
    # Co is 0.1 in both layers: its D cannot be measured; Ni and Mn still can
    core, shell = {"Ni": 0.8, "Mn": 0.1, "Co": 0.1}, {"Ni": 0.5, "Mn": 0.4, "Co": 0.1}
    pre = Precursor(R_UM, (B_UM, R_UM), (core, shell))
    table = _table(_series_ratios(series, D_TRUE, core, shell), 3, SIGMA, seed=3)
    with pytest.warns(CathodescopeRunWarning, match="open interval"):
        fit = fit_ratios(table, pre, HOLD, sample=False)
    t = fit.particles.set_index(["element", "particle_id"]).sort_index()
    assert not t.loc["Co"].identifiable.any()
    assert t.loc["Ni"].identifiable.all() and t.loc["Mn"].identifiable.all()
    assert t.loc["Mn"].D_m2_s.to_numpy() == pytest.approx(D_TRUE["Mn"], rel=0.1)


def test_multicomponent_fit_recovers_its_own_D():
    pre = Precursor(R_UM, (B_UM, R_UM), (CORE, SHELL))
    res = simulate(pre, D_TRUE, HOLD, model="multicomponent", n_cells=200)
    b = res.binned(bin_width_um=W)
    b = b[b.depth_um.between(0.25, 2.0)]
    table = pd.DataFrame(
        {
            "particle_id": 1,
            "element": b.element,
            "depth_um": b.depth_um,
            "ratio": b.fraction,
            "ci_low": b.fraction - Z99 * SIGMA,
            "ci_high": b.fraction + Z99 * SIGMA,
        }
    )
    fit = fit_ratios(table, pre, HOLD, model="multicomponent", sample=False, intervals=False)
    got = fit.particles.set_index("element").D_m2_s
    for e, d in D_TRUE.items():
        assert got[e] == pytest.approx(d, rel=0.03)


def test_bad_tables_raise_clear_errors(precursor):
    with pytest.raises(FileFormatError, match="lacks columns"):
        fit_ratios(pd.DataFrame({"particle_id": [1]}), precursor, HOLD)
    table = pd.DataFrame(
        {
            "particle_id": 1,
            "element": ["Ni", "Mn"],
            "depth_um": 0.3,
            "ratio": 0.5,
            "ci_low": 0.4,
            "ci_high": 0.6,
        }
    )
    with pytest.raises(FileFormatError, match="no rows for"):
        fit_ratios(table, precursor, HOLD)
    table = pd.concat([table, table.assign(element="Co", depth_um=0.35)])
    with pytest.raises(EmptyDataError, match="no usable ratio point"):
        fit_ratios(table, precursor, HOLD, depth_range_um=(1.0, 2.0))
