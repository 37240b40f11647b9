"""The multimodal stage: generator input helpers, both phases through the CLI, the ablation
switches A-F, refusals before training, provenance, and two-process torchrun.

Helper runs (structure, segmenter, translator) are trained once per module for 1-2 steps with
tiny networks; the multimodal runs on top of them use 32 px and 4-channel networks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter
from synth_core.errors import ConfigError
from synth_core.multimodal_model import fuse_noise_torch, generate_modalities, generator_input
from synth_core.nets import NoisyGenerator, UNet
from synth_core.nets.blur import gaussian_blur
from synth_core.structure import fuse_noise
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset
from synth_core.runs.checkpoint import file_sha256, load_checkpoint
from training.cli import main
from synth_core.runs.config import make_config
from training.data import load_rows
from synth_core.distributed import DistInfo
from synth_core.runs.folder import RunDir
from training.stages.multimodal import MultimodalConfig, MultimodalStage, with_modality_planes

COMMON = ["--no-progress", "--set", "threads=1", "--set", "sample_every=0", "--set", "batch_size=2"]
STRUCTURE = ["--set", "mask_steps=1", "--set", "latent_dim=8", "--set", "base_channels=4", "--set", "n_down=2",
             "--set", "d_channels=4", "--set", "d_n_down=2", "--set", "mask_channels=4", "--set", "mask_depth=2",
             "--set", "dz_hidden=8", "--set", "max_channels=8"]
SMALL = ["--set", "base_channels=4", "--set", "depth=2"]
MM = [*COMMON, *SMALL, "--set", "d_n_down=2", "--set", "checkpoint_every=100", "--set", "val_slices=4"]


def _cli(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


def _helpers(ws: Path, dataset: str, translator: bool = True) -> None:
    one = ["--dataset", dataset, "--steps", "1", *COMMON]
    assert _cli(ws, "structure", *one, "--run-name", f"st-{dataset}", *STRUCTURE) == 0
    assert _cli(ws, "segmenter", *one, "--run-name", f"sg-{dataset}", *SMALL) == 0
    if translator:
        assert _cli(ws, "translator", *one, "--run-name", f"tr-{dataset}", *SMALL, "--set", "d_n_down=2") == 0


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace with dataset 'tiny' (t1, t2) and one finished structure, segmenter and
    translator run on it."""
    root = tmp_path_factory.mktemp("mm") / "ws"
    make_tiny_dataset(root)
    _helpers(root, "tiny")
    return root


def _metrics(ws: Path, run: str) -> list[dict]:
    return RunDir.open(Workspace.open(ws), run).read_metrics()


def _stage(ws: Path, **values) -> MultimodalStage:
    w = Workspace.open(ws)
    cfg = make_config(MultimodalConfig, {"dataset": "tiny", "base_channels": 4, "depth": 2, "d_n_down": 2,
                                         "threads": 1, **values})
    return MultimodalStage(cfg, Dataset(w.existing("datasets", "tiny")), DistInfo(), w)


# ---- pure helpers ----------------------------------------------------------------------------------
def test_generator_input_known_answer():
    fused = torch.full((2, 1, 4, 4), 0.55)
    label = torch.zeros(2, 4, 4, dtype=torch.long)
    label[0, 0, 0] = 1
    label[0, 1, 1] = 2
    label[1, 3, 3] = 2
    x = generator_input(fused, label, 3)
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], fused[:, 0])
    ones = {(b, c, r, k) for b, c, r, k in torch.nonzero(x[:, 1:]).tolist()}
    assert ones == {(0, 0, 0, 0), (0, 1, 1, 1), (1, 1, 3, 3)}  # channel 1 + c holds class c + 1
    assert generator_input(fused, label * 0, 1).shape == (2, 1, 4, 4)  # no lesion classes: no extra channel
    with pytest.raises(ValueError, match=r"label values must be in \[0, 2\)"):
        generator_input(fused, label, 2)
    with pytest.raises(ValueError, match="expected a label"):
        generator_input(fused, label[:, :2], 3)


def test_generate_modalities_runs_every_condition_in_one_call():
    torch.manual_seed(0)
    G = UNet(in_channels=3, out_channels=1, base_channels=4, depth=2, condition_dim=3).eval()
    inputs = torch.rand(2, 3, 16, 16)
    calls = []
    G.register_forward_hook(lambda m, a, out: calls.append(a[0].shape[0]))
    with torch.no_grad():
        out = generate_modalities(G, inputs, 3)
    assert out.shape == (2, 3, 16, 16) and calls == [6]
    for i in range(3):  # channel i is G under condition one_hot(i)
        ref = G(inputs, torch.nn.functional.one_hot(torch.full((2,), i), 3).float())[:, 0]
        assert torch.allclose(out[:, i], ref, atol=1e-6)
    assert not torch.allclose(out[:, 0], out[:, 1]) and not torch.allclose(out[:, 1], out[:, 2])
    single = UNet(in_channels=3, out_channels=1, base_channels=4, depth=2).eval()
    with torch.no_grad():
        assert generate_modalities(single, inputs, 1).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="conditioned on 3 modalities, not 2"):
        generate_modalities(G, inputs, 2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), low=st.floats(0.0, 0.5), width=st.floats(0.0, 0.5))
