"""Helpers of the ingest tests: what a CLI run left in the workspace (the runner `cli` is shared,
in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path


def leftovers(workspace: Path) -> list[str]:
    """Everything under ``workspace/datasets`` (datasets and hidden temporary folders)."""
    d = workspace / "datasets"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []
