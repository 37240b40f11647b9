"""Shared fixtures: a temporary workspace per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder; ``MEDSYNTH_WORKSPACE`` points at it."""
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(ws))
    return ws


@pytest.fixture(autouse=True)
def _quiet_threads() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
