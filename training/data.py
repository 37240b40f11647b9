"""Deterministic batches from a dataset split.

Batch ``k`` of rank ``r`` is a pure function of ``(seed, k, r)``: each epoch is a seeded
permutation of the split and the global batch of ``batch_size × world`` is cut into one slice per
rank. A resumed run therefore sees exactly the batches the uninterrupted run would have seen,
with no sampler state to save.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError


class SliceBatches:
    def __init__(self, ds: Dataset, *, split: str = "train", batch_size: int, seed: int,
                 rank: int = 0, world: int = 1, indices: np.ndarray | None = None):
        self.ds = ds
        self.indices = np.asarray(indices if indices is not None else ds.split_indices(split))
        if len(self.indices) == 0:
            raise ConfigError(f"dataset {ds.name!r} has no slices in the {split!r} split")
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world

    def __len__(self) -> int:
        return len(self.indices)

    @lru_cache(maxsize=4)  # noqa: B019 - a handful of epochs per object
    def _perm(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, 0x5A17]))
        return self.indices[rng.permutation(len(self.indices))]

    def rows(self, step: int) -> np.ndarray:
        """Dataset row numbers of this rank's batch at ``step`` (0-based)."""
        n = len(self.indices)
        start = step * self.batch_size * self.world + self.rank * self.batch_size
        out = np.empty(self.batch_size, dtype=np.int64)
        for j in range(self.batch_size):
            epoch, offset = divmod(start + j, n)
            out[j] = self._perm(epoch)[offset]
        return out

    def batch(self, step: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        return load_rows(self.ds, self.rows(step), device)


def load_rows(ds: Dataset, rows: np.ndarray, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Tensors of the given rows: ``image (B,C,H,W)``, ``mask``/``structure (B,1,H,W)`` float,
    ``label (B,H,W)`` long, ``row (B,)``."""
    order = np.argsort(rows)  # memmap reads in file order, then restore the batch order
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    sr = rows[order]

    def take(arr: np.ndarray) -> np.ndarray:
        return np.asarray(arr[sr])[inv]

    return {
        "image": torch.from_numpy(take(ds.images).astype(np.float32)).to(device),
        "mask": torch.from_numpy(take(ds.masks).astype(np.float32)).unsqueeze(1).to(device),
        "label": torch.from_numpy(take(ds.labels).astype(np.int64)).to(device),
        "structure": torch.from_numpy(take(ds.structure).astype(np.float32)).unsqueeze(1).to(device),
        "row": torch.from_numpy(rows.copy()),
    }
