"""Networks of a ``translator`` run: ``G_t`` (conditioned U-Net) and ``D_t``."""

from __future__ import annotations

from typing import Any

from torch import nn

from synth_core.errors import ConfigError
from synth_core.nets import UNet, VGGDiscriminator
from synth_core.runs.stage_configs import TranslatorConfig


def build_translator(cfg: TranslatorConfig, n_modalities: int) -> UNet:
    return UNet(in_channels=1, out_channels=1, base_channels=cfg.base_channels, depth=cfg.depth, norm=cfg.norm,
                condition_dim=n_modalities, out_activation="sigmoid", condition_at=cfg.condition_at)


def build_discriminator(cfg: TranslatorConfig, n_modalities: int) -> VGGDiscriminator:
    return VGGDiscriminator(in_channels=1, base_channels=cfg.d_base_channels or cfg.base_channels,
                            n_down=cfg.d_n_down, n_classes=n_modalities, norm=cfg.norm)


def build_networks(cfg: TranslatorConfig, meta: dict[str, Any]) -> dict[str, nn.Module]:
    """Rebuild ``G_t`` and ``D_t`` from a checkpoint's config and meta (``modalities``, ``image_size``)."""
    mods = list(meta["modalities"])
    size = int(meta["image_size"])
    if len(mods) < 2:
        raise ConfigError(f"a translator needs at least 2 modalities, the checkpoint lists {mods}")
    if size % cfg.size_factor:
        raise ConfigError(f"image size {size} is not divisible by {cfg.size_factor} (U-Net depth {cfg.depth}, "
                          f"D_t stages {cfg.d_n_down})")
    return {"G_t": build_translator(cfg, len(mods)), "D_t": build_discriminator(cfg, len(mods))}
