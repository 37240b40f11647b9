"""A run being trained is held by its trainer (the run's lock): a second ``--resume`` of it, from the
CLI or from the dashboard's Resume button, is refused at once in one line naming the run, and
writes nothing into it. The holder is a real second process."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_core.locks import BusyError
from synth_core.workspace import Workspace
from tests.safety.procs import spawn
from tests.synthesis.conftest import COMMON, STRUCTURE
from tests.training.conftest import make_tiny_dataset
from training.cli import main as training_main
from training.launch import start_run

HOLD = """
    from synth_core.atomic import pause_point
    from synth_core.runs.folder import RunDir
    run = RunDir({path!r}).hold()  # what a trainer does first on --resume, and keeps until it ends
    pause_point("test:holding")
"""


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture
def trained(tmp_path) -> Path:
    root = tmp_path / "ws"
    make_tiny_dataset(root)
    assert training_main(["--workspace", str(root), "structure", "--dataset", "tiny", "--steps", "2",
                          "--run-name", "r1", *COMMON, *STRUCTURE]) == 0
    return root


def test_a_second_resume_of_a_run_in_training_is_refused_in_one_line_and_writes_nothing(trained, tmp_path, capsys):
    run = trained / "runs" / "r1"
    holder = spawn(HOLD.format(path=str(run)), tmp_path, pause_at="test:holding")
    holder.wait_paused()
    before = _files(run)
    capsys.readouterr()
    rc = training_main(["--workspace", str(trained), "structure", "--resume", "r1", "--steps", "4", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("error: run 'r1': in use by another process")
    with pytest.raises(BusyError, match="^run 'r1': still being trained by another process"):
        start_run(Workspace.open(trained), "structure", dataset="", resume="r1")  # the dashboard's Resume
    assert _files(run) == before  # no log, status, metrics or checkpoint touched
    holder.kill9()
    assert training_main(["--workspace", str(trained), "structure", "--resume", "r1", "--steps", "3",
                          "--no-progress"]) == 0  # the kernel released the killed holder's lock
