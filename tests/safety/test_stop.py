"""The Training page's Stop signals the pid in status.json only if it is still that training
process: a reused pid (an unrelated process by now) is never sent SIGTERM."""

from __future__ import annotations

import json
import subprocess
import time

from synth_core.procs import ProcessId
from synth_core.workspace import Workspace
from tests.safety.procs import spawn
from training.launch import stop_run

TRAINER = """
    import signal, sys, pathlib
    from synth_core.atomic import pause_point
    from synth_core.workspace import Workspace
    from synth_core.runs.folder import RunDir
    run = RunDir.create(Workspace.open({ws!r}), "structure", "r1")
    def stop(signum, frame):
        pathlib.Path({got!r}).write_text("SIGTERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    run.write_status("running", step=3)
    pause_point("test:training")
"""


def _status(ws: Workspace, **fields) -> None:
    (ws.runs / "r1").mkdir(parents=True, exist_ok=True)
    (ws.runs / "r1" / "status.json").write_text(json.dumps({"state": "running", **fields}))


def test_stop_signals_the_training_process_itself(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    got = tmp_path / "got"
    p = spawn(TRAINER.format(ws=str(ws.root), got=str(got)), tmp_path, pause_at="test:training")
    p.wait_paused()
    status = json.loads((ws.runs / "r1" / "status.json").read_text())
    assert status["pid"] == p.proc.pid and status["pid_start"] == ProcessId(p.proc.pid, 0).start_now()
    assert stop_run(ws, "r1") is True
    p.proc.wait(timeout=60)
    assert got.read_text() == "SIGTERM"


def test_stop_leaves_an_unrelated_process_with_the_recorded_pid_alone(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    other = subprocess.Popen(["sleep", "120"])
    try:
        me = ProcessId(other.pid, 0).start_now()
        for fields in ({"pid": other.pid},  # status written before start times were recorded
                       {"pid": other.pid, "pid_start": me + 1},  # the pid was reused since
                       {"pid": other.pid, "pid_start": me}):  # the very process, but not a trainer
            _status(ws, **fields)
            assert stop_run(ws, "r1") is False
            time.sleep(0.2)
            assert other.poll() is None, f"{fields}: an unrelated process was signalled"
    finally:
        other.kill()
        other.wait()
