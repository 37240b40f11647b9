"""Fixtures of the review tests: a tiny dataset with a fake 12-sample set (no network is trained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_core.workspace import Workspace
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    """Workspace with dataset ``tiny`` and set ``fake`` (12 samples, ids syn-000000 .. syn-000011)."""
    make_tiny_dataset(workspace)
    make_fake_set(workspace)
    return Workspace.open(workspace)


@pytest.fixture
def set_path(ws: Workspace) -> Path:
    return ws.synthetic / "fake"
