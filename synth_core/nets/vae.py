"""The structure-map VAE: encoder ``E_s`` (mean, log-variance) and decoder ``G_s`` (METHOD.md §4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.nets.blocks import check_positive, norm_layer


def _check_size(image_size: int, n_down: int) -> int:
    check_positive("image_size", image_size)
    check_positive("n_down", n_down)
    if image_size % 2**n_down:
        raise ValueError(f"image_size {image_size} must be divisible by 2**n_down = {2**n_down}")
    return image_size // 2**n_down


class StructureEncoder(nn.Module):
    """``E_s``: ``s (B, in_channels, S, S) -> (mean, logvar)``, each ``(B, latent_dim)``.

    ``n_down`` stride-2 3×3 conv stages (width doubling from ``base_channels``, capped at
    ``max_channels``) down to ``S / 2**n_down``, then dense heads for the mean and log-variance.
    """

    def __init__(self, *, image_size: int, in_channels: int = 1, latent_dim: int = 128,
                 base_channels: int = 32, n_down: int = 4, max_channels: int = 256, norm: str = "instance"):
        super().__init__()
        side = _check_size(image_size, n_down)
        check_positive("in_channels", in_channels)
        check_positive("latent_dim", latent_dim)
        check_positive("base_channels", base_channels)
        self.image_size, self.in_channels, self.latent_dim = image_size, in_channels, latent_dim
        layers: list[nn.Module] = []
        ch = in_channels
        for i in range(n_down):
            width = min(base_channels * 2**i, max_channels)
            layers += [nn.Conv2d(ch, width, 3, 2, 1), norm_layer(norm if i else "none", width), nn.LeakyReLU(0.2, True),
                       nn.Conv2d(width, width, 3, 1, 1), norm_layer(norm, width), nn.LeakyReLU(0.2, True)]
            ch = width
        self.trunk = nn.Sequential(*layers)
        self.mean = nn.Linear(ch * side * side, latent_dim)
        self.logvar = nn.Linear(ch * side * side, latent_dim)

    def forward(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        exp = (self.in_channels, self.image_size, self.image_size)
        if s.ndim != 4 or tuple(s.shape[1:]) != exp:
            raise ValueError(f"expected structure maps (B, {exp[0]}, {exp[1]}, {exp[2]}), got {tuple(s.shape)}")
        f = self.trunk(s).flatten(1)
        return self.mean(f), self.logvar(f).clamp(-20.0, 20.0)


class StructureDecoder(nn.Module):
    """``G_s``: ``z (B, latent_dim) -> s (B, out_channels, S, S)`` in [0, 1] (sigmoid).

    Dense layer to ``(width, S/2**n_up, S/2**n_up)``, then ``n_up`` blocks of nearest 2× up-sampling
    + two 3×3 convs (width halving), and a 3×3 conv to ``out_channels``.
    """

    def __init__(self, *, image_size: int, out_channels: int = 1, latent_dim: int = 128,
                 base_channels: int = 32, n_up: int = 4, max_channels: int = 256, norm: str = "instance"):
        super().__init__()
        side = _check_size(image_size, n_up)
        check_positive("out_channels", out_channels)
        check_positive("latent_dim", latent_dim)
        check_positive("base_channels", base_channels)
        self.image_size, self.latent_dim, self.side = image_size, latent_dim, side
        widths = [min(base_channels * 2**i, max_channels) for i in range(n_up + 1)][::-1]
        self.start_channels = widths[0]
        self.dense = nn.Linear(latent_dim, widths[0] * side * side)
        blocks: list[nn.Module] = []
        for i in range(n_up):
            blocks += [nn.Upsample(scale_factor=2.0, mode="nearest"),
                       nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1), norm_layer(norm, widths[i + 1]), nn.LeakyReLU(0.2, True),
                       nn.Conv2d(widths[i + 1], widths[i + 1], 3, 1, 1), norm_layer(norm, widths[i + 1]), nn.LeakyReLU(0.2, True)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(widths[-1], out_channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latent (B, {self.latent_dim}), got {tuple(z.shape)}")
        y = F.leaky_relu(self.dense(z), 0.2).view(z.shape[0], self.start_channels, self.side, self.side)
        return torch.sigmoid(self.head(self.blocks(y)))


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """``f = mean + exp(0.5 * logvar) * eps`` with ``eps ~ N(0, I)`` unless given (eq. 7)."""
    if eps is None:
        eps = torch.randn_like(mean)
    return mean + torch.exp(0.5 * logvar) * eps
