"""The translator stage: trains through the CLI, rebuilds from its checkpoint, learns the paired
translation, refuses single-modality data, runs under torchrun; pure helpers with known answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset
from synth_core.runs.checkpoint import load_checkpoint
from training.cli import main
from synth_core.runs.config import make_config
from synth_core.distributed import DistInfo
from synth_core.runs.loading import load_run
from synth_core.runs.folder import RunDir
from synth_core.runs.networks.translator import build_networks
from training.stages.translator import TranslatorConfig, TranslatorStage, pair_schedule, registration_error, translate

TINY = ["--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2", "--set", "threads=1",
        "--set", "val_slices=4", "--no-progress"]
LOSSES = {"cycle", "cross", "g_adv", "g_cls", "g_total", "d_real", "d_fake", "d_cls", "d_total"}


class ShiftStub(nn.Module):
    """A translator stand-in: returns its input plus ``offset`` (0 = a perfect identity)."""

    def __init__(self, n: int, offset: float = 0.0):
        super().__init__()
        self.condition_dim, self.offset = n, offset

    def forward(self, x, condition):
        assert condition.shape == (x.shape[0], self.condition_dim)
        assert torch.all(condition.sum(1) == 1)
        return x + self.offset


def test_translator_runs_checkpoints_and_rebuilds(tiny_ws):
    rc = main(["translator", "--dataset", "tiny", "--steps", "4", "--run-name", "tr", *TINY,
               "--set", "sample_every=4", "--set", "checkpoint_every=2"])
    assert rc == 0
    ws = Workspace.open(tiny_ws)
    run = RunDir.open(ws, "tr")
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert LOSSES | {"lr_G_t", "lr_D_t"} <= set(rows[0])
    assert run.read_config()["loss_names"] == ["cycle", "cross", "g_adv", "g_cls", "g_total", "d_real", "d_fake",
                                               "d_cls", "d_total"]
    assert [p.name for p in run.sample_files()] == ["step-0000004.png"]
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 4 and set(ck["models"]) == {"G_t", "D_t"}
    val = [json.loads(x) for x in (run.path / "validation.jsonl").read_text().splitlines()]
    assert [v["step"] for v in val] == [2, 4]
    assert {"val_mse_t1_to_t2", "val_mse_t2_to_t1", "val_psnr_t1_to_t2", "val_psnr_t2_to_t1"} <= set(val[-1])
    assert val[-1]["score"] == pytest.approx(-val[-1]["val_mse"]) and val[-1]["score"] < 0

    loaded = load_run(ws, "tr")
    assert set(loaded.nets) == {"G_t", "D_t"} and loaded.stage == "translator"
    g = loaded.nets["G_t"]
    assert not g.training and not any(p.requires_grad for p in g.parameters())
    x = torch.rand(3, 1, 32, 32)
    y = translate(g, x, 1)
    assert y.shape == (3, 1, 32, 32) and 0 <= float(y.min()) and float(y.max()) <= 1
    realness, logits = loaded.nets["D_t"](y)
    assert logits.shape == (3, 2) and realness.shape[:2] == (3, 1)
    assert registration_error(g, torch.rand(3, 2, 32, 32)).shape == (3,)


def test_cross_loss_decreases_on_tiny_data(tiny_ws):
    rc = main(["translator", "--dataset", "tiny", "--steps", "40", "--run-name", "learn", "--no-progress",
               "--set", "threads=1",
               "--set", "batch_size=4", "--set", "base_channels=4", "--set", "depth=2", "--set", "lr=0.005",
               "--set", "sample_every=0", "--set", "checkpoint_every=40", "--set", "val_slices=4"])
    assert rc == 0
    rows = RunDir.open(Workspace.open(tiny_ws), "learn").read_metrics()
    first = np.mean([r["cross"] for r in rows[:5]])
    last = np.mean([r["cross"] for r in rows[-5:]])
    assert last < 0.5 * first, (first, last)


def test_registration_error_known_answers():
    img = torch.rand(2, 1, 8, 8).repeat(1, 3, 1, 1)  # three identical "registered" channels
    assert torch.equal(registration_error(ShiftStub(3), img), torch.zeros(2))
    # a constant offset c gives exactly c^2 on every pair
    assert torch.allclose(registration_error(ShiftStub(3, 0.25), img), torch.full((2,), 0.0625))
    # an identity on different channels: mean over i != j of mean (x_j - x_i)^2
    diff = torch.stack([torch.zeros(8, 8), torch.ones(8, 8) * 0.5], 0)[None].repeat(2, 1, 1, 1)
    assert torch.allclose(registration_error(ShiftStub(2), diff), torch.full((2,), 0.25))
    with pytest.raises(ValueError, match="modalities"):
        registration_error(ShiftStub(3), torch.rand(2, 2, 8, 8))


def test_translate_targets_and_checks():
    seen = []

    class Spy(ShiftStub):
        def forward(self, x, condition):
            seen.append(condition.argmax(1).tolist())
            return x

    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(translate(Spy(4), x, 2), x)
    translate(Spy(4), x, torch.tensor([0, 3, 1]))
    assert seen == [[2, 2, 2], [0, 3, 1]]
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        translate(Spy(4), x, 4)
    with pytest.raises(ValueError, match="one target per slice"):
        translate(Spy(4), x, torch.tensor([0, 1]))


def test_pair_schedule_covers_every_ordered_pair():
    src, tgt = pair_schedule(4, 12, np.random.default_rng(0))
    assert np.all(src != tgt)
    assert sorted(zip(src.tolist(), tgt.tolist())) == [(i, j) for i in range(4) for j in range(4) if i != j]
    a = pair_schedule(3, 5, np.random.default_rng(7))
    b = pair_schedule(3, 5, np.random.default_rng(7))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_adversarial_gradient_reaches_the_generator(tiny_ws):
    """The thesis code's bug (fake terms on real-image outputs) would leave g_adv/g_cls without
    any gradient to G_t; here both depend on G_t's output."""
    torch.manual_seed(0)
    ds = Dataset(tiny_ws / "datasets" / "tiny")
    cfg = make_config(TranslatorConfig, {"dataset": "tiny", "base_channels": 4, "depth": 2, "val_slices": 2})
    stage = TranslatorStage(cfg, ds, DistInfo(), Workspace.open(tiny_ws))
    images = torch.rand(2, 2, 32, 32)
    out = stage.generator_losses(images, torch.tensor([0, 1]), torch.tensor([1, 0]))
    for name in ("g_adv", "g_cls"):
        grads = torch.autograd.grad(out[name], list(stage.G.parameters()), retain_graph=True, allow_unused=True)
        assert any(g is not None and float(g.abs().sum()) > 0 for g in grads), name
    assert out["fake"].requires_grad and not out["real"].requires_grad


