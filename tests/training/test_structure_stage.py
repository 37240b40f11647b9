"""The structure stage: both phases through the CLI, loss terms with known answers, the frozen
mask generator, rebuilding a run, and the inference helpers of ``synth_core.structure_model``."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synth_core.dataset import Dataset
from synth_core.structure_model import (
    encode_structures,
    generate_structures,
    interpolate,
    latent_grid,
    sample_latents,
    structure_realness,
)
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset
from synth_core.runs.checkpoint import load_checkpoint
from training.cli import main
from synth_core.runs.config import make_config
from training.data import SliceBatches
from synth_core.distributed import DistInfo
from synth_core.runs.loading import load_run
from synth_core.runs.folder import RunDir
from training.stages.structure import (
    GEN_LOSSES,
    NET_NAMES,
    VAEGAN_LOSSES,
    StructureConfig,
    StructureStage,
    discriminator_loss,
    generator_terms,
    kl_divergence,
    mask_loss,
    mean_reg,
    outside_loss,
    std_reg,
    weighted_total,
)

TINY = {"batch_size": 2, "base_channels": 4, "latent_dim": 8, "d_channels": 4, "mask_channels": 4, "mask_depth": 2,
        "n_down": 2, "d_n_down": 2, "dz_hidden": 16, "threads": 1}
TINY_ARGS = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")] + ["--no-progress"]


def _stage(ws: Path, **over) -> StructureStage:
    cfg = make_config(StructureConfig, {"dataset": "tiny", "device": "cpu", **TINY, **over})
    torch.manual_seed(0)
    return StructureStage(cfg, Dataset(ws / "datasets" / "tiny"), DistInfo(), Workspace.open(ws))


# ---- the whole stage through the CLI ------------------------------------------------------
def test_structure_runs_both_phases_and_rebuilds(tiny_ws):
    rc = main(["structure", "--dataset", "tiny", "--steps", "2", "--run-name", "st", "--set", "mask_steps=2",
               "--set", "sample_every=2", "--set", "checkpoint_every=2", *TINY_ARGS])
    assert rc == 0
    ws = Workspace.open(tiny_ws)
    run = RunDir.open(ws, "st")
    rows = run.read_metrics()
    assert [(r["step"], r["phase"]) for r in rows] == [(1, "mask"), (2, "mask"), (3, "vaegan"), (4, "vaegan")]
    for r in rows[:2]:
        assert "mask" in r and not set(VAEGAN_LOSSES) & set(r)
    for r in rows[2:]:
        assert set(VAEGAN_LOSSES) <= set(r) and "mask" not in r
        assert r["g_total"] > 0 and {"lr_G", "lr_D_z", "lr_D_s", "lr_G_m"} <= set(r)
    assert run.read_config()["total_steps"] == 4
    assert run.read_config()["loss_names"] == ["mask", *VAEGAN_LOSSES]
    assert run.read_status()["state"] == "finished"
    assert [p.name for p in run.sample_files()] == ["step-0000002.png", "step-0000004.png"]

    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 4 and set(ck["models"]) == set(NET_NAMES)
    assert set(ck["optimizers"]) == {"G", "D_z", "D_s", "G_m"}
    val = [json.loads(x) for x in (run.path / "validation.jsonl").read_text().splitlines()]
    assert [v["step"] for v in val] == [2, 4]
    assert "score" not in val[0] and 0 <= val[0]["val_mask_iou"] <= 1  # mask phase: G_s is untrained
    assert val[1]["score"] == val[1]["val_rec_dice"] and 0 <= val[1]["score"] <= 1
    assert {"val_rec_mse", "val_gen_outside", "val_gen_density"} <= set(val[1])
    assert load_checkpoint(run.checkpoint_path("best"))["step"] == 4

    loaded = load_run(ws, "st")
    assert set(loaded.nets) == set(NET_NAMES) and loaded.step == 4
    G_s, G_m, E_s = loaded.nets["G_s"], loaded.nets["G_m"], loaded.nets["E_s"]
    assert not any(p.requires_grad for p in G_s.parameters())
    z = sample_latents(5, 8, seed=3)
    maps, masks = generate_structures(G_s, G_m, z)
    assert maps.shape == masks.shape == (5, 32, 32) and maps.dtype == masks.dtype == np.uint8
    assert set(np.unique(maps)) <= {0, 1} and set(np.unique(masks)) <= {0, 1}
    maps2, masks2 = generate_structures(G_s, G_m, z.clone(), batch_size=2)  # batching changes nothing
    assert np.array_equal(maps, maps2) and np.array_equal(masks, masks2)
    s = Dataset(tiny_ws / "datasets" / "tiny").structure[:3]
    assert encode_structures(E_s, s).shape == (3, 8)
    assert np.allclose(encode_structures(E_s, s), encode_structures(E_s, torch.tensor(np.array(s))[:, None]))
    assert structure_realness(loaded.nets["D_s"], s).shape == (3,)


def test_spectrally_normalised_structure_discriminator_trains_and_reloads_with_its_estimate(tiny_ws):
    rc = main(["structure", "--dataset", "tiny", "--steps", "2", "--run-name", "sn", "--set", "mask_steps=1",
               "--set", "d_spectral_norm=true", *TINY_ARGS])
    assert rc == 0
    ws = Workspace.open(tiny_ws)
    d_s = load_run(ws, "sn").nets["D_s"]
    layers = [m for m in d_s.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    saved = load_checkpoint(RunDir.open(ws, "sn").checkpoint_path("last"))["models"]["D_s"]
    u = [k for k in saved if k.endswith("weight.0._u")]
    assert len(u) == len(layers)  # the power-iteration estimate is saved and restored, not recomputed
    for k in u:
        assert torch.equal(d_s.state_dict()[k].float(), saved[k].float())
    s = Dataset(tiny_ws / "datasets" / "tiny").structure[:3]
    assert np.isfinite(structure_realness(d_s, s)).all()
    plain = _stage(tiny_ws).nets["D_s"]
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in plain.modules())


def test_structure_refuses_an_indivisible_image_size(workspace, capsys):
    make_tiny_dataset(workspace, name="odd", size=36)
    rc = main(["structure", "--dataset", "odd", "--steps", "2", *TINY_ARGS, "--set", "n_down=3"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "image size 36" in err and "2**n_down = 8" in err
    assert Workspace.open(workspace).list("runs") == []


def test_unknown_and_bad_settings_are_refused(tiny_ws, capsys):
    assert main(["structure", "--dataset", "tiny", "--set", "mask_steps=-1"]) == 2
    assert "mask_steps must be >= 0" in capsys.readouterr().err
    assert main(["structure", "--dataset", "tiny", "--set", "w_bogus=1"]) == 2
    assert "w_rec_mse" in capsys.readouterr().err


# ---- phases, freezing and learning ----------------------------------------------------------
def test_phases_and_the_frozen_mask_generator(tiny_ws):
    st = _stage(tiny_ws, mask_steps=3, steps=2)
    assert st.total_steps() == 5
    assert [st.phase(k) for k in range(5)] == ["mask"] * 3 + ["vaegan"] * 2
    batches = SliceBatches(st.ds, batch_size=2, seed=0)
    assert set(st.train_step(0, batches.batch(0), None)) == {"mask"}
    before = {k: {n: t.clone() for n, t in st.nets[k].state_dict().items()} for k in NET_NAMES}
    out = st.train_step(3, batches.batch(3), None)
    assert set(out) == set(VAEGAN_LOSSES) and all(np.isfinite(v) for v in out.values())
    after = {k: st.nets[k].state_dict() for k in NET_NAMES}
    changed = {k: any(not torch.equal(before[k][n], after[k][n]) for n in before[k]) for k in NET_NAMES}
    assert changed == {"G_m": False, "E_s": True, "G_s": True, "D_z": True, "D_s": True}
    assert not any(p.requires_grad for p in st.nets["G_m"].parameters())


def test_mask_generator_learns_the_tiny_masks(tiny_ws):
    st = _stage(tiny_ws, mask_steps=40, steps=1, batch_size=4, mask_lr=0.005)
    batches = SliceBatches(st.ds, batch_size=4, seed=0)
    losses = [st.train_step(k, batches.batch(k), None)["mask"] for k in range(40)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_sample_grid_is_fixed_between_calls(tiny_ws):
    st = _stage(tiny_ws)
    a, b = st.sample_grid(), st.sample_grid()
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 and np.array_equal(a, b)
    assert a.shape[1] == 4 * 32 + 5 * 2  # four columns of 32 px tiles with 2 px padding


# ---- loss terms with known answers --------------------------------------------------------
def test_outside_loss_known_answers():
    m = torch.zeros(1, 1, 4, 4)
    m[..., 1:3, 1:3] = 1
    inside = torch.zeros(1, 1, 4, 4)
    inside[..., 1:3, 1:3] = torch.tensor([[0.2, 1.0], [0.5, 0.7]])
    assert outside_loss(inside, m).item() == 0.0  # all contours inside the organ
    s = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    expected = (s[m == 0] ** 2).sum() / s.numel()
    assert outside_loss(s, m).item() == pytest.approx(expected.item())
    assert outside_loss(s, torch.zeros_like(s)).item() == pytest.approx((s**2).mean().item())
    assert outside_loss(s, torch.ones_like(s)).item() == 0.0


def test_latent_regularisers_and_discriminator_loss_known_answers():
    assert mean_reg(torch.tensor([[1.0, 3.0], [-1.0, 1.0]])).item() == pytest.approx(1.0)
    assert std_reg(torch.zeros(3, 4)).item() == 0.0  # sigma = 1 everywhere
    assert std_reg(torch.full((2, 2), 2 * np.log(3.0))).item() == pytest.approx(4.0)  # sigma = 3
    assert kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0  # the prior itself
    assert kl_divergence(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(0.5)
    assert kl_divergence(torch.zeros(1, 1), torch.tensor([[np.log(4.0)]])).item() == pytest.approx(0.5 * (3 - np.log(4.0)))
    pred = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert discriminator_loss(pred, 2).item() == 0.0  # perfect discriminator
    assert discriminator_loss(1 - pred, 2).item() == pytest.approx(2.0)  # everything backwards
    assert discriminator_loss(torch.full((4, 1), 0.5), 2).item() == pytest.approx(0.5)
    assert mask_loss(torch.ones(1, 1, 2, 2), torch.tensor([[[[1.0, 0], [0, 0]]]])).item() == pytest.approx(0.75)


def test_generator_terms_and_weighted_total():
    s = (torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    m = torch.ones_like(s)
    terms = generator_terms(s=s, m=m, s_r=s.clone(), s_g=s.clone(), m_g=m, mean=torch.zeros(2, 4),
                            logvar=torch.zeros(2, 4), dz_f=torch.ones(2, 1), ds_g=torch.ones(2, 1, 2, 2))
    assert set(terms) == set(GEN_LOSSES)
    assert all(v.item() == 0.0 for v in terms.values())  # perfect reconstruction, fooled critics
    terms = generator_terms(s=s, m=m, s_r=1 - s, s_g=s, m_g=torch.zeros_like(s), mean=torch.ones(2, 4),
                            logvar=torch.zeros(2, 4), dz_f=torch.zeros(2, 1), ds_g=torch.zeros(2, 1, 2, 2))
    assert terms["rec_mse"].item() == pytest.approx(1.0) and terms["rec_l1"].item() == pytest.approx(1.0)
    assert terms["outside_gen"].item() == pytest.approx(s.mean().item())
    assert terms["g_dz"].item() == 1.0 and terms["g_ds"].item() == 1.0 and terms["mean_reg"].item() == 1.0
    assert terms["kl"].item() == pytest.approx(0.5)
    expected = 25 * 1 + 10 * 1 + 1 * s.mean().item() + 0.001 * 1 + 0.001 * 1 + 0.1 * 1  # thesis weights, no KL
    assert weighted_total(terms, StructureConfig()).item() == pytest.approx(expected, rel=1e-5)
    assert weighted_total(terms, StructureConfig(w_kl=2.0)).item() == pytest.approx(expected + 1.0, rel=1e-5)


# ---- latent helpers -------------------------------------------------------------------------
def test_latent_grid_varies_along_the_chosen_directions_only():
    center = sample_latents(1, 6, seed=0)[0]
    z = latent_grid(6, rows=3, cols=4, directions=(2, 5), span=1.5, center=center)
    assert z.shape == (12, 6)
    g = z.reshape(3, 4, 6)
    others = [0, 1, 3, 4]
    assert torch.allclose(g[..., others], center[others].expand(3, 4, 4))
    assert torch.allclose(g[:, :, 2], (center[2] + torch.linspace(-1.5, 1.5, 3))[:, None].expand(3, 4))  # rows
    assert torch.allclose(g[:, :, 5], (center[5] + torch.linspace(-1.5, 1.5, 4))[None, :].expand(3, 4))  # columns
    u = torch.tensor([1.0, 1.0, 0, 0, 0, 0])
    z2 = latent_grid(6, 2, 1, directions=(u, 3), span=1.0)
    assert torch.allclose(z2[1] - z2[0], 2 * u / u.norm())
    with pytest.raises(ValueError, match="index must be in"):
        latent_grid(6, 2, 2, directions=(0, 6))


def test_interpolate_and_sample_latents():
    a, b = sample_latents(2, 5, seed=7)
    assert torch.equal(sample_latents(2, 5, seed=7), torch.stack([a, b]))
    for mode in ("linear", "slerp"):
        path = interpolate(a, b, 5, mode=mode)
        assert path.shape == (5, 5)
        assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert torch.allclose(interpolate(a, b, 3)[1], (a + b) / 2)
    with pytest.raises(ValueError, match="mode"):
        interpolate(a, b, 3, mode="cubic")


# ---- torchrun --------------------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_ws):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**__import__("os").environ, "MEDSYNTH_WORKSPACE": str(tiny_ws), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "training", "structure", "--dataset", "tiny",
         "--steps", "2", "--run-name", "ddp", "--set", "mask_steps=1", "--set", "checkpoint_every=3",
         "--set", "sample_every=0", *TINY_ARGS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = RunDir.open(Workspace.open(tiny_ws), "ddp")
    assert run.read_config()["world_size"] == 2
    rows = run.read_metrics()
    assert [(r["step"], r["phase"]) for r in rows] == [(1, "mask"), (2, "vaegan"), (3, "vaegan")]
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 3 and set(ck["models"]) == set(NET_NAMES)
    assert not any(k.startswith("module.") for k in ck["models"]["G_s"])
    assert run.read_status()["state"] == "finished"


def test_straight_through_binary_forwards_the_binary_map_and_passes_the_gradient():
    from training.stages.structure import straight_through_binary

    s = torch.tensor([0.1, 0.49, 0.51, 0.9], requires_grad=True)
    out = straight_through_binary(s, 0.5)
    assert torch.equal(out.detach(), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    (out * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert torch.equal(s.grad, torch.tensor([1.0, 2.0, 3.0, 4.0]))  # identity gradient
    assert torch.equal(straight_through_binary(s.detach(), 0.3), torch.tensor([0.0, 1.0, 1.0, 1.0]))


def test_ds_hard_shows_the_discriminator_binary_generated_maps(tiny_ws):
    """With ``ds_hard`` every map D_s sees in a step is binary (real ones are; generated ones are
    binarised); without it the generated half is the soft sigmoid map."""
    seen: list[torch.Tensor] = []
    for hard in (True, False):
        stage = _stage(tiny_ws, ds_hard=hard, mask_steps=0)
        hook = stage.nets["D_s"].register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
        out = stage.train_step(0, SliceBatches(stage.ds, batch_size=2, seed=0).batch(0), None)
        hook.remove()
        assert len(seen) == 2 and np.isfinite(out["d_s"]) and np.isfinite(out["g_ds"])  # D step, then G step
        both = torch.cat(seen)
        binary = bool(((both == 0) | (both == 1)).all())
        assert binary == hard, (hard, both.unique()[:10])
        seen.clear()


def test_a_saturated_sigmoid_map_gives_finite_gradients_weighted_or_not():
    """Regression: a generated map with pixels at exactly 0 and 1 (float32 sigmoid of logits beyond
    about ±17) made the BCE's backward 0 · inf = NaN, which reached G_s even with w_rec_bce = 0 and
    ended a cpu-demo structure run at step 731."""
    from training.stages.structure import binary_cross_entropy

    logits = torch.tensor([[-120.0, -120.0, 0.0, 120.0, 120.0]], requires_grad=True)
    target = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]])  # both saturated ends, right and wrong
    p = torch.sigmoid(logits)
    assert p[0, 0] == 0.0 and p[0, 4] == 1.0
    loss = binary_cross_entropy(p, target)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    # the wrong saturated pixels cost the floor's log, the right ones nothing
    assert loss.item() == pytest.approx((2 * 27.631 + math.log(2)) / 5, rel=1e-3)
    # a whole generator loss with the BCE switched off: finite gradients, and the term is still logged
    s = torch.zeros(1, 1, 4, 4)
    s[..., 1, :] = 1.0
    raw = torch.full((1, 1, 4, 4), -40.0, requires_grad=True)
    raw.data[..., 1, :] = 40.0
    one = torch.ones(1, 1, 4, 4)
    mean, logvar = torch.zeros(1, 8, requires_grad=True), torch.zeros(1, 8, requires_grad=True)
    terms = generator_terms(s=s, m=one, s_r=torch.sigmoid(raw), s_g=torch.sigmoid(raw), m_g=one, mean=mean,
                            logvar=logvar, dz_f=torch.ones(1, 1), ds_g=torch.ones(1, 1))
    weighted_total(terms, StructureConfig(w_rec_bce=0.0)).backward()
    assert torch.isfinite(raw.grad).all() and torch.isfinite(terms["rec_bce"])
