"""Loss functions shared by the stages (least-squares GAN, segmentation, masked errors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def lsgan_real(pred: torch.Tensor) -> torch.Tensor:
    """``mean((D(x) - 1)^2)``: push predictions towards 'real' (thesis eqs. 8, 10, 13)."""
    return ((pred - 1.0) ** 2).mean()


def lsgan_fake(pred: torch.Tensor) -> torch.Tensor:
    """``mean(D(x)^2)``: push predictions towards 'fake'."""
    return (pred**2).mean()


def quantile_distance(a: torch.Tensor, b: torch.Tensor, levels: int = 64) -> torch.Tensor:
    """The 1-D Wasserstein-1 distance between the values of ``a`` and ``b`` (any shapes, any
    counts), read at ``levels`` evenly spaced quantiles (mid-points of ``levels`` equal-mass bins):
    ``mean_k |Q_a(q_k) - Q_b(q_k)|``. Differentiable in both (through the sort); 0 for two samples
    of one distribution as they grow, and ``|c|`` when ``b`` is ``a`` shifted by ``c``."""
    if levels < 2:
        raise ValueError(f"levels must be >= 2, not {levels}")
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("quantile_distance needs at least one value on each side")
    q = (torch.arange(levels, device=a.device, dtype=torch.float32) + 0.5) / levels
    qa = torch.quantile(a.float().flatten(), q)
    qb = torch.quantile(b.float().flatten().to(a.device), q)
    return (qa - qb).abs().mean()


def class_mse(logits: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``||c(x) - one_hot(i)||^2`` (thesis eq. 13's class term, read with one-hot targets)."""
    return F.mse_loss(logits, F.one_hot(target, n_classes).to(logits.dtype))


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, n_classes: int, eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over the foreground classes (softmax probabilities vs one-hot target).

    ``logits (B, K, H, W)``, ``target (B, H, W)`` long in [0, K). Classes absent from both
    prediction and target contribute a Dice near 1 through the smoothing ``eps``.
    """
    prob = logits.float().softmax(dim=1)
    onehot = F.one_hot(target, n_classes).permute(0, 3, 1, 2).to(prob.dtype)
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    denom = prob.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + eps) / (denom + eps)
    return 1.0 - dice[1:].mean() if n_classes > 1 else 1.0 - dice.mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, n_classes: int) -> dict[str, torch.Tensor]:
    """Dice + cross-entropy, returned separately so both are logged."""
    return {"dice": soft_dice_loss(logits, target, n_classes), "ce": F.cross_entropy(logits.float(), target)}


def hard_dice(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Per-class Dice of integer maps ``(B,H,W)`` over the whole batch, shape ``(K-1,)``; a class
    absent from both prediction and target is NaN (nothing to score: counting it as 1 would lift the
    mean of every model alike and hide how it does on the classes that are there)."""
    out = []
    for k in range(1, n_classes):
        p, t = pred == k, target == k
        denom = p.sum() + t.sum()
        out.append(torch.tensor(float("nan")) if denom == 0 else 2.0 * (p & t).sum().float() / denom.float())
    return torch.stack(out) if out else torch.ones(0)


def mean_dice(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> float:
    """Mean of :func:`hard_dice` over the classes present in prediction or target; 1.0 when no
    lesion class is in either (nothing to find, nothing found)."""
    d = hard_dice(pred, target, n_classes)
    d = d[~d.isnan()]
    return float(d.mean()) if len(d) else 1.0
