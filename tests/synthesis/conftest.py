"""A workspace with every run synthesis needs, trained for a step or two with tiny networks on the
32 px two-modality dataset 'tiny' (structure, segmenter, translator, multimodal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.conftest import make_tiny_dataset
from training.cli import main as training_main

COMMON = ["--no-progress", "--set", "threads=1", "--set", "sample_every=0", "--set", "batch_size=2"]
STRUCTURE = ["--set", "mask_steps=1", "--set", "latent_dim=8", "--set", "base_channels=4", "--set", "n_down=2",
             "--set", "d_channels=4", "--set", "d_n_down=2", "--set", "mask_channels=4", "--set", "mask_depth=2",
             "--set", "dz_hidden=8", "--set", "max_channels=8"]
SMALL = ["--set", "base_channels=4", "--set", "depth=2"]


def train_synthesis_runs(ws: Path, dataset: str = "tiny", prefix: str = "") -> str:
    """Train the four runs on ``dataset``; returns the multimodal run id."""
    def run(*args: str) -> None:
        assert training_main(["--workspace", str(ws), *args]) == 0

    one = ["--dataset", dataset, "--steps", "2", *COMMON]
    run("structure", *one, "--run-name", f"{prefix}st", *STRUCTURE)
    run("segmenter", *one, "--run-name", f"{prefix}sg", *SMALL)
    run("translator", *one, "--run-name", f"{prefix}tr", *SMALL, "--set", "d_n_down=2")
    run("multimodal", *one, "--run-name", f"{prefix}mm", *SMALL, "--set", "d_n_down=2", "--set", "pretrain_steps=1",
        "--set", "val_slices=2", "--set", "lesion_scale=0.5,1.0")
    return f"{prefix}mm"


@pytest.fixture(scope="session")
def synth_ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "ws"
    make_tiny_dataset(root, cases=6)
    train_synthesis_runs(root)
    return root