def test_fused_noise_falls_only_inside_the_mask_off_contours(seed, low, width):
    rng = np.random.default_rng(seed)
    s = torch.from_numpy(rng.random((2, 1, 8, 8)) < 0.3).float()
    m = torch.from_numpy(rng.random((2, 1, 8, 8)) < 0.6).float()
    high = low + width
    out = fuse_noise_torch(s, m, low, high, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(out[s == 1], torch.ones_like(out[s == 1]))  # contours stay 1
    outside = (m == 0) & (s == 0)
    assert torch.equal(out[outside], torch.zeros_like(out[outside]))  # no noise outside the organ
    inside = (m == 1) & (s == 0)
    assert bool(((out[inside] >= low) & (out[inside] <= high)).all())
    # the same formula as the numpy eq. (12)
    ref = fuse_noise(s.numpy(), m.numpy(), np.random.default_rng(seed), low, high)
    assert np.array_equal(ref == 0, out.numpy() == 0) and np.array_equal(ref == 1, out.numpy() == 1)


# ---- the stage through the CLI ----------------------------------------------------------------------
def test_pretrain_then_adversarial_with_provenance(ws):
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "2", "--run-name", "mm-full", *MM,
                "--set", "pretrain_steps=2") == 0
    rows = _metrics(ws, "mm-full")
    assert [r["phase"] for r in rows] == ["pretrain", "pretrain", "adversarial", "adversarial"]
    pre = {"pre_mse", "pre_masked", "pre_total"}
    adv = {"g_adv", "g_cls", "les", "reg", "g_total", "d_real", "d_fake", "d_cls", "d_total", "placed"}
    assert pre <= set(rows[0]) and not adv & set(rows[0])
    assert adv <= set(rows[2]) and not pre & set(rows[2]) and "reg_cross" not in rows[2]  # M = 2: no cross term
    run = RunDir.open(Workspace.open(ws), "mm-full")
    assert [p.name for p in run.sample_files()] == ["step-0000004.png"]
    val = json.loads((run.path / "validation.jsonl").read_text().splitlines()[-1])
    assert {"les_dice", "reg_err", "pre_mse", "score"} <= set(val) and val["score"] == val["les_dice"]
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert set(ck["models"]) == {"G", "D"}
    helpers = ck["meta"]["helpers"]
    for stage, rid in (("structure", "st-tiny"), ("segmenter", "sg-tiny"), ("translator", "tr-tiny")):
        assert helpers[stage]["run_id"] == rid
        assert helpers[stage]["sha256"] == file_sha256(ws / "runs" / rid / "checkpoints" / "last.pt")
    assert ck["meta"]["switches"] == dict.fromkeys(
        ("use_structure", "mask_filter", "noise_fusion", "registration", "lesion_guidance"), True)
    from synth_core.runs.loading import load_run

    G = load_run(Workspace.open(ws), "mm-full", names=["G"]).nets["G"]
    assert G.in_channels == 3 and G.condition_dim == 2  # s' + 2 lesion classes; 2 modalities
    assert G.condition_at == "decoder"


@pytest.mark.parametrize("row", ["A", "B", "C", "D", "E", "F"])
def test_every_ablation_row_trains_and_shows_its_switch(ws, row):
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "2", "--run-name", f"mm-{row}", *MM,
                "--set", "pretrain_steps=0", "--set", f"ablation={row}") == 0
    rows = _metrics(ws, f"mm-{row}")
    assert len(rows) == 2 and all(r["phase"] == "adversarial" for r in rows)
    keys = set(rows[-1])
    ck = load_checkpoint(RunDir.open(Workspace.open(ws), f"mm-{row}").checkpoint_path("last"))
    switches = ck["meta"]["switches"]
    off = {"A": "use_structure", "B": "mask_filter", "C": "noise_fusion", "D": "registration", "E": "lesion_guidance"}
    assert [k for k, v in switches.items() if not v] == ([off[row]] if row in off else [])
    assert ("reg" in keys) == (row != "D") and ("les" in keys) == (row != "E")
    assert ("translator" in ck["meta"]["helpers"]) == (row != "D")
    assert ("segmenter" in ck["meta"]["helpers"]) == (row != "E")
    if row == "B":  # unfiltered: a lesion fits somewhere in the frame for every map
        assert all(r["placed"] == 1.0 for r in rows)


def test_ablation_switches_change_the_generator_input(ws):
    s = torch.zeros(1, 1, 32, 32)
    s[..., 10, :] = 1
    m = torch.zeros(1, 1, 32, 32)
    m[..., 4:28, 4:28] = 1
    lab = torch.zeros(1, 32, 32, dtype=torch.long)
    full = _stage(ws).g_input(s, m, lab)[0, 0]
    inside = (m[0, 0] == 1) & (s[0, 0] == 0)
    outside = (m[0, 0] == 0) & (s[0, 0] == 0)
    assert bool(((full[inside] >= 0.5) & (full[inside] < 0.6)).all()) and float(full[outside].abs().max()) == 0
    assert torch.equal(full[s[0, 0] == 1], torch.ones(32))  # contours kept
    assert torch.equal(_stage(ws, ablation="C").g_input(s, m, lab)[0, 0], s[0, 0])  # no noise fusion
    noise = _stage(ws, ablation="A").g_input(s, m, lab)[0, 0]  # noise only: no structure, no mask
    assert float(noise[m[0, 0] == 0].min()) < 0.5 and float(noise.max()) > 0.6
    assert not torch.equal(noise[10] == 1, s[0, 0, 10] == 1)


