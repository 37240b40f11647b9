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
