"""Stage ``segmenter``: one lesion segmenter U-Net per modality, trained on real data with
Dice + cross-entropy (METHOD.md §6 eq. 15 uses them frozen for lesion guidance; ch. 5 uses them
for evaluation). Validation: per-class hard Dice on the validation split."""

from __future__ import annotations

import numpy as np
import torch

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.render import grid
from training.data import load_rows
from training.distributed import wrap
from training.losses import mean_dice, segmentation_loss
from synth_core.runs.networks.segmenter import build_segmenter
from synth_core.runs.stage_configs import SegmenterConfig
from training.stages.base import Stage
from training.stages.common import adam, fixed_rows, tile, validation_rows


class SegmenterStage(Stage):
    name = "segmenter"
    config_cls = SegmenterConfig

    @classmethod
    def check_dataset(cls, cfg: SegmenterConfig, ds: Dataset) -> None:
        if not ds.has_lesions:
            raise ConfigError(f"dataset {ds.name!r} has no lesion labels; the segmenter stage needs them")
        if ds.spec.size % 2**cfg.depth:
            raise ConfigError(f"image size {ds.spec.size} is not divisible by 2**depth = {2**cfg.depth}")

    def __init__(self, cfg: SegmenterConfig, ds: Dataset, dist, ws):
        super().__init__(cfg, ds, dist, ws)
        self.n_classes = max(ds.label_names) + 1
        self.mods = list(ds.modalities)
        self.loss_names = tuple(f"{kind}_{m}" for m in self.mods for kind in ("dice", "ce")) + ("loss",)
        self.progress_names = ("loss",)
        self.nets = {f"seg_{m}": wrap(build_segmenter(cfg, self.n_classes), dist) for m in self.mods}
        self.opts = {k: adam(n.parameters(), cfg) for k, n in self.nets.items()}
        self.sample_rows = fixed_rows(ds, 4, seed=cfg.seed)
        self.val_rows = validation_rows(ds, cfg.val_slices, cfg.seed)

    def modules(self):
        return self.nets

    def optimizers(self):
        return self.opts

    def train_step(self, step, batch, rng):
        out: dict[str, float] = {}
        total = 0.0
        for c, m in enumerate(self.mods):
            net, opt = self.nets[f"seg_{m}"], self.opts[f"seg_{m}"]
            opt.zero_grad(set_to_none=True)
            logits = net(batch["image"][:, c : c + 1])
            parts = segmentation_loss(logits, batch["label"], self.n_classes)
            loss = self.cfg.dice_weight * parts["dice"] + self.cfg.ce_weight * parts["ce"]
            loss.backward()
            opt.step()
            out[f"dice_{m}"] = parts["dice"].item()
            out[f"ce_{m}"] = parts["ce"].item()
            total += loss.item()
        out["loss"] = total / len(self.mods)
        return out

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: self.nets[f"seg_{m}"](images[:, c : c + 1]).argmax(1) for c, m in enumerate(self.mods)}

    @torch.no_grad()
    def validate(self):
        scores = {m: [] for m in self.mods}
        for start in range(0, len(self.val_rows), 16):
            b = load_rows(self.ds, self.val_rows[start : start + 16], self.device)
            for m, pred in self.predict(b["image"]).items():
                scores[m].append((pred.cpu(), b["label"].cpu()))
        out = {}
        for m, pairs in scores.items():
            pred = torch.cat([p for p, _ in pairs])
            lab = torch.cat([t for _, t in pairs])
            out[f"val_dice_{m}"] = mean_dice(pred, lab, self.n_classes)
        out["score"] = float(np.mean(list(out.values())))
        return out

    @torch.no_grad()
    def sample_grid(self):
        b = load_rows(self.ds, self.sample_rows, self.device)
        preds = self.predict(b["image"])
        tiles = []
        for i in range(len(self.sample_rows)):
            tiles.append(tile(b["image"][i, 0], b["label"][i]))
            for c, m in enumerate(self.mods):
                tiles.append(tile(b["image"][i, c], preds[m][i]))
        return grid(tiles, columns=1 + len(self.mods))


STAGE = SegmenterStage
