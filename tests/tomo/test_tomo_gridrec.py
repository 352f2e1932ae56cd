"""gridrec (Fourier-grid reconstruction) against continuous-geometry truth, our FBP and a direct
Fourier sum.

The projections are exact line integrals of discs and spheres (chord lengths), so the truth
image is known from continuous geometry, not from our projector: each pixel of the truth is the
area fraction of the pixel inside each disc (8 x 8 supersampling). Sizes are modest to keep the
tests fast; full-size timings are in benchmarks/bench_gridrec.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import ParameterError, ProjectionGeometryError, RotationCentreError
from cathodescope.tomo import angular_weights, fbp, gridrec

# discs (x0, y0, radius, mu): x right, y up, in pixels from the slice centre; mu in 1/px
DISCS = [(0.0, 0.0, 90.0, 0.01), (30.0, 20.0, 25.0, 0.02), (-40.0, -30.0, 15.0, -0.005), (50.0, -50.0, 8.0, 0.03)]  # fmt: skip


def _disc_sinogram(n_det, angles_deg, discs, centre):
    """Exact line integrals (n_angles, n_det) of uniform discs; ``centre``: axis column (px)."""
    t = np.arange(n_det) - centre
    theta = np.radians(angles_deg)[:, None]
    sino = np.zeros((angles_deg.size, n_det))
    for x0, y0, radius, mu in discs:
        s0 = x0 * np.cos(theta) + y0 * np.sin(theta)  # where the disc centre projects
        sino += 2.0 * mu * np.sqrt(np.clip(radius**2 - (t[None] - s0) ** 2, 0.0, None))
    return sino.astype(np.float32)


def _disc_image(n, discs, sup=8):
    """Area fraction of each pixel inside each disc, times mu (the continuous truth)."""
    h = (n - 1) / 2
    sub = (np.arange(sup) + 0.5) / sup - 0.5
    x = (np.arange(n) - h)[None, :, None, None] + sub[None, None, None, :]
    y = (h - np.arange(n))[:, None, None, None] - sub[None, None, :, None]
    img = np.zeros((n, n))
    for x0, y0, radius, mu in discs:
        img += mu * ((x - x0) ** 2 + (y - y0) ** 2 < radius**2).mean(axis=(2, 3))
    return img


def _sphere_data(n, n_rows, angles_deg, spheres, centre):
    """Exact projections (n_angles, n_rows, n_det) of spheres and the truth volume (z, y, x).

    ``spheres`` are (x0, y0, z0, radius, mu) in pixels; detector row ``i`` is the plane
    ``z = i - (n_rows - 1) / 2``, which cuts each sphere in a disc of exactly known radius.
    """
    sino = np.zeros((angles_deg.size, n_rows, n), np.float32)
    truth = np.zeros((n_rows, n, n))
    for i in range(n_rows):
        z = i - (n_rows - 1) / 2
        discs = [
            (x0, y0, np.sqrt(r**2 - (z - z0) ** 2), mu)
            for x0, y0, z0, r, mu in spheres
            if abs(z - z0) < r
        ]
        sino[:, i, :] = _disc_sinogram(n, angles_deg, discs, centre)
        truth[i] = _disc_image(n, discs)
    return sino, truth


def _circle(n, margin=4.0):
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    return np.hypot(yy, xx) < n / 2 - margin


def _rmse(a, b, mask):
    return float(np.sqrt(np.mean((a - b)[mask] ** 2)))


def test_gridrec_rmse_within_fbp_on_analytic_discs():
    n, angles = 256, np.linspace(0, 180, 400, endpoint=False)
    sino = _disc_sinogram(n, angles, DISCS, (n - 1) / 2)
    truth = _disc_image(n, DISCS)
    m = _circle(n)
    rmse_g = _rmse(gridrec(sino, angles), truth, m)
    rmse_f = _rmse(fbp(sino, angles), truth, m)
    assert rmse_g <= 1.1 * rmse_f  # measured ratio 1.049 (256 px, 400 angles)
    assert rmse_g < 0.035 * 0.01  # of the background disc's mu 0.01/px: measured 2.9 %


def test_gridrec_spheres_slab_by_slab_equals_whole_and_matches_fbp():
    n, n_rows = 96, 11
    angles = np.linspace(0, 180, 150, endpoint=False)
    spheres = [(0.0, 0.0, 0.0, 34.0, 0.01), (12.0, -8.0, 2.0, 9.0, 0.02)]
    proj, truth = _sphere_data(n, n_rows, angles, spheres, (n - 1) / 2)
    # (angle, row, det) -> the FBP layout (angle, det, slice) as a view (no copy)
    whole = gridrec(proj.transpose(0, 2, 1), angles)
    assert whole.shape == (n, n, n_rows)
    scale = float(np.abs(whole).max())
    # slabs of 1, 4 and 5 rows pair the slices differently (real/imaginary parts of one FFT)
    for slab in (1, 4, 5):
        parts = [
            gridrec(proj[:, r0 : r0 + slab].transpose(0, 2, 1), angles)
            for r0 in range(0, n_rows, slab)
        ]
        # measured 5e-7 of the maximum (float32 rounding of the other slice in the pair)
        assert np.abs(np.concatenate(parts, axis=2) - whole).max() <= 1e-5 * scale
    # one row alone through the 2-D call
    np.testing.assert_allclose(gridrec(proj[:, 5], angles), whole[:, :, 5], atol=1e-5 * scale)
    ref = fbp(np.ascontiguousarray(proj.transpose(0, 2, 1)), angles)
    m = _circle(n)
    rmse_g = np.sqrt(np.mean([(whole[:, :, i] - truth[i])[m] ** 2 for i in range(n_rows)]))
    rmse_f = np.sqrt(np.mean([(ref[:, :, i] - truth[i])[m] ** 2 for i in range(n_rows)]))
    assert rmse_g <= 1.1 * rmse_f  # measured ratio 1.006 (96 px, 150 angles, 11 rows)


def test_gridrec_off_centre_axis_matches_fbp():
    n, n_det = 192, 208
    angles = np.linspace(0, 180, 300, endpoint=False)
    discs = [(0.0, 0.0, 60.0, 0.01), (20.0, 15.0, 18.0, 0.02)]
    truth = _disc_image(n, discs)
    m = _circle(n)
    centre = (n_det - 1) / 2 + 6.3  # rotation axis 6.3 px right of the detector centre
    sino = _disc_sinogram(n_det, angles, discs, centre)
    rec_g = gridrec(sino, angles, centre=centre, size=n)
    rec_f = fbp(sino, angles, centre=centre, size=n)
    # the same image as FBP: their difference is well below either's error against the truth
    assert _rmse(rec_g, rec_f, m) < 0.6 * _rmse(rec_f, truth, m)  # measured 0.47
    assert _rmse(rec_g, truth, m) <= 1.1 * _rmse(rec_f, truth, m)  # measured 1.04
    # moving the axis changes the image no more than it changes FBP's (the detector samples
    # the disc at other positions; the sub-pixel shift itself is exact in Fourier space)
    sino_c = _disc_sinogram(n_det, angles, discs, (n_det - 1) / 2)
    shift_g = _rmse(rec_g, gridrec(sino_c, angles, size=n), m)
    shift_f = _rmse(rec_f, fbp(sino_c, angles, size=n), m)
    assert shift_g <= shift_f  # measured 2.6e-4 vs 3.1e-4 (1/px, mu 0.01-0.03)
    # a wrong centre by 2 px is visibly worse: the centre is really used
    wrong = gridrec(sino, angles, centre=centre - 2.0, size=n)
    assert _rmse(wrong, truth, m) > 3 * _rmse(rec_g, truth, m)  # measured 7.8x


@pytest.mark.parametrize("n", [96, 97])
def test_gridrec_uniform_disc_matches_mu_in_physical_units(n):
    spacing_um, mu_per_um, radius_px = 0.05, 0.4, 0.3 * n
    angles = np.linspace(0, 180, 180, endpoint=False)
    # line integrals: mu (1/um) x chord (um) -> dimensionless, as after -log
    sino = _disc_sinogram(n, angles, [(0.0, 0.0, radius_px, mu_per_um * spacing_um)], (n - 1) / 2)
    rec = gridrec(sino, angles) / spacing_um  # 1/pixel -> 1/um, as reconstruct() converts
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(yy, xx)
    inner = r < radius_px - 4
    outer = (r > radius_px + 4) & _circle(n, 4)
    assert abs(rec[inner].mean() - mu_per_um) / mu_per_um < 0.01  # measured 0.14 %, 0.07 %
    assert abs(rec[outer].mean()) < 0.01 * mu_per_um


def _direct_fourier_sum(sino, angles, centre):
    """Independent reference: gridrec's polar samples summed exactly at each pixel (O(N^4)).

    Edge padding to an FFT-friendly length >= 2 n_det (96 for 48 columns), the band-limited
    ramp of Kak & Slaney (eq. 61) built here from its spatial form, the in-band response of linear interpolation, the angular
    weights and the phase that puts the axis at the origin, evaluated as a non-uniform inverse
    Fourier sum in float64: what gridding approximates.
    """
    n_ang, n_det = sino.shape
    n_pad = 2 * n_det  # 96: 2^5 x 3, shorter than FBP's power of two (128)
    left = (n_pad - n_det) // 2
    padded = np.pad(sino.astype(float), ((0, 0), (left, n_pad - n_det - left)), mode="edge")
    spec = np.fft.fft(padded, axis=1)
    j = np.rint(np.fft.fftfreq(n_pad) * n_pad).astype(int)  # signed sample index
    h = np.where(j % 2 == 1, -1.0 / (np.pi * np.where(j == 0, 1, j)) ** 2, 0.0)
    h[0] = 0.25
    omega = np.fft.fftfreq(n_pad)  # cycles / pixel, -1/2 at the Nyquist bin
    resp = np.real(np.fft.fft(h)) * np.sinc(omega) ** 2  # |f| band-limited, times sinc^2
    nyq = n_pad // 2
    theta = np.radians(angles)
    w = angular_weights(angles) / n_pad
    h0 = (n_det - 1) / 2
    x, y = np.arange(n_det) - h0, h0 - np.arange(n_det)
    freqs = np.concatenate([omega, [0.5]])  # the Nyquist bin again at +1/2
    out = np.zeros((n_det, n_det))
    for a in range(n_ang):
        q = spec[a] * resp * w[a]
        q = np.concatenate([q, [q[nyq]]])
        q[[nyq, n_pad]] *= 0.5  # half of the Nyquist bin at each end
        q = q * np.exp(2j * np.pi * freqs * (left + centre))
        ex = np.exp(2j * np.pi * np.outer(freqs * np.cos(theta[a]), x))
        ey = np.exp(2j * np.pi * np.outer(freqs * np.sin(theta[a]), y))
        out += np.einsum("k,kq,kr->rq", q, ex, ey).real
    return out


@pytest.mark.parametrize(("width", "tol"), [(4, 1e-3), (6, 2e-5)])
def test_gridrec_matches_direct_fourier_sum(width, tol):
    n = 48
    angles = np.linspace(0, 180, 60, endpoint=False)
    centre = (n - 1) / 2 + 1.3
    sino = _disc_sinogram(n, angles, [(0.0, 0.0, 15.0, 0.01), (4.0, 6.0, 5.0, 0.02)], centre)
    ref = _direct_fourier_sum(sino, angles, centre)
    rec = gridrec(sino, angles, centre=centre, kernel_width=width)
    # gridding error relative to the image maximum: measured 2.1e-4 (width 4), 1.9e-6 (6)
    assert np.abs(rec - ref).max() < tol * np.abs(ref).max()


@pytest.mark.parametrize("filter_name", ["ramp", "shepp-logan", "cosine", "hamming", "hann"])
def test_gridrec_filters_agree_with_fbp(filter_name):
    n = 128
    angles = np.linspace(0, 180, 200, endpoint=False)
    discs = [(0.0, 0.0, 45.0, 0.01), (15.0, 10.0, 12.0, 0.02)]
    sino = _disc_sinogram(n, angles, discs, (n - 1) / 2)
    rec_g = gridrec(sino, angles, filter_name=filter_name)
    rec_f = fbp(sino, angles, filter_name=filter_name)
    m = _circle(n)
    truth = _disc_image(n, discs)
    # measured 0.46 (ramp) .. 0.04 (hann) of FBP's error; RMSE ratios 1.06 .. 1.004
    assert _rmse(rec_g, rec_f, m) < 0.6 * _rmse(rec_f, truth, m)
    assert _rmse(rec_g, truth, m) <= 1.1 * _rmse(rec_f, truth, m)
    assert abs(rec_g[m].mean() - rec_f[m].mean()) < 1e-3 * 0.01  # measured <= 1.4e-4 mu


def test_gridrec_uneven_angles_weighted_like_fbp(rng):
    n = 96
    angles = np.sort(rng.uniform(0, 180, 160))
    discs = [(0.0, 0.0, 30.0, 0.01), (10.0, 5.0, 8.0, 0.02)]
    sino = _disc_sinogram(n, angles, discs, (n - 1) / 2)
    m = _circle(n)
    truth = _disc_image(n, discs)
    rec_g = gridrec(sino, angles)
    assert _rmse(rec_g, truth, m) <= 1.1 * _rmse(fbp(sino, angles), truth, m)  # measured 1.004


def test_gridrec_sharp_option_keeps_the_full_band():
    n = 128
    angles = np.linspace(0, 180, 200, endpoint=False)
    sino = _disc_sinogram(n, angles, [(0.0, 0.0, 40.0, 0.01)], (n - 1) / 2)
    smooth = gridrec(sino, angles)
    sharp = gridrec(sino, angles, match_fbp=False)
    # across the edge of the disc the full-band image is steeper (less blurred)
    row = n // 2
    edge = slice(int((n - 1) / 2 + 36), int((n - 1) / 2 + 44))
    assert np.abs(np.diff(sharp[row, edge])).max() > np.abs(np.diff(smooth[row, edge])).max()
    m = _circle(n)
    assert abs(sharp[m].mean() - smooth[m].mean()) < 1e-3 * 0.01


def test_gridrec_refuses_bad_input():
    angles = np.linspace(0, 180, 30, endpoint=False)
    sino = np.zeros((30, 40), np.float32)
    with pytest.raises(ProjectionGeometryError, match="29 angles"):
        gridrec(sino, angles[:29])
    with pytest.raises(RotationCentreError, match="outside the detector"):
        gridrec(sino, angles, centre=45.0)
    with pytest.raises(ParameterError, match="filter_name"):
        gridrec(sino, angles, filter_name="butterworth")
    with pytest.raises(ParameterError, match="oversampling"):
        gridrec(sino, angles, oversampling=1.0)
    with pytest.raises(ParameterError, match="kernel_width"):
        gridrec(sino, angles, kernel_width=2.5)
    with pytest.raises(ProjectionGeometryError, match="shape"):
        gridrec(np.zeros(30, np.float32), angles)


def test_reconstruct_with_gridrec_matches_fbp_in_units(tmp_path):
    """``reconstruct(..., algorithm="gridrec")`` gives the FBP units (1/um) and values."""
    from cathodescope.tomo import reconstruct

    n, angles = 64, np.linspace(0.0, 180.0, 181, endpoint=False)
    theta = np.deg2rad(angles)[:, None]
    s = np.arange(n) - (n - 1) / 2
    chord = 2 * np.sqrt(np.clip(20.0**2 - s[None, :] ** 2, 0, None)) * np.ones_like(theta)
    sino = np.repeat((0.01 * chord)[:, None, :], 3, axis=1).astype(np.float32)  # mu = 0.01/px
    a = reconstruct(sino, angles, centre=(n - 1) / 2, algorithm="fbp", spacing=0.1)
    b = reconstruct(sino, angles, centre=(n - 1) / 2, algorithm="gridrec", spacing=0.1)
    a, b = np.asarray(a), np.asarray(b)
    inside = slice(n // 2 - 8, n // 2 + 8)
    assert np.mean(b[1, inside, inside]) == pytest.approx(0.1, rel=0.02)  # 0.01/px = 0.1/um
    assert np.mean(b[1, inside, inside]) == pytest.approx(np.mean(a[1, inside, inside]), rel=0.01)
