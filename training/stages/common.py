"""Helpers shared by stages: fixed sample rows, optimizers, picture tiles."""

from __future__ import annotations

import numpy as np
import torch

from synth_core.dataset import Dataset
from synth_core.render import overlay, to_uint8


def fixed_rows(ds: Dataset, n: int, *, split: str = "val", prefer_lesions: bool = True, seed: int = 0) -> np.ndarray:
    """``n`` dataset rows used for every sample grid of a run (validation split when it has any)."""
    rows = ds.split_indices(split)
    if len(rows) == 0:
        rows = ds.split_indices("train")
    if prefer_lesions and ds.has_lesions:
        with_lesion = rows[ds.index["lesion_pixels"].to_numpy()[rows] > 0]
        if len(with_lesion) >= 1:
            rows = with_lesion
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    return np.sort(rows[pick])


def validation_rows(ds: Dataset, n: int, seed: int = 0) -> np.ndarray:
    """Rows scored at each checkpoint: the validation split (train if it is empty), a seeded subset
    of ``n`` when ``n`` > 0 and the split is larger."""
    val = ds.split_indices("val")
    if len(val) == 0:
        val = ds.split_indices("train")
    if n and len(val) > n:
        val = np.sort(np.random.default_rng(seed).choice(val, n, replace=False))
    return val


def adam(params, cfg) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def tile(image: torch.Tensor | np.ndarray, label: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """An RGB tile of a grey image ``(H,W)`` in [0,1], with a lesion overlay when given."""
    img = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if label is None:
        return np.repeat(to_uint8(img)[..., None], 3, axis=2)
    lab = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    return overlay(img, lab)


def set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)
