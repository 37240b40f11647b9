"""U-Net generator with an optional one-hot condition at the bottleneck (METHOD.md §6, §7, §10)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.nets.blocks import ConvBlock, activation, check_choice, check_positive, norm_layer


class FiLMConvBlock(nn.Module):
    """Two 3×3 conv + norm + ReLU layers whose normalised features are modulated by the condition:
    ``h = norm(conv(x)) * (1 + gamma(c)) + beta(c)`` (FiLM, Perez et al. 2018).

    A condition concatenated as constant planes only shifts a conv's output by a per-channel
    constant, which instance normalisation then removes; modulating *after* the norm cannot be
    removed. gamma and beta start at zero, so the block starts as a plain ConvBlock.
    """

    def __init__(self, in_channels: int, out_channels: int, *, condition_dim: int, norm: str, dropout: float = 0.0):
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)
        self.norm1 = norm_layer(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias)
        self.norm2 = norm_layer(norm, out_channels)
        self.film = nn.Linear(condition_dim, 4 * out_channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        g1, b1, g2, b2 = self.film(condition.to(x.dtype))[:, :, None, None].chunk(4, dim=1)
        y = F.relu(self.norm1(self.conv1(x)) * (1 + g1) + b1)
        y = F.relu(self.norm2(self.conv2(y)) * (1 + g2) + b2)
        return self.drop(y)


class UNet(nn.Module):
    """U-Net: ``x (B, in_channels, H, W) [+ condition (B, condition_dim)] -> (B, out_channels, H, W)``.

    Encoder: a ConvBlock at full resolution, then ``depth`` steps of 2×2 max-pool + ConvBlock that
    double the width (capped at ``max_channels``). Bottleneck: when ``condition_dim > 0`` the
    condition (e.g. one-hot modality) is broadcast to constant planes and concatenated, then fused
    by a 1×1 convolution (thesis: the one-hot matrix joins after the encoder). Decoder: nearest
    up-sampling, 3×3 conv, concatenation with the skip, ConvBlock. ``dropout`` (pix2pix uses 0.5)
    applies to the three deepest decoder blocks. ``H`` and ``W`` must be divisible by ``2**depth``.

    ``condition_at="decoder"`` instead modulates every decoder block with the condition (FiLM after
    each normalisation, :class:`FiLMConvBlock`). With instance norm, planes concatenated at the
    bottleneck only add per-channel constants that the next normalisation removes, and the skip
    connections let the U-Net copy its input; a translator built that way was measured to ignore its
    target modality. The bottleneck mode follows the thesis code (with a LeakyReLU after the 1×1
    fusion, so the condition is not a pure constant shift).

    ``style_dim = k > 0`` adds a per-sample style code ``style (B, k)`` (:mod:`synth_core.nets.style`)
    to what the condition modulates: with a condition ``c`` the FiLM (or bottleneck) input is
    ``[c, vec(c ⊗ style)]``, so each modality gets its own linear response to its code; without one
    it is the code alone. ``style_dim = 0`` is the network as before.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        depth: int = 3,
        norm: str = "instance",
        dropout: float = 0.0,
        condition_dim: int = 0,
        out_activation: str = "sigmoid",
        max_channels: int = 512,
        condition_at: str = "bottleneck",
        style_dim: int = 0,
    ):
        super().__init__()
        check_positive("in_channels", in_channels)
        check_positive("out_channels", out_channels)
        check_positive("base_channels", base_channels)
        check_positive("depth", depth)
        check_positive("max_channels", max_channels)
        if depth > 10:
            raise ValueError(f"depth must be at most 10, not {depth}")
        if not (0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), not {dropout}")
        if condition_dim < 0:
            raise ValueError(f"condition_dim must be >= 0, not {condition_dim}")
        if style_dim < 0:
            raise ValueError(f"style_dim must be >= 0, not {style_dim}")
        check_choice("out_activation", out_activation, ("sigmoid", "tanh", "none"))
        check_choice("condition_at", condition_at, ("bottleneck", "decoder"))
        self.condition_at = condition_at
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.condition_dim, self.style_dim = depth, condition_dim, style_dim
        #: width of what modulates the network: the condition, then each condition entry times the style
        self.film_dim = condition_dim * (1 + style_dim) if condition_dim else style_dim

        widths = [min(base_channels * 2**i, max_channels) for i in range(depth + 1)]
        self.stem = ConvBlock(in_channels, widths[0], norm=norm)
        self.down = nn.ModuleList(ConvBlock(widths[i], widths[i + 1], norm=norm) for i in range(depth))
        self.fuse = (
            nn.Sequential(nn.Conv2d(widths[-1] + self.film_dim, widths[-1], 1), nn.LeakyReLU(0.2, inplace=True))
            if self.film_dim > 0 and condition_at == "bottleneck" else nn.Identity()
        )
        self.up_conv = nn.ModuleList()
        self.up_block = nn.ModuleList()
        for level, i in enumerate(reversed(range(depth))):
            self.up_conv.append(nn.Conv2d(widths[i + 1], widths[i], 3, padding=1))
            drop = dropout if level < 3 else 0.0
            if self.film_dim and condition_at == "decoder":
                self.up_block.append(FiLMConvBlock(2 * widths[i], widths[i], condition_dim=self.film_dim,
                                                   norm=norm, dropout=drop))
            else:
                self.up_block.append(ConvBlock(2 * widths[i], widths[i], norm=norm, dropout=drop))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.out_act = activation(out_activation)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's feature maps ``[stem (B, w0, H, W), level 1 (B, w1, H/2, W/2), ...,
        bottleneck (B, w_depth, H/2**depth, W/2**depth)]`` — the skips that :meth:`forward` keeps,
        before any condition is fused. Used as a learned feature space for evaluation
        (:mod:`synth_core.evaluation.features`). Gradients flow; wrap in ``torch.no_grad()``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % 2**self.depth or w % 2**self.depth:
            raise ValueError(f"H and W must be divisible by 2**depth = {2**self.depth}, got {h}x{w}")
        feats = [self.stem(x)]
        for block in self.down:
            feats.append(block(F.max_pool2d(feats[-1], 2)))
        return feats

    def modulation(self, condition: torch.Tensor | None, style: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """What the FiLM blocks (or the bottleneck fusion) see: ``condition (B, condition_dim)`` and
        ``style (B, style_dim)`` checked, then ``[c, vec(c ⊗ style)]``, the style alone without a
        condition, or the condition alone without a style code; None when the network has neither."""
        for name, value, dim in (("condition", condition, self.condition_dim), ("style", style, self.style_dim)):
            if dim and (value is None or value.shape != (batch, dim)):
                raise ValueError(f"expected {name} (B, {dim}), got {None if value is None else tuple(value.shape)}")
            if not dim and value is not None:
                raise ValueError(f"this UNet has no {name} input ({name}_dim = 0)")
        if condition is None:
            return style
        if style is None:
            return condition
        c = condition.float()
        return torch.cat([c, (c[:, :, None] * style.float()[:, None, :]).flatten(1)], dim=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                style: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % 2**self.depth or w % 2**self.depth:
            raise ValueError(f"H and W must be divisible by 2**depth = {2**self.depth}, got {h}x{w}")
        skips = [self.stem(x)]
        y = skips[0]
        for block in self.down:
            y = block(F.max_pool2d(y, 2))
            skips.append(y)
        film = self.modulation(condition, style, x.shape[0])
        if film is not None and self.condition_at == "bottleneck":
            planes = film[:, :, None, None].to(y.dtype).expand(-1, -1, *y.shape[-2:])
            y = self.fuse(torch.cat([y, planes], dim=1))
        for conv, block, skip in zip(self.up_conv, self.up_block, reversed(skips[:-1])):
            y = conv(F.interpolate(y, scale_factor=2.0, mode="nearest"))
            y = torch.cat([y, skip], dim=1)
            y = block(y, film) if isinstance(block, FiLMConvBlock) else block(y)
        return self.out_act(self.head(y))
