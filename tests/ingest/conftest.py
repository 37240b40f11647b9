"""Fixtures of the ingest tests: run the CLI and inspect what it left in the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest


class CliResult:
    def __init__(self, rc: int, out: str, err: str):
        self.rc, self.out, self.err = rc, out, err

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip("\n").splitlines()


@pytest.fixture
def cli(workspace: Path, capsys: pytest.CaptureFixture[str]):
    """``cli("ingest", ...)`` -> CliResult (rc, stdout, stderr) of ``synth_core.cli.main``."""
    from synth_core.cli import main

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        cap = capsys.readouterr()
        return CliResult(rc, cap.out, cap.err)

    return run


def leftovers(workspace: Path) -> list[str]:
    """Everything under ``workspace/datasets`` (datasets and hidden temporary folders)."""
    d = workspace / "datasets"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []
