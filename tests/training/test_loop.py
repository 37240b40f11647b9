"""The training loop's pieces, each called alone on a tiny structure stage (training.loop): opening
and holding the run, the start records, one step, the metrics row, the non-finite check, the stop
and the end of a run. The whole loop (resume, torchrun, SIGTERM) is tested in test_resume_and_ddp,
test_resume_settings and tests/safety."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from synth_core.dataset import Dataset
from synth_core.distributed import DistInfo
from synth_core.errors import InputError
from synth_core.locks import is_locked
from synth_core.runs.config import make_config
from synth_core.workspace import Workspace
from training.data import SliceBatches
from training.loop import NonFiniteLoss, Trainer, check_finite, init_seed, metrics_row
from training.stages.structure import StructureConfig, StructureStage

TINY = {"dataset": "tiny", "device": "cpu", "batch_size": 2, "base_channels": 4, "latent_dim": 8, "d_channels": 4,
        "mask_channels": 4, "mask_depth": 2, "n_down": 2, "d_n_down": 2, "dz_hidden": 16, "threads": 1,
        "sample_every": 0, "val_slices": 4, "mask_steps": 1, "steps": 2, "checkpoint_every": 2}
CPU = DistInfo()


def _trainer(ws_root, **kw) -> Trainer:
    return Trainer(StructureStage, make_config(StructureConfig, TINY), Workspace.open(ws_root), progress=False, **kw)


def _held(path) -> bool:
    """Whether the run's lock is held, seen from another thread (the lock is re-entrant in its own)."""
    seen: list[bool] = []
    t = threading.Thread(target=lambda: seen.append(is_locked(path)))
    t.start()
    t.join()
    return seen[0]


def _stage(tr: Trainer) -> tuple[StructureStage, Dataset]:
    ds = Dataset(tr.ws.existing("datasets", "tiny"))
    torch.manual_seed(init_seed(tr.cfg.seed))
    stage = StructureStage(tr.cfg, ds, CPU, tr.ws)
    stage.start_ema()
    return stage, ds


# ---- pure pieces ----------------------------------------------------------------------------------
def test_check_finite_names_the_first_bad_loss_and_the_one_based_step():
    check_finite({"a": 1.0, "b": 0.0}, 0)
    with pytest.raises(NonFiniteLoss, match=r"loss b became nan at step 4"):
        check_finite({"a": 1.0, "b": math.nan, "c": math.inf}, 3)
    with pytest.raises(NonFiniteLoss, match=r"loss a became -inf at step 1"):
        check_finite({"a": -math.inf}, 0)


class _FakeStage:
    def phase(self, step: int) -> str:
        return "mask" if step < 1 else "main"

    def learning_rates(self) -> dict[str, float]:
        return {"lr_G": 0.5}


def test_metrics_row_is_the_step_its_phase_losses_rates_and_speed():
    row = metrics_row(_FakeStage(), 1, {"g": 2, "d": 0.25}, batch_size=4, seconds=0.5, world=2)
    assert row["step"] == 1 and row["phase"] == "mask"  # the phase of step 0, the one just trained
    assert row["g"] == 2.0 and isinstance(row["g"], float) and row["d"] == 0.25
    assert row["lr_G"] == 0.5 and row["sec_per_step"] == 0.5
    assert row["images_per_sec"] == 16.0  # 4 images on each of 2 ranks in half a second
    assert metrics_row(_FakeStage(), 2, {}, 1, 1.0, 1)["phase"] == "main"


# ---- with a tiny stage ----------------------------------------------------------------------------
def test_open_run_holds_a_new_run_and_write_start_records_it(tiny_ws):
    tr = _trainer(tiny_ws, run_id="r1")
    stage, ds = _stage(tr)
    run, start = tr._open_run(stage, ds, CPU)
    try:
        assert start == 0 and run.run_id == "r1"
        assert _held(run.path)  # held until the run ends
        tr._write_start(run, stage, ds, CPU, start, stage.total_steps())
        meta = run.read_config()
        assert meta["stage"] == "structure" and meta["total_steps"] == stage.total_steps() == 3
        assert meta["loss_names"] == list(stage.loss_names) and meta["fingerprint"] == ds.fingerprint
        status = run.read_status()
        assert status["state"] == "running" and status["step"] == 0 and status["dataset"] == "tiny"
        created = meta["created"]
        tr._write_start(run, stage, ds, CPU, 1, 3)  # a resumed run keeps when it was created
        assert run.read_config()["created"] == created and run.read_status()["step"] == 1
    finally:
        run.release()
    assert not _held(run.path)


def test_open_run_releases_a_resumed_run_it_cannot_restore(tiny_ws):
    tr = _trainer(tiny_ws, run_id="r2")
    stage, ds = _stage(tr)
    run, _ = tr._open_run(stage, ds, CPU)
    tr._write_start(run, stage, ds, CPU, 0, 3)
    run.release()
    again = _trainer(tiny_ws, resume="r2")
    with pytest.raises(InputError, match="no checkpoint to resume from"):
        again._open_run(_stage(again)[0], ds, CPU)
    assert not _held(run.path)  # the failed resume did not keep the lock


def test_train_step_is_a_function_of_seed_and_step(tiny_ws):
    tr = _trainer(tiny_ws)
    results = []
    for _ in range(2):
        stage, ds = _stage(tr)
        batches = SliceBatches(ds, split="train", batch_size=1, seed=tr.cfg.seed)
        results.append(tr._train_step(stage, batches, 1, CPU))
    (losses, bs, dt), (losses2, bs2, _) = results
    assert bs == bs2 == stage.batch_size(1) == batches.batch_size
    assert dt > 0 and set(losses) <= set(stage.loss_names) and losses
    assert losses == losses2  # same weights, seed and step: the same step


def test_train_step_refuses_a_non_finite_loss(tiny_ws, monkeypatch):
    tr = _trainer(tiny_ws)
    stage, ds = _stage(tr)
    monkeypatch.setattr(stage, "train_step", lambda step, batch, rng: {"rec": 1.0, "adv": math.nan})
    with pytest.raises(NonFiniteLoss, match="loss adv became nan at step 3"):
        tr._train_step(stage, SliceBatches(ds, split="train", batch_size=1, seed=0), 2, CPU)


def test_stop_and_finish_write_checkpoint_and_status(tiny_ws):
    tr = _trainer(tiny_ws, run_id="r3")
    stage, ds = _stage(tr)
    run, _ = tr._open_run(stage, ds, CPU)
    try:
        tr._write_start(run, stage, ds, CPU, 0, 3)
        tr._stop(stage, run, 0, CPU)
        assert run.read_status()["state"] == "stopped" and run.checkpoint_path("last").is_file()
        assert not run.sample_files()
        tr._finish(stage, run, 3, CPU, -math.inf, 3)
        status = run.read_status()
        assert status["state"] == "finished" and status["step"] == 3 and "finished" in status
        assert status["last_checkpoint_step"] == 3 and run.read_validation()
        assert [p.name for p in run.sample_files()] == ["step-0000003.png"]
    finally:
        run.metrics.close()
        run.release()