def test_mask_filter_keeps_lesions_inside_the_mask_and_ablation_b_does_not(ws):
    masks = np.zeros((8, 32, 32), np.uint8)
    masks[:, :16, :16] = 1
    filt = _stage(ws).place_labels(masks, np.random.default_rng(0))
    free = _stage(ws, ablation="B").place_labels(masks, np.random.default_rng(0))
    assert (filt > 0).any() and not (filt[masks == 0] > 0).any()
    assert (free > 0).reshape(8, -1).any(1).all() and (free[masks == 0] > 0).any()
    assert set(np.unique(filt)) <= {0, 1, 2}


def test_training_places_lesions_through_the_synthesis_placement_with_the_same_draws(ws):
    """One placement implementation: the stage's labels are LesionSource.choose's, draw for draw, and
    equal to what the stage drew before it shared that code (augment_batch on the same stream)."""
    from synth_core.lesions import augment_batch
    from synth_core.synthesis.lesions import LesionSource

    masks = np.zeros((6, 32, 32), np.uint8)
    masks[:, 4:28, 6:30] = 1
    for ablation, frac in (("F", 1.0), ("B", 1.0), ("F", 0.5)):
        stage = _stage(ws, ablation=ablation, lesion_fraction=frac)
        got = stage.place_labels(masks, np.random.default_rng(7))
        src = LesionSource("augmented", stage.bank, stage.ranges, tries=stage.cfg.lesion_tries,
                           mask_filter=stage.cfg.mask_filter)
        rng_new, rng_old = np.random.default_rng(7), np.random.default_rng(7)
        for i, m in enumerate(masks):
            if rng_new.random() >= frac:
                assert rng_old.random() >= frac and not got[i].any()
                continue
            rng_old.random()
            assert np.array_equal(got[i], src.choose(m, rng_new)[0])
            target = m if stage.cfg.mask_filter else np.ones_like(m)
            old = augment_batch(stage.bank, target, 1, stage.ranges, rng_old, max_tries=stage.cfg.lesion_tries)
            assert np.array_equal(got[i], old.labels[0] if old.n_accepted else np.zeros_like(m))
        assert (got > 0).any()


def test_registration_loss_covers_every_ordered_pair_in_one_translator_call(ws):
    stage = _stage(ws)
    G_t = stage.translator
    calls = []
    hook = G_t.register_forward_hook(lambda m, a, out: calls.append(a[0].shape[0]))
    fake = torch.rand(3, 2, 32, 32)
    with torch.no_grad():
        reg, cross = stage._registration_losses(fake, np.random.default_rng(0))
        one = torch.nn.functional.one_hot
        t01 = G_t(fake[:, :1], one(torch.full((3,), 1), 2).float())  # t1 -> t2
        t10 = G_t(fake[:, 1:], one(torch.full((3,), 0), 2).float())  # t2 -> t1
        ref = ((t01[:, 0] - fake[:, 1]) ** 2).mean() + ((t10[:, 0] - fake[:, 0]) ** 2).mean()
        assert calls[0] == 6 and cross is None  # both pairs batched; no cross term for M = 2
        assert float(reg) == pytest.approx(float(ref), rel=1e-5)
        sub = _stage(ws, reg_pairs=1)
        sub_reg, _ = sub._registration_losses(fake, np.random.default_rng(0))  # one pair, scaled by 2
        assert float(sub_reg) == pytest.approx(2 * float(((t01[:, 0] - fake[:, 1]) ** 2).mean()), rel=1e-5) or \
            float(sub_reg) == pytest.approx(2 * float(((t10[:, 0] - fake[:, 0]) ** 2).mean()), rel=1e-5)
    hook.remove()


def test_blurred_registration_loss(ws):
    """``reg_blur``: eq. 16 on Gaussian-blurred images; independent pixel noise on the generated
    images costs much less than in the pixel-exact term."""
    stage, blurred = _stage(ws), _stage(ws, reg_blur=1.5)
    fake = torch.rand(3, 2, 32, 32)
    with torch.no_grad():
        one = torch.nn.functional.one_hot
        t01 = stage.translator(fake[:, :1], one(torch.full((3,), 1), 2).float())[:, 0]
        t10 = stage.translator(fake[:, 1:], one(torch.full((3,), 0), 2).float())[:, 0]
        b = lambda t: gaussian_blur(t[:, None], 1.5)[:, 0]  # noqa: E731
        ref = ((b(t01) - b(fake[:, 1])) ** 2).mean() + ((b(t10) - b(fake[:, 0])) ** 2).mean()
        blurred.translator.load_state_dict(stage.translator.state_dict())
        reg, _ = blurred._registration_losses(fake, np.random.default_rng(0))
        sharp, _ = stage._registration_losses(fake, np.random.default_rng(0))
    assert float(reg) == pytest.approx(float(ref), rel=1e-5)
    assert float(reg) < 0.5 * float(sharp)  # uniform noise images: most of the error is pixel noise
    with pytest.raises(ConfigError, match="reg_blur"):
        _stage(ws, reg_blur=-1.0)


