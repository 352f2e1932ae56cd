"""Alignment helpers and elemental maps against known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from cathodescope.errors import EdgeBracketError, ParameterError, ProjectionGeometryError
from cathodescope.tomo import (
    attenuation_matrix,
    correct_jitter,
    correct_magnification,
    decompose,
    edge_difference,
    edge_energy_pairs,
    edge_pair,
    find_rotation_centre,
    forward_project,
    register_projections,
    register_volumes,
)


def _blobs(rng, shape, n=12, sigma=3.0):
    img = np.zeros(shape)
    idx = tuple(rng.integers(6, s - 6, n) for s in shape)
    img[idx] = 1.0
    return ndi.gaussian_filter(img, sigma).astype(np.float32)


def test_register_projections_recovers_known_shifts(rng):
    ref = np.stack([_blobs(rng, (48, 56)) for _ in range(6)])
    true = rng.uniform(-3, 3, (6, 2))
    moved = np.stack([ndi.shift(ref[k], true[k], order=3, mode="nearest") for k in range(6)])
    reg = register_projections(ref, moved, upsample_factor=20)
    np.testing.assert_allclose(reg.shifts, -true, atol=0.1)
    assert (reg.correlation_after > 0.99).all()
    df = reg.to_dataframe()
    assert list(df.columns[:3]) == ["angle_deg", "shift_y_px", "shift_x_px"]
    with pytest.raises(ProjectionGeometryError, match="same shape"):
        register_projections(ref, moved[:, :40])


def test_centre_methods_on_offset_axis():
    n, nd = 48, 64
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    img = ((np.hypot(yy - 6, xx + 9) < 8) * 1.0 + (np.hypot(yy + 10, xx - 4) < 5) * 0.5).astype(
        np.float32
    )
    vol = np.repeat(img[:, :, None], 3, axis=2)
    angles = np.linspace(0, 180, 91)
    centre = (nd - 1) / 2 + 3.4
    proj = forward_project(vol, angles, n_det=nd, centre=centre).transpose(0, 2, 1)
    for method in ("mirror", "sinusoid", "sharpness"):
        found = find_rotation_centre(proj, angles, method=method)
        assert abs(found.centre - centre) < 0.5, (method, found.centre)
    assert abs(find_rotation_centre(proj, angles, method="mirror").centre - centre) < 0.05
    with pytest.raises(ProjectionGeometryError):
        find_rotation_centre(proj, angles[:-1])


def test_magnification_correction_inverts_zoom(rng):
    img = _blobs(rng, (64, 64), sigma=2.5)
    zoomed = correct_magnification(img, 1.05)
    back = correct_magnification(zoomed, 1 / 1.05)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(back[inner] - img[inner]).max() < 0.05 * img.max()
    # a feature at distance d from the centre moves to 1.05 d
    spot = np.zeros((65, 65), np.float32)
    spot[32, 52] = 1
    spot = ndi.gaussian_filter(spot, 1.5)
    cy, cx = ndi.center_of_mass(correct_magnification(spot, 1.05))
    assert abs(cx - (32 + 20 * 1.05)) < 0.05 and abs(cy - 32) < 0.05


def test_register_volumes_subpixel(rng):
    vol = _blobs(rng, (32, 36, 40), n=15, sigma=2.0)
    shifted = ndi.shift(vol, (1.3, -0.7, 2.2), order=3, mode="nearest")
    reg, _moved = register_volumes(vol, shifted)
    np.testing.assert_allclose(reg.shift, (-1.3, 0.7, -2.2), atol=0.1)
    assert reg.correlation_after > 0.99 > reg.correlation_before


def test_jitter_correction_reduces_jitter(rng):
    n = 40
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    img = ((np.hypot(yy - 5, xx + 7) < 7) * 1.0 + (np.hypot(yy + 8, xx - 6) < 4) * 0.6).astype(
        np.float32
    )
    vol = np.stack([img * (1 + 0.05 * k) for k in range(8)], axis=2)  # (y, x, rows)
    angles = np.linspace(0, 180, 60, endpoint=False)
    proj = forward_project(vol, angles).transpose(0, 2, 1)  # (angle, rows, det)
    jitter = np.zeros((60, 2))
    jitter[:, 1] = rng.uniform(-1.5, 1.5, 60)
    jitter[:, 1] -= jitter[:, 1].mean()
    noisy = np.stack([ndi.shift(proj[k], jitter[k], order=3, mode="nearest") for k in range(60)])
    _, shifts = correct_jitter(noisy, angles, iterations=4)
    residual = shifts[:, 1] + jitter[:, 1]
    residual -= residual.mean()
    assert np.abs(residual).max() < 0.5 * np.abs(jitter[:, 1]).max()
    assert np.sqrt(np.mean(residual**2)) < 0.3


def test_edge_pairs_come_from_xraydb():
    import xraydb

    pairs = edge_energy_pairs(("Mn", "Co", "Ni"))
    for el, (lo, hi) in pairs.items():
        edge = xraydb.xray_edge(el, "K").energy
        assert lo < edge < hi
        assert edge_pair(lo, hi).element == el
    # the real APS 8-BM pair brackets the Ni K edge
    assert edge_pair(8249.94, 8353.03).element == "Ni"


def test_energies_not_bracketing_an_edge():
    with pytest.raises(EdgeBracketError, match=r"do not bracket .*Ni K 8333 eV"):
        edge_pair(8200.0, 8300.0, element="Ni")
    with pytest.raises(EdgeBracketError, match="below the second"):
        edge_pair(8400.0, 8300.0)
    with pytest.raises(EdgeBracketError, match="do not bracket any tabulated"):
        edge_pair(8340.0, 8350.0)  # no K or L3 edge of any element between these


def test_decomposition_recovers_exact_densities(rng):
    import xraydb

    elements = ("Ni", "Co", "Mn")
    energies = [e for pair in edge_energy_pairs(elements).values() for e in pair]
    true = {el: rng.uniform(0, 2, (5, 6)).astype(np.float64) for el in (*elements, "O")}
    mat = attenuation_matrix(energies, (*elements, "O"))
    att = {
        e: sum(mat[i, k] * true[el] for k, el in enumerate((*elements, "O"))) * 1e-4
        for i, e in enumerate(energies)
    }
    dec = decompose(att, elements=elements, units="1/um")
    for el in elements:
        np.testing.assert_allclose(
            dec.densities.sel(channel=el).values, true[el], rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(
            dec.molar.sel(channel=el).values,
            true[el] / xraydb.atomic_mass(el),
            rtol=1e-4,
            atol=1e-6,
        )
    assert dec.residual_rms < 1e-6 * max(np.abs(a).max() for a in att.values()) * 1e4
    with pytest.raises(ParameterError, match="cannot determine"):
        decompose({energies[0]: att[energies[0]], energies[1]: att[energies[1]]}, elements=elements)


def test_edge_difference_keeps_negative_values():
    below = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    above = np.array([[0.05, 0.5], [0.3, 0.9]], np.float32)
    d = edge_difference(below, above, pair=edge_pair(8293, 8363))
    np.testing.assert_allclose(d.values, above - below)
    assert d.attrs["negative_fraction"] == 0.25 and d.attrs["element"] == "Ni"


def test_pipeline_refuses_element_without_bracketing_pair():
    from cathodescope.errors import MissingMetadataError
    from cathodescope.io import make_projections
    from cathodescope.tomo import process_energies

    def scan(energy):
        return make_projections(
            np.full((4, 3, 8), 500.0),
            [0, 45, 90, 135],
            flats=np.full((3, 8), 1000.0),
            energy_ev=energy,
            spacing=0.05,
        )

    ni_pair = [scan(e) for e in edge_energy_pairs(["Ni"])["Ni"]]
    with pytest.raises(EdgeBracketError, match=r"no energy pair brackets the Co K edge \(7709 eV"):
        process_energies(ni_pair, elements=("Ni", "Co"))
    with pytest.raises(MissingMetadataError, match="no photon energy"):
        process_energies([ni_pair[0], scan(None)], elements=("Ni",))
