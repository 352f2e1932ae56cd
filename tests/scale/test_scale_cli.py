"""``cathodescope profile`` out of core: options, run folder, refusals (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def channel_files(tmp_path_factory):
    from cathodescope.phantom import paper_scene

    data, _ = paper_scene((64, 64, 64), n_particles=2, spacing=0.1, radius_um=(1.2, 1.4), seed=4)
    folder = tmp_path_factory.mktemp("npy")
    files = []
    for name, values in data.items():
        np.save(folder / f"{name}.npy", values.values.astype(np.float32))
        files.append(str(folder / f"{name}.npy"))
    return files


def test_profile_out_of_core_writes_tables(channel_files, tmp_path, capsys):
    from cathodescope.cli import main

    out = tmp_path / "run"
    rc = main(
        [
            "profile",
            *channel_files,
            "--channels",
            "Ni,Mn,Co",
            "--spacing",
            "0.1",
            "--min-size-um",
            "0.5",
            "--memory-limit",
            "2GiB",
            "--workers",
            "1",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert "tables in" in capsys.readouterr().out
    particles = pd.read_csv(out / "particles.csv")
    assert len(particles) >= 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["parameters"]["memory_limit"] == "2GiB"
    assert not (tmp_path / "run.resume").exists()  # the cache goes once the run is complete


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--memory-limit", "10MB"], "too small"),
        (["--memory-limit", "lots"], "not a size"),
        (["--workers", "0"], "--workers"),
        (["--memory-limit", "2GiB", "--dilate-um", "0.1"], "--dilate-um"),
    ],
)
def test_profile_out_of_core_refusals(channel_files, tmp_path, capsys, extra, message):
    from cathodescope.cli import main

    rc = main(
        [
            "profile",
            *channel_files,
            "--channels",
            "Ni,Mn,Co",
            "--spacing",
            "0.1",
            *extra,
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 2
    assert message in capsys.readouterr().err


def test_device_cuda_without_gpu_is_an_error(channel_files, tmp_path, capsys):
    from cathodescope.cli import main
    from cathodescope.scale import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    rc = main(
        [
            "profile",
            *channel_files,
            "--channels",
            "Ni,Mn,Co",
            "--spacing",
            "0.1",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 2
    assert "--device" in capsys.readouterr().err
