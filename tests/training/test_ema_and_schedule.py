"""Generator weight averaging (training.ema), the cosine learning-rate schedule and the structure
map's contour losses: known answers, checkpoints, resume and the readers of a run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch import nn

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.workspace import Workspace
from synth_core.runs.checkpoint import load_checkpoint
from synth_core.runs.config import make_config
from synth_core.distributed import DistInfo
from synth_core.runs.checkpoint import ema_name
from training.ema import EMA
from training.loop import Trainer
from synth_core.runs.loading import load_run
from training.stages.structure import StructureConfig, StructureStage, binary_cross_entropy, soft_dice_loss

TINY = {"dataset": "tiny", "device": "cpu", "batch_size": 2, "base_channels": 4, "latent_dim": 8, "d_channels": 4,
        "mask_channels": 4, "mask_depth": 2, "n_down": 2, "d_n_down": 2, "dz_hidden": 16, "threads": 1,
        "sample_every": 0, "val_slices": 4}


def _cfg(**over) -> StructureConfig:
    return make_config(StructureConfig, {**TINY, **over})


# ---- EMA arithmetic ------------------------------------------------------------------------------
def test_ema_update_is_the_running_average_with_warmup():
    live = nn.Linear(3, 2)
    ema = EMA({"net": live}, decay=0.9)
    start = {k: v.clone() for k, v in ema.copies["net"].state_dict().items()}
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    d0 = ema.current_decay()
    assert d0 == pytest.approx(0.1)  # (1 + 0) / (10 + 0): the first updates follow the live weights closely
    ema.update({"net": live})
    for k, v in ema.copies["net"].state_dict().items():
        expected = d0 * start[k] + (1 - d0) * live.state_dict()[k]
        assert torch.allclose(v, expected, atol=1e-6)
    assert ema.updates == 1
    ema.updates = 10_000
    assert ema.current_decay() == pytest.approx(0.9)  # the configured decay once warmed up


def test_ema_copies_buffers_and_never_trains():
    live = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    ema = EMA({"net": live}, decay=0.99)
    live.train()
    live(torch.randn(4, 1, 8, 8))  # changes the running statistics
    ema.update({"net": live})
    assert torch.equal(ema.copies["net"][1].running_mean, live[1].running_mean)
    assert all(not p.requires_grad for p in ema.copies["net"].parameters())
    assert set(ema.state_modules()) == {"net_ema"}


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_ema_rejects_bad_decay(decay):
    with pytest.raises(ValueError):
        EMA({"n": nn.Linear(1, 1)}, decay)


# ---- schedule ------------------------------------------------------------------------------------
def test_cosine_schedule_spares_the_first_phase_and_ends_at_the_floor(tiny_ws):
    cfg = _cfg(mask_steps=10, steps=20, lr_decay="cosine", lr_min_factor=0.2)
    st = StructureStage(cfg, Dataset(tiny_ws / "datasets" / "tiny"), DistInfo(), Workspace.open(tiny_ws))
    assert [st.schedule_factor(k) for k in (0, 5, 10)] == [1.0, 1.0, 1.0]  # the mask phase keeps its rate
    assert st.schedule_factor(20) == pytest.approx(0.2 + 0.8 * 0.5)  # half way: the mean of 1 and the floor
    assert st.schedule_factor(30) == pytest.approx(0.2)
    st.apply_lr_factor(0.5)
    for opt in st.optimizers().values():
        g = opt.param_groups[0]
        assert g["lr"] == pytest.approx(0.5 * g["base_lr"])
    flat = StructureStage(_cfg(mask_steps=10, steps=20), Dataset(tiny_ws / "datasets" / "tiny"), DistInfo(),
                          Workspace.open(tiny_ws))
    assert {flat.schedule_factor(k) for k in range(31)} == {1.0}


@settings(max_examples=50, deadline=None)
@given(main=hs.integers(1, 500), lo=hs.floats(0.0, 1.0))
def test_cosine_factor_is_monotone_between_floor_and_one(main, lo):
    class Probe:
        cfg = type("C", (), {"lr_decay": "cosine", "lr_min_factor": lo, "steps": main})()

        def total_steps(self):
            return main + 7

    f = [StructureStage.schedule_factor(Probe(), k) for k in range(main + 8)]
    assert all(a >= b - 1e-12 for a, b in zip(f, f[1:]))
    assert all(lo - 1e-12 <= v <= 1.0 + 1e-12 for v in f)
    assert f[-1] == pytest.approx(lo)


@pytest.mark.parametrize("over", [{"lr_decay": "linear"}, {"lr_min_factor": 1.5}, {"ema_decay": 1.0},
                                  {"ema_decay": -0.5}, {"w_rec_dice": -1.0}])
def test_bad_schedule_and_average_settings_are_refused(over):
    with pytest.raises(ConfigError):
        _cfg(**over)


# ---- contour losses ------------------------------------------------------------------------------
def test_soft_dice_and_bce_known_answers():
    t = torch.zeros(2, 1, 8, 8)
    t[:, :, 2, :] = 1.0  # one thin contour line per map
    assert soft_dice_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)
    disjoint = torch.zeros_like(t)
    disjoint[:, :, 5, :] = 1.0
    assert soft_dice_loss(disjoint, t).item() == pytest.approx(1.0 - 1.0 / 17.0)  # eps = 1 in 2*0+1 / (8+8+1)
    # the blurred, low map that MSE prefers costs Dice nearly everything: it keeps no contour
    blurred = torch.full_like(t, t.mean().item())
    assert soft_dice_loss(blurred, t).item() > 0.7
    assert binary_cross_entropy(t, t).item() == pytest.approx(0.0, abs=1e-5)
    half = torch.full_like(t, 0.5)
    assert binary_cross_entropy(half, t).item() == pytest.approx(math.log(2), rel=1e-5)


# ---- through the loop: checkpoints, resume, readers ------------------------------------------
def _train(ws: Path, run_id: str, resume: str | None = None, stop_after: int | None = None, **over):
    cfg = _cfg(mask_steps=2, steps=6, checkpoint_every=4, ema_decay=0.9, lr_decay="cosine", **over)
    return Trainer(StructureStage, cfg, Workspace.open(ws), run_id=run_id, resume=resume, progress=False,
                   stop_after=stop_after).run()


def test_checkpoints_hold_averages_that_readers_use_and_resume_restores(tiny_ws):
    _train(tiny_ws, "whole")
    ck = load_checkpoint(tiny_ws / "runs" / "whole" / "checkpoints" / "last.pt")
    assert {ema_name("E_s"), ema_name("G_s")} <= set(ck["models"])
    assert ck["models"][ema_name("G_s")].keys() == ck["models"]["G_s"].keys()
    # the average differs from the live weights, and readers get the average
    name = next(k for k, v in ck["models"]["G_s"].items() if v.is_floating_point() and v.numel() > 1)
    assert not torch.equal(ck["models"]["G_s"][name], ck["models"][ema_name("G_s")][name])
    run = load_run(Workspace.open(tiny_ws), "whole", names=["G_s"])
    assert torch.equal(run.nets["G_s"].state_dict()[name], ck["models"][ema_name("G_s")][name])
    live = load_run(Workspace.open(tiny_ws), "whole", names=["G_s"], use_ema=False)
    assert torch.equal(live.nets["G_s"].state_dict()[name], ck["models"]["G_s"][name])
    # a run interrupted after its first checkpoint and resumed ends with the same average (same machine)
    _train(tiny_ws, "cut", stop_after=5)
    _train(tiny_ws, "cut", resume="cut")
    ck2 = load_checkpoint(tiny_ws / "runs" / "cut" / "checkpoints" / "last.pt")
    for k in ck["models"][ema_name("G_s")]:
        assert torch.allclose(ck["models"][ema_name("G_s")][k], ck2["models"][ema_name("G_s")][k], atol=1e-6)
    metrics = (tiny_ws / "runs" / "whole" / "metrics.jsonl").read_text().splitlines()
    assert '"rec_dice"' in metrics[-1] and '"lr_G"' in metrics[-1]
