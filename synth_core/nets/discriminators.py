"""Discriminators: VGG11-style with real/fake and modality-class heads (ACGAN), PatchGAN, and the
latent discriminator ``D_z`` of the structure VAE+GAN."""

from __future__ import annotations

import torch
from torch import nn

from synth_core.nets.blocks import check_positive, norm_layer

# VGG11 convolution plan per stage (number of 3×3 convs before each down-sampling).
_VGG11_CONVS = (1, 1, 2, 2, 2)


class VGGDiscriminator(nn.Module):
    """VGG11-like trunk of ``n_down`` stages (3×3 convs + LeakyReLU, stride-2 average pooling).

    ``forward(x (B, C, H, W)) -> (realness (B, 1, H/2**n_down, W/2**n_down), class_logits (B,
    n_classes) or None)``. The real/fake head is a 1×1 conv on the last feature map (least-squares
    GAN targets 1 real / 0 fake); the class head (ACGAN; ``n_classes > 0``) pools globally and
    predicts the modality. ``H`` and ``W`` must be divisible by ``2**n_down``.

    ``minibatch_std`` (Karras et al. 2018, ProGAN's minibatch standard deviation): the real/fake head
    also sees one more feature map, the standard deviation of the last features across a *group* of
    images (``forward(x, group=k)``: consecutive groups of ``k``; default the whole batch), averaged
    over channels and positions — so ``D`` can see when the images of a batch vary less than real
    ones do, which no look at one image at a time can. Off: the thesis's ``D``.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        base_channels: int = 64,
        n_down: int = 4,
        n_classes: int = 0,
        norm: str = "instance",
        max_channels: int = 512,
        minibatch_std: bool = False,
    ):
        super().__init__()
        check_positive("in_channels", in_channels)
        check_positive("base_channels", base_channels)
        check_positive("n_down", n_down)
        if n_down > len(_VGG11_CONVS):
            raise ValueError(f"n_down must be at most {len(_VGG11_CONVS)}, not {n_down}")
        if n_classes < 0:
            raise ValueError(f"n_classes must be >= 0, not {n_classes}")
        self.in_channels, self.n_down, self.n_classes = in_channels, n_down, n_classes
        layers: list[nn.Module] = []
        ch = in_channels
        for stage in range(n_down):
            width = min(base_channels * 2**stage, max_channels)
            for k in range(_VGG11_CONVS[stage]):
                layers.append(nn.Conv2d(ch, width, 3, padding=1, bias=(stage == 0)))
                if stage > 0:
                    layers.append(norm_layer(norm, width))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                ch = width
            layers.append(nn.AvgPool2d(2))
        self.trunk = nn.Sequential(*layers)
        self.minibatch_std = bool(minibatch_std)
        self.real_head = nn.Conv2d(ch + int(self.minibatch_std), 1, 1)
        self.class_head = nn.Linear(ch, n_classes) if n_classes else None
        self.out_channels = ch

    def forward(self, x: torch.Tensor, group: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % 2**self.n_down or x.shape[-2] % 2**self.n_down:
            raise ValueError(f"H and W must be divisible by {2**self.n_down}, got {tuple(x.shape[-2:])}")
        f = self.trunk(x)
        cls = self.class_head(f.mean(dim=(2, 3))) if self.class_head is not None else None
        if self.minibatch_std:
            f = torch.cat([f, minibatch_std(f, group)], dim=1)
        return self.real_head(f), cls


def minibatch_std(f: torch.Tensor, group: int | None = None) -> torch.Tensor:
    """``(N, C, h, w)`` features -> ``(N, 1, h, w)``: for each consecutive group of ``group`` images
    (``None`` = all ``N``), the standard deviation of every feature across the group's images,
    averaged over channels and positions, as a constant map for each image of the group."""
    n = f.shape[0]
    g = n if group is None else int(group)
    if g < 2 or n % g:
        raise ValueError(f"minibatch standard deviation needs groups of at least 2 images that divide the batch; "
                         f"got a batch of {n} in groups of {g}")
    y = f.float().reshape(n // g, g, *f.shape[1:])
    sd = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
    return sd.repeat_interleave(g).reshape(n, 1, 1, 1).expand(n, 1, *f.shape[2:]).to(f.dtype)


class PatchGANDiscriminator(nn.Module):
    """pix2pix PatchGAN (Isola et al.): ``n_layers`` stride-2 4×4 convs, then two stride-1 4×4 convs.

    ``forward(x (B, in_channels, H, W)) -> (B, 1, h, w)`` patch realness. With ``n_layers = 3`` the
    receptive field is 70×70 (30×30 output at 256 px); with ``n_layers = 4`` it is 142×142 and a
    512 px input gives the liver paper's 30×30 output. ``in_channels`` is usually the condition
    plus the image (concatenated pair).
    """

    def __init__(self, *, in_channels: int, base_channels: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        check_positive("in_channels", in_channels)
        check_positive("base_channels", base_channels)
        check_positive("n_layers", n_layers)
        self.in_channels, self.n_layers = in_channels, n_layers
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = base_channels
        for i in range(1, n_layers):
            nxt = base_channels * min(2**i, 8)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1, bias=False), norm_layer(norm, nxt), nn.LeakyReLU(0.2, True)]
            ch = nxt
        nxt = base_channels * min(2**n_layers, 8)
        layers += [nn.Conv2d(ch, nxt, 4, 1, 1, bias=False), norm_layer(norm, nxt), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(nxt, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    @staticmethod
    def receptive_field(n_layers: int) -> int:
        """Receptive field in pixels of one output patch (70 for ``n_layers = 3``)."""
        rf = 1
        # walk back from the output: two stride-1 4×4 convs, then n_layers stride-2 4×4 convs
        for stride in [1, 1] + [2] * n_layers:
            rf = rf * stride + (4 - stride)
        return rf

    def forward(self, x: torch.Tensor, *, with_features: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """The patch map; with ``with_features`` also every hidden layer's activations (after each
        LeakyReLU, ``n_layers + 1`` maps), as pix2pixHD's feature matching compares them."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if not with_features:
            return self.net(x)
        feats = []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return x, feats


class LatentDiscriminator(nn.Module):
    """``D_z``: tells encoder outputs ``f`` from prior samples ``z ~ N(0, I)`` (eqs. 8–9).

    ``forward(z (B, latent_dim)) -> (B, 1)``; an MLP with LeakyReLU (the thesis reshapes a 4096
    latent to 64×64 and uses convolutions; an MLP is the size-independent equivalent).
    """

    def __init__(self, *, latent_dim: int, hidden: int = 256, n_layers: int = 3):
        super().__init__()
        check_positive("latent_dim", latent_dim)
        check_positive("hidden", hidden)
        check_positive("n_layers", n_layers)
        self.latent_dim = latent_dim
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(n_layers - 1):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2, True)]
            d = hidden
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latent (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z)


def spectral_normed(net: nn.Module) -> nn.Module:
    """``net`` with spectral normalisation (Miyato et al. 2018) on the weight of every convolution and
    linear layer (torch's parametrization: one power iteration per training forward, the estimate
    kept as buffers, so a checkpoint restores it). Returns ``net``, changed in place."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.utils.parametrizations.spectral_norm(m)
    return net
