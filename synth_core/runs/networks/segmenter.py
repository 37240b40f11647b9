"""Networks of a ``segmenter`` run: one U-Net ``seg_<modality>`` per modality."""

from __future__ import annotations

from typing import Any

import torch

from synth_core.nets import UNet
from synth_core.runs.stage_configs import SegmenterConfig


def build_segmenter(cfg: SegmenterConfig, n_classes: int) -> UNet:
    return UNet(in_channels=1, out_channels=n_classes, base_channels=cfg.base_channels, depth=cfg.depth,
                norm=cfg.norm, out_activation="none")


def build_networks(cfg: SegmenterConfig, meta: dict[str, Any]) -> dict[str, torch.nn.Module]:
    """Rebuild the per-modality segmenters from a checkpoint's config and meta."""
    k = max(int(v) for v in meta["label_names"]) + 1
    return {f"seg_{m}": build_segmenter(cfg, k) for m in meta["modalities"]}
