"""The Stage contract: what a training stage provides to the shared loop (``training.loop``).

A stage owns its networks, optimizers and losses. The loop owns everything else: batches,
seeding, the metrics log, progress bar, sample grids, checkpoints, status, resume, DDP.
``train_step`` returns one dict of named losses (floats); the progress bar, the metrics log and
the dashboard's training page all read that same dict (names listed in ``loss_names``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from synth_core.dataset import Dataset
from synth_core.workspace import Workspace
from training.distributed import DistInfo


class Stage:
    name: ClassVar[str] = ""
    config_cls: ClassVar[type] = object
    loss_names: ClassVar[tuple[str, ...]] = ()
    #: fields of the loss dict to show in the CLI progress bar (default: all)
    progress_names: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, cfg: Any, ds: Dataset, dist: DistInfo, ws: Workspace):
        self.cfg, self.ds, self.dist, self.ws = cfg, ds, dist, ws
        self.device = dist.device

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
