"""Fixtures of the spm tests: synthetic SPM files written in Gwyddion's format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

from cathodescope.spm import dho_response


def write_gwy(
    path: Path,
    channels: Mapping[str, tuple[np.ndarray, str]],
    *,
    spacing: float = 0.02,
    meta: Mapping[str, str] | None = None,
) -> Path:
    """Write ``{label: (array, unit)}`` as a .gwy file (Asylum-style titles, meta strings)."""
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    c = GwyContainer()
    for i, (label, (arr, unit)) in enumerate(channels.items()):
        ny, nx = arr.shape
        c[f"/{i}/data"] = GwyDataField(
            np.ascontiguousarray(arr, dtype=float),
            xreal=nx * spacing * 1e-6,
            yreal=ny * spacing * 1e-6,
            si_unit_xy=GwySIUnit(unitstr="m"),
            si_unit_z=GwySIUnit(unitstr=unit),
        )
        c[f"/{i}/data/title"] = label
        if meta:
            m = GwyContainer()
            for k, v in meta.items():
                m[k] = f"{v} "  # gwyfile stores 1-character strings as chars; pad them
            c[f"/{i}/meta"] = m
    c.tofile(str(path))
    return path


def disc_labels(shape=(96, 96), specs=((30, 30, 14), (62, 66, 18))) -> np.ndarray:
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (cy, cx, r) in enumerate(specs, start=1):
        labels[np.hypot(y - cy, x - cx) < r] = i
    return labels


@pytest.fixture
def dart_file(tmp_path) -> Callable[..., Path]:
    """Factory: a synthetic DART + C-AFM scan with known ESM amplitude, f0 and current."""

    def make(
        name: str,
        *,
        esm_m_per_v: float,
        f0: float,
        current_a: float,
        seed: int = 0,
        drive_v: float = 2.0,
        width: float = 6e3,
        q: float = 60.0,
        matrix_esm: float | None = None,
        rim_factor: float = 1.0,
        rim_px: float = 0.0,
    ) -> Path:
        rng = np.random.default_rng(seed)
        labels = disc_labels()
        inside = labels > 0
        ad = (
            np.where(
                inside, esm_m_per_v, matrix_esm if matrix_esm is not None else 0.2 * esm_m_per_v
            )
            * drive_v
        )
        if rim_px > 0:  # boundary regions respond more strongly than the bulk
            from scipy import ndimage

            depth_px = ndimage.distance_transform_edt(inside)
            ad = np.where(inside & (depth_px <= rim_px), ad * rim_factor, ad)
        ad = ad * (1 + rng.normal(0, 0.01, labels.shape))
        f0_map = f0 * (1 + rng.normal(0, 1e-4, labels.shape))
        centre = f0_map * (1 + rng.normal(0, 5e-4, labels.shape))
        a1, p1 = dho_response(
            centre - width / 2, f0=f0_map, q=q, drive_amplitude=ad, drive_phase_deg=-40
        )
        a2, p2 = dho_response(
            centre + width / 2, f0=f0_map, q=q, drive_amplitude=ad, drive_phase_deg=-40
        )
        height = np.where(inside, 80e-9, 0.0) + rng.normal(0, 0.5e-9, labels.shape)
        current = 1e-12 + rng.normal(0, 0.3e-12, labels.shape) + np.where(inside, current_a, 0)
        chans = {
            "HeightRetrace": (height, "m"),
            "Amplitude1Retrace": (a1, "m"),
            "Amplitude2Retrace": (a2, "m"),
            "Phase1Retrace": (p1, "deg"),
            "Phase2Retrace": (p2, "deg"),
            "FrequencyRetrace": (centre, "Hz"),
            "CurrentRetrace": (current, "A"),
        }
        meta = {
            "DriveAmplitude": str(drive_v),
            "DFRTFrequencyWidth": str(width),
            "ScanSize": str(95 * 0.02e-6),
            "DualACMode": "1",
            "MicroscopeModel": "Cypher",
        }
        return write_gwy(tmp_path / name, chans, meta=meta)

    return make


@pytest.fixture
def gwy_writer() -> Callable[..., Path]:
    """The :func:`write_gwy` helper."""
    return write_gwy


@pytest.fixture
def discs() -> Callable[..., np.ndarray]:
    """The :func:`disc_labels` helper (labels of the synthetic scans)."""
    return disc_labels