def test_resume_continues_exactly_with_the_same_helpers(ws):
    from training.loop import Trainer

    w = Workspace.open(ws)
    cfg = make_config(MultimodalConfig, {"dataset": "tiny", "base_channels": 4, "depth": 2, "d_n_down": 2,
                                         "batch_size": 2, "steps": 2, "pretrain_steps": 1, "checkpoint_every": 2,
                                         "sample_every": 0, "threads": 1, "val_slices": 4})
    Trainer(MultimodalStage, cfg, w, run_id="mm-ref", progress=False).run()
    Trainer(MultimodalStage, cfg, w, run_id="mm-cut", progress=False, stop_after=2).run()
    Trainer(MultimodalStage, cfg, w, resume="mm-cut", progress=False).run()
    ref, cut = _metrics(ws, "mm-ref"), _metrics(ws, "mm-cut")
    assert [r["step"] for r in cut] == [1, 2, 3]
    for a, b in zip(ref, cut):
        keys = {"pre_total", "g_total", "d_total", "les", "reg"} & set(a)
        assert keys and keys <= set(b)
        for k in keys:
            assert a[k] == pytest.approx(b[k], rel=1e-5), (a["step"], k)


# ---- refusals ---------------------------------------------------------------------------------------
def test_refuses_when_the_translator_run_is_missing(ws, tmp_path, capsys):
    other = tmp_path / "ws"
    shutil.copytree(ws, other, ignore=lambda d, names: [n for n in names if n.startswith(("mm-", "tr-"))])
    capsys.readouterr()
    assert _cli(other, "multimodal", "--dataset", "tiny", "--steps", "1", *MM) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "python -m training translator --dataset tiny" in err
    assert "registration=false" in err
    assert not [r for r in Workspace.open(other).list("runs") if r.startswith("multimodal")]  # nothing started
    # without registration (ablation D) the translator is not needed
    assert _cli(other, "multimodal", "--dataset", "tiny", "--steps", "1", "--run-name", "noreg", *MM,
                "--set", "pretrain_steps=0", "--set", "registration=false") == 0


def test_refuses_helpers_of_another_dataset_and_data_without_lesions(ws, capsys):
    make_tiny_dataset(ws, name="tiny2", seed=1)
    assert _cli(ws, "multimodal", "--dataset", "tiny2", "--steps", "1", *MM, "--set", "structure_run=st-tiny") == 2
    assert "structure run 'st-tiny' was trained on dataset 'tiny' (fingerprint" in capsys.readouterr().err
    spec = DatasetSpec(name="nolesion", layout="png", kind="other", modalities=("grey",),
                       label_names={0: "background", 1: "lesion"}, size=16)
    with DatasetWriter(Workspace.open(ws).path("datasets", "nolesion"), spec) as w:
        img = np.random.default_rng(0).random((2, 1, 16, 16)).astype(np.float32)
        w.add_case("c0", img, np.ones((2, 16, 16)), np.zeros((2, 16, 16)), [0, 1], (1, 1, 1), "c0.png")
    assert _cli(ws, "multimodal", "--dataset", "nolesion", "--steps", "1", *MM) == 2
    assert "has no lesion labels in its training split; lesion guidance" in capsys.readouterr().err


def test_single_modality_switches_registration_off(ws):
    make_tiny_dataset(ws, name="mono", modalities=("t1",))
    _helpers(ws, "mono", translator=False)
    assert _cli(ws, "multimodal", "--dataset", "mono", "--steps", "1", "--run-name", "mm-mono", *MM,
                "--set", "pretrain_steps=1") == 0
    keys = set(_metrics(ws, "mm-mono")[-1])
    assert {"g_adv", "les", "d_real"} <= keys and not {"reg", "g_cls", "d_cls"} & keys
    ck = load_checkpoint(RunDir.open(Workspace.open(ws), "mm-mono").checkpoint_path("last"))
    assert ck["meta"]["switches"]["registration"] is False and ck["config"]["registration"] is True
    assert "translator" not in ck["meta"]["helpers"]


# ---- torchrun ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_cpu_processes(ws):
    import os

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = dict(os.environ, MEDSYNTH_WORKSPACE=str(ws), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "training", "multimodal", "--dataset", "tiny",
         "--steps", "2", "--run-name", "mm-ddp", *MM, "--set", "pretrain_steps=1", "--set", "checkpoint_every=2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = RunDir.open(Workspace.open(ws), "mm-ddp")
    assert run.read_config()["world_size"] == 2
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[-1]["phase"] == "adversarial"
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 3 and not any(k.startswith("module.") for k in ck["models"]["G"])
    assert run.read_status()["state"] == "finished"


def test_reconstruction_anchor_in_the_adversarial_phase(ws):
    """``adv_rec_weight``: eq. 18 on the batch's real slices, computed in the same call of G as the generated
    samples; off by default (thesis), logged as ``adv_rec`` when on, and it equals the pre-training loss."""
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "2", "--run-name", "mm-anchor", *MM,
                "--set", "pretrain_steps=1", "--set", "adv_rec_weight=10") == 0
    rows = _metrics(ws, "mm-anchor")
    assert "adv_rec" not in rows[0] and all(r["adv_rec"] > 0 for r in rows[1:])
    assert "adv_rec" not in _stage(ws).loss_names  # the default keeps the thesis's losses
    torch.manual_seed(0)
    # a constant fusion noise (low = high) makes G's input a pure function of the real slice
    stage = _stage(ws, adv_rec_weight=10.0, pretrain_steps=0, batch_size=2, noise_low=0.5, noise_high=0.5)
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    inp = stage.g_input(batch["structure"], batch["mask"], batch["label"])
    with torch.no_grad():
        rec = generate_modalities(stage.G, inp, stage.n_mod).float()
    x, m = batch["image"], batch["mask"]
    expected = ((F.mse_loss(rec, x) + F.mse_loss(rec * m, x * m)) * stage.n_mod).item()
    out = stage._adversarial_step(batch, np.random.default_rng(0))
    assert out["adv_rec"] == pytest.approx(expected, rel=1e-4)  # the loss is taken before G's step
    with pytest.raises(ConfigError):
        _stage(ws, adv_rec_weight=-1.0)


def test_blurred_reconstruction_anchor(ws):
    """``adv_rec_blur``: the anchor compares Gaussian-blurred reconstructions with blurred real slices, so
    pixel-scale texture is not pulled to the average; it is a different, smaller number than the sharp one."""
    torch.manual_seed(0)
    stage = _stage(ws, adv_rec_weight=10.0, adv_rec_blur=1.5, pretrain_steps=0, batch_size=2, noise_low=0.5,
                   noise_high=0.5)
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    inp = stage.g_input(batch["structure"], batch["mask"], batch["label"])
    with torch.no_grad():
        rec = generate_modalities(stage.G, inp, stage.n_mod).float()
    x, m = batch["image"], batch["mask"]
    blurred = ((F.mse_loss(gaussian_blur(rec, 1.5), gaussian_blur(x, 1.5))
                + F.mse_loss(gaussian_blur(rec * m, 1.5), gaussian_blur(x * m, 1.5))) * stage.n_mod).item()
    sharp = ((F.mse_loss(rec, x) + F.mse_loss(rec * m, x * m)) * stage.n_mod).item()
    out = stage._adversarial_step(batch, np.random.default_rng(0))
    assert out["adv_rec"] == pytest.approx(blurred, rel=1e-4)
    assert blurred < sharp
    for bad in (-0.5, 9.0):
        with pytest.raises(ConfigError, match="adv_rec_blur"):
            _stage(ws, adv_rec_blur=bad)


def test_tissue_intensity_term(ws):
    """``tissue_weight``: per modality the W1 distance between generated intensities inside the generated
    organ mask and real ones inside the real mask (64 quantiles, as numpy reads them), summed; off and
    unlogged by default."""
    assert "tissue" not in _stage(ws).loss_names
    torch.manual_seed(0)
    stage = _stage(ws, tissue_weight=2.0, pretrain_steps=0, batch_size=2, noise_low=0.5, noise_high=0.5)
    assert "tissue" in stage.loss_names
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    own = (batch["structure"], batch["mask"], batch["label"])
    stage.generated_structures = lambda n, rng: own  # the generated side = the real slices' own inputs
    with torch.no_grad():
        fake = generate_modalities(stage.G, stage.g_input(*own), stage.n_mod).float().numpy()
    x, inside = batch["image"].numpy(), batch["mask"][:, 0].numpy() > 0
    q = (np.arange(64) + 0.5) / 64
    expected = sum(np.abs(np.quantile(fake[:, i][inside], q) - np.quantile(x[:, i][inside], q)).mean()
                   for i in range(stage.n_mod))
    out = stage._adversarial_step(batch, np.random.default_rng(0))
    assert out["tissue"] == pytest.approx(expected, rel=1e-4) and out["tissue"] > 0
    with pytest.raises(ConfigError, match="tissue_weight"):
        _stage(ws, tissue_weight=-1.0)


def test_modality_planes_known_answer():
    images = torch.arange(8, dtype=torch.float32).view(2, 1, 2, 2)
    out = with_modality_planes(images, torch.tensor([2, 0]), 3)
    assert out.shape == (2, 4, 2, 2)
    assert torch.equal(out[:, :1], images)
    assert out[0, 1:].flatten(1).tolist() == [[0.0] * 4, [0.0] * 4, [1.0] * 4]
    assert out[1, 1:].flatten(1).tolist() == [[1.0] * 4, [0.0] * 4, [0.0] * 4]
    assert with_modality_planes(images, torch.tensor([0, 0]), 1) is images  # one modality: the image alone


