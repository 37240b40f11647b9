"""Rebuilding networks from a run folder."""

from __future__ import annotations

import pytest
import torch

from synth_core.errors import ConfigError, InputError, NotFoundError
from synth_core.workspace import Workspace
from training.cli import main
from synth_core.runs.loading import find_runs, load_run, resolve_run

TINY = ["--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2", "--set", "sample_every=0", "--no-progress"]


def test_load_run_rebuilds_frozen_segmenters(tiny_ws):
    assert main(["segmenter", "--dataset", "tiny", "--steps", "2", "--run-name", "s", *TINY]) == 0
    ws = Workspace.open(tiny_ws)
    assert find_runs(ws, "segmenter", "tiny") == ["s"]
    assert resolve_run(ws, "segmenter", "", "tiny") == "s"
    loaded = load_run(ws, "s")
    assert loaded.stage == "segmenter" and loaded.step == 2 and set(loaded.nets) == {"seg_t1", "seg_t2"}
    net = loaded.nets["seg_t1"]
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    assert len(loaded.sha256()) == 64
    with pytest.raises(ConfigError, match="expected a 'translator' run"):
        resolve_run(ws, "translator", "s", None)
    with pytest.raises(NotFoundError, match="python -m training translator"):
        resolve_run(ws, "translator", "", "tiny")
    # an experiment's judge, though newer, is never the helper a generator trains against
    assert main(["segmenter", "--dataset", "tiny", "--steps", "1", "--run-name", "exp-judge-segmenter", *TINY]) == 0
    assert find_runs(ws, "segmenter", "tiny")[0] == "exp-judge-segmenter"
    assert resolve_run(ws, "segmenter", "", "tiny") == "s"
    assert resolve_run(ws, "segmenter", "exp-judge-segmenter", "tiny") == "exp-judge-segmenter"  # named: as asked


def test_tampered_checkpoint_is_refused(tiny_ws):
    assert main(["segmenter", "--dataset", "tiny", "--steps", "1", "--run-name", "s", *TINY]) == 0
    path = tiny_ws / "runs" / "s" / "checkpoints" / "last.pt"
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path.write_bytes(pickle.dumps({"format": "medsynth-checkpoint/1", "x": Evil()}))
    with pytest.raises(InputError, match="refusing to load|not a readable"):
        load_run(Workspace.open(tiny_ws), "s")
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="last.pt"):
        load_run(Workspace.open(tiny_ws), "s")
