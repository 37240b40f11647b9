"""Inference helpers of the multi-modal conditional generator ``G`` (METHOD.md §5, §6, §9).

``G`` is a U-Net whose input is the fused structure map ``s'`` (eq. 12) stacked with the lesion
label as one-hot channels (background dropped), conditioned on the one-hot modality index (thesis
4.3; at the bottleneck or, with FiLM, in every decoder block: ``UNet(condition_at=...)``). The
training stage (``training.stages.multimodal``), the synthesis layer and the pages build ``G``'s
input and run it through these functions, so the three agree on:

- channel order: ``[s', onehot(l)_1, ..., onehot(l)_{K-1}]`` — class ``k`` of the label lands in
  channel ``k`` (``K`` = number of label classes including background; ``K = 1`` means no lesion
  channels at all);
- mask convention: 1 = inside the organ (``synth_core.structure``); noise fills the organ interior
  where there is no contour;
- modality order: the dataset's modality order; condition ``i`` is ``one_hot(i, M)``. With one
  modality ``G`` has no condition input.

All functions are pure torch (no Streamlit, no training imports), work on any device, and never
switch a network's train/eval mode; callers run inference under ``torch.no_grad()``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.nets.blur import gaussian_blur, gaussian_kernel
from synth_core.nets.noise import NoisyGenerator
from synth_core.nets.style import style_prior_of

__all__ = [
    "first_channel",
    "fuse_noise_torch",
    "generate_modalities",
    "generator_input",
    "has_output_noise",
    "modality_conditions",
    "noise_input",
    "smooth_uniform",
]


def _check_range(low: float, high: float) -> None:
    if not (0.0 <= low <= high <= 1.0):
        raise ValueError(f"noise range must satisfy 0 <= low <= high <= 1, not ({low}, {high})")


def fuse_noise_torch(structure: torch.Tensor, mask: torch.Tensor, low: float = 0.5, high: float = 0.6, *,
                     generator: torch.Generator | None = None, blur: float = 0.0) -> torch.Tensor:
    """Eq. (12), the torch twin of :func:`synth_core.structure.fuse_noise`:
    ``s' = s + z' * m * (1 - s)`` with ``z' ~ U(low, high)`` per pixel.

    ``structure`` and ``mask`` are ``{0, 1}`` tensors of one shape (e.g. ``(B, 1, H, W)``), mask
    1 = inside the organ. Contours stay 1, the outside stays 0, the interior gets values in
    ``[low, high)``. ``generator`` (on the tensors' device) makes the noise reproducible; without
    it torch's global generator is used.

    ``blur > 0`` (pixels) makes ``z'`` spatially smooth but keeps its law: Gaussian white noise is
    blurred with that standard deviation, divided by the blurred noise's standard deviation and
    sent through the normal CDF, so every pixel is still ``U(low, high)`` while neighbours within
    about ``blur`` pixels are correlated (a Gaussian copula). ``blur = 0`` is the thesis's
    independent noise, drawn exactly as before.
    """
    _check_range(low, high)
    if structure.shape != mask.shape:
        raise ValueError(f"structure shape {tuple(structure.shape)} does not match mask shape {tuple(mask.shape)}")
    if not blur >= 0:
        raise ValueError(f"noise blur must be >= 0 pixels, not {blur}")
    s = structure.float()
    if blur == 0:
        u = torch.rand(s.shape, generator=generator, device=s.device, dtype=s.dtype)
    else:
        u = smooth_uniform(s.shape, blur, generator=generator, device=s.device)
    z = u * (high - low) + low
    return s + z * mask.to(s.dtype) * (1.0 - s)


def smooth_uniform(shape: tuple[int, ...] | torch.Size, blur: float, *, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Noise of ``shape`` (``(..., H, W)``) whose every value is ``U(0, 1)`` and whose neighbours are
    correlated over about ``blur`` pixels: blurred Gaussian noise scaled to unit variance, through
    the normal CDF. The variance of the blurred noise is the sum of the squared 2-D kernel weights,
    exact away from the border (reflect padding changes it slightly within ``3 blur`` of an edge)."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"expected (..., H, W), got {shape}")
    n = torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
    flat = n.reshape(-1, 1, *shape[-2:])
    kernel = gaussian_kernel(blur, device=flat.device)
    sd = float((kernel**2).sum())  # 2-D kernel = outer(k, k): sum of its squares = (sum k^2)^2; sd = sum k^2
    smooth = gaussian_blur(flat, blur) / sd
    return torch.special.ndtr(smooth).reshape(shape)


def noise_input(shape: tuple[int, ...] | torch.Size, device: torch.device | str = "cpu", *,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The structure channel of ablation A ("noise only"): ``U(0, 1)`` per pixel, float32."""
    return torch.rand(tuple(shape), generator=generator, device=device)


def first_channel(structure: torch.Tensor, mask: torch.Tensor, *, use_structure: bool = True, noise_fusion: bool = True,
                  low: float = 0.5, high: float = 0.6, blur: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``G``'s first input channel from ``structure``/``mask (B, 1, H, W)`` under the ablation switches:
    the fused map ``s'`` of eq. 12 (:func:`fuse_noise_torch` with ``low, high, blur``); ``s`` itself
    without noise fusion (ablation C); or ``U(0, 1)`` noise alone without the structure (ablation A,
    :func:`noise_input`). Training, synthesis and the paired evaluation all build it here, so the
    three cannot drift apart; noise comes from ``generator`` (on the tensors' device)."""
    if not use_structure:
        return noise_input(structure.shape, structure.device, generator=generator)
    if noise_fusion:
        return fuse_noise_torch(structure, mask, low, high, generator=generator, blur=blur)
    return structure.float()


def generator_input(fused: torch.Tensor, label: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``G``'s input: ``fused (B, 1, H, W)`` + ``label (B, H, W)`` long in ``[0, n_classes)`` ->
    ``(B, 1 + n_classes - 1, H, W)`` float: the fused map, then one channel per lesion class
    ``1..K-1`` holding 1 where the label has that class (background is dropped)."""
    if fused.ndim != 4 or fused.shape[1] != 1:
        raise ValueError(f"expected a fused map (B, 1, H, W), got {tuple(fused.shape)}")
    if label.shape != (fused.shape[0], *fused.shape[2:]):
        raise ValueError(f"expected a label (B, H, W) = {(fused.shape[0], *fused.shape[2:])}, got {tuple(label.shape)}")
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1 (background counts), not {n_classes}")
    dtype = fused.dtype if fused.is_floating_point() else torch.float32
    if n_classes == 1:
        return fused.to(dtype)
    lab = label.long()
    if label.numel() and (int(lab.min()) < 0 or int(lab.max()) >= n_classes):
        raise ValueError(f"label values must be in [0, {n_classes}), got [{int(lab.min())}, {int(lab.max())}]")
    onehot = F.one_hot(lab, n_classes).permute(0, 3, 1, 2)[:, 1:].to(dtype)
    return torch.cat([fused.to(dtype), onehot], dim=1)


def modality_conditions(n_modalities: int, batch: int, device: torch.device | str = "cpu",
                        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot conditions for a batch repeated modality-major: ``(M * B, M)``, rows
    ``i * B .. (i + 1) * B - 1`` are ``one_hot(i)``."""
    if n_modalities < 1 or batch < 0:
        raise ValueError(f"need n_modalities >= 1 and batch >= 0, not {n_modalities}, {batch}")
    idx = torch.arange(n_modalities, device=device).repeat_interleave(batch)
    return F.one_hot(idx, n_modalities).to(dtype)


def has_output_noise(G: nn.Module) -> bool:
    """Whether ``G`` (or the network a DDP wrapper holds) adds learned output noise
    (:class:`~synth_core.nets.NoisyGenerator`) and so takes a noise field per modality."""
    return isinstance(getattr(G, "module", G), NoisyGenerator)


def generate_modalities(G: nn.Module, inputs: torch.Tensor, n_modalities: int, *, noise: torch.Tensor | None = None,
                        style: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Every modality of a batch in one call of ``G``: ``inputs (B, C, H, W)`` (from
    :func:`generator_input`) -> ``(B, M, H, W)``, channel ``i`` generated with condition
    ``one_hot(i)``. With ``M = 1`` ``G`` runs without a condition.

    A ``G`` with learned output noise (:func:`has_output_noise`) takes one Gaussian field per
    sample and modality: ``noise (B, M, H, W)`` when given (the synthesis pipeline draws each
    sample's from that sample's own generator, so batching changes nothing), else drawn here from
    ``generator`` (on its own device, then moved; torch's global one without it). A plain U-Net ignores
    both and draws nothing.

    A ``G`` with a style code (:func:`~synth_core.nets.style.style_prior_of`) takes one standardised
    code per sample and modality: ``style (B, M, k)`` when given (a real slice's own, or drawn by
    the caller), else drawn here from ``G.style_prior`` with ``generator``, after the noise. Without
    a style code ``style`` must be None.

    ``G`` may be wrapped (DistributedDataParallel); its condition size must equal ``M`` when
    ``M > 1``. Gradients flow; wrap in ``torch.no_grad()`` for inference.
    """
    if inputs.ndim != 4:
        raise ValueError(f"expected inputs (B, C, H, W), got {tuple(inputs.shape)}")
    net = getattr(G, "module", G)
    cond_dim = int(getattr(net, "condition_dim", 0))
    b, _, h, w = inputs.shape
    extra = {}
    if has_output_noise(G):
        dtype = inputs.dtype if inputs.is_floating_point() else torch.float32
        if noise is None:
            where = generator.device if generator is not None else inputs.device
            noise = torch.randn((b, n_modalities, h, w), generator=generator, device=where, dtype=dtype)
        elif noise.shape != (b, n_modalities, h, w):
            raise ValueError(f"expected noise {(b, n_modalities, h, w)}, got {tuple(noise.shape)}")
        extra["noise"] = noise.to(inputs.device, dtype).transpose(0, 1).reshape(n_modalities * b, 1, h, w)
    prior = style_prior_of(G)
    if prior is not None:
        if prior.n_modalities != n_modalities:
            raise ValueError(f"G's style code covers {prior.n_modalities} modalities, not {n_modalities}")
        if style is None:
            style = prior.sample(b, generator=generator)
        elif style.shape != (b, n_modalities, prior.k):
            raise ValueError(f"expected style {(b, n_modalities, prior.k)}, got {tuple(style.shape)}")
        extra["style"] = style.to(inputs.device, torch.float32).transpose(0, 1).reshape(n_modalities * b, prior.k)
    elif style is not None:
        raise ValueError("G takes no style code (trained without style_quantiles)")
    if n_modalities == 1:
        if cond_dim:
            raise ValueError(f"G is conditioned on {cond_dim} modalities; cannot generate a single unconditioned one")
        return G(inputs, None, **extra)[:, :1].reshape(b, 1, h, w)
    if cond_dim != n_modalities:
        raise ValueError(f"G is conditioned on {cond_dim} modalities, not {n_modalities}")
    cond = modality_conditions(n_modalities, b, inputs.device, inputs.dtype)
    out = G(inputs.repeat(n_modalities, 1, 1, 1), cond, **extra)  # (M * B, 1, H, W), modality-major
    return out[:, 0].reshape(n_modalities, b, h, w).transpose(0, 1)
