"""Tiny seeded fixtures for the lesion tests: a 32 px MRI dataset with known lesions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter

SIZE = 32
LABEL_NAMES = {0: "background", 1: "core", 2: "edema", 3: "enhancing"}


def case_labels(c: int) -> np.ndarray:
    """Three slices: slice 0 has two lesions (a BraTS-like 3-class one and a small class-1 one),
    slice 1 one lesion, slice 2 none. The lesions move with the case number ``c``."""
    lab = np.zeros((3, SIZE, SIZE), np.uint8)
    lab[0, 4 + c : 10 + c, 5:12] = 2  # edema 6 x 7
    lab[0, 6 + c : 8 + c, 7:10] = 1  # core 2 x 3 inside it
    lab[0, 5 + c, 10] = 3  # one enhancing pixel
    lab[0, 20:23, 20:22] = 1  # second lesion 3 x 2
    lab[1, 12:16, 12:15] = 1  # 4 x 3
    return lab


def write_dataset(path: Path, n_cases: int = 4) -> Dataset:
    spec = DatasetSpec(name="tiny", layout="demo", kind="mri", modalities=("t1",), label_names=LABEL_NAMES,
                       size=SIZE, seed=0)
    rng = np.random.default_rng(0)
    with DatasetWriter(path, spec) as w:
        for c in range(n_cases):
            img = rng.random((3, 1, SIZE, SIZE)).astype(np.float32)
            mask = np.zeros((3, SIZE, SIZE), np.uint8)
            mask[:, 2:30, 2:30] = 1
            w.add_case(f"case{c}", img, mask, case_labels(c), [40, 41, 42], (1.0, 1.0, 1.0), f"case{c}/t1.nii.gz")
    return Dataset(path)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return write_dataset(tmp_path_factory.mktemp("lesions") / "tiny")


def disk_mask(size: int = SIZE, radius: float = 12.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    return (((yy - c) ** 2 + (xx - c) ** 2) <= radius**2).astype(np.uint8)
