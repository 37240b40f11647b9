"""The `paper` preset at paper size (256 px): every stage's networks, built from the preset exactly
as a run would build them, take a forward and backward pass of one 256 px sample with the expected
output shapes. (A full training step at this width needs a GPU and writes checkpoints of hundreds
of megabytes; the training loop itself is tested at small sizes elsewhere.)"""

from __future__ import annotations

import pytest
import torch

from synth_core.runs.config import build_config
from synth_core.runs.networks import build_networks
from synth_core.runs.stage_configs import CONFIGS

SIZE = 256
META = {"image_size": SIZE, "modalities": ["t1", "t1ce", "t2", "flair"],
        "label_names": {"0": "background", "1": "core", "2": "edema", "3": "enhancing"}, "kind": "mri"}


def _nets(stage: str):
    cfg = build_config(CONFIGS[stage], stage, "paper", {"dataset": "x"})
    return cfg, build_networks(stage, cfg, META)


def _backward(out) -> None:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    sum(o.float().mean() for o in outs if o is not None).backward()


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["structure", "segmenter", "translator", "multimodal", "pix2pix"])
def test_paper_networks_run_at_256_px(stage):
    torch.manual_seed(0)
    cfg, nets = _nets(stage)
    x = torch.rand(1, 1, SIZE, SIZE)
    if stage == "structure":
        assert cfg.latent_dim == 1024 and cfg.base_channels == 64
        mean, logvar = nets["E_s"](x)
        assert mean.shape == logvar.shape == (1, 1024)
        s = nets["G_s"](mean)
        assert s.shape == (1, 1, SIZE, SIZE)
        assert nets["G_m"](s).shape == (1, 1, SIZE, SIZE)
        _backward((nets["D_s"](s)[0], nets["D_z"](mean)))
    elif stage == "segmenter":
        out = nets["seg_t1"](x)
        assert out.shape == (1, 4, SIZE, SIZE) and cfg.base_channels == 64
        _backward(out)
    elif stage == "translator":
        out = nets["G_t"](x, torch.eye(4)[:1])
        assert out.shape == (1, 1, SIZE, SIZE)
        _backward((out, *nets["D_t"](out)))
    elif stage == "multimodal":
        inp = torch.rand(1, 1 + 3, SIZE, SIZE)  # fused map + one channel per lesion class
        out = nets["G"](inp, torch.eye(4)[:1])
        assert out.shape == (1, 1, SIZE, SIZE) and cfg.base_channels == 64
        _backward((out, *nets["D"](out)))
    else:
        out = nets["G"](x)
        assert out.shape == (1, 1, SIZE, SIZE)
        patch = nets["D"](torch.cat([x, out], dim=1))
        assert patch.shape[-1] == 30  # the 70x70 PatchGAN's 30x30 patch output at 256 px
        _backward(patch)
