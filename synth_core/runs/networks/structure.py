"""Networks of a ``structure`` run: ``G_m``, ``E_s``, ``G_s``, ``D_z``, ``D_s``."""

from __future__ import annotations

from typing import Any

from torch import nn

from synth_core.nets import (LatentDiscriminator, StructureDecoder, StructureEncoder, UNet, VGGDiscriminator,
                             spectral_normed)
from synth_core.runs.stage_configs import StructureConfig


def build_networks(cfg: StructureConfig, meta: dict[str, Any]) -> dict[str, nn.Module]:
    """The five networks for images of ``meta["image_size"]`` px (also rebuilds a saved run); ``D_s``
    spectrally normalised with ``d_spectral_norm``."""
    size = int(meta["image_size"])
    d_s = VGGDiscriminator(in_channels=1, base_channels=cfg.d_channels, n_down=cfg.d_n_down, n_classes=0, norm=cfg.norm)
    return {
        "G_m": UNet(in_channels=1, out_channels=1, base_channels=cfg.mask_channels, depth=cfg.mask_depth,
                    norm=cfg.norm, out_activation="sigmoid"),
        "E_s": StructureEncoder(image_size=size, in_channels=1, latent_dim=cfg.latent_dim, base_channels=cfg.base_channels,
                                n_down=cfg.n_down, max_channels=cfg.max_channels, norm=cfg.norm),
        "G_s": StructureDecoder(image_size=size, out_channels=1, latent_dim=cfg.latent_dim, base_channels=cfg.base_channels,
                                n_up=cfg.n_down, max_channels=cfg.max_channels, norm=cfg.norm),
        "D_z": LatentDiscriminator(latent_dim=cfg.latent_dim, hidden=cfg.dz_hidden, n_layers=cfg.dz_layers),
        "D_s": spectral_normed(d_s) if cfg.d_spectral_norm else d_s,
    }
