"""The pix2pix lesion-whitening stage (METHOD.md §10) and its inference helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synth_core.errors import ConfigError
from synth_core.nets import UNet
from synth_core.whitening import WHITE, fill_input, fill_lesions, input_channels, lesion_box, whiten
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from synth_core.runs.checkpoint import load_checkpoint
from training.cli import main
from synth_core.runs.config import make_config
from synth_core.runs.loading import load_run
from synth_core.runs.folder import RunDir
from synth_core.runs.networks.pix2pix import build_networks, input_classes, patch_output_size, unet_depth
from training.stages.pix2pix import Pix2PixConfig, freeze_idle_bottleneck_norms, gan_loss

TINY = ["--set", "base_channels=4", "--set", "d_channels=4", "--set", "threads=1", "--no-progress"]
LOSSES = {"g_adv", "g_l1", "g_total", "d_real", "d_fake", "d_total"}


# ---- whitening helpers ---------------------------------------------------------------------
def test_whiten_sets_exactly_the_lesion_pixels_to_white():
    img = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.float32)
    lab = np.array([[0, 2, 0], [1, 0, 0]], np.uint8)
    out = whiten(img, lab)
    assert out.dtype == np.float32 and out.shape == img.shape
    lesion = lab > 0
    assert np.all(out[lesion] == 1.0) and np.array_equal(out[~lesion], img[~lesion])
    np.testing.assert_array_equal(img, np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], np.float32))  # untouched


@pytest.mark.parametrize("label_shape", [(3, 8, 8), (3, 1, 8, 8)])
def test_whiten_batched_torch(label_shape):
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 1, 8, 8, generator=g) * 0.9
    lab = (torch.rand(label_shape, generator=g) > 0.7).long() * 2
    out = whiten(img, lab)
    sel = (lab > 0).reshape(3, 1, 8, 8)
    assert out.shape == img.shape
    assert torch.all(out[sel] == WHITE) and torch.equal(out[~sel], img[~sel])


def test_whiten_names_bad_shapes():
    with pytest.raises(ValueError, match=r"got image \(2, 1, 8, 8\) and label \(8, 8\)"):
        whiten(torch.zeros(2, 1, 8, 8), torch.zeros(8, 8))


def test_lesion_box_is_grown_to_the_ssim_window_and_clipped():
    lab = np.zeros((20, 20), np.uint8)
    lab[0, 10] = 1
    rows, cols = lesion_box(lab, margin=1, min_size=7)
    assert (rows.start, rows.stop) == (0, 7) and cols.stop - cols.start == 7 and cols.start <= 10 < cols.stop
    lab[5:15, 2:4] = 1
    rows, cols = lesion_box(lab, margin=2)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 17, 0, 13)
    assert lesion_box(np.zeros((5, 5))) is None


def test_fill_lesions_composites_and_restores_the_mode():
    torch.manual_seed(0)
    G = UNet(in_channels=1, out_channels=1, base_channels=4, depth=2, dropout=0.5)
    images = torch.rand(3, 1, 16, 16)
    labels = torch.zeros(3, 16, 16, dtype=torch.long)
    labels[:, 4:9, 5:11] = 1
    out = fill_lesions(G, images, labels, chunk=2)
    assert out.shape == images.shape and G.training  # mode restored
    inside = labels[:, None] > 0
    assert torch.equal(out[~inside], images[~inside])  # outside the lesion: copied exactly
    G.eval()
    raw = G(whiten(images, labels))
    assert torch.allclose(out[inside], raw[inside])  # inside: the generator's (eval-mode) output
    raw2 = fill_lesions(G, images, labels, composite=False)
    assert torch.allclose(raw2, raw) and not G.training  # eval mode kept when it was eval
    single = fill_lesions(G, images[0, 0], labels[0])
    assert single.shape == (16, 16) and torch.allclose(single, out[0, 0])


def test_fill_input_is_the_whitened_slice_then_one_channel_per_lesion_class():
    image = torch.full((1, 1, 4, 4), 0.25)
    label = torch.tensor([[[0, 1, 0, 0], [0, 3, 3, 0], [0, 0, 2, 0], [0, 0, 0, 0]]])
    paper = fill_input(image, label)  # n_classes = 1: the paper's input
    assert paper.shape == (1, 1, 4, 4) and torch.equal(paper, whiten(image, label))
    x = fill_input(image, label[:, None], 4)  # a (B,1,H,W) label works the same
    assert x.shape == (1, 4, 4, 4)
    assert torch.equal(x[:, 0], whiten(image, label)[:, 0])
    for k in (1, 2, 3):  # channel k: 1 exactly where the label has class k
        assert torch.equal(x[0, k], (label[0] == k).float())
    with pytest.raises(ValueError, match="label"):
        fill_input(image, label, 3)  # class 3 does not fit 3 classes (0..2)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        fill_input(image[0], label)


def test_fill_lesions_gives_a_label_input_generator_the_classes():
    """A generator built with ``label_input`` takes ``1 + lesion classes`` channels; ``fill_lesions``
    reads that from the network and builds the input, so two labels with the same lesion pixels but
    other classes give other fills, and the paper generator still gets the whitened slice alone."""
    meta = {"image_size": 16, "label_names": {"0": "background", "1": "core", "2": "oedema", "3": "rim"}}
    cfg = make_config(Pix2PixConfig, {"base_channels": 4, "d_channels": 4, "depth": 2, "label_input": True})
    assert input_classes(cfg, meta) == 4 and input_classes(make_config(Pix2PixConfig, {}), meta) == 1
    torch.manual_seed(0)
    nets = build_networks(cfg, meta)
    assert input_channels(nets["G"]) == 4 and nets["D"].in_channels == 5  # D sees input + image
    images = torch.rand(2, 1, 16, 16)
    rim = torch.zeros(2, 16, 16, dtype=torch.long)
    rim[:, 4:10, 4:10] = 3
    oedema = torch.where(rim > 0, 2, 0)
    a, b = fill_lesions(nets["G"], images, rim), fill_lesions(nets["G"], images, oedema)
    inside = rim[:, None] > 0
    assert torch.equal(a[~inside], images[~inside]) and not torch.allclose(a[inside], b[inside])
    G = nets["G"].eval()
    assert torch.allclose(a[inside], G(fill_input(images, rim, 4))[inside])


# ---- networks ------------------------------------------------------------------------------
def test_patchgan_output_is_30x30_at_512_px_with_4_layers():
    cfg = Pix2PixConfig(d_channels=2, n_layers=4, base_channels=2)
    nets = build_networks(cfg, {"image_size": 512})
    with torch.no_grad():
        assert nets["D"](torch.zeros(1, 2, 512, 512)).shape == (1, 1, 30, 30)
    assert patch_output_size(512, 4) == 30 and patch_output_size(256, 3) == 30
    assert nets["D"].receptive_field(3) == 70
    assert unet_depth(cfg, 512) == 9 and nets["G"].depth == 9  # the encoder reaches 1×1
    assert unet_depth(cfg, 128) == 7 and unet_depth(cfg, 184) == 3
    assert unet_depth(Pix2PixConfig(depth=4), 512) == 4
    # the 1×1 bottleneck's instance norms get no gradient: frozen so DDP does not wait for them
    assert freeze_idle_bottleneck_norms(build_networks(cfg, {"image_size": 32})["G"], 32) == 4
    assert freeze_idle_bottleneck_norms(build_networks(Pix2PixConfig(depth=3), {"image_size": 32})["G"], 32) == 0


def test_gan_losses_known_values():
    zero, two = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)
    assert gan_loss(zero, True, "vanilla").item() == pytest.approx(np.log(2))
    assert gan_loss(zero, False, "vanilla").item() == pytest.approx(np.log(2))
    assert gan_loss(two, True, "lsgan").item() == pytest.approx(1.0)
    assert gan_loss(two, False, "lsgan").item() == pytest.approx(4.0)


@pytest.mark.parametrize("bad,match", [({"gan_mode": "wgan"}, "gan_mode must be one of vanilla, lsgan"),
                                       ({"norm": "layer"}, "norm must be one of"),
                                       ({"depth": 11}, "depth must be between 0"),
                                       ({"lambda_l1_lesion": -1.0}, "lambda_l1_lesion must be >= 0")])
def test_bad_settings_are_named(bad, match):
    with pytest.raises(ConfigError, match=match):
        make_config(Pix2PixConfig, bad)


# ---- the stage through the CLI -------------------------------------------------------------
def test_pix2pix_runs_checkpoints_and_reloads(tiny_ws):
    rc = main(["pix2pix", "--dataset", "tiny", "--steps", "4", "--run-name", "p", *TINY, "--set", "modality=t2",
               "--set", "sample_every=2", "--set", "checkpoint_every=2"])
    assert rc == 0
    ws = Workspace.open(tiny_ws)
    run = RunDir.open(ws, "p")
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert LOSSES | {"lr_G", "lr_D"} <= set(rows[0]) and run.read_config()["loss_names"] == [
        "g_adv", "g_l1", "g_total", "d_real", "d_fake", "d_total"]
    r = rows[-1]
    assert r["g_total"] == pytest.approx(r["g_adv"] + 100 * r["g_l1"], rel=1e-5)
    assert r["d_total"] == pytest.approx(0.5 * (r["d_real"] + r["d_fake"]), rel=1e-5)
    assert [p.name for p in run.sample_files()] == ["step-0000002.png", "step-0000004.png"]
    val = [json.loads(x) for x in (run.path / "validation.jsonl").read_text().splitlines()]
    assert [v["step"] for v in val] == [2, 4]
    assert {"val_psnr", "val_ssim", "val_psnr_lesion", "val_ssim_lesion", "val_l1_lesion"} <= set(val[-1])
    assert val[-1]["score"] == val[-1]["val_psnr"] > 0 and -1 <= val[-1]["val_ssim"] <= 1
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 4 and set(ck["models"]) == {"G", "D"} and ck["meta"]["modality"] == "t2"
    loaded = load_run(ws, "p")
    assert set(loaded.nets) == {"G", "D"} and loaded.nets["G"].depth == 5  # 32 px down to 1×1
    images = torch.rand(2, 1, 32, 32)
    labels = torch.zeros(2, 32, 32, dtype=torch.long)
    labels[:, 10:20, 12:18] = 2
    assert fill_lesions(loaded.nets["G"], images, labels).shape == (2, 1, 32, 32)


def test_lesion_l1_term_is_logged_and_weighted_in_g_total(tiny_ws):
    """``lambda_l1_lesion``: the mean error over the lesion pixels joins G's loss with its weight; off by
    default (paper), and then it is neither computed nor logged."""
    assert main(["pix2pix", "--dataset", "tiny", "--steps", "3", "--run-name", "les", *TINY, "--set", "sample_every=0",
                 "--set", "checkpoint_every=3", "--set", "lambda_l1_lesion=7"]) == 0
    run = RunDir.open(Workspace.open(tiny_ws), "les")
    assert "g_l1_lesion" in run.read_config()["loss_names"]
    for r in run.read_metrics():
        assert r["g_l1_lesion"] > 0
        assert r["g_total"] == pytest.approx(r["g_adv"] + 100 * r["g_l1"] + 7 * r["g_l1_lesion"], rel=1e-5)
    assert make_config(Pix2PixConfig, {}).lambda_l1_lesion == 0  # the paper's loss by default


def test_label_input_run_trains_reloads_and_fills_with_the_classes(tiny_ws):
    """``label_input``: the run's ``G`` takes the lesion classes (tiny dataset: 3 classes), survives
    a checkpoint round trip with that shape, and fills from a label's classes."""
    assert main(["pix2pix", "--dataset", "tiny", "--steps", "2", "--run-name", "lab", *TINY, "--set", "sample_every=2",
                 "--set", "checkpoint_every=2", "--set", "label_input=true"]) == 0
    ws = Workspace.open(tiny_ws)
    loaded = load_run(ws, "lab")
    n = max(int(k) for k in loaded.meta["label_names"]) + 1
    assert n > 1 and input_channels(loaded.nets["G"]) == n
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[:, 10:20, 12:18] = n - 1
    assert fill_lesions(loaded.nets["G"], torch.rand(1, 1, 32, 32), labels).shape == (1, 1, 32, 32)


