"""Fixtures of the export tests: a tiny dataset with a fake synthetic set (the CLI runner `cli` is
shared, in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_core.workspace import Workspace
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    """Workspace with dataset ``tiny`` (5 cases x 4 slices, 32 px, t1+t2; 12 train, 4 val, 4 test
    slices) and set ``fake`` (12 samples made from it)."""
    make_tiny_dataset(workspace)
    make_fake_set(workspace)
    return Workspace.open(workspace)


def exports_left(workspace: Path) -> list[str]:
    """Everything under ``workspace/exports``, hidden temporary folders included."""
    d = workspace / "exports"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []
