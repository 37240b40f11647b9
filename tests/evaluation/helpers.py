"""Tiny run folders for evaluation tests: real checkpoints (``synth_core.runs.checkpoint.save_checkpoint``)
of untrained, narrow networks, written in milliseconds instead of training."""

from __future__ import annotations

from typing import Any

import torch

from synth_core.dataset import Dataset
from synth_core.workspace import Workspace
from synth_core.runs.checkpoint import save_checkpoint
from synth_core.runs.config import config_to_dict, make_config
from synth_core.runs.networks import build_networks
from synth_core.runs.stage_configs import CONFIGS
from synth_core.runs.folder import RunDir

TINY = {
    "segmenter": {"base_channels": 4, "depth": 2},
    "multimodal": {"base_channels": 4, "depth": 2, "d_n_down": 2},
    "pix2pix": {"base_channels": 4, "depth": 2, "d_channels": 4, "n_layers": 1, "max_channels": 16},
}


def fake_run(ws_root, stage: str, run_id: str, dataset: str = "tiny", *, fingerprint: str | None = None,
             seed: int = 0, **overrides: Any) -> RunDir:
    """A finished ``stage`` run on ``dataset`` with randomly initialised (seeded) networks."""
    ws = Workspace.open(ws_root)
    ds = Dataset(ws.existing("datasets", dataset))
    cfg = make_config(CONFIGS[stage], {"dataset": dataset, **TINY.get(stage, {}), **overrides})
    meta = {"dataset": ds.name, "image_size": ds.spec.size, "modalities": list(ds.modalities),
            "label_names": {str(k): v for k, v in ds.label_names.items()}, "kind": ds.spec.kind,
            "dataset_content": ds.content_record()}  # as training.loop records it
    torch.manual_seed(seed)
    nets = build_networks(stage, cfg, meta)
    run = RunDir.create(ws, stage, run_id)
    run.write_config({"stage": stage, "config": config_to_dict(cfg), "dataset": ds.name,
                      "fingerprint": fingerprint or ds.fingerprint})
    save_checkpoint(run.checkpoint_path("last"), stage=stage, step=1, models=nets, optimizers={},
                    config=config_to_dict(cfg), fingerprint=fingerprint or ds.fingerprint, meta=meta)
    run.write_status("finished", stage=stage, step=1)
    return run
