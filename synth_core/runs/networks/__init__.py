"""Per-stage network builders: ``build_networks(stage, cfg, meta) -> {name: module}``.

A checkpoint holds the settings (``cfg``) and the meta (``modalities``, ``label_names``,
``image_size``) that its stage's builder needs, so a run rebuilds itself with no other input. The
training stages build their networks with the same functions.
Network names: structure ``G_m, E_s, G_s, D_z, D_s``; segmenter ``seg_<modality>``; translator
``G_t, D_t``; multimodal ``G, D`` (and ``D_p``); pix2pix ``G, D``.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from synth_core.errors import ConfigError
from synth_core.runs.networks import multimodal, pix2pix, segmenter, structure, translator

BUILDERS: dict[str, Callable[[Any, dict[str, Any]], dict[str, nn.Module]]] = {
    "structure": structure.build_networks,
    "segmenter": segmenter.build_networks,
    "translator": translator.build_networks,
    "multimodal": multimodal.build_networks,
    "pix2pix": pix2pix.build_networks,
}


def build_networks(stage: str, cfg: Any, meta: dict[str, Any]) -> dict[str, nn.Module]:
    """The untrained networks of a ``stage`` run with settings ``cfg`` and checkpoint ``meta``."""
    if stage not in BUILDERS:
        raise ConfigError(f"unknown stage {stage!r}; available: {', '.join(BUILDERS)}")
    return BUILDERS[stage](cfg, meta)
