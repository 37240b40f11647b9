"""Learned acquisition noise on the generator's output (``noise_out``; not in the thesis).

Scans carry noise at the scale of single pixels: thermal noise, white in k-space and, after
resampling, correlated over a pixel or two (the demo data: Rician noise, 1.5–3.5 % of the brain's
99th percentile). A U-Net trained first to reconstruct real slices (eq. 18) learns their
conditional average, which has no such noise, and its only source of randomness afterwards is
eq. 12's noise fused into the structure channel, which it turns into smooth, oriented patterns
(measured on the demo: 4–5 % of the generated images' fine-detail power lies above 0.3 cycles per
pixel, against 14 % in the real slices). StyleGAN (Karras et al. 2019) gives its generator noise
inputs for such stochastic detail; :class:`NoisyGenerator` does that at the output: each modality
adds its own learned ``k × k`` filter of fresh Gaussian noise, inside the organ only (where the
structure channel is above 0; every pixel for ablation A's noise-only input). The filters start
at 0, so a new generator begins as the plain U-Net, and the adversarial terms set the noise's
strength and correlation for each modality.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.nets.blocks import check_positive

__all__ = ["NoisyGenerator", "OutputNoise"]


class OutputNoise(nn.Module):
    """Per-modality learned noise filters: ``weight (M, 1, k, k)``, zeros at the start.

    ``forward(noise (N, 1, H, W), condition (N, M) or None) -> (N, 1, H, W)``: each sample's noise
    filtered by the mix ``condition @ weight`` of the modality filters (one-hot conditions pick
    one); without a condition (``M = 1``) by the single filter. ``k`` must be odd."""

    def __init__(self, *, n_modalities: int, kernel: int = 5):
        super().__init__()
        check_positive("n_modalities", n_modalities)
        check_positive("kernel", kernel)
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, not {kernel}")
        self.n_modalities, self.kernel = int(n_modalities), int(kernel)
        self.weight = nn.Parameter(torch.zeros(self.n_modalities, 1, kernel, kernel))

    def forward(self, noise: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if noise.ndim != 4 or noise.shape[1] != 1:
            raise ValueError(f"expected noise (N, 1, H, W), got {tuple(noise.shape)}")
        n, _, h, w = noise.shape
        if condition is None:
            if self.n_modalities != 1:
                raise ValueError(f"{self.n_modalities} modality filters need a condition (N, {self.n_modalities})")
            kernels = self.weight.expand(n, 1, self.kernel, self.kernel)
        else:
            if condition.shape != (n, self.n_modalities):
                raise ValueError(f"expected a condition ({n}, {self.n_modalities}), got {tuple(condition.shape)}")
            kernels = (condition.to(self.weight.dtype) @ self.weight.flatten(1)).view(n, 1, self.kernel, self.kernel)
        out = F.conv2d(noise.reshape(1, n, h, w).to(kernels.dtype), kernels, padding=self.kernel // 2, groups=n)
        return out.view(n, 1, h, w)


class NoisyGenerator(nn.Module):
    """A conditional generator (``unet``: ``(x, condition) -> (N, 1, H, W)``) plus
    :class:`OutputNoise`: ``forward(x, condition=None, noise=None)`` returns
    ``unet(x, condition) + support * noise_filter(noise, condition)``, where ``support`` is
    ``x[:, :1] > 0`` (inside the organ). ``noise=None`` gives the clean image. ``style`` goes to the
    U-Net (:mod:`synth_core.nets.style`); the noise filters follow the condition alone. ``condition_dim``
    and ``style_dim`` are the U-Net's, so :func:`synth_core.multimodal_model.generate_modalities` treats both alike."""

    def __init__(self, unet: nn.Module, *, kernel: int = 5):
        super().__init__()
        self.unet = unet
        self.condition_dim = int(getattr(unet, "condition_dim", 0))
        self.style_dim = int(getattr(unet, "style_dim", 0))
        self.noise = OutputNoise(n_modalities=max(self.condition_dim, 1), kernel=kernel)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, style: torch.Tensor | None = None) -> torch.Tensor:
        y = self.unet(x, condition) if style is None else self.unet(x, condition, style)
        if noise is None:
            return y
        if noise.shape != (x.shape[0], 1, *x.shape[2:]):
            raise ValueError(f"expected noise {(x.shape[0], 1, *x.shape[2:])}, got {tuple(noise.shape)}")
        support = (x[:, :1] > 0).to(y.dtype)
        return y + support * self.noise(noise, condition).to(y.dtype)
