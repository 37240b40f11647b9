"""AppTest of the Training page: a finished run's curves, samples and checkpoints; start a run from the form."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset
from training.cli import main as train
from synth_core.runs.folder import RunDir

PAGE = str(ROOT / "pages" / "training_runs.py")
TINY = ["--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2", "--set", "sample_every=2",
        "--set", "checkpoint_every=2", "--no-progress"]


def test_training_page_empty_state(workspace):
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert any("python -m training demo" in i.value for i in at.info)


def test_training_page_shows_a_finished_run(workspace):
    make_tiny_dataset(workspace)
    assert train(["segmenter", "--dataset", "tiny", "--steps", "4", "--run-name", "seg", *TINY]) == 0
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert at.selectbox(key="run_select").value == "seg"
    assert at.metric[0].value == "finished" and at.metric[1].value == "4 / 4"
    assert len(at.get("plotly_chart")) == 1
    assert at.select_slider(key="sample_slider").value == 1  # two grids: steps 2 and 4
    at.select_slider(key="sample_slider").set_value(0).run()
    assert not at.exception
    assert "step-0000002.png" in at.get("image")[0].proto.imgs[0].caption
    assert len(at.dataframe) == 2  # runs table + checkpoints table


def test_training_page_starts_a_background_run(workspace):
    make_tiny_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    at.selectbox(key="new_stage").set_value("segmenter").run()
    at.selectbox(key="new_dataset").set_value("tiny")
    for key, value in {"steps": 2, "batch_size": 2, "base_channels": 4, "depth": 2}.items():
        at.number_input(key=f"cfg_segmenter_{key}").set_value(value)
    at.text_input(key="new_run_name").set_value("fromui")
    at.button[0].click().run()
    assert not at.exception
    assert any("Started run fromui" in s.value for s in at.success)
    run = RunDir(Workspace.open(workspace).runs / "fromui")
    deadline = time.time() + 120
    while time.time() < deadline and run.read_status().get("state") != "finished":
        time.sleep(0.5)
    assert run.read_status().get("state") == "finished", (run.path / "train.log").read_text()[-2000:]
    assert run.read_config()["config"]["base_channels"] == 4


TRAINER = """
    import signal, sys, pathlib
    from synth_core.atomic import pause_point
    from synth_core.workspace import Workspace
    from synth_core.runs.folder import RunDir
    run = RunDir.create(Workspace.open({ws!r}), "segmenter", "live")
    run.write_config({{"stage": "segmenter", "dataset": "tiny", "total_steps": 10, "loss_names": ["loss"]}})
    def stop(signum, frame):
        pathlib.Path({got!r}).write_text("SIGTERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    run.write_status("running", step=3, stage="segmenter")
    pause_point("test:training")
"""


def _stop(at: AppTest) -> AppTest:
    at.button(key="stop_button").click().run()
    assert not at.exception, at.exception
    return at


def test_stop_signals_the_trainer_and_never_an_unrelated_process_with_its_pid(workspace, tmp_path):
    """Stop sends SIGTERM to the pid in status.json only while it is still that training process."""
    import json
    import subprocess

    from synth_core.procs import ProcessId
    from tests.safety.procs import spawn

    ws = Workspace.open(workspace)
    got = tmp_path / "got"
    p = spawn(TRAINER.format(ws=str(ws.root), got=str(got)), tmp_path, pause_at="test:training")
    other = subprocess.Popen(["sleep", "120"])
    try:
        p.wait_paused()
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        assert not at.exception, at.exception
        assert at.selectbox(key="run_select").value == "live" and at.metric[0].value == "running"
        # after a crash the recorded pid may belong to another process: alive, same or other start time
        status_file = ws.runs / "live" / "status.json"
        real = json.loads(status_file.read_text())
        start = ProcessId(other.pid, 0).start_now()
        for fake in ({"pid": other.pid, "pid_start": start}, {"pid": other.pid, "pid_start": start + 1}):
            status_file.write_text(json.dumps({**real, **fake}))
            _stop(at)
            assert any("not running any more" in w.value for w in at.warning), [w.value for w in at.warning]
            assert other.poll() is None and p.proc.poll() is None, f"{fake}: a process was signalled"
        status_file.write_text(json.dumps(real))  # the trainer itself: stopped
        _stop(at)
        assert any(s.value == "Stop requested." for s in at.success)
        p.proc.wait(timeout=60)
        assert got.read_text() == "SIGTERM" and other.poll() is None
    finally:
        for proc in (other, p.proc):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
