"""Lesion validity (thesis Table 4): do frozen segmenters, trained on REAL data, find the lesion in
a synthetic image where its label says it is?

Each modality's segmenter (``seg_<modality>`` of a segmenter run, a U-Net giving class logits)
segments (1) real test slices, scored against their real labels, and (2) synthetic images, scored
against the labels that were placed into them. If the synthetic lesions look like real lesions,
the two scores are close (thesis: Dice 0.915 real vs 0.838 synthetic).

Definitions (per slice, then the mean over the slices scored):

- only slices whose label has a lesion are scored (Dice of two empty masks would be a free 1.0);
- **Dice** (higher is better): :func:`synth_core.metrics.dice` of the whole lesion, i.e. the
  argmax prediction ``> 0`` against the label ``> 0`` (all lesion classes together);
- **MSE** (lower is better): mean over pixels of ``(p_lesion - y)^2`` where ``p_lesion = 1 -
  softmax(logits)[background]`` is the segmenter's lesion probability map and ``y`` the binary
  label (``label > 0``) — the lesion-vs-background form of the thesis' probability MSE.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from synth_core.metrics import dice

__all__ = ["segmenter_scores"]


def _device_of(net: nn.Module) -> torch.device:
    try:
        return next(net.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def segmenter_scores(net: nn.Module, images: Any, labels: Any, *, batch_size: int = 32) -> dict[str, float | int]:
    """Dice and lesion-probability MSE of segmenter ``net`` on ``images (N, H, W)`` in [0, 1] with
    ``labels (N, H, W)``. Returns ``{"dice", "mse", "n"}`` over the ``n`` slices with a lesion
    (``nan`` and 0 when there is none). ``net`` runs in eval mode (its flag is restored)."""
    imgs = np.asarray(images, dtype=np.float32)
    lab = np.asarray(labels)
    if imgs.ndim != 3 or lab.shape != imgs.shape:
        raise ValueError(f"expected images and labels (N, H, W) of one shape, got {imgs.shape} and {lab.shape}")
    has = (lab > 0).reshape(len(lab), -1).any(axis=1)
    imgs, lab = imgs[has], lab[has]
    if len(imgs) == 0:
        return {"dice": float("nan"), "mse": float("nan"), "n": 0}
    device = _device_of(net)
    was_training = net.training
    net.eval()
    dices, mses = [], []
    try:
        for s in range(0, len(imgs), batch_size):
            x = torch.from_numpy(imgs[s : s + batch_size])[:, None].to(device)
            y = lab[s : s + batch_size] > 0
            logits = net(x).float()
            probs = torch.softmax(logits, dim=1)
            pred = logits.argmax(dim=1).cpu().numpy() > 0
            p_lesion = (1.0 - probs[:, 0]).cpu().numpy().astype(np.float64)
            dices.append(np.atleast_1d(dice(pred, y)))
            mses.append(((p_lesion - y) ** 2).reshape(len(y), -1).mean(axis=1))
    finally:
        net.train(was_training)
    return {"dice": float(np.mean(np.concatenate(dices))), "mse": float(np.mean(np.concatenate(mses))),
            "n": int(len(imgs))}
