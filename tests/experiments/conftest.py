"""A tiny workspace for the usability experiment: the 32 px two-modality dataset 'tiny' (5 cases x 4
slices: 3 train cases, 1 val, 1 test) and a fake synthetic set made from it (no networks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synth_core.dataset import DatasetSpec, DatasetWriter
from synth_core.structure import StructureParams
from synth_core.workspace import Workspace
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset
from training.experiments.config import UsabilityConfig, build_usability_config

#: Small networks and schedules: every training takes a fraction of a second. One set for every row
#: and a fixed step budget (the per-fraction generators and early stopping have their own tests).
SMALL: dict[str, Any] = {"dataset": "tiny", "synthetic_set": "fake", "base_channels": 4, "depth": 2, "batch_size": 2,
                         "steps": 3, "seeds": 1, "threads": 1, "eval_batch": 8, "device": "cpu",
                         "generators": "given-set", "patience": 0}
SMALL_ARGS = ["--set", "base_channels=4", "--set", "depth=2", "--set", "batch_size=2", "--set", "threads=1",
              "--set", "eval_batch=8", "--device", "cpu", "--no-progress", "--generators", "given-set",
              "--set", "patience=0"]


def small(**values: Any) -> UsabilityConfig:
    return build_usability_config(None, {**SMALL, **values})


def make_lesionless_dataset(ws_root: Path, name: str = "clean", size: int = 32) -> Path:
    ws = Workspace.open(ws_root)
    spec = DatasetSpec(name=name, layout="demo", kind="mri", modalities=("t1", "t2"),
                       label_names={0: "background", 1: "core"}, size=size, structure=StructureParams(median=1))
    rng = np.random.default_rng(0)
    with DatasetWriter(ws.path("datasets", name), spec) as w:
        for c in range(4):
            imgs = rng.uniform(0.2, 0.8, (2, 2, size, size)).astype(np.float32)
            zeros = np.zeros((2, size, size), np.uint8)
            w.add_case(f"case{c}", imgs, zeros + 1, zeros, [0, 1], (1.0, 1.0, 1.0), f"case{c}")
    return ws.path("datasets", name)


@pytest.fixture
def usab_ws(workspace: Path) -> Path:
    make_tiny_dataset(workspace)
    make_fake_set(workspace, n=24)
    return workspace
