"""Start and stop training runs as background processes (used by the dashboard's Training page).

A run started here is an ordinary ``python -m training <stage> --run-name RUN ...`` process whose
output goes to ``runs/RUN/train.log``; stopping sends SIGTERM (only to that very process), which makes the loop write a
checkpoint and mark the run ``stopped`` (resumable).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from synth_core.errors import ConfigError, NotFoundError
from synth_core.locks import BusyError
from synth_core.workspace import Workspace, validate_name
from synth_core.runs.folder import RunDir, new_run_id, training_process

ROOT = Path(__file__).resolve().parents[1]


def start_run(ws: Workspace, stage: str, *, dataset: str, settings: dict[str, Any] | None = None,
              preset: str | None = None, run_id: str | None = None, resume: str | None = None) -> str:
    """Launch training in the background; returns the run id (its folder exists when this returns).
    Resuming a run that a live process is training raises :class:`BusyError` at once (the trainer
    would refuse it too, but only in its log)."""
    from training.stages import STAGES

    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; available: {', '.join(STAGES)}")
    cmd = [sys.executable, "-m", "training", "--workspace", str(ws.root), stage, "--no-progress"]
    if resume:
        run_id = resume
        if RunDir(ws.existing("runs", resume)).in_use():  # say so here, not only in the refused trainer's log
            raise BusyError(f"run {resume!r}: still being trained by another process; stop it or wait for it to "
                            "finish before resuming")
        cmd += ["--resume", resume]
    else:
        run_id = validate_name(run_id, "run name") if run_id else new_run_id(stage)
        if (ws.runs / run_id).exists():
            raise ConfigError(f"run {run_id!r} already exists")
        cmd += ["--dataset", dataset, "--run-name", run_id]
        if preset:
            cmd += ["--preset", preset]
        for k, v in (settings or {}).items():
            cmd += ["--set", f"{k}={v}"]
    run = RunDir(ws.runs / run_id)
    run.path.mkdir(parents=True, exist_ok=True)
    log = open(run.log_path, "ab")
    subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                     env=child_env(), start_new_session=True)
    log.close()
    return run_id


def child_env() -> dict[str, str]:
    """This environment with the project root first on ``PYTHONPATH``, for a ``python -m training...``
    child started from any folder."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def stop_run(ws: Workspace, run_id: str) -> bool:
    """Ask a running run to checkpoint and stop (SIGTERM). Returns False if it was not running.

    The pid in ``status.json`` is signalled only when it is still that training process (same
    start time as recorded, ``training`` in its command line: :func:`synth_core.runs.folder.training_process`);
    after a crash the pid may belong to an unrelated process by now, which is left alone."""
    run = RunDir(ws.existing("runs", run_id))
    status = run.read_status()
    if status.get("state") != "running":
        return False
    pid = training_process(status)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def read_log(ws: Workspace, run_id: str, max_bytes: int = 20_000) -> str:
    path = RunDir(ws.runs / validate_name(run_id, "run name")).log_path
    if not path.exists():
        raise NotFoundError(f"{path}: no log (the run was not started from the dashboard)")
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        return fh.read().decode("utf-8", "replace")