def test_pix2pix_l1_decreases(tiny_ws):
    torch.set_num_threads(2)
    rc = main(["pix2pix", "--dataset", "tiny", "--steps", "40", "--run-name", "l1", *TINY,
               "--set", "lr=0.002", "--set", "batch_size=4", "--set", "sample_every=0", "--set", "checkpoint_every=40"])
    assert rc == 0
    l1 = [r["g_l1"] for r in RunDir.open(Workspace.open(tiny_ws), "l1").read_metrics()]
    assert np.mean(l1[-5:]) < 0.8 * np.mean(l1[:5])


def test_pix2pix_refuses_a_dataset_without_lesions(workspace, capsys):
    from tests.ui.test_home_page import _tiny_dataset

    _tiny_dataset(workspace, "nolesion")
    assert main(["pix2pix", "--dataset", "nolesion", "--steps", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: dataset 'nolesion' has no lesion labels; the pix2pix stage needs them"
    assert Workspace.open(workspace).list("runs") == []


def test_pix2pix_unknown_modality_lists_the_datasets(tiny_ws, capsys):
    assert main(["pix2pix", "--dataset", "tiny", "--steps", "2", "--no-progress", "--set", "modality=flair"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: dataset 'tiny' has no modality 'flair'; choose one of t1, t2"


def test_pix2pix_refuses_a_patchgan_too_deep_for_the_size(tiny_ws, capsys):
    assert main(["pix2pix", "--dataset", "tiny", "--steps", "2", "--no-progress", "--set", "n_layers=4"]) == 2
    assert "needs images of at least 48 px; the dataset has 32 px" in capsys.readouterr().err


@pytest.mark.slow
def test_pix2pix_torchrun_two_cpu_processes(tiny_ws):
    import os

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = dict(os.environ, MEDSYNTH_WORKSPACE=str(tiny_ws), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "training", "pix2pix", "--dataset", "tiny",
         "--steps", "3", "--run-name", "ddp", "--set", "batch_size=2", "--set", "checkpoint_every=3",
         "--set", "sample_every=0", "--set", "gan_mode=lsgan", *TINY],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    ws = Workspace.open(tiny_ws)
    assert ws.list("runs") == ["ddp"]
    run = RunDir.open(ws, "ddp")
    assert run.read_config()["world_size"] == 2
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3] and LOSSES <= set(rows[0])
    ck = load_checkpoint(run.checkpoint_path("last"))
    assert ck["step"] == 3 and not any(k.startswith("module.") for k in ck["models"]["G"])
    assert run.read_status()["state"] == "finished"
