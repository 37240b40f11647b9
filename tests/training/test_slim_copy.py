"""``python -m training slim-copy``: float16 weights-only copies of finished runs, nothing for unfinished ones."""

from __future__ import annotations

import json

import torch

from synth_core.workspace import Workspace
from tests.training.test_ema_and_schedule import _train
from synth_core.runs.checkpoint import load_checkpoint
from training.cli import main
from synth_core.runs.loading import load_run


def test_slim_copy_of_a_finished_run_and_refusal_of_an_unfinished_one(tiny_ws, tmp_path, capsys):
    _train(tiny_ws, "done")
    _train(tiny_ws, "half", stop_after=5)
    dest = tmp_path / "assets"
    assert main(["--workspace", str(tiny_ws), "slim-copy", "done", "half", "--to", str(dest)]) == 2
    assert "'half'" in capsys.readouterr().err and not dest.exists()  # checked before anything is written
    assert main(["--workspace", str(tiny_ws), "slim-copy", "done", "--to", str(dest)]) == 0
    ck = load_checkpoint(dest / "done" / "checkpoints" / "last.pt")
    assert ck["optimizers"] == {} and ck["meta"]["slim"] is True
    assert all(t.dtype == torch.float16 for sd in ck["models"].values() for t in sd.values() if t.is_floating_point())
    assert "G_s_ema" in ck["models"] and "G_s" not in ck["models"]  # the average travels, the live weights stay
    assert json.loads((dest / "done" / "status.json").read_text())["state"] == "finished"
    # the copy installs and loads like any run
    ws2 = Workspace.open(tmp_path / "ws2")
    assert main(["--workspace", str(ws2.root), "install-demo-runs", "--source", str(dest)]) == 0
    net = load_run(ws2, "done", names=["G_s"]).nets["G_s"]
    assert next(net.parameters()).dtype == torch.float32
