"""Per-particle core/shell fits of fraction-vs-depth profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import erf

from cathodescope.xrf import (
    NMC442,
    NMC701515,
    core_shell_map,
    fit_depth_profiles,
    random_discs,
    summarize_core_shell,
)


def _binned_ratios(maps, truth, bin_um=0.05):
    """Engine-shaped ratios table built independently: fractions binned by the true depth."""
    labels, depth = truth["labels"], truth["depth_um"]
    vals = {str(c): maps.sel(channel=c).values for c in maps["channel"].values}
    total = sum(vals.values())
    rows = []
    for pid in range(1, labels.max() + 1):
        m = labels == pid
        b = np.floor(depth[m] / bin_um).astype(int)
        for e, v in vals.items():
            f = v[m] / total[m]
            for k in np.unique(b):
                sel = f[b == k]
                if sel.size < 3:
                    continue
                se = sel.std(ddof=1) / np.sqrt(sel.size)
                rows.append(
                    {
                        "particle_id": pid,
                        "element": e,
                        "depth_um": (k + 0.5) * bin_um,
                        "ratio": sel.mean(),
                        "ci_low": sel.mean() - 2.576 * se,
                        "ci_high": sel.mean() + 2.576 * se,
                    }
                )
    return pd.DataFrame(rows)


def test_fit_depth_profiles_recovers_each_particle():
    rng = np.random.default_rng(5)
    discs = random_discs((400, 400), 4, spacing=0.05, radius_um=(2.5, 3.2), rng=rng)
    maps, truth = core_shell_map((400, 400), spacing=0.05, particles=discs, rng=rng)
    table = fit_depth_profiles(_binned_ratios(maps, truth))
    assert (table["status"] == "ok").all()
    assert table["particle_id"].nunique() == 4
    for _, row in table.iterrows():
        assert abs(row["interface_depth_um"] - 1.5) < 0.05  # one pixel
        assert abs(row["shell"] - NMC442[row["element"]]) < 0.01
        assert abs(row["core"] - NMC701515[row["element"]]) < 0.01
        # weighted by the bins' CIs: the interface is within 4 of its standard errors
        assert abs(row["interface_depth_um"] - 1.5) < 4 * row["interface_stderr_um"] + 0.01
    summary = summarize_core_shell(table).set_index("element")
    assert summary.loc["Mn", "n_ok"] == 4
    assert summary.loc["Mn", "interface_depth_um_mean"] == pytest.approx(1.5, abs=0.03)


def test_fit_depth_profiles_reports_failures():
    depth = np.arange(0.025, 2.0, 0.05)
    good = 0.4 + (0.15 - 0.4) * 0.5 * (1 + erf((depth - 1.0) / (np.sqrt(2) * 0.1)))
    rows = [
        {"particle_id": 1, "element": "Mn", "depth_um": d, "ratio": v}
        for d, v in zip(depth, good, strict=True)
    ]
    rows += [{"particle_id": 2, "element": "Mn", "depth_um": d, "ratio": 0.3} for d in depth]
    rows += [{"particle_id": 3, "element": "Mn", "depth_um": d, "ratio": np.nan} for d in depth]
    for method in ("batched", "per_particle"):
        table = fit_depth_profiles(pd.DataFrame(rows), method=method)
        ok = table.set_index("particle_id")
        assert ok.loc[1, "status"] == "ok"
        assert abs(ok.loc[1, "interface_depth_um"] - 1.0) < 0.05
        assert ok.loc[2, "status"] != "ok" and np.isnan(ok.loc[2, "shell"])
        assert "no finite sample" in ok.loc[3, "status"]


@pytest.mark.parametrize("model", ["erf", "logistic"])
def test_batched_fits_match_per_particle_scipy_fits(model):
    """Independent implementation check: the batched numpy Levenberg-Marquardt and one
    scipy least_squares per particle reach the same minimum."""
    rng = np.random.default_rng(9)
    discs = random_discs((400, 400), 5, spacing=0.05, radius_um=(2.2, 3.2), rng=rng)
    maps, truth = core_shell_map(
        (400, 400), spacing=0.05, particles=discs, rng=rng, counts=300.0
    )  # noisier than the default
    ratios = _binned_ratios(maps, truth)
    batched = fit_depth_profiles(ratios, model=model, method="batched")
    single = fit_depth_profiles(ratios, model=model, method="per_particle")
    assert (batched["status"] == "ok").all() and (single["status"] == "ok").all()
    cols = [
        "shell",
        "core",
        "interface_depth_um",
        "sigma_um",
        "shell_stderr",
        "interface_stderr_um",
        "redchi",
    ]
    b = batched.set_index(["particle_id", "element"])[cols]
    s = single.set_index(["particle_id", "element"])[cols]
    np.testing.assert_allclose(
        b.to_numpy(float), s.loc[b.index].to_numpy(float), rtol=2e-4, atol=1e-6
    )


def test_analyze_particles_through_the_engine():
    """Segmentation, particle statistics and 2D depth profiles come from the engine; each
    particle's fraction-vs-depth profile gives back the core/shell truth."""
    from cathodescope.xrf import analyze_particles

    rng = np.random.default_rng(21)
    discs = random_discs((400, 400), 4, spacing=0.05, radius_um=(2.5, 3.2), gap_um=1.0, rng=rng)
    maps, _ = core_shell_map((400, 400), spacing=0.05, particles=discs, rng=rng, background=5.0)
    result = analyze_particles(maps, ["Ni", "Mn", "Co"])
    scene = result.scene
    assert scene.segmentation.n_particles == 4
    # particle areas against the discs (pixelised: within 3 %)
    areas = np.sort(scene.particles["area_um2"].to_numpy())
    np.testing.assert_allclose(areas, np.sort([np.pi * r**2 for _, _, r in discs]), rtol=0.03)
    table = result.core_shell
    assert (table["status"] == "ok").all() and table["particle_id"].nunique() == 4
    for _, row in table.iterrows():
        assert abs(row["interface_depth_um"] - 1.5) < 0.05  # one pixel
        assert abs(row["shell"] - NMC442[row["element"]]) < 0.01
        assert abs(row["core"] - NMC701515[row["element"]]) < 0.01
    assert result.parameters["spacing_um"] == (0.05, 0.05)
