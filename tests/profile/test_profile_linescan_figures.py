"""Radial line scans against analytic values; figures render with labelled axes."""

from __future__ import annotations

import numpy as np
import pytest

from cathodescope.errors import ParameterError, ShapeMismatchError
from cathodescope.profile import convex_hull_fill, depth_map, depth_profiles, radial_line_scans
from cathodescope.report import (
    plot_channel_profiles,
    plot_density,
    plot_depth_slice,
    plot_ratio_profile,
)


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [((49, 49), (0.049, 0.049)), ((33, 49, 49), (0.0735, 0.049, 0.049))],
)
def test_line_scans_follow_analytic_composition(make_ball, composition, shape, spacing):
    radius = 1.1
    labels, chans, _ = make_ball(shape, spacing, radius)
    df = radial_line_scans(labels, chans, spacing=spacing, n_angles=8, step_um=0.02)
    planes = {"XY"} if len(shape) == 2 else {"XY", "YZ", "XZ"}
    assert set(df.plane) == planes
    assert set(df.angle_deg) == {0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0}
    assert df.distance_um.max() <= radius + 0.05
    assert df.distance_um.max() >= radius - 0.1  # rays reach the surface in every plane
    inner = df[df.distance_um < radius - 0.15]  # away from the partial-voxel surface
    for el, f in composition.items():
        truth = f(radius - inner[inner.channel == el].distance_um.to_numpy())
        got = inner[inner.channel == el].value.to_numpy() / 100.0
        assert np.abs(got - truth).max() < 0.01
        ratio = inner[inner.channel == f"{el}/sum"].value.to_numpy()
        assert (
            np.abs(ratio - f(radius - inner[inner.channel == f"{el}/sum"].distance_um)).max() < 0.01
        )


def test_line_scans_bad_input(make_ball):
    labels, chans, _ = make_ball((30, 30), (0.05, 0.05), 0.5)
    with pytest.raises(ParameterError, match="n_angles"):
        radial_line_scans(labels, chans, spacing=0.05, n_angles=0)
    with pytest.raises(ParameterError, match="not in labels"):
        radial_line_scans(labels, chans, spacing=0.05, particle_ids=[3])
    with pytest.raises(ParameterError, match="step_um"):
        radial_line_scans(labels, chans, spacing=0.05, step_um=-1)


def test_figures_render(make_ball, tmp_path):
    labels, chans, _ = make_ball((40, 40, 40), (0.049,) * 3, 0.9)
    chans = dict(chans)
    chans["Mn"] = chans["Mn"] - 40.0  # negative values: flagged ratios get drawn
    res = depth_profiles(
        labels,
        chans,
        spacing=0.049,
        edge_window_um=(0.1, 0.15),
        core_window_um=(0.6, 0.65),
        sampling_window_um=(0.1, 0.65),
    )
    mask = labels > 0
    figs = {
        "profiles": plot_channel_profiles(res, 1),
        "ratios": plot_ratio_profile(res, 1),
        "density": plot_density(res, 1, "Ni"),
        "slice": plot_depth_slice(
            mask,
            depth_map(mask, spacing=0.049),
            spacing=0.049,
            hull=convex_hull_fill(mask),
            image=chans["Ni"],
        ),
    }
    for name, fig in figs.items():
        ax = fig.axes[0]
        assert "µm" in ax.get_xlabel() and ax.get_ylabel()
        out = tmp_path / f"{name}.png"
        fig.savefig(out, dpi=60)
        assert out.stat().st_size > 1000
    ratio_ax = figs["ratios"].axes[0]
    assert any("flagged" in t.get_text() for t in ratio_ax.get_legend().get_texts())
    with pytest.raises(ParameterError, match="not in the result"):
        plot_ratio_profile(res, 7)
    with pytest.raises(ShapeMismatchError, match="same shape"):
        plot_depth_slice(mask, np.zeros((3, 3)), spacing=0.049)
