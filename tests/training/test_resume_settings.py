"""What ``--resume`` may change (more steps, device, how often it writes) and what it refuses; and
``val_every``: validation (and the 'best' checkpoint) on its own schedule."""

from __future__ import annotations

import pytest

from synth_core.errors import ConfigError
from synth_core.runs.folder import RunDir
from synth_core.runs.stage_configs import SegmenterConfig
from synth_core.workspace import Workspace
from training.cli import RESUME_SETTINGS, main, resume_config

TINY = ["--no-progress", "--set", "threads=1", "--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2",
        "--set", "sample_every=0", "--set", "val_slices=2"]


def _run(ws_root, name: str) -> RunDir:
    return RunDir.open(Workspace.open(ws_root), name)


def test_resume_refuses_settings_that_change_what_the_run_learns():
    saved = {"dataset": "tiny", "steps": 2, "lr": 0.001}
    with pytest.raises(ConfigError, match=r"--preset, --set lr cannot change \(only steps, device"):
        resume_config(SegmenterConfig, saved, {"lr": "0.1", "steps": "4"}, given=["--preset"])
    cfg = resume_config(SegmenterConfig, saved, {"steps": "4", "device": "cpu", "checkpoint_every": "1"}, given=[])
    assert (cfg.steps, cfg.device, cfg.checkpoint_every, cfg.lr) == (4, "cpu", 1, 0.001)
    assert set(RESUME_SETTINGS) == {"steps", "device", "threads", "sample_every", "checkpoint_every", "val_every"}


def test_resume_trains_on_to_more_steps_and_refuses_fewer(tiny_ws, capsys):
    assert main(["segmenter", "--dataset", "tiny", "--steps", "2", "--run-name", "seg", *TINY]) == 0
    assert main(["segmenter", "--resume", "seg", "--set", "lr=0.5"]) == 2
    assert "--set lr cannot change" in capsys.readouterr().err
    assert main(["segmenter", "--resume", "seg", "--steps", "4", "--no-progress"]) == 0
    run = _run(tiny_ws, "seg")
    assert [r["step"] for r in run.read_metrics()] == [1, 2, 3, 4]
    assert run.read_status()["state"] == "finished" and run.read_config()["config"]["steps"] == 4
    assert main(["segmenter", "--resume", "seg", "--steps", "3", "--no-progress"]) == 2
    assert "is at step 4, past the 3 steps asked for" in capsys.readouterr().err


def test_val_every_validates_between_checkpoints(tiny_ws):
    assert main(["segmenter", "--dataset", "tiny", "--steps", "4", "--run-name", "val", *TINY,
                 "--set", "checkpoint_every=4", "--set", "val_every=1"]) == 0
    run = _run(tiny_ws, "val")
    assert [v["step"] for v in run.read_validation()] == [1, 2, 3, 4]
    status = run.read_status()
    assert status["last_checkpoint_step"] == 4 and 1 <= status["best_step"] <= 4
    assert run.checkpoint_path("best").exists()
