"""Real files: APS Data Exchange tooth (reconstruction vs astra) and the APS 8-BM Ni edge pair."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from cathodescope.io import read_data_exchange, read_xradia
from cathodescope.tomo import (
    astra_reconstruct_slice,
    edge_difference,
    edge_pair,
    find_rotation_centre,
    preprocess,
    reconstruct,
    register_projections,
    shift_projections,
)


def test_tooth_reconstructs_like_astra(shared_data):
    raw = read_data_exchange(shared_data / "txm" / "tomopy_tooth_data_exchange.h5")
    lines = preprocess(raw)
    centre = find_rotation_centre(lines, method="sharpness", search_px=40).centre
    # TomoPy's tutorial reconstructs this file with its centre near 296 px
    assert 290 < centre < 302
    volume = reconstruct(lines, centre=centre)
    assert volume.dims == ("z", "y", "x") and volume.shape == (2, 640, 640)
    ref = astra_reconstruct_slice(lines.values[:, 0, :], raw.angles, centre=centre)
    ours = volume.values[0]
    yy, xx = np.mgrid[:640, :640] - 319.5
    disc = np.hypot(yy, xx) < 300
    corr = np.corrcoef(ours[disc], ref[disc])[0, 1]
    assert corr > 0.99  # measured 0.999
    # same scale: a regression slope of 1 within 2 %
    slope = np.polyfit(ref[disc], ours[disc], 1)[0]
    assert abs(slope - 1) < 0.02


def test_aps_8bm_ni_difference_image(shared_data):
    folder = shared_data / "txm" / "aps8bm_ni_edge_pair"
    below = read_xradia(
        folder / "fov07_xanessoc01_8250_0eV.xrm", reference=folder / "ref_xanessoc01_8250_0eV.xrm"
    )
    above = read_xradia(
        folder / "fov07_xanessoc01_8353_0eV.xrm", reference=folder / "ref_xanessoc01_8353_0eV.xrm"
    )
    pair = edge_pair(below.energy_ev, above.energy_ev)
    assert pair.element == "Ni" and pair.edge == "K"
    lo, hi = preprocess(below), preprocess(above)
    reg = register_projections(hi, lo, upsample_factor=10)
    # the sample moved by ~(19, -44) px between the two energies (an hour apart)
    assert reg.correlation_after[0] > reg.correlation_before[0] + 0.2
    diff = edge_difference(shift_projections(lo, reg.shifts)[0], hi.values[0], pair=pair).values
    # particles: Otsu threshold of the smoothed above-edge absorption, eroded 10 px; empty
    # background: the rest eroded 20 px; 20 px border excluded (shifted edge)
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(hi.values[0], 2)
    particles = smooth > threshold_otsu(smooth)
    inner = np.zeros_like(particles)
    inner[20:-20, 20:-20] = True
    core = ndi.binary_erosion(particles, iterations=10) & inner
    empty = ndi.binary_erosion(~particles, iterations=20) & inner
    assert core.sum() > 20_000 and empty.sum() > 200_000
    d_core, d_empty = np.median(diff[core]), np.median(diff[empty])
    # measured: particles median 0.54 (every core pixel > 0); background median -0.011, std 0.05
    assert d_core > 0.3
    assert np.mean(diff[core] > 0) > 0.99
    assert abs(d_empty) < 0.03
    assert abs(d_empty) < 0.05 * d_core
