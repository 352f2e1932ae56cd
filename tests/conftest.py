"""Shared test fixtures.

Real measurement files live in ``../shared/data`` beside the project root (never copied into the
repository). Set ``CATHODESCOPE_SHARED_DATA`` to point elsewhere. Tests that need them use the
``shared_data`` fixture and are skipped with a reason when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Folder of the shared real measurement files."""
    env = os.environ.get("CATHODESCOPE_SHARED_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; skips the test when the folder is absent."""
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"shared measurement data not found at {folder} (set CATHODESCOPE_SHARED_DATA)")
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator: tests are reproducible."""
    return np.random.default_rng(20261122)


@pytest.fixture(autouse=True)
def _headless_matplotlib(monkeypatch):
    """Never open a window in tests."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