def test_patch_discriminator_for_local_texture(ws):
    """``patch_weight``: a PatchGAN ``D_p`` on every generated image with its modality planes trains beside
    ``D``, logs ``d_patch``, and adds ``patch_weight * g_patch`` to G's total (eq. 17's sum otherwise);
    off by default (thesis), and then neither the network nor its terms exist."""
    plain = _stage(ws)
    assert "D_p" not in plain.modules() and not {"g_patch", "d_patch"} & set(plain.loss_names)
    torch.manual_seed(0)
    stage = _stage(ws, patch_weight=2.0, patch_layers=1, pretrain_steps=0, batch_size=2)
    assert set(stage.modules()) == set(stage.optimizers()) == {"G", "D", "D_p"}
    assert {"g_patch", "d_patch"} <= set(stage.loss_names)
    assert stage.D_p.in_channels == 1 + stage.n_mod
    before = [p.detach().clone() for p in stage.D_p.parameters()]
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    out = stage._adversarial_step(batch, np.random.default_rng(0))
    assert set(stage.loss_names) - {"pre_mse", "pre_masked", "pre_total"} == set(out)
    assert out["g_patch"] > 0 and out["d_patch"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, stage.D_p.parameters()))
    cfg = stage.cfg
    expected = (cfg.g_adv_weight * out["g_adv"] + cfg.g_cls_weight * out["g_cls"] + cfg.les_weight * out["les"]
                + cfg.reg_weight * out["reg"] + cfg.patch_weight * out["g_patch"])
    assert out["g_total"] == pytest.approx(expected, rel=1e-5)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in stage.D_p.modules())  # default: instance norm
    bare = _stage(ws, patch_weight=2.0, patch_layers=2, patch_norm="none", pretrain_steps=0, batch_size=2)
    kinds = {type(m) for m in bare.D_p.modules()}
    assert not kinds & {torch.nn.InstanceNorm2d, torch.nn.BatchNorm2d, torch.nn.GroupNorm}
    assert set(bare._adversarial_step(batch, np.random.default_rng(0))) >= {"g_patch", "d_patch"}
    sn = _stage(ws, patch_weight=2.0, patch_layers=2, patch_norm="none", patch_spectral_norm=True, pretrain_steps=0,
                batch_size=2)
    convs = [m for m in sn.D_p.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in bare.D_p.modules())
    assert set(sn._adversarial_step(batch, np.random.default_rng(0))) >= {"g_patch", "d_patch"}
    for bad in ({"patch_weight": -1.0}, {"patch_layers": 0}, {"patch_layers": 5}, {"patch_base_channels": -1},
                {"patch_norm": "layer"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            _stage(ws, **bad)


def test_patch_discriminator_run_checkpoints_and_resumes(ws):
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "2", "--run-name", "mm-patch", *MM,
                "--set", "pretrain_steps=1", "--set", "patch_weight=1", "--set", "patch_layers=1",
                "--set", "checkpoint_every=2") == 0
    rows = _metrics(ws, "mm-patch")
    assert "g_patch" not in rows[0] and all(r["g_patch"] > 0 and r["d_patch"] > 0 for r in rows[1:])
    ck = load_checkpoint(RunDir.open(Workspace.open(ws), "mm-patch").checkpoint_path("last"))
    assert {"G", "D", "D_p"} <= set(ck["models"])
    from synth_core.runs.networks.multimodal import build_networks

    nets = build_networks(make_config(MultimodalConfig, ck["config"]), ck["meta"])
    nets["D_p"].load_state_dict({k: v.float() for k, v in ck["models"]["D_p"].items()})


def test_output_noise_trains_its_filters_adversarially_and_reloads(ws):
    """``output_noise`` wraps G in a NoisyGenerator whose filters start at 0 (the plain U-Net) and
    move in the adversarial phase; a saved run rebuilds and loads them; bad sizes are refused."""
    torch.manual_seed(0)
    stage = _stage(ws, output_noise=3, patch_weight=1.0, patch_layers=1, pretrain_steps=0, batch_size=2)
    assert isinstance(stage.G, NoisyGenerator) and stage.G.noise.weight.shape == (stage.n_mod, 1, 3, 3)
    assert torch.count_nonzero(stage.G.noise.weight) == 0
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    stage._adversarial_step(batch, np.random.default_rng(0))
    assert torch.count_nonzero(stage.G.noise.weight) > 0  # the adversarial terms reach the filters
    assert not isinstance(_stage(ws).G, NoisyGenerator)  # off by default (thesis)
    for bad in (2, -1, 17):
        with pytest.raises(ConfigError, match="output_noise"):
            _stage(ws, output_noise=bad)
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "1", "--run-name", "mm-noise", *MM,
                "--set", "pretrain_steps=1", "--set", "output_noise=3") == 0
    from synth_core.runs.loading import load_run

    G = load_run(Workspace.open(ws), "mm-noise", names=["G"]).nets["G"]
    ck = load_checkpoint(RunDir.open(Workspace.open(ws), "mm-noise").checkpoint_path("last"))
    assert isinstance(G, NoisyGenerator)
    assert torch.equal(G.noise.weight.float(), ck["models"]["G"]["noise.weight"].float())