def test_total_losses_are_eqs_19_to_21_weighted_sums(tiny_ws):
    """Known answers for one training step on a tiny seeded batch: every named term recomputed from
    its formula with copies of G_t and D_t taken before the step (cycle eq. 19, paired cross, G_t's
    eq. 21 terms on the translated image; D_t's eq. 20 terms with both halves of class j), and
    ``g_total``/``d_total`` as their sums with seven distinct weights, so a swapped weight fails."""
    import copy

    import torch.nn.functional as F

    from synth_core.runs.checkpoint import unwrap
    from training.data import load_rows

    weights = {"cycle_weight": 2.0, "cross_weight": 7.0, "g_adv_weight": 3.0, "g_cls_weight": 11.0,
               "d_real_weight": 13.0, "d_fake_weight": 0.5, "d_cls_weight": 17.0}
    torch.manual_seed(0)
    ds = Dataset(tiny_ws / "datasets" / "tiny")
    cfg = make_config(TranslatorConfig, {"dataset": "tiny", "base_channels": 4, "depth": 2, "val_slices": 3,
                                         **weights})
    stage = TranslatorStage(cfg, ds, DistInfo(), Workspace.open(tiny_ws))
    images = load_rows(ds, stage.val_rows[:3], stage.device)["image"]
    G0, D0 = copy.deepcopy(unwrap(stage.G)), copy.deepcopy(unwrap(stage.D))
    out = stage.train_step(0, {"image": images}, np.random.default_rng(5))

    src_np, tgt_np = pair_schedule(2, 3, np.random.default_rng(5))
    src, tgt = torch.from_numpy(src_np), torch.from_numpy(tgt_np)
    ar = torch.arange(3)
    x_i, x_j = images[ar, src].unsqueeze(1), images[ar, tgt].unsqueeze(1)
    with torch.no_grad():
        x_t = translate(G0, x_i, tgt)
        back = translate(G0, x_t, src)
        real_g, cls_g = D0(x_t)
        real_d, cls_d = D0(torch.cat([x_j, x_t]))
    one_hot = F.one_hot(tgt, 2).float()
    expected = {
        "cycle": ((x_i - back) ** 2).mean(), "cross": ((x_j - x_t) ** 2).mean(),
        "g_adv": ((real_g - 1) ** 2).mean(), "g_cls": ((cls_g - one_hot) ** 2).mean(),
        "d_real": ((real_d[:3] - 1) ** 2).mean(), "d_fake": (real_d[3:] ** 2).mean(),
        "d_cls": ((cls_d - torch.cat([one_hot, one_hot])) ** 2).mean(),
    }
    for name, value in expected.items():
        assert out[name] == pytest.approx(value.item(), rel=1e-5, abs=1e-7), name
    assert out["g_total"] == pytest.approx(2 * out["cycle"] + 7 * out["cross"] + 3 * out["g_adv"]
                                           + 11 * out["g_cls"], rel=1e-5)
    assert out["d_total"] == pytest.approx(13 * out["d_real"] + 0.5 * out["d_fake"] + 17 * out["d_cls"], rel=1e-5)
    assert set(out) == set(TranslatorStage.loss_names)


def test_translator_refuses_a_single_modality_dataset(workspace, capsys):
    make_tiny_dataset(workspace, "mono", modalities=("t1",))
    rc = main(["translator", "--dataset", "mono", "--steps", "2", "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: dataset 'mono' has only the modality 't1'; the translator stage needs at least "
                   "2 registered modalities")
    assert Workspace.open(workspace).list("runs") == []


def test_translator_refuses_an_indivisible_size():
    cfg = make_config(TranslatorConfig, {"depth": 2, "d_n_down": 4})
    with pytest.raises(ConfigError, match="not divisible by 16"):
        build_networks(cfg, {"modalities": ["a", "b"], "image_size": 40})


@pytest.mark.slow
def test_translator_under_torchrun_two_processes(tiny_ws):
    """G_t is chained (cycle) and D_t is used in the generator loss under no_sync: DDP must accept
    it and the ranks must stay in step."""
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "MEDSYNTH_WORKSPACE": str(tiny_ws), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "training", "translator", "--dataset", "tiny",
         "--steps", "3", "--run-name", "ddp", "--set", "checkpoint_every=3", "--set", "sample_every=0", *TINY],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    ws = Workspace.open(tiny_ws)
    assert ws.list("runs") == ["ddp"]
    run = RunDir.open(ws, "ddp")
    assert run.read_config()["world_size"] == 2
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3] and all(LOSSES <= set(r) for r in rows)
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 3 and not any(k.startswith("module.") for k in ck["models"]["G_t"])
    assert run.read_status()["state"] == "finished"
