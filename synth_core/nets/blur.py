"""Separable Gaussian blur of image batches (the noise fusion's smooth noise, the training losses)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """The 1-D Gaussian kernel of standard deviation ``sigma > 0`` pixels, radius ``ceil(3 sigma)``
    (at least 1), normalised to sum 1, float32."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, not {sigma}")
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with standard deviation ``sigma`` pixels (kernel
    radius ``ceil(3 sigma)``, reflect padding); ``sigma = 0`` returns ``x`` unchanged. The kernel is
    normalised to sum 1, so constant images are unchanged."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, not {sigma}")
    if sigma == 0:
        return x
    if x.ndim != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(x.shape)}")
    k = gaussian_kernel(sigma, device=x.device).to(x.dtype)
    radius = (len(k) - 1) // 2
    if radius >= min(x.shape[-2:]):
        raise ValueError(f"sigma {sigma} is too large for an image of {tuple(x.shape[-2:])} pixels")
    c = x.shape[1]
    y = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
