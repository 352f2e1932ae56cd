"""Cycling figures in ``cathodescope.report`` (object API, markers on the curves)."""

from __future__ import annotations

import numpy as np

from cathodescope.echem import cycle_summary, dqdv, find_dqdv_peaks, track_peaks
from cathodescope.phantom import cycling_phantom
from cathodescope.report import plot_cycle_summary, plot_dqdv, plot_voltage_capacity


def test_echem_figures_draw_without_pyplot(tmp_path):
    df, _truth = cycling_phantom(n_cycles=4, vanish_cycle=None, points_per_halfcycle=800, seed=2)
    res = dqdv(df)
    tracks = track_peaks(find_dqdv_peaks(res), targets_V=[3.75])
    fig = plot_dqdv(res, tracks=tracks)
    # each tracked-peak marker lies on its own smoothed curve (within 1e-9 of the curve value)
    (marks,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "tracked peaks"]
    xs, ys = marks.get_data()
    assert len(xs) == 4
    for c, x, y in zip(range(1, 5), xs, ys, strict=True):
        curve = res.curve(c, "charge")
        ok = np.isfinite(curve)
        assert abs(y - np.interp(x, res.voltage_V[ok], curve[ok])) < 1e-9
    # the voltage-capacity figure: one charge and one discharge line per cycle, starting at 0
    fig_vq = plot_voltage_capacity(df)
    lines = fig_vq.axes[0].lines
    assert len(lines) == 8
    assert all(line.get_xdata()[0] == 0.0 for line in lines)
    fig_s = plot_cycle_summary(cycle_summary(df))
    for i, f in enumerate((fig, fig_vq, fig_s)):
        f.savefig(tmp_path / f"{i}.png")
        assert (tmp_path / f"{i}.png").stat().st_size > 0
