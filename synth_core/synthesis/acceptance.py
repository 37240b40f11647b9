"""Acceptance of generated structure maps by the structure discriminator ``D_s`` (METHOD.md §13).

The thesis code keeps a generated structure map only when the mean output of ``D_s`` on it is at
least 0.55, and tries up to 50 latents. Here: sample ``i`` tries latents ``z_i^(0), z_i^(1), ...``
(try 0 is the latent the set would have used without acceptance, so a threshold of 0 changes
nothing) and keeps the first whose binarised map ``G_s(z) > threshold`` scores ``D_s >= min_realness``;
when none of ``tries`` does, it keeps the try that scored highest. Every try of sample ``i`` comes
from a stream seeded by ``(seed, i, try)`` alone, and all the samples of one batch that still
search are scored together in one call per try, so a batch is a pure function of its indices and
``regenerate`` repeats it bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from synth_core.errors import ConfigError
from synth_core.structure_model import decode_structures, structure_realness

STREAM_LATENT = 0


def try_seed(seed: int, index: int, attempt: int) -> int:
    """Seed of try ``attempt`` of sample ``index``; try 0 is the plain latent stream of the set."""
    words = [int(seed), int(index), STREAM_LATENT] + ([int(attempt)] if attempt else [])
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> 1)


def try_latents(seed: int, indices: Sequence[int], latent_dim: int, attempt: int) -> torch.Tensor:
    """``(B, latent_dim)`` float32 latents of try ``attempt`` for each sample index."""
    out = torch.empty(len(indices), latent_dim)
    for r, i in enumerate(indices):
        g = torch.Generator().manual_seed(try_seed(seed, int(i), attempt))
        out[r] = torch.randn(latent_dim, generator=g)
    return out


def accepted_latents(G_s: nn.Module, D_s: nn.Module | None, seed: int, indices: Sequence[int], latent_dim: int, *,
                     threshold: float, min_realness: float, tries: int,
                     chunk: int = 1) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The latent each sample keeps, its map's ``D_s`` score and the number of tries it took.

    Returns ``(z (B, latent_dim), realness (B,) float32, tries (B,) int64)``. Without ``D_s`` or
    with ``min_realness <= 0`` every sample keeps try 0 (realness NaN, 1 try).

    ``chunk`` > 1 scores that many tries of every searching sample in one network call instead of
    one call per try (the Latent space page: a few calls instead of dozens); the decisions are the
    same — the first try that passes, else the best — up to the last bits that another batch size
    can change in a score. Synthesis and ``regenerate`` keep ``chunk = 1``."""
    if tries < 1:
        raise ConfigError(f"structure_tries must be >= 1, not {tries}")
    if chunk < 1:
        raise ConfigError(f"chunk must be >= 1, not {chunk}")
    if chunk > 1 and D_s is not None and min_realness > 0 and len(indices):
        return _accepted_in_chunks(G_s, D_s, seed, indices, latent_dim, threshold=threshold,
                                   min_realness=min_realness, tries=tries, chunk=chunk)
    z = try_latents(seed, indices, latent_dim, 0)
    b = len(indices)
    if D_s is None or min_realness <= 0 or b == 0:
        return z, np.full(b, np.nan, np.float32), np.ones(b, np.int64)
    best = np.full(b, -np.inf, np.float32)
    used = np.zeros(b, np.int64)
    pending = np.arange(b)
    idx = np.asarray(indices, dtype=np.int64)
    for attempt in range(tries):
        cand = z[pending] if attempt == 0 else try_latents(seed, idx[pending], latent_dim, attempt)
        maps = (decode_structures(G_s, cand, batch_size=max(1, len(pending))) > threshold).astype(np.float32)
        score = structure_realness(D_s, maps, batch_size=max(1, len(pending)))
        better = score > best[pending]
        z[pending[better]] = cand[better]
        best[pending[better]] = score[better]
        used[pending] = attempt + 1
        pending = pending[score < min_realness]
        if len(pending) == 0:
            break
    return z, best, used


def _accepted_in_chunks(G_s: nn.Module, D_s: nn.Module, seed: int, indices: Sequence[int], latent_dim: int, *,
                        threshold: float, min_realness: float, tries: int,
                        chunk: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """:func:`accepted_latents` scoring ``chunk`` tries per network call."""
    idx = np.asarray(indices, dtype=np.int64)
    b = len(idx)
    z = try_latents(seed, idx, latent_dim, 0)
    best = np.full(b, -np.inf, np.float32)
    used = np.zeros(b, np.int64)
    pending = np.arange(b)
    for start in range(0, tries, chunk):
        attempts = list(range(start, min(tries, start + chunk)))
        cand = torch.cat([z[pending] if a == 0 else try_latents(seed, idx[pending], latent_dim, a) for a in attempts])
        n = len(cand)
        maps = (decode_structures(G_s, cand, batch_size=n) > threshold).astype(np.float32)
        score = structure_realness(D_s, maps, batch_size=n).reshape(len(attempts), len(pending))
        still = []
        for j, sample in enumerate(pending):
            for k, a in enumerate(attempts):  # in order, as one try at a time would
                if score[k, j] > best[sample]:
                    best[sample] = score[k, j]
                    z[sample] = cand[k * len(pending) + j]
                used[sample] = a + 1
                if score[k, j] >= min_realness:
                    break
            else:
                still.append(sample)
        pending = np.asarray(still, dtype=np.int64)
        if len(pending) == 0:
            break
    return z, best, used
