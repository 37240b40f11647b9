"""Load trained networks from run folders (frozen helpers for later stages, synthesis, pages).

``synth_core.runs.networks.build_networks(stage, cfg, meta)`` builds a stage's networks; a
checkpoint holds the config and meta needed to call it, so a run rebuilds itself with no other input.
Network names: structure ``G_m, E_s, G_s, D_z, D_s``; segmenter ``seg_<modality>``; translator
``G_t, D_t``; multimodal ``G, D``; pix2pix ``G, D``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synth_core.errors import ConfigError, NotFoundError
from synth_core.runs.checkpoint import ema_name, file_sha256, load_checkpoint, load_weights
from synth_core.runs.config import make_config
from synth_core.runs.folder import RunDir, is_judge_run
from synth_core.runs.networks import build_networks
from synth_core.runs.stage_configs import CONFIGS
from synth_core.workspace import Workspace


@dataclass
class LoadedRun:
    run_id: str
    stage: str
    config: Any
    meta: dict[str, Any]
    nets: dict[str, nn.Module]
    checkpoint: Path
    step: int
    fingerprint: str

    def sha256(self) -> str:
        return file_sha256(self.checkpoint)


def find_runs(ws: Workspace, stage: str, dataset: str | None = None, *, finished_only: bool = True) -> list[str]:
    """Run ids of ``stage`` (on ``dataset`` if given), newest first."""
    out = []
    for rid in ws.list("runs"):
        run = RunDir(ws.runs / rid)
        try:
            cfg = run.read_config()
        except (OSError, ValueError):
            continue
        if cfg.get("stage") != stage or (dataset and cfg.get("dataset") != dataset):
            continue
        if finished_only and run.read_status().get("state") != "finished":
            continue
        if not run.checkpoint_path("last").exists():
            continue
        out.append((run.checkpoint_path("last").stat().st_mtime, rid))
    return [rid for _, rid in sorted(out, reverse=True)]


def resolve_run(ws: Workspace, stage: str, run_id: str, dataset: str | None) -> str:
    """``run_id`` if given (checked to be a ``stage`` run), else the newest finished one that is not
    an experiment's judge (:func:`synth_core.runs.folder.is_judge_run`)."""
    if run_id:
        cfg = RunDir.open(ws, run_id).read_config()
        if cfg.get("stage") != stage:
            raise ConfigError(f"run {run_id!r} is a {cfg.get('stage')!r} run, expected a {stage!r} run")
        return run_id
    found = [r for r in find_runs(ws, stage, dataset) if not is_judge_run(r)]
    if not found:
        where = f" on dataset {dataset!r}" if dataset else ""
        raise NotFoundError(f"no finished {stage!r} run{where} in {ws.runs}; train one first with "
                            f"`python -m training {stage}{' --dataset ' + dataset if dataset else ''}`")
    return found[0]


def load_run(ws: Workspace, run_id: str, *, which: str = "last", names: list[str] | None = None,
             device: torch.device | str = "cpu", frozen: bool = True, use_ema: bool = True) -> LoadedRun:
    """Rebuild a run's networks from its checkpoint (``which`` = last | best); networks saved with a
    weight average (``<name>_ema``, training.ema) get the averaged weights unless ``use_ema=False``."""
    run = RunDir.open(ws, run_id)
    path = run.checkpoint_path(which)
    if which == "best" and not path.exists():
        path = run.checkpoint_path("last")  # no better checkpoint was kept (or slim copies deduplicated it)
    ck = load_checkpoint(path)
    stage = ck["stage"]
    if stage not in CONFIGS:
        raise ConfigError(f"{path}: unknown stage {stage!r}")
    cfg = make_config(CONFIGS[stage], ck["config"])
    nets = build_networks(stage, cfg, ck["meta"])
    if names is not None:
        missing = [n for n in names if n not in nets]
        if missing:
            raise ConfigError(f"{path}: stage {stage!r} has no network(s) {missing}; it has {sorted(nets)}")
        nets = {n: nets[n] for n in names}
    for n, net in nets.items():
        # a generator trained with weight averaging is used through its averaged weights
        load_weights(net, ck, ema_name(n) if use_ema and ema_name(n) in ck["models"] else n, path)
        net.to(device)
        if frozen:
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
    return LoadedRun(run_id=run_id, stage=stage, config=cfg, meta=ck["meta"], nets=nets, checkpoint=path,
                     step=int(ck["step"]), fingerprint=ck["fingerprint"])
