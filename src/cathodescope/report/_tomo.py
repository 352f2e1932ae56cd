"""Figures of the tomography chain: middle slices of volumes, inter-energy registration.

Drawn with matplotlib's object API (:class:`matplotlib.figure.Figure`): no pyplot state, no
backend switch. Only the middle slice of each volume is read, so lazy (on-disk) volumes stay
on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_registration", "plot_volume_slices"]


def plot_volume_slices(volumes: Mapping[str, Any], title: str) -> Figure:
    """Middle ``z`` slice of each volume side by side, with its units and a colour bar.

    Parameters
    ----------
    volumes : mapping name -> DataArray or array, shape (z, y, x) or (y, x)
        Volumes (lazy ones are read one slice only) or images; ``attrs["units"]`` labels them.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per volume, pixel axes.
    """
    from matplotlib.figure import Figure

    names = list(volumes)
    fig = Figure(figsize=(3.2 * len(names), 3.2))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        vol = volumes[name]
        img = np.asarray(vol[vol.shape[0] // 2] if vol.ndim == 3 else vol)
        im = ax.imshow(img, cmap="viridis")
        units = getattr(vol, "attrs", {}).get("units", "")
        ax.set_title(f"{name} [{units}]", fontsize=9)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_registration(registrations: Mapping[float, Any]) -> Figure:
    """Shifts applied to each energy's projections and the correlation after registration.

    Parameters
    ----------
    registrations : mapping energy (eV) -> ProjectionRegistration
        ``ElementalVolumes.registrations``.

    Returns
    -------
    matplotlib.figure.Figure
        Left: shift (px) vs angle (degrees), x and y per energy; right: correlation after.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.2))
    axes = fig.subplots(1, 2)
    for e, reg in registrations.items():
        axes[0].plot(reg.angles, reg.shifts[:, 1], ".", ms=2, label=f"{e:.0f} eV x")
        axes[0].plot(reg.angles, reg.shifts[:, 0], "x", ms=2, label=f"{e:.0f} eV y")
        axes[1].plot(reg.angles, reg.correlation_after, ".", ms=2, label=f"{e:.0f} eV")
    axes[0].set(xlabel="angle (deg)", ylabel="shift applied (px)", title="inter-energy shifts")
    axes[1].set(xlabel="angle (deg)", ylabel="correlation after", title="registration quality")
    axes[0].legend(fontsize=6, ncol=2)
    return fig
