"""Resume after kill -9 of a real training process, and two-process torchrun (gloo on CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth_core.workspace import Workspace
from tests.conftest import ROOT
from synth_core.runs.checkpoint import load_checkpoint
from synth_core.runs.folder import RunDir

TINY = ["--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2", "--set", "threads=1",
        "--set", "sample_every=0", "--no-progress"]


def _env(ws: Path) -> dict[str, str]:
    return dict(os.environ, MEDSYNTH_WORKSPACE=str(ws), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _train(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", "segmenter", "--dataset", "tiny", *args, *TINY],
                          cwd=ROOT, env=_env(ws), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_resume_after_kill_9_continues_exactly(tiny_ws):
    steps = 24
    # reference: the same run, uninterrupted
    ref = _train(tiny_ws, "--steps", str(steps), "--run-name", "ref", "--set", "checkpoint_every=5")
    assert ref.returncode == 0, ref.stderr
    # a real process, killed with SIGKILL at an arbitrary moment after its second checkpoint
    proc = subprocess.Popen([sys.executable, "-m", "training", "segmenter", "--dataset", "tiny", "--steps", str(steps),
                             "--run-name", "victim", "--set", "checkpoint_every=5", *TINY],
                            cwd=ROOT, env=_env(tiny_ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_path = tiny_ws / "runs" / "victim"
    deadline = time.time() + 240
    while time.time() < deadline:
        rows = RunDir(run_path).read_metrics() if run_path.exists() else []
        if rows and rows[-1]["step"] >= 13:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = RunDir(run_path)
    killed_at = run.read_metrics()[-1]["step"]
    ck_step = load_checkpoint(run.checkpoint_path("last"))["step"]
    assert ck_step % 5 == 0 and 10 <= ck_step <= killed_at < steps
    assert run.read_status()["state"] == "running"  # it never got to say otherwise

    # --resume keeps the run's saved settings (dataset, sizes); only threads etc. may be given
    res = subprocess.run([sys.executable, "-m", "training", "segmenter", "--resume", "victim", "--set", "threads=1",
                          "--no-progress"], cwd=ROOT, env=_env(tiny_ws), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == list(range(1, steps + 1))  # nothing missing, nothing twice
    assert run.read_status()["state"] == "finished"
    assert load_checkpoint(run.checkpoint_path("last"))["step"] == steps
    # deterministic per-step seeding: the resumed run retraces the uninterrupted one
    ref_rows = RunDir(tiny_ws / "runs" / "ref").read_metrics()
    for a, b in zip(rows, ref_rows):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6), a["step"]


def test_resume_refuses_unknown_run_and_missing_checkpoint(tiny_ws, capsys):
    from training.cli import main

    assert main(["segmenter", "--resume", "nope"]) == 2
    assert "runs 'nope' not found" in capsys.readouterr().err
    run = RunDir.create(Workspace.open(tiny_ws), "segmenter", "empty")
    run.write_config({"stage": "segmenter", "config": {"dataset": "tiny"}})
    assert main(["segmenter", "--resume", "empty"]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_ws):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    res = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "training", "segmenter", "--dataset", "tiny",
         "--steps", "6", "--run-name", "ddp", "--set", "checkpoint_every=3", *TINY],
        cwd=ROOT, env=_env(tiny_ws), capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    ws = Workspace.open(tiny_ws)
    assert ws.list("runs") == ["ddp"]  # rank 1 wrote nothing of its own
    run = RunDir.open(ws, "ddp")
    cfg = run.read_config()
    assert cfg["world_size"] == 2
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]  # one row per step, from rank 0 only
    assert all(r["images_per_sec"] > 0 for r in rows)
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 6 and not any(k.startswith("module.") for k in ck["models"]["seg_t1"])
    assert run.read_status()["state"] == "finished"
    assert json.loads((run.path / "validation.jsonl").read_text().splitlines()[-1])["step"] == 6
