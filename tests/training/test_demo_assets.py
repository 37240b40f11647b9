"""The demo checkpoints shipped in demo_assets/runs load (weights only) and generate every modality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from synth_core.multimodal_model import fuse_noise_torch, generate_modalities, generator_input
from synth_core.structure_model import generate_structures, sample_latents
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from training.demo import install_demo_runs
from synth_core.runs.loading import find_runs, load_run

ASSETS = ROOT / "demo_assets" / "runs"


def test_shipped_demo_runs_are_small_and_complete():
    runs = sorted(p.name for p in ASSETS.iterdir() if p.is_dir())
    stages = {r.split("-")[1] for r in runs}
    assert stages == {"structure", "segmenter", "translator", "multimodal", "pix2pix"}
    total = sum(f.stat().st_size for f in ASSETS.rglob("*") if f.is_file())
    assert total < 60e6, f"demo assets are {total / 1e6:.1f} MB (limit 60 MB)"


def test_demo_checkpoints_generate_every_modality(tmp_path: Path):
    ws = Workspace.open(tmp_path / "ws")
    assert len(install_demo_runs(ws, ASSETS)) == 5
    st = load_run(ws, find_runs(ws, "structure")[0], names=["G_s", "G_m"])
    mm = load_run(ws, find_runs(ws, "multimodal")[0], which="best", names=["G"])
    modalities = mm.meta["modalities"]
    n_classes = max(int(k) for k in mm.meta["label_names"]) + 1
    z = sample_latents(2, st.nets["G_s"].latent_dim, seed=0)
    maps, masks = generate_structures(st.nets["G_s"], st.nets["G_m"], z)
    assert maps.shape == (2, 128, 128) and set(np.unique(maps)) <= {0, 1}
    s = torch.from_numpy(maps).float()[:, None]
    m = torch.from_numpy(masks).float()[:, None]
    fused = fuse_noise_torch(s, m, generator=torch.Generator().manual_seed(0))
    label = torch.zeros(2, 128, 128, dtype=torch.long)
    label[:, 60:70, 60:70] = 1
    with torch.no_grad():
        images = generate_modalities(mm.nets["G"], generator_input(fused, label, n_classes), len(modalities))
    assert images.shape == (2, len(modalities), 128, 128)
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    # the condition matters: modalities are not copies of each other
    diffs = [(images[:, i] - images[:, j]).abs().mean().item() for i in range(4) for j in range(i + 1, 4)]
    assert min(diffs) > 1e-3
