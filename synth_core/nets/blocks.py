"""Small building blocks shared by the networks."""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("instance", "batch", "group", "none")
ACTIVATIONS = ("sigmoid", "tanh", "none")


class _InstanceNorm(nn.InstanceNorm2d):
    """Instance norm that does not normalise a 1×1 feature map (statistics of one pixel are
    undefined; the pix2pix bottleneck at full depth is 1×1) but still applies its affine scale and
    shift, so its parameters take part in the loss (DistributedDataParallel requires that)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] * x.shape[-2] == 1:
            if self.affine:
                return x * self.weight[None, :, None, None] + self.bias[None, :, None, None]
            return x
        return super().forward(x)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f'{name} must be one of {", ".join(repr(c) for c in choices)}, not "{value}"')


def check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def norm_layer(kind: str, channels: int) -> nn.Module:
    check_choice("norm", kind, NORMS)
    if kind == "instance":
        return _InstanceNorm(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


def activation(kind: str) -> nn.Module:
    check_choice("out_activation", kind, ACTIVATIONS)
    return {"sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "none": nn.Identity()}[kind]


class ConvBlock(nn.Sequential):
    """Two 3×3 convolutions, each followed by normalisation and an activation; optional dropout."""

    def __init__(self, in_channels: int, out_channels: int, *, norm: str, dropout: float = 0.0, leaky: bool = False):
        act = (lambda: nn.LeakyReLU(0.2, inplace=True)) if leaky else (lambda: nn.ReLU(inplace=True))
        bias = norm == "none"
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
            norm_layer(norm, out_channels),
            act(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias),
            norm_layer(norm, out_channels),
            act(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)
