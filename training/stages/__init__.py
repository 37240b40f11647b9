"""Training stages. ``STAGES`` maps a CLI name to the module that defines its Stage class.

Modules are imported lazily so a broken optional dependency of one stage cannot stop the others.
A stage's settings class is in :mod:`synth_core.runs.stage_configs` (no torch): :func:`get_config_class`.
"""

from __future__ import annotations

import importlib

STAGES = {
    "structure": "training.stages.structure",
    "segmenter": "training.stages.segmenter",
    "translator": "training.stages.translator",
    "multimodal": "training.stages.multimodal",
    "pix2pix": "training.stages.pix2pix",
}


def get_stage(name: str):
    from synth_core.errors import ConfigError

    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; available: {', '.join(STAGES)}")
    return importlib.import_module(STAGES[name]).STAGE


def get_config_class(name: str) -> type:
    """The settings dataclass of stage ``name`` without importing the stage (or torch)."""
    from synth_core.errors import ConfigError
    from synth_core.runs.stage_configs import CONFIGS

    if name not in CONFIGS:
        raise ConfigError(f"unknown stage {name!r}; available: {', '.join(CONFIGS)}")
    return CONFIGS[name]
