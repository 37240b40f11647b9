"""A tiny seeded two-modality dataset with lesions, for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth_core.dataset import DatasetSpec, DatasetWriter
from synth_core.structure import StructureParams
from synth_core.workspace import Workspace


def make_tiny_dataset(ws_root: Path, name: str = "tiny", size: int = 32, cases: int = 5, slices: int = 4,
                      modalities: tuple[str, ...] = ("t1", "t2"), seed: int = 0,
                      zero_background: bool = False) -> Path:
    """``zero_background``: images are 0 outside the organ mask (skull-stripped), else noisy everywhere."""
    ws = Workspace.open(ws_root)
    rng = np.random.default_rng(seed)
    spec = DatasetSpec(name=name, layout="demo", kind="mri", modalities=modalities,
                       label_names={0: "background", 1: "core", 2: "edema"}, size=size,
                       structure=StructureParams(median=1))
    yy, xx = np.mgrid[:size, :size]
    with DatasetWriter(ws.path("datasets", name), spec) as w:
        for c in range(cases):
            imgs = np.zeros((slices, len(modalities), size, size), np.float32)
            masks = np.zeros((slices, size, size), np.uint8)
            labels = np.zeros((slices, size, size), np.uint8)
            for s in range(slices):
                r_org = size * (0.35 + 0.05 * rng.random())
                organ = np.hypot(yy - size / 2, xx - size / 2) < r_org
                cy, cx = size / 2 + rng.integers(-3, 4), size / 2 + rng.integers(-3, 4)
                d = np.hypot(yy - cy, xx - cx)
                core, edema = d < size * 0.08, (d < size * 0.15)
                labels[s][edema] = 2
                labels[s][core] = 1
                masks[s] = organ
                for k in range(len(modalities)):
                    base = 0.3 + 0.2 * k
                    img = organ * base + core * (0.5 - 0.2 * k) + (edema & ~core) * 0.2
                    img = img + rng.normal(0, 0.02, img.shape)
                    imgs[s, k] = np.clip(img, 0, 1) * (organ if zero_background else 1)
            w.add_case(f"case{c}", imgs, masks, labels, list(range(slices)), (1.0, 1.0, 1.0), f"case{c}")
    return ws.path("datasets", name)


@pytest.fixture
def tiny_ws(workspace: Path) -> Path:
    make_tiny_dataset(workspace)
    return workspace
