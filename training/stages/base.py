"""The Stage contract: what a training stage provides to the shared loop (``training.loop``).

A stage owns its networks, optimizers and losses. The loop owns everything else: batches,
seeding, the metrics log, progress bar, sample grids, checkpoints, status, resume, DDP.
``train_step`` returns one dict of named losses (floats); the progress bar, the metrics log and
the dashboard's training page all read that same dict (names listed in ``loss_names``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from synth_core.dataset import Dataset
from synth_core.workspace import Workspace
from synth_core.runs.checkpoint import unwrap
from synth_core.distributed import DistInfo
from training.ema import EMA


class Stage:
    name: ClassVar[str] = ""
    config_cls: ClassVar[type] = object
    loss_names: ClassVar[tuple[str, ...]] = ()
    #: fields of the loss dict to show in the CLI progress bar (default: all)
    progress_names: ClassVar[tuple[str, ...] | None] = None
    #: generator networks whose weights are averaged when ``cfg.ema_decay > 0`` (training.ema)
    ema_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any, ds: Dataset, dist: DistInfo, ws: Workspace):
        self.cfg, self.ds, self.dist, self.ws = cfg, ds, dist, ws
        self.device = dist.device
        self.ema: EMA | None = None
        self.lr_factor = 1.0

    # ---- weight averaging and learning-rate schedule (driven by the loop) --------------------
    def start_ema(self) -> None:
        """Create the averaged copies (called by the loop once the networks are built)."""
        if getattr(self.cfg, "ema_decay", 0.0) > 0 and self.ema_names:
            self.ema = EMA({n: self.modules()[n] for n in self.ema_names}, self.cfg.ema_decay)

    def inference_net(self, name: str) -> nn.Module:
        """The network samples and validation use: the averaged copy when there is one, else the bare live one."""
        if self.ema is not None and name in self.ema.copies:
            return self.ema.copies[name]
        return unwrap(self.modules()[name])

    def schedule_factor(self, step: int) -> float:
        """Learning-rate factor before ``step``: 1 until the main phase (the last ``cfg.steps`` steps), then
        half a cosine down to ``lr_min_factor`` when ``lr_decay = "cosine"``."""
        if getattr(self.cfg, "lr_decay", "none") != "cosine":
            return 1.0
        total, main = self.total_steps(), int(self.cfg.steps)
        k = step - (total - main)
        if k <= 0:
            return 1.0
        lo = float(self.cfg.lr_min_factor)
        return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * min(k, main) / main))

    def apply_lr_factor(self, factor: float) -> None:
        """Scale every optimizer's learning rate to ``base_lr * factor`` (``base_lr`` kept in the group)."""
        self.lr_factor = float(factor)
        for opt in self.optimizers().values():
            for group in opt.param_groups:
                group["lr"] = group.setdefault("base_lr", group["lr"]) * self.lr_factor

    # ---- checks before anything trains -------------------------------------------------
    @classmethod
    def check_dataset(cls, cfg: Any, ds: Dataset) -> None:
        """Raise ConfigError with a clear reason when the dataset lacks what the stage needs."""

    # ---- the loop's view -----------------------------------------------------------------
    def total_steps(self) -> int:
        return int(self.cfg.steps)

    def phase(self, step: int) -> str:
        return "train"

    def batch_size(self, step: int) -> int:
        return int(self.cfg.batch_size)

    def modules(self) -> dict[str, nn.Module]:
        """Every network saved in checkpoints (trainable ones, possibly DDP-wrapped)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def learning_rates(self) -> dict[str, float]:
        return {f"lr_{k}": float(o.param_groups[0]["lr"]) for k, o in self.optimizers().items()}

    def train_step(self, step: int, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def sample_grid(self) -> np.ndarray:
        """A uint8 RGB picture of the model's output on fixed inputs (same inputs every time)."""
        raise NotImplementedError

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation figures; the key ``score`` (higher is better) selects the 'best' checkpoint."""
        return {}

    def checkpoint_meta(self) -> dict[str, Any]:
        """What a reader needs, beyond the config, to rebuild the networks for inference."""
        sp = self.ds.spec
        return {
            "dataset": sp.name,
            "image_size": sp.size,
            "modalities": list(sp.modalities),
            "label_names": {str(k): v for k, v in sp.label_names.items()},
            "kind": sp.kind,
        }

    def extra_state(self) -> dict[str, Any]:
        """Stage state beyond networks and optimizers (tensors and plain values only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass
