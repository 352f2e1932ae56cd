"""Forward model against the exact eigenfunction series of the closed sphere."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from cathodescope.diffusion import (
    GAS_CONSTANT_J_MOL_K,
    Precursor,
    Schedule,
    format_precursor,
    paper_precursor,
    parse_precursor,
    read_precursor,
    simulate,
)
from cathodescope.errors import FileFormatError, ParameterError

R_UM, B_UM = 5.0, 3.5
CORE = {"Ni": 0.90, "Mn": 0.05, "Co": 0.05}
SHELL = {"Ni": 0.60, "Mn": 0.20, "Co": 0.20}
D = {"Ni": 2e-17, "Mn": 2e-18, "Co": 2e-17}  # diffusion lengths 0.93, 0.29, 0.93 um in 12 h
HOLD = Schedule.isothermal(800.0, 12.0)


@pytest.fixture(scope="module")
def two_layer() -> Precursor:
    return Precursor(R_UM, (B_UM, R_UM), (CORE, SHELL))


def _exact(series, element, r_um, d=D):
    return series.two_layer(
        r_um,
        HOLD.total_time_s,
        radius_um=R_UM,
        b_um=B_UM,
        c_in=CORE[element],
        c_out=SHELL[element],
        D_m2_s=d[element],
    )


def test_independent_model_matches_series(two_layer, series):
    res = simulate(two_layer, D, HOLD, n_cells=200)
    exact = {e: _exact(series, e, res.radii_um) for e in two_layer.elements}
    total = sum(exact.values())
    for i, e in enumerate(two_layer.elements):
        # each metal's field, and the renormalised fraction, within 1e-3 of the series
        assert np.abs(res.amounts[i] - exact[e]).max() <= 1e-3
        assert np.abs(res.final[i] - exact[e] / total).max() <= 1e-3


def test_multicomponent_with_equal_D_matches_series(two_layer, series):
    # with one D for all metals the constrained fluxes reduce to linear diffusion
    d = dict.fromkeys(D, 1e-17)
    res = simulate(two_layer, d, HOLD, model="multicomponent", n_cells=200)
    for i, e in enumerate(two_layer.elements):
        assert np.abs(res.final[i] - _exact(series, e, res.radii_um, d)).max() <= 1e-3


def _bin_average_of_fraction(series, element, lo_r, hi_r, ndim):
    """``r^(ndim-1)``-weighted bin average of the series' renormalised fraction."""
    x, w = np.polynomial.legendre.leggauss(32)
    pts = 0.5 * (hi_r - lo_r)[:, None] * (x + 1)[None, :] + lo_r[:, None]
    wts = 0.5 * (hi_r - lo_r)[:, None] * w[None, :] * pts ** (ndim - 1)
    u = {e: _exact(series, e, pts.ravel()).reshape(pts.shape) for e in CORE}
    f = u[element] / sum(u.values())
    return (f * wts).sum(axis=1) / wts.sum(axis=1)


@pytest.mark.parametrize("ndim", [3, 2])
def test_binned_output_matches_series_bin_averages(two_layer, series, ndim):
    # the engine averages voxels (pixels of a central cut: ndim=2) by depth bin
    res = simulate(two_layer, D, HOLD, n_cells=200)
    table = res.binned(bin_width_um=0.05, ndim=ndim)
    for e in CORE:
        t = table[table.element == e]
        hi_r = R_UM - t.depth_um.to_numpy() + 0.025
        exact = _bin_average_of_fraction(series, e, np.maximum(hi_r - 0.05, 0.0), hi_r, ndim)
        np.testing.assert_allclose(t.fraction, exact, atol=1e-3)
        np.testing.assert_allclose(t.radius_um, R_UM - t.depth_um)


@pytest.mark.parametrize("model", ["independent", "multicomponent"])
def test_metal_conservation(model):
    pre = paper_precursor(2.8)
    res = simulate(pre, D, HOLD, model=model, n_cells=120)
    change = res.inventory() / res.inventory("initial") - 1.0
    assert np.abs(change).max() <= 1e-10
    if model == "multicomponent":  # fractions stay on the sublattice: they sum to 1
        assert np.abs(res.final.sum(axis=0) - 1.0).max() <= 1e-12


def test_second_order_convergence_in_space(two_layer, series):
    errors = []
    sizes = np.array([50, 100, 200, 400])
    for n in sizes:
        res = simulate(two_layer, D, HOLD, n_cells=int(n))
        errors.append(
            max(
                np.abs(res.amounts[i] - _exact(series, e, res.radii_um)).max()
                for i, e in enumerate(two_layer.elements)
            )
        )
    order = -np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert 1.8 <= order <= 2.3, (order, errors)


def test_multicomponent_converges_in_time(two_layer):
    # Crank-Nicolson after the backward-Euler start: halving the steps changes the profile by
    # a shrinking amount (observed order >= 1.5)
    runs = [
        simulate(two_layer, D, HOLD, model="multicomponent", n_cells=60, n_steps=n).final
        for n in (25, 50, 100, 400)
    ]
    e1 = np.abs(runs[0] - runs[-1]).max()
    e2 = np.abs(runs[1] - runs[-1]).max()
    e3 = np.abs(runs[2] - runs[-1]).max()
    assert e3 < e2 < e1
    assert np.log2(e1 / e2) >= 1.5


def _darken_method_of_lines(c_in, c_out, d1, d2, theta1, m=400):
    """Independent solution of the binary case: vertex-centred grid, BDF (scipy.solve_ivp).

    ``dc/dtheta = r^-2 d/dr (r^2 Dt(c) dc/dr)`` with Darken's ``Dt = (1 - c) d1 + c d2``
    (``c`` = fraction of metal 1, lengths in units of R, time in units of R^2 / d1 ...).
    """
    from scipy.integrate import solve_ivp
    from scipy.sparse import diags

    r = np.linspace(0.0, 1.0, m + 1)
    h = r[1]
    mid = 0.5 * (r[1:] + r[:-1])
    vol = np.diff(np.concatenate([[0.0], mid, [1.0]]) ** 3) / 3.0
    c0 = np.where(r < B_UM / R_UM, c_in, c_out)
    c0[np.argmin(np.abs(r - B_UM / R_UM))] = 0.5 * (c_in + c_out)

    def rhs(_, c):
        cm = 0.5 * (c[1:] + c[:-1])
        flux = -((1 - cm) * d1 + cm * d2) * np.diff(c) / h * mid**2
        out = np.zeros_like(c)
        out[:-1] -= flux
        out[1:] += flux
        return out / vol

    sparsity = diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(m + 1, m + 1))
    sol = solve_ivp(
        rhs, (0, theta1), c0, method="BDF", rtol=1e-8, atol=1e-11, jac_sparsity=sparsity
    )
    return r * R_UM, sol.y[:, -1]


def test_multicomponent_binary_matches_darken_method_of_lines():
    # two metals: J_1 = -D_1 grad c_1 + c_1 (D_1 grad c_1 + D_2 grad c_2) = -(c_2 D_1 + c_1 D_2)
    # grad c_1, Darken's interdiffusion coefficient; checked against an independent solver
    pre = Precursor(R_UM, (B_UM, R_UM), ({"A": 0.9, "B": 0.1}, {"A": 0.2, "B": 0.8}))
    d = {"A": 2e-17, "B": 2e-18}
    res = simulate(pre, d, HOLD, model="multicomponent", n_cells=200)
    scale = HOLD.total_time_s / (R_UM * 1e-6) ** 2
    r, c = _darken_method_of_lines(0.9, 0.2, d["A"] * scale, d["B"] * scale, 1.0)
    ref = np.interp(res.radii_um, r, c)
    assert np.abs(res.final[0] - ref).max() <= 2e-3


def test_arrhenius_ramp_effective_time():
    ea = 250.0  # kJ/mol
    sched = Schedule(((3 * 3600.0, 25.0, 800.0), (12 * 3600.0, 800.0, 800.0)))
    t_ref = 800.0 + 273.15

    def rate(t):
        temp = 25.0 + (800.0 - 25.0) * t / (3 * 3600.0) + 273.15
        return np.exp(-ea * 1e3 / GAS_CONSTANT_J_MOL_K * (1 / temp - 1 / t_ref))

    ramp, _ = quad(rate, 0.0, 3 * 3600.0, epsabs=0, epsrel=1e-12, limit=200)
    assert sched.effective_time_s(ea) == pytest.approx(12 * 3600.0 + ramp, rel=1e-9)
    assert sched.effective_time_s(0.0) == pytest.approx(15 * 3600.0, rel=1e-12)
    with pytest.raises(ParameterError, match="activation energy"):
        sched.effective_time_s(None)
    # the independent model depends on the schedule only through D * tau
    pre = paper_precursor(2.8)
    a = simulate(pre, 1e-18, sched, activation_energy_kJ_mol=ea, n_cells=60).final
    hold = Schedule.isothermal(800.0, sched.effective_time_s(ea) / 3600.0)
    np.testing.assert_allclose(a, simulate(pre, 1e-18, hold, n_cells=60).final, atol=1e-12)


def test_precursor_toml_round_trip_and_errors(tmp_path):
    text = """radius_um = 5.0
[[layer]]
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
    path = tmp_path / "p.toml"
    path.write_text(text)
    spec = read_precursor(path)
    assert spec.precursor.elements == ("Ni", "Mn", "Co")
    assert spec.schedule.total_time_s == 12 * 3600.0
    assert spec.precursor.mean_composition()["Ni"] == pytest.approx(
        0.9 * 0.343 + 0.6 * (1 - 0.343), rel=1e-12
    )
    import tomllib

    again = parse_precursor(tomllib.loads(format_precursor(spec.precursor, spec.schedule)))
    assert again.precursor == spec.precursor and again.schedule == spec.schedule
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("Ni = 0.60", "Ni = 0.70"))
    with pytest.raises(FileFormatError, match="sum to 1"):
        read_precursor(bad)
    bad.write_text(text.replace("outer_radius_um = 5.0", "outer_radius_um = 4.0"))
    with pytest.raises(FileFormatError, match="must equal the particle radius"):
        read_precursor(bad)
    bad.write_text(text.replace("time_h = 12", ""))
    with pytest.raises(FileFormatError, match="time_h"):
        read_precursor(bad)
    bad.write_text("radius_um = [")
    with pytest.raises(FileFormatError, match="not valid TOML"):
        read_precursor(bad)
    with pytest.raises(ParameterError, match="every metal"):
        simulate(spec.precursor, {"Ni": 1e-17}, spec.schedule)


def test_blurred_bins_match_a_voxel_convolution():
    # independent check of the radial blur: a voxelised 3D sphere blurred by
    # scipy.ndimage.gaussian_filter, ratio of blurred element to blurred mask per depth bin
    from scipy import ndimage as ndi

    from cathodescope.diffusion import observation_matrix

    radius, spacing, sigma, w = 1.0, 0.02, 0.08, 0.05
    pre = Precursor(radius, (0.6, radius), ({"A": 0.8, "B": 0.2}, {"A": 0.3, "B": 0.7}))
    res = simulate(pre, 2e-19, HOLD, n_cells=100)
    ax = (np.arange(121) - 60) * spacing
    r = np.sqrt(ax[:, None, None] ** 2 + ax[None, :, None] ** 2 + ax[None, None, :] ** 2)
    mask = (r < radius).astype(float)
    f = np.interp(r, res.radii_um, res.final[0]) * mask
    blur_f = ndi.gaussian_filter(f, sigma / spacing, mode="constant", truncate=5)
    blur_m = ndi.gaussian_filter(mask, sigma / spacing, mode="constant", truncate=5)
    depth = radius - r
    lo = np.arange(2, 14) * w
    obs = observation_matrix(100, radius, lo, lo + w, blur_um=sigma)
    model = obs @ res.final[0]
    for k, d0 in enumerate(lo):
        sel = (depth >= d0) & (depth < d0 + w)
        assert blur_f[sel].sum() / blur_m[sel].sum() == pytest.approx(model[k], abs=3e-3)
    # a uniform particle stays uniform under the blur (rows sum to 1)
    np.testing.assert_allclose(obs.sum(axis=1), 1.0, atol=1e-12)


def test_multicomponent_ramp_with_one_activation_energy_is_a_longer_hold():
    # one Ea for all metals: D_e(T) / D_e(T_ref) is the same clock for every metal, so the
    # schedule acts as a hold of its effective time
    ramp = Schedule(((2 * 3600.0, 400.0, 800.0), (6 * 3600.0, 800.0, 800.0)))
    pre = paper_precursor(2.8)
    a = simulate(
        pre, D, ramp, model="multicomponent", activation_energy_kJ_mol=200.0, n_cells=60
    ).final
    hold = Schedule.isothermal(800.0, ramp.effective_time_s(200.0) / 3600.0)
    b = simulate(pre, D, hold, model="multicomponent", n_cells=60).final
    assert np.abs(a - b).max() <= 1e-3


def test_ramped_schedule_with_activation_energy_per_metal(tmp_path):
    import tomllib

    text = """radius_um = 2.8
[[layer]]
outer_radius_um = 1.8
Ni = 0.9
Mn = 0.05
Co = 0.05
[[layer]]
outer_radius_um = 2.8
Ni = 0.6
Mn = 0.2
Co = 0.2
[sintering]
activation_energy_kJ_mol = { Ni = 250, Mn = 300, Co = 250 }
[[sintering.step]]
time_h = 2.5
start_C = 25
end_C = 800
[[sintering.step]]
time_h = 12
temperature_C = 800
[diffusion]
D_m2_s = { Ni = 2e-17, Mn = 2e-18, Co = 2e-17 }
"""
    path = tmp_path / "ramp.toml"
    path.write_text(text)
    spec = read_precursor(path)
    assert spec.activation_energy_kJ_mol == {"Ni": 250.0, "Mn": 300.0, "Co": 250.0}
    assert spec.schedule.steps == ((9000.0, 25.0, 800.0), (43200.0, 800.0, 800.0))
    again = format_precursor(
        spec.precursor,
        spec.schedule,
        D_m2_s=spec.D_m2_s,
        activation_energy_kJ_mol=spec.activation_energy_kJ_mol,
    )
    assert parse_precursor(tomllib.loads(again)) == spec
    # a higher Ea means less diffusion during the ramp: Mn's effective time is the shortest
    taus = {
        e: spec.schedule.effective_time_s(ea) for e, ea in spec.activation_energy_kJ_mol.items()
    }
    assert 43200.0 < taus["Mn"] < taus["Ni"] == taus["Co"] < 43200.0 + 9000.0
    res = simulate(
        spec.precursor,
        spec.D_m2_s,
        spec.schedule,
        model="multicomponent",
        activation_energy_kJ_mol=spec.activation_energy_kJ_mol,
        n_cells=60,
    )
    assert np.abs(res.inventory() / res.inventory("initial") - 1).max() <= 1e-10
