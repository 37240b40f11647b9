"""A workspace with a tiny dataset (6 cases: 4 test-split slices) and a fake synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def study_ws(workspace: Path) -> Path:
    make_tiny_dataset(workspace, cases=6)
    make_fake_set(workspace, n=8)
    return workspace
