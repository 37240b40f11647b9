"""Networks of a ``pix2pix`` run: U-Net ``G`` and PatchGAN ``D``, sized for the image."""

from __future__ import annotations

from typing import Any

import torch

from synth_core.nets import PatchGANDiscriminator, UNet
from synth_core.runs.stage_configs import MAX_UNET_DEPTH, Pix2PixConfig


def unet_depth(cfg: Pix2PixConfig, size: int) -> int:
    """``cfg.depth``, or with 0 the number of times ``size`` halves evenly (capped at 10): 7 at
    128 px (1×1 bottleneck), 9 at 512 px, 3 at 184 px."""
    if cfg.depth:
        return cfg.depth
    d = 0
    while d < MAX_UNET_DEPTH and size % 2 ** (d + 1) == 0:
        d += 1
    return d


def patch_output_size(size: int, n_layers: int) -> int:
    """Side of the PatchGAN's output map for a ``size`` px input (30 at 256/3 and 512/4)."""
    for _ in range(n_layers):
        size = (size + 2 - 4) // 2 + 1
    return size - 2


def input_classes(cfg: Pix2PixConfig, meta: dict[str, Any]) -> int:
    """``n_classes`` of :func:`synth_core.whitening.fill_input` for a run: the dataset's label
    classes (background counts) with ``cfg.label_input``, else 1 (the whitened slice alone)."""
    return max(int(k) for k in meta["label_names"]) + 1 if cfg.label_input else 1


def build_networks(cfg: Pix2PixConfig, meta: dict[str, Any]) -> dict[str, torch.nn.Module]:
    """``G`` (U-Net, whitened slice [+ lesion-class channels] → slice) and ``D`` (PatchGAN on the
    (input, image) pair) for ``meta["image_size"]``; ``G.in_channels`` is the ``n_classes`` its
    input was built with (:func:`input_classes`)."""
    depth = unet_depth(cfg, int(meta["image_size"]))
    n_in = input_classes(cfg, meta)
    G = UNet(in_channels=n_in, out_channels=1, base_channels=cfg.base_channels, depth=max(depth, 1),
             norm=cfg.norm, dropout=cfg.dropout, out_activation="sigmoid", max_channels=cfg.max_channels)
    D = PatchGANDiscriminator(in_channels=n_in + 1, base_channels=cfg.d_channels, n_layers=cfg.n_layers, norm=cfg.norm)
    return {"G": G, "D": D}
