"""Networks of a ``multimodal`` run: ``G``, ``D`` and, with ``patch_weight > 0``, ``D_p``."""

from __future__ import annotations

from typing import Any

from torch import nn

from synth_core.nets import NoisyGenerator, PatchGANDiscriminator, StylePrior, UNet, VGGDiscriminator, spectral_normed
from synth_core.runs.stage_configs import MultimodalConfig


def build_generator(cfg: MultimodalConfig, n_modalities: int, n_classes: int) -> nn.Module:
    """The U-Net ``G``; with ``output_noise`` wrapped in :class:`~synth_core.nets.NoisyGenerator`;
    with ``style_quantiles`` it takes a style code of that many values per modality and carries
    their law as ``G.style_prior`` (:class:`~synth_core.nets.StylePrior`, set by the training stage)."""
    k = len(cfg.style_quantiles)
    unet = UNet(in_channels=1 + n_classes - 1, out_channels=1, base_channels=cfg.base_channels, depth=cfg.depth,
                norm=cfg.norm, condition_dim=n_modalities if n_modalities > 1 else 0, out_activation="sigmoid",
                condition_at=cfg.condition_at, style_dim=k)
    G = NoisyGenerator(unet, kernel=cfg.output_noise) if cfg.output_noise else unet
    if k:
        G.style_prior = StylePrior(n_modalities, k)
    return G


def build_discriminator(cfg: MultimodalConfig, n_modalities: int) -> VGGDiscriminator:
    return VGGDiscriminator(in_channels=1, base_channels=cfg.d_base_channels or cfg.base_channels,
                            n_down=cfg.d_n_down, n_classes=n_modalities if n_modalities > 1 else 0, norm=cfg.d_norm,
                            minibatch_std=cfg.d_minibatch_std)


def build_patch_discriminator(cfg: MultimodalConfig, n_modalities: int) -> PatchGANDiscriminator:
    """``D_p`` (``patch_weight > 0``): a PatchGAN on one image plus its modality one-hot as constant
    planes (none for one modality); spectrally normalised with ``patch_spectral_norm``."""
    d_p = PatchGANDiscriminator(in_channels=1 + (n_modalities if n_modalities > 1 else 0),
                                base_channels=cfg.patch_base_channels or cfg.d_base_channels or cfg.base_channels,
                                n_layers=cfg.patch_layers, norm=cfg.patch_norm)
    return spectral_normed(d_p) if cfg.patch_spectral_norm else d_p


def build_networks(cfg: MultimodalConfig, meta: dict[str, Any]) -> dict[str, nn.Module]:
    """Rebuild ``G``, ``D`` (and ``D_p`` when ``patch_weight > 0``) from a checkpoint's config and
    meta (``modalities``, ``label_names``)."""
    n_mod = len(meta["modalities"])
    n_classes = max(int(k) for k in meta["label_names"]) + 1
    nets: dict[str, nn.Module] = {"G": build_generator(cfg, n_mod, n_classes), "D": build_discriminator(cfg, n_mod)}
    if cfg.patch_weight > 0:
        nets["D_p"] = build_patch_discriminator(cfg, n_mod)
    return nets
