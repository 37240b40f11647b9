"""Fixtures shared by the page tests: a workspace holding the tiny dataset and a synthetic set made
from it, the setup the Review and Export page tests start from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def fake_set(workspace: Path) -> Callable[..., Path]:
    """``fake_set(n=12)``: make the tiny dataset (6 cases) in ``workspace`` and a synthetic set 'fake'
    of ``n`` samples from it; returns the set's folder."""

    def make(n: int = 12) -> Path:
        make_tiny_dataset(workspace, cases=6)
        return make_fake_set(workspace, n=n)

    return make
