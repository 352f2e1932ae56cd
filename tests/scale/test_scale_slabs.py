"""The slab-wise scene writer: equal to the in-memory renderer, seamless across slabs.

Noise-free, :func:`write_scene_zarr` gives the labels and intensities of
:func:`render_particles` voxel for voxel; with the phase halo the difference is bounded by the
halo's value at its truncation distance; the correlated noise does not depend on the slab
thickness (the field is drawn plane by plane) and has the asked standard deviation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cathodescope.errors import ParameterError
from cathodescope.phantom import make_scene, render_particles, write_scene_zarr

SP = 0.1
SHAPE = (48, 40, 44)


@pytest.fixture(scope="module")
def scene():
    box = [(n - 1) * SP for n in SHAPE]
    return make_scene(
        3, box, radius_um=(0.6, 0.7), aspect=(1.2, 1.4), void_radius_um=(0.1, 0.2), seed=1
    )


def _read(out, name):
    import zarr

    return zarr.open_array(str(out.paths[name]), mode="r")[:]


def test_noise_free_equals_render_particles(scene, tmp_path):
    data, truth = render_particles(scene, SHAPE, spacing=SP, keep_depth=False)
    out = write_scene_zarr(scene, SHAPE, tmp_path, spacing=SP, chunks=(16, 16, 16), labels=True)
    assert out.n_drawn == 3 and out.nbytes == 3 * 4 * math.prod(SHAPE)
    assert (truth.labels > 0).any()
    np.testing.assert_array_equal(_read(out, "labels"), truth.labels)
    for name, arr in data.items():
        np.testing.assert_array_equal(_read(out, name), arr.values)


def test_phase_halo_within_truncation_bound(scene, tmp_path):
    amp, width = 0.05, 0.2
    data, _ = render_particles(
        scene,
        SHAPE,
        spacing=SP,
        keep_depth=False,
        phase_artefact=amp,
        phase_artefact_width_um=width,
    )
    out = write_scene_zarr(
        scene,
        SHAPE,
        tmp_path,
        spacing=SP,
        chunks=(16, 16, 16),
        phase_artefact=amp,
        phase_artefact_width_um=width,
    )
    for name, arr in data.items():
        got = _read(out, name)
        assert got.min() < -0.5 * amp  # the halo is there
        np.testing.assert_allclose(got, arr.values, rtol=0, atol=amp * math.exp(-4) + 1e-7)


def test_noise_is_seamless_and_has_the_asked_std(scene, tmp_path):
    kw = {"spacing": SP, "chunks": (16, 16, 16), "noise_std": 0.03, "noise_psf_um": 0.15}
    thin = _read(write_scene_zarr(scene, SHAPE, tmp_path / "a", slab=16, **kw), "Ni")
    thick = _read(write_scene_zarr(scene, SHAPE, tmp_path / "b", slab=48, **kw), "Ni")
    np.testing.assert_array_equal(thin, thick)
    clean = _read(write_scene_zarr(scene, SHAPE, tmp_path / "c", spacing=SP), "Ni")
    noise = thin - clean
    assert noise.std() == pytest.approx(0.03, rel=0.15)
    # correlated: neighbouring planes along z are alike (across the slab border at z=16 too)
    r = np.corrcoef(noise[15].ravel(), noise[16].ravel())[0, 1]
    assert r > 0.5


def test_slab_must_align_with_chunks(scene, tmp_path):
    with pytest.raises(ParameterError, match="multiple of the z chunk"):
        write_scene_zarr(scene, SHAPE, tmp_path, spacing=SP, chunks=(16, 16, 16), slab=24)
    with pytest.raises(ParameterError, match="3 positive sizes"):
        write_scene_zarr(scene, (40, 40), tmp_path, spacing=SP)
