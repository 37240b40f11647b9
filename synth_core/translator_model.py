"""Inference helpers of the modality translator ``G_t`` (METHOD.md §7): translate slices into a
target modality, and the per-sample registration consistency of registered modalities.

Training (``training.stages.translator``, the multimodal stage's eq. 16), synthesis (per-sample
figures) and evaluation call these, so they agree on the condition (``one_hot(target, M)``).
Pure torch; callers wrap inference in ``torch.no_grad()``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["registration_error", "translate"]


def translate(G_t: nn.Module, x: torch.Tensor, target_index: int | torch.Tensor) -> torch.Tensor:
    """``G_t(x, one_hot(target))``: slices ``x (B, 1, H, W)`` in [0, 1] -> ``(B, 1, H, W)`` in [0, 1].

    ``target_index`` is one modality index for the whole batch or a ``(B,)`` integer tensor. The
    number of modalities is ``G_t.condition_dim``. Gradients flow (wrap in ``torch.no_grad()``
    for inference).
    """
    net = getattr(G_t, "module", G_t)
    n = int(getattr(net, "condition_dim", 0))
    if n < 2:
        raise ValueError(f"G_t must be conditioned on at least 2 modalities, not condition_dim={n}")
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected slices (B, 1, H, W), got {tuple(x.shape)}")
    if isinstance(target_index, torch.Tensor):
        target = target_index.to(device=x.device, dtype=torch.long).reshape(-1)
        if target.shape[0] != x.shape[0]:
            raise ValueError(f"expected one target per slice ({x.shape[0]}), got {target.shape[0]}")
    else:
        target = torch.full((x.shape[0],), int(target_index), dtype=torch.long, device=x.device)
    if len(target) and (int(target.min()) < 0 or int(target.max()) >= n):
        raise ValueError(f"target modality index must be in [0, {n}), got {target.tolist()}")
    return G_t(x, F.one_hot(target, n).to(x.dtype))


def registration_error(G_t: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Per-sample registration consistency of registered modalities, ``(B, M, H, W) -> (B,)``.

    ``mean over ordered pairs i != j of mean_pixels (x_j - G_t(x_i, j))^2``: 0 when the translator
    maps every modality exactly onto its registered partner. Images in [0, 1]; ``M`` must equal
    ``G_t.condition_dim``. One ``G_t`` call per source modality (its ``M - 1`` targets batched).
    Differentiable; wrap in ``torch.no_grad()`` when only reporting.
    """
    net = getattr(G_t, "module", G_t)
    m = int(getattr(net, "condition_dim", 0))
    if images.ndim != 4 or images.shape[1] != m or m < 2:
        raise ValueError(f"expected images (B, {m}, H, W) with the translator's {m} modalities (at least 2), "
                         f"got {tuple(images.shape)}")
    b = images.shape[0]
    total = images.new_zeros(b, dtype=torch.float32)
    for i in range(m):
        targets = [j for j in range(m) if j != i]
        src = images[:, i : i + 1].repeat(len(targets), 1, 1, 1)  # target-major: (len(targets)*B, 1, H, W)
        tgt_idx = torch.tensor(targets, device=images.device).repeat_interleave(b)
        out = translate(G_t, src, tgt_idx).float()
        ref = images[:, targets].transpose(0, 1).reshape(len(targets) * b, 1, *images.shape[-2:]).float()
        err = ((out - ref) ** 2).mean(dim=(1, 2, 3)).view(len(targets), b)
        total = total + err.sum(0)
    return total / (m * (m - 1))
