"""Shared fixtures: a temporary workspace per test."""

from __future__ import annotations

import os
from pathlib import Path

# One thread per process: tests are tiny, CI has 2 cores, and several tests start subprocesses
# (torchrun, background runs) that would otherwise oversubscribe them (a 3 s test took 4 minutes).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
# The same tests on every machine: `device = auto` would train on a GPU where one is present (other
# float paths, other speed); tests run on the CPU unless MEDSYNTH_TESTS_GPU=1 asks for the GPU.
if os.environ.get("MEDSYNTH_TESTS_GPU") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_developer_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own workspace (a leftover ./workspace from `make demo`, or
    $MEDSYNTH_WORKSPACE set in their shell): a test that names none gets an empty folder of its own."""
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(tmp_path / "unnamed-workspace"))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder; ``MEDSYNTH_WORKSPACE`` points at it."""
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(ws))
    return ws


class CliResult:
    """What one ``python -m synth_core`` call returned and printed."""

    def __init__(self, rc: int, out: str, err: str):
        self.rc, self.out, self.err = rc, out, err

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip("\n").splitlines()


@pytest.fixture
def cli(workspace: Path, capsys: pytest.CaptureFixture[str]):
    """``cli("ingest", ...)`` -> CliResult (rc, stdout, stderr) of ``synth_core.cli.main``."""
    from synth_core.cli import main

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        cap = capsys.readouterr()
        return CliResult(rc, cap.out, cap.err)

    return run
