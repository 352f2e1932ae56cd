"""Per-pixel XANES maps against ground truth and against the single-spectrum path."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import ShapeMismatchError, StandardRangeError
from cathodescope.phantom import k_edge_standards, xanes_stack_phantom
from cathodescope.xas import lcf, normalize, xanes_maps

E = np.linspace(8290, 8420, 100)
KW = {"fit_range": (8320, 8400), "pre1": -40.0, "pre2": -12.0, "norm1": 30.0, "nnorm": 1}


def _expected(truth, std, m):
    # fractions per absorber are defined on standards normalized with the same windows
    steps = np.array(
        [
            normalize(
                s,
                e0=m.parameters["e0"],
                pre1=-40,
                pre2=-12,
                norm1=30,
                norm2=m.parameters["norm2"],
                nnorm=1,
            ).edge_step
            for s in std.values()
        ]
    )
    w = truth["fractions"] * steps[:, None, None]
    return w / w.sum(axis=0)


def test_noise_free_exact_and_mask():
    std = k_edge_standards(E)
    stack, truth = xanes_stack_phantom(std, shape=(40, 48), noise=0.0)
    m = xanes_maps(stack, std, dtype="float64", **KW)
    exp = _expected(truth, std, m)
    ins = truth["inside"]
    np.testing.assert_allclose(m.fractions.values[:, ins], exp[:, ins], atol=1e-9)
    assert np.array_equal(m.mask.values, ~ins)
    assert np.all(np.isnan(m.fractions.values[:, ~ins]))
    np.testing.assert_allclose(np.nansum(m.fractions.values, axis=0)[ins], 1.0, atol=1e-12)
    np.testing.assert_allclose(
        m.edge_step.values[ins],
        1.0
        * np.mean(
            [
                normalize(
                    s,
                    e0=m.parameters["e0"],
                    pre1=-40,
                    pre2=-12,
                    norm1=30,
                    norm2=m.parameters["norm2"],
                    nnorm=1,
                ).edge_step
                for s in std.values()
            ]
        ),
        rtol=0.05,
    )
    # fraction map is a (y, x) DataArray in um, ready for the depth-profile engine
    f = m.fraction("M2+")
    assert f.dims == ("y", "x") and f.x.attrs["units"] == "um"
    val = m.valence({"M2+": 2, "M3+": 3, "M4+": 4})
    np.testing.assert_allclose(
        val.values[ins], np.tensordot([2, 3, 4], exp, axes=1)[ins], atol=1e-9
    )
    assert np.isnan(val.values[~ins]).all()


def test_map_matches_single_spectrum_path(rng):
    std = k_edge_standards(E)
    stack, _truth = xanes_stack_phantom(std, shape=(24, 24), noise=0.01, rng=rng)
    m = xanes_maps(stack, std, dtype="float64", **KW)
    e0 = m.parameters["e0"]
    nkw = {
        "e0": e0,
        "pre1": -40,
        "pre2": -12,
        "norm1": 30,
        "norm2": m.parameters["norm2"],
        "nnorm": 1,
    }
    stds = {k: normalize(s, **nkw).to_dataarray("flat") for k, s in std.items()}
    for y, x in [(12, 12), (5, 12), (12, 18)]:
        px = stack.isel(y=y, x=x)
        r = lcf(
            normalize(px, **nkw).to_dataarray("flat"),
            stds,
            fit_range=KW["fit_range"],
            uncertainty="none",
        )
        np.testing.assert_allclose(m.fractions.values[:, y, x], r.weights, atol=1e-8)
        assert m.r_factor.values[y, x] == pytest.approx(r.r_factor, rel=1e-6)


def test_float32_and_dask_agree(rng):
    std = k_edge_standards(E)
    stack, truth = xanes_stack_phantom(std, shape=(32, 32), noise=0.005, rng=rng)
    m64 = xanes_maps(stack, std, dtype="float64", **KW)
    m32 = xanes_maps(stack, std, dtype="float32", chunk_pixels=100, **KW)
    md = xanes_maps(stack, std, dtype="float64", chunks=5, **KW)
    mt = xanes_maps(stack, std, dtype="float64", chunk_pixels=97, n_threads=2, **KW)
    np.testing.assert_allclose(mt.fractions.values, m64.fractions.values, atol=1e-12)
    np.testing.assert_allclose(md.fractions.values, m64.fractions.values, atol=1e-12)
    np.testing.assert_allclose(m32.fractions.values, m64.fractions.values, atol=2e-3)
    ins = truth["inside"]
    exp = _expected(truth, std, m64)
    rms = np.sqrt(np.mean((m64.fractions.values[:, ins] - exp[:, ins]) ** 2))
    assert rms < 0.06  # three close standards, noise 0.005 on a unit edge


def test_edge_energy_map_tracks_shift():
    std = k_edge_standards(E, n_standards=2)
    stack, truth = xanes_stack_phantom(std, shape=(16, 16), noise=0.0)
    m = xanes_maps(stack, std, **KW)
    shifted = stack.assign_coords(energy=stack.energy.values + 0.7)
    shifted.energy.attrs["units"] = "eV"
    ms = xanes_maps(shifted, std, **{**KW, "fit_range": (8321, 8399)}, normalize_standards=False)
    d = (ms.edge_energy - m.edge_energy).values[truth["inside"]]
    np.testing.assert_allclose(d, 0.7, atol=0.05)


def test_maps_bad_input():
    std = k_edge_standards(E)
    stack, _ = xanes_stack_phantom(std, shape=(8, 8))
    with pytest.raises(ShapeMismatchError, match="dims"):
        xanes_maps(stack.rename(y="row"), std, **KW)
    with pytest.raises(StandardRangeError, match=r"fit range|covers"):
        xanes_maps(stack, std, **{**KW, "fit_range": (8200, 8400)})
