"""Per-particle statistics, cross-talk check and C-AFM particle currents on synthetic truth."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import (
    EmptyDataError,
    EmptySegmentationError,
    ParameterError,
    ScanSizeMismatchError,
)
from cathodescope.spm import cafm_particle_current, particle_statistics, topography_crosstalk


def _discs(shape=(120, 160), specs=((30, 40, 15), (80, 110, 20), (90, 30, 12))):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (cy, cx, r) in enumerate(specs, start=1):
        labels[np.hypot(y - cy, x - cx) < r] = i
    return labels


def test_particle_statistics_against_numpy(rng):
    labels = _discs()
    esm = rng.normal(10e-12, 1e-12, labels.shape)
    esm[labels == 2] += 5e-12
    height = rng.normal(0, 1e-9, labels.shape) + 50e-9 * (labels > 0)
    esm[0, 0] = np.nan  # background NaN is skipped
    res = particle_statistics(labels, {"esm": esm, "height": height}, spacing=0.02, bins=20)
    t = res.table.set_index(["particle_id", "channel"])
    for pid in (1, 2, 3):
        v = esm[labels == pid]
        row = t.loc[(pid, "esm")]
        assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert row["std"] == pytest.approx(v.std(ddof=1), rel=1e-10)
        assert row["median"] == pytest.approx(np.median(v), rel=1e-12)
        assert row["p05"] == pytest.approx(np.percentile(v, 5), rel=1e-12)
        assert row["p95"] == pytest.approx(np.percentile(v, 95), rel=1e-12)
        assert row["area_um2"] == pytest.approx((labels == pid).sum() * 0.02**2)
        assert row["n_pixels"] == v.size
    bg = esm[(labels == 0) & np.isfinite(esm)]
    assert t.loc[(0, "esm")]["mean"] == pytest.approx(bg.mean(), rel=1e-12)
    assert t.loc[(0, "esm")]["n_pixels"] == bg.size
    h = res.histograms
    for pid in (1, 2, 3):
        counts = h[(h.particle_id == pid) & (h.channel == "esm")]["count"].sum()
        assert counts == (labels == pid).sum()
    edges = h[h.channel == "esm"].groupby("particle_id")["bin_left"].apply(tuple)
    assert len(set(edges)) == 1  # common edges: histograms comparable between particles


def test_particle_statistics_errors(rng):
    labels = _discs()
    with pytest.raises(EmptySegmentationError, match="no particle"):
        particle_statistics(
            np.zeros_like(labels), {"a": rng.normal(size=labels.shape)}, spacing=0.1
        )
    with pytest.raises(ScanSizeMismatchError, match="shape"):
        particle_statistics(labels[:10], {"a": rng.normal(size=labels.shape)}, spacing=0.1)
    with pytest.raises(EmptyDataError, match="all NaN"):
        particle_statistics(labels, {"a": np.full(labels.shape, np.nan)}, spacing=0.1)
    with pytest.raises(ScanSizeMismatchError, match="different shapes"):
        particle_statistics(
            labels, {"a": np.zeros(labels.shape), "b": np.zeros((5, 5))}, spacing=0.1
        )


def test_crosstalk_detects_topographic_contrast(rng):
    y, x = np.mgrid[0:128, 0:128]
    height = 40e-9 * np.exp(-((x - 64) ** 2 + (y - 64) ** 2) / 800.0)
    independent = rng.normal(1e-11, 1e-12, height.shape)
    follows = 2e-11 + 0.5e-3 * height + rng.normal(0, 1e-13, height.shape)
    ok = topography_crosstalk(height, independent, spacing=0.04)
    bad = topography_crosstalk(height, follows, spacing=0.04)
    assert not ok.flagged
    assert abs(ok.table.set_index("descriptor").loc["height", "spearman_rho"]) < 0.1
    assert bad.flagged
    row = bad.table.set_index("descriptor").loc["height"]
    assert row["pearson_r"] > 0.99
    assert row["slope"] == pytest.approx(0.5e-3, rel=0.01)
    with pytest.raises(ParameterError, match="threshold"):
        topography_crosstalk(height, follows, threshold=2)


def test_cafm_particle_average_with_noise_floor(rng):
    labels = _discs()
    offset, noise = 2e-12, 0.5e-12
    true = {1: 40e-12, 2: 10e-12, 3: 0.0}  # particle 3 insulating
    cur = offset + rng.normal(0, noise, labels.shape)
    for pid, i in true.items():
        cur[labels == pid] += i
    res = cafm_particle_current(cur, labels, method="subtract", k_sigma=3)
    s = res.summary.iloc[0]
    assert s["offset_A"] == pytest.approx(offset, abs=0.05e-12)
    assert s["noise_A"] == pytest.approx(noise, rel=0.1)
    areas = {pid: (labels == pid).sum() for pid in true}
    expected = sum(true[p] * areas[p] for p in true) / sum(areas.values())
    assert s["mean_particles_A"] == pytest.approx(expected, abs=0.05e-12)
    per = res.per_particle.set_index("particle_id")
    for pid, i in true.items():
        assert per.loc[pid, "mean_A"] == pytest.approx(i, abs=0.2e-12)
    assert per.loc[1, "conducting_fraction"] > 0.99
    assert per.loc[3, "conducting_fraction"] < 0.02
    # whole-image average is diluted by the insulating matrix: particles-only is larger
    assert s["mean_image_A"] < 0.5 * s["mean_particles_A"]
    thr = cafm_particle_current(cur, labels, method="threshold").per_particle
    assert abs(thr.set_index("particle_id").loc[3, "mean_A"]) < 0.05e-12
    with pytest.raises(EmptyDataError, match="background pixels"):
        cafm_particle_current(cur, np.ones_like(labels))
    full = cafm_particle_current(cur, np.ones_like(labels), offset=offset, noise_floor=1.5e-12)
    assert full.summary.iloc[0]["floor_A"] == pytest.approx(1.5e-12)
    with pytest.raises(ParameterError, match="method"):
        cafm_particle_current(cur, labels, method="clip")
