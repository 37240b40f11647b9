"""The segmenter stage trains, logs every step, writes samples and checkpoints, and learns."""

from __future__ import annotations

import json

from synth_core.runs.checkpoint import load_checkpoint
from training.cli import main
from synth_core.runs.folder import RunDir
from synth_core.workspace import Workspace


def test_segmenter_runs_and_writes_a_complete_run_folder(tiny_ws, capsys):
    rc = main(["segmenter", "--dataset", "tiny", "--steps", "6", "--run-name", "seg1", "--no-progress", "--set", "threads=1",
               "--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2",
               "--set", "sample_every=3", "--set", "checkpoint_every=3"])
    assert rc == 0
    run = RunDir.open(Workspace.open(tiny_ws), "seg1")
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"dice_t1", "ce_t1", "dice_t2", "ce_t2", "loss", "lr_seg_t1", "sec_per_step", "images_per_sec"} <= set(rows[0])
    assert [p.name for p in run.sample_files()] == ["step-0000003.png", "step-0000006.png"]
    status = run.read_status()
    assert status["state"] == "finished" and status["step"] == 6
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 6 and set(ck["models"]) == {"seg_t1", "seg_t2"}
    assert ck["fingerprint"] == json.loads((tiny_ws / "datasets/tiny/dataset.json").read_text())["fingerprint"]
    assert run.checkpoint_path("best").exists()
    val = [json.loads(x) for x in (run.path / "validation.jsonl").read_text().splitlines()]
    assert [v["step"] for v in val] == [3, 6] and 0 <= val[-1]["score"] <= 1


def test_segmenter_learns_the_tiny_lesions(tiny_ws):
    rc = main(["segmenter", "--dataset", "tiny", "--steps", "60", "--run-name", "seg2", "--no-progress",
               "--set", "batch_size=4", "--set", "base_channels=6", "--set", "depth=2", "--set", "lr=0.01",
               "--set", "threads=1", "--set", "sample_every=0", "--set", "checkpoint_every=30"])
    assert rc == 0
    run = RunDir.open(Workspace.open(tiny_ws), "seg2")
    rows = run.read_metrics()
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]
    val = [json.loads(x) for x in (run.path / "validation.jsonl").read_text().splitlines()]
    assert val[-1]["score"] > 0.5


def test_segmenter_refuses_a_dataset_without_lesions(workspace, capsys):
    from tests.ui.test_home_page import _tiny_dataset

    _tiny_dataset(workspace, "nolesion")
    rc = main(["segmenter", "--dataset", "nolesion", "--steps", "2", "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: dataset 'nolesion' has no lesion labels; the segmenter stage needs them"
    assert Workspace.open(workspace).list("runs") == []


def test_unknown_setting_lists_valid_ones(tiny_ws, capsys):
    rc = main(["segmenter", "--dataset", "tiny", "--set", "bogus=1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown setting(s) bogus" in err and "base_channels" in err
