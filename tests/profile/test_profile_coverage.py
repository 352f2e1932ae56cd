"""Coverage of the confidence intervals on noisy spheres with spatially correlated noise.

The truth of a bin is the mean of the noise-free signal over that bin's voxels (and, for ratios,
the ratio of those means). Noise: Gaussian-filtered white noise (sigma 1.5 voxels, i.e. a
correlation length of a few voxels, like a reconstructed tomogram), independent per channel.
"""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.profile import depth_map, depth_profiles

SHAPE = (64, 64, 64)
SPACING = (0.049, 0.049, 0.049)
NOISE_SIGMA_VOX = 1.5
NOISE_AMPLITUDE = {"Ni": 8.0, "Mn": 12.0, "Co": 10.0}  # density is 100
N_REPEATS = 8
WINDOWS = {
    "edge_window_um": (0.25, 0.30),
    "core_window_um": (1.0, 1.1),
    "sampling_window_um": (0.25, 1.1),
}


def _coverage(
    make_ball, make_noise, method: str, repeats: int = N_REPEATS
) -> tuple[float, float, int]:
    labels, clean, _ = make_ball(SHAPE, SPACING, 1.45, void_um=0.25)
    mask = labels > 0
    d = depth_map(mask, spacing=SPACING)
    b = np.floor(d[mask] / 0.05).astype(int)
    cnt = np.bincount(b)
    truth = {
        c: np.bincount(b, weights=v[mask].astype(float)) / np.maximum(cnt, 1)
        for c, v in clean.items()
    }
    tot = sum(truth.values())
    rng = np.random.default_rng(7)
    hits = []
    ratio_hits = []
    for _ in range(repeats):
        noisy = {
            c: v + NOISE_AMPLITUDE[c] * make_noise(rng, SHAPE, NOISE_SIGMA_VOX)
            for c, v in clean.items()
        }
        res = depth_profiles(labels, noisy, spacing=SPACING, ci_method=method, **WINDOWS)
        p = res.profiles
        k = np.floor(p.depth_um.to_numpy() / 0.05).astype(int)
        t = np.array([truth[c][kk] for c, kk in zip(p.channel, k, strict=True)])
        hits.append((p.ci_low.to_numpy() <= t) & (t <= p.ci_high.to_numpy()))
        r = res.ratios
        k = np.floor(r.depth_um.to_numpy() / 0.05).astype(int)
        t = np.array([truth[c][kk] / tot[kk] for c, kk in zip(r.element, k, strict=True)])
        ratio_hits.append((r.ci_low.to_numpy() <= t) & (t <= r.ci_high.to_numpy()))
    hits = np.concatenate(hits)
    ratio_hits = np.concatenate(ratio_hits)
    return float(hits.mean()), float(ratio_hits.mean()), hits.size


def test_ess_intervals_cover_at_stated_rate(make_ball, make_noise):
    cov, ratio_cov, n = _coverage(make_ball, make_noise, "ess")
    print(f"ESS 99% coverage: channels {cov:.4f}, ratios {ratio_cov:.4f} over {n} bins")
    assert cov >= 0.97
    assert ratio_cov >= 0.97


def test_naive_intervals_under_cover(make_ball, make_noise):
    cov, ratio_cov, n = _coverage(make_ball, make_noise, "naive")
    print(f"naive 99% coverage: channels {cov:.4f}, ratios {ratio_cov:.4f} over {n} bins")
    assert cov < 0.8
    assert ratio_cov < 0.8


@pytest.mark.slow
def test_block_bootstrap_coverage_reported(make_ball, make_noise):
    cov, ratio_cov, n = _coverage(make_ball, make_noise, "block_bootstrap", repeats=4)
    print(f"block bootstrap 99% coverage: channels {cov:.4f}, ratios {ratio_cov:.4f} over {n} bins")
    # Far better than naive, but blocks cut the thin depth shells: it under-covers somewhat.
    assert cov >= 0.85


@pytest.mark.parametrize("method", ["ess", "naive"])
def test_2d_coverage(make_ball, make_noise, method):
    shape, spacing = (128, 128), (0.049, 0.049)
    labels, clean, _ = make_ball(shape, spacing, 2.9, void_um=0.4)
    mask = labels > 0
    b = np.floor(depth_map(mask, spacing=spacing)[mask] / 0.05).astype(int)
    cnt = np.bincount(b)
    truth = {
        c: np.bincount(b, weights=v[mask].astype(float)) / cnt.clip(1) for c, v in clean.items()
    }
    rng = np.random.default_rng(3)
    hits = []
    for _ in range(25):
        noisy = {c: v + 10.0 * make_noise(rng, shape, NOISE_SIGMA_VOX) for c, v in clean.items()}
        p = depth_profiles(labels, noisy, spacing=spacing, ci_method=method).profiles
        k = np.floor(p.depth_um.to_numpy() / 0.05).astype(int)
        t = np.array([truth[c][kk] for c, kk in zip(p.channel, k, strict=True)])
        hits.append((p.ci_low.to_numpy() <= t) & (t <= p.ci_high.to_numpy()))
    cov = float(np.concatenate(hits).mean())
    print(f"2D {method} 99% coverage: {cov:.4f} over {np.concatenate(hits).size} bins")
    if method == "ess":
        assert cov >= 0.97
    else:
        assert cov < 0.85