def test_minibatch_std_discriminator_trains_checkpoints_and_reloads(ws):
    """``d_minibatch_std``: D's real/fake head gets one more input channel, the adversarial phase
    runs with groups of one modality of the batch, and the checkpoint rebuilds; batch 1 is refused."""
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "2", "--run-name", "mm-mbstd", *MM,
                "--set", "pretrain_steps=1", "--set", "d_minibatch_std=true", "--set", "checkpoint_every=2") == 0
    rows = _metrics(ws, "mm-mbstd")
    assert all(np.isfinite(r["d_total"]) and np.isfinite(r["g_adv"]) for r in rows[1:])
    ck = load_checkpoint(RunDir.open(Workspace.open(ws), "mm-mbstd").checkpoint_path("last"))
    from synth_core.runs.networks.multimodal import build_networks

    nets = build_networks(make_config(MultimodalConfig, ck["config"]), ck["meta"])
    nets["D"].load_state_dict({k: v.float() for k, v in ck["models"]["D"].items()})
    assert nets["D"].minibatch_std and nets["D"].real_head.in_channels == nets["D"].out_channels + 1
    with pytest.raises(ConfigError, match="d_minibatch_std needs batch_size >= 2"):
        _stage(ws, d_minibatch_std=True, batch_size=1)


def test_style_code_prior_from_the_training_split_and_real_codes_in_pretraining(ws):
    """``style_quantiles``: G's prior holds the training slices' code statistics, real slices are
    generated with their own standardised code, the code reaches G's FiLM weights in both phases,
    and a saved run reloads the prior with G; off by default (thesis)."""
    from synth_core.nets.style import style_codes, style_prior_of

    q = (0.25, 0.5, 0.75)
    torch.manual_seed(0)
    stage = _stage(ws, style_quantiles=q, pretrain_steps=1, batch_size=2)
    prior = style_prior_of(stage.G)
    train = load_rows(stage.ds, stage.ds.split_indices("train"))
    codes, valid = style_codes(train["image"], train["mask"], q, train["label"])
    torch.testing.assert_close(prior.mean, codes[valid].mean(0))
    torch.testing.assert_close(prior.sd, codes[valid].std(0, unbiased=False))
    batch = load_rows(stage.ds, stage.ds.split_indices("train")[:2], stage.device)
    z = stage.real_style(batch)
    raw, ok = style_codes(batch["image"], batch["mask"], q, batch["label"])
    assert ok.all() and z.shape == (2, stage.n_mod, 3)
    torch.testing.assert_close(prior.raw(z), raw)
    film = stage.G.up_block[0].film.weight  # columns: n_mod conditions, then n_mod x 3 style slots
    before = film.detach().clone()
    stage._pretrain_step(batch)
    assert (film.detach() - before)[:, stage.n_mod:].abs().max() > 0  # the code reaches G
    before = film.detach().clone()
    stage._adversarial_step(batch, np.random.default_rng(0))
    assert (film.detach() - before)[:, stage.n_mod:].abs().max() > 0
    assert style_prior_of(_stage(ws).G) is None
    assert _cli(ws, "multimodal", "--dataset", "tiny", "--steps", "1", "--run-name", "mm-style", *MM,
                "--set", "pretrain_steps=1", "--set", "style_quantiles=0.25,0.5,0.75") == 0
    from synth_core.runs.loading import load_run

    G = load_run(Workspace.open(ws), "mm-style", names=["G"]).nets["G"]
    assert torch.equal(style_prior_of(G).mean, prior.mean) and torch.equal(style_prior_of(G).chol, prior.chol)


