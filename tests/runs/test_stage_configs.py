"""Every stage's settings are validated the same way: a bad value is refused by name."""

from __future__ import annotations

from dataclasses import fields

import pytest

from synth_core.errors import ConfigError
from synth_core.runs.config import make_config
from synth_core.runs.stage_configs import CONFIGS

BAD = {"norm": "foo", "base_channels": 0, "depth": -1, "val_slices": -1, "steps": 0}


@pytest.mark.parametrize("stage", sorted(CONFIGS))
def test_every_stage_refuses_bad_values_by_name(stage):
    cls = CONFIGS[stage]
    names = {f.name for f in fields(cls)}
    assert cls()  # the defaults are valid
    for name, value in BAD.items():
        if name in names:
            with pytest.raises(ConfigError, match=name):
                make_config(cls, {name: value})


def test_the_segmenter_refuses_what_the_structure_stage_refuses():
    with pytest.raises(ConfigError, match='norm must be one of instance, batch, group, none, not "foo"'):
        CONFIGS["segmenter"](norm="foo")
    with pytest.raises(ConfigError, match="depth must be >= 1, not 0"):
        CONFIGS["segmenter"](norm="foo", depth=0)
    with pytest.raises(ConfigError, match="no loss"):
        CONFIGS["segmenter"](dice_weight=0, ce_weight=0)
