"""Exponential moving average of generator weights (Karras et al. 2018; Yazıcı et al. 2019).

A GAN generator's weights oscillate around a good solution while the discriminator chases it;
their running average ``θ_ema ← d·θ_ema + (1 - d)·θ`` (buffers copied as they are) gives clearly
better samples for the same training, and costs one copy of the network. A stage lists the
networks to average in ``Stage.ema_names``; the loop updates the copies after every step, saves
them in checkpoints as ``<name>_ema`` and restores them on ``--resume``; readers of a run
(``synth_core.runs.loading.load_run``) use the averaged weights when a checkpoint has them.

``decay`` is warmed up as ``min(decay, (1 + k) / (10 + k))`` after ``k`` updates, so the average
does not drag the random initial weights along for thousands of steps on short runs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from synth_core.runs.checkpoint import ema_name, unwrap


class EMA:
    """Averaged copies of some networks of a stage (bare modules, never DDP-wrapped, never trained)."""

    def __init__(self, nets: dict[str, nn.Module], decay: float):
        if not (0.0 <= decay < 1.0):
            raise ValueError(f"ema decay must be in [0, 1), not {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.copies: dict[str, nn.Module] = {}
        for name, net in nets.items():
            c = copy.deepcopy(unwrap(net)).eval()
            for p in c.parameters():
                p.requires_grad_(False)
            self.copies[name] = c

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, nets: dict[str, nn.Module]) -> None:
        d = self.current_decay()
        for name, avg in self.copies.items():
            live = unwrap(nets[name])
            for pa, pl in zip(avg.parameters(), live.parameters()):
                pa.lerp_(pl.detach().to(pa.dtype), 1.0 - d)
            for ba, bl in zip(avg.buffers(), live.buffers()):
                ba.copy_(bl)
        self.updates += 1

    def state_modules(self) -> dict[str, nn.Module]:
        """``{"<name>_ema": module}`` as the checkpoint stores them."""
        return {ema_name(n): m for n, m in self.copies.items()}