def test_style_reconstruction_term_reads_the_drawn_code_back(ws):
    """``style_rec_weight``: the mean L1 distance between each generated sample's drawn standardised
    code and the code read back from its images inside its generated organ mask. Known answers: 0 for
    images that have the code, ``mean_j 0.1 / sd_j`` over all slots for a +0.1 shift of one modality;
    the step logs exactly that distance for its drawn code; the term alone pulls G's output to the
    code; needs a style code; off and unlogged by default."""
    q = (0.25, 0.5, 0.75)
    assert "style_rec" not in _stage(ws, style_quantiles=q).loss_names
    with pytest.raises(ConfigError, match="style_rec_weight > 0 needs a style code"):
        _stage(ws, style_rec_weight=1.0)
    with pytest.raises(ConfigError, match="style_rec_weight must be >= 0"):
        _stage(ws, style_quantiles=q, style_rec_weight=-1.0)
    torch.manual_seed(0)
    stage = _stage(ws, style_quantiles=q, style_rec_weight=2.0, pretrain_steps=0, batch_size=2,
                   noise_low=0.5, noise_high=0.5)
    assert "style_rec" in stage.loss_names
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    x, m = batch["image"].float(), batch["mask"]
    own_code = stage.real_style(batch)  # the standardised codes of these very images
    assert bool((batch["label"] > 0).any())  # lesions present: the code must read around them
    assert stage._style_reconstruction(x, m, batch["label"], own_code).item() == pytest.approx(0.0, abs=1e-5)
    shifted = x.clone()
    shifted[:, 0] += 0.1
    expected = (0.1 / stage.style_prior.sd[0]).sum().item() / (stage.n_mod * len(q))
    assert stage._style_reconstruction(shifted, m, batch["label"], own_code).item() == pytest.approx(expected, rel=1e-4)
    assert stage._style_reconstruction(x, torch.zeros_like(m), batch["label"], own_code).item() == 0.0  # no organ, no code
    images = (x + 0.05).requires_grad_(True)
    stage._style_reconstruction(images, m, batch["label"], own_code).backward()  # through the quantiles' sort
    outside = ((m[:, 0] == 0) | (batch["label"] > 0))[:, None].expand_as(images)  # off the organ or on the lesion
    assert images.grad.abs().sum() > 0 and images.grad[outside].abs().max() == 0

    own = (batch["structure"], batch["mask"], batch["label"])
    stage.generated_structures = lambda n, rng: own  # the generated side = the real slices' own inputs
    drawn = torch.tensor([[[1.0, 0.5, -0.5]] * stage.n_mod, [[-1.0, 0.0, 1.5]] * stage.n_mod])
    stage.style_prior.sample = lambda n, generator=None: drawn.clone()
    with torch.no_grad():
        fake = generate_modalities(stage.G, stage.g_input(*own), stage.n_mod, style=drawn).float()
    expected = stage._style_reconstruction(fake, m, batch["label"], drawn).item()
    out = stage._adversarial_step(batch, np.random.default_rng(0))
    assert out["style_rec"] == pytest.approx(expected, rel=1e-4) and out["style_rec"] > 0

    # the term alone (every other G weight 0) pulls the generated contrast to the drawn code
    torch.manual_seed(0)
    alone = _stage(ws, style_quantiles=q, style_rec_weight=1.0, pretrain_steps=0, batch_size=2, lr=0.01,
                   noise_low=0.5, noise_high=0.5, g_adv_weight=0.0, g_cls_weight=0.0, les_weight=0.0,
                   reg_weight=0.0, reg_cross_weight=0.0)
    alone.generated_structures = lambda n, rng: own
    alone.style_prior.sample = lambda n, generator=None: drawn.clone()
    seen = [alone._adversarial_step(batch, np.random.default_rng(i))["style_rec"] for i in range(15)]
    assert seen[-1] < 0.5 * seen[0]


def test_feature_matching_term_on_the_anchor_pairs(ws):
    """``fm_weight``: the L1 distance between D_p's hidden activations on each real slice and on its
    reconstruction, per layer, averaged over the layers and summed over modalities, each image with
    its own modality's planes (known answer built image by image); 0 for a perfect reconstruction;
    gradients reach G and not D_p's real side; needs D_p and the anchor; off and unlogged by default."""
    assert "fm" not in _stage(ws, patch_weight=1.0, adv_rec_weight=1.0).loss_names
    with pytest.raises(ConfigError, match="fm_weight > 0 needs D_p and the anchor's pairs"):
        _stage(ws, fm_weight=1.0, adv_rec_weight=1.0)
    with pytest.raises(ConfigError, match="fm_weight > 0 needs D_p and the anchor's pairs"):
        _stage(ws, fm_weight=1.0, patch_weight=1.0)
    with pytest.raises(ConfigError, match="fm_weight must be >= 0"):
        _stage(ws, fm_weight=-1.0)
    torch.manual_seed(0)
    stage = _stage(ws, fm_weight=3.0, patch_weight=1.0, adv_rec_weight=1.0, pretrain_steps=0, batch_size=2)
    assert "fm" in stage.loss_names
    batch = load_rows(stage.ds, stage.val_rows[:2], stage.device)
    x = batch["image"].float()
    b, m = x.shape[:2]
    cls = torch.arange(m).repeat_interleave(b)
    assert stage._feature_matching(x, x, cls).item() == 0.0
    rec = (x + 0.1 * torch.randn_like(x)).requires_grad_(True)
    per_layer = None
    for i in range(m):  # by hand: every image alone, with its modality's one-hot planes
        for j in range(b):
            planes = torch.zeros(1, m, *x.shape[-2:])
            planes[:, i] = 1.0
            _, f_rec = stage.D_p(torch.cat([rec[j : j + 1, i : i + 1].detach(), planes], 1), with_features=True)
            _, f_real = stage.D_p(torch.cat([x[j : j + 1, i : i + 1], planes], 1), with_features=True)
            d = torch.stack([(a - c).abs().sum() for a, c in zip(f_rec, f_real)]).detach()
            per_layer = d if per_layer is None else per_layer + d
    sizes = torch.tensor([float(f.numel()) for f in f_rec]) * b * m  # elements per layer over all images
    expected = float((per_layer / sizes).mean() * m)
    fm = stage._feature_matching(rec, x, cls)
    assert fm.item() == pytest.approx(expected, rel=1e-4) and fm.item() > 0
    fm.backward()
    assert rec.grad.abs().sum() > 0
    out = stage._adversarial_step(batch, np.random.default_rng(0))
    assert out["fm"] > 0 and np.isfinite(out["g_total"])

    # the term moves G: one step with fm_weight differs from the same step without it
    def step_with(weight):
        torch.manual_seed(1)
        s = _stage(ws, fm_weight=weight, patch_weight=1.0, adv_rec_weight=1.0, pretrain_steps=0, batch_size=2)
        s._adversarial_step(batch, np.random.default_rng(0))
        return torch.cat([p.detach().flatten() for p in s.G.parameters()])

    assert not torch.equal(step_with(0.0), step_with(10.0))
