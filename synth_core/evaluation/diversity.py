"""Diversity of a set: mean MS-SSIM between random pairs of its images (thesis ch. 5).

MS-SSIM of two *different* samples measures how alike they are; averaged over many pairs it tells
whether a generator makes varied images (low) or keeps producing the same one (high, "mode
collapse"). So for diversity **lower is more diverse**; compare it with the same number for the
real data (a set much more self-similar than the real data has collapsed; a set much less similar
may be noise). Computed per modality with :func:`synth_core.metrics.ms_ssim` (its size-dependent
window/scale rule; data range 1).

Pairs: ``i != j`` drawn uniformly with ``numpy.random.default_rng(seed)`` (with replacement among
pairs); when the set has no more distinct pairs than ``n_pairs``, every distinct pair is used
once instead. The number of pairs used is returned with the mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synth_core.metrics import ms_ssim

__all__ = ["pair_indices", "pairwise_ms_ssim"]


def pair_indices(n: int, n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(i, j)`` with ``i != j``: all ``n(n-1)/2`` distinct pairs when that is at most
    ``n_pairs``, else ``n_pairs`` random pairs (seeded)."""
    if n < 2 or n_pairs < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n * (n - 1) // 2 <= n_pairs:
        i, j = np.triu_indices(n, k=1)
        return i.astype(np.int64), j.astype(np.int64)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=n_pairs)
    j = (i + rng.integers(1, n, size=n_pairs)) % n  # uniform over the other n - 1 images
    return i.astype(np.int64), j.astype(np.int64)


def pairwise_ms_ssim(images: Any, *, n_pairs: int = 256, seed: int = 0, chunk: int = 64) -> tuple[float, int]:
    """Mean MS-SSIM over random pairs of ``images (N, H, W)`` (or ``(N, 1, H, W)``) in [0, 1].

    Returns ``(mean, pairs used)``; ``(nan, 0)`` with fewer than 2 images. Pairs are scored
    ``chunk`` at a time, so memory stays bounded for large images.
    """
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"expected grey images (N, H, W), got shape {a.shape}")
    i, j = pair_indices(len(a), n_pairs, seed)
    if len(i) == 0:
        return float("nan"), 0
    values = [ms_ssim(a[i[s : s + chunk]], a[j[s : s + chunk]]) for s in range(0, len(i), chunk)]
    return float(np.mean(np.concatenate([np.atleast_1d(v) for v in values]))), int(len(i))
