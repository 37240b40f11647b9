"""Lesion "whitening" and filling with a trained pix2pix generator (METHOD.md §10, liver paper).

The liver paper (Meng et al. 2020) sets every lesion pixel of a CT slice to white and trains a
pix2pix U-Net to restore the original slice from it; at synthesis time a lesion shape is pasted
into a healthy slice, whitened, and the generator fills it in, which gives a new lesion image
whose label is known exactly.

- :func:`whiten` — the input of the generator: the slice with its lesion pixels set to 1.0.
- :func:`fill_input` — :func:`whiten` plus, for a run trained with ``label_input`` (not in the
  paper), one channel per lesion class, so the generator knows which part of the white region is
  enhancing rim, necrotic core or oedema.
- :func:`fill_lesions` — run a generator on whitened slices and (by default) keep every pixel
  outside the lesion exactly as it was (see its docstring for why).
- :func:`lesion_box` — the bounding box of a lesion, for metrics cropped to the lesion region.

Pure functions of arrays and a network; no Streamlit, no files.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import nn

from synth_core.multimodal_model import generator_input

#: the value lesion pixels take in the generator's input (images live in [0, 1])
WHITE = 1.0

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _lesion_like(image: Array, lesion_label: Array) -> Array:
    """``lesion_label > 0`` broadcast to ``image``'s shape, or ValueError naming both shapes.

    Accepted pairs: image ``(H,W)`` with label ``(H,W)``; image ``(B,1,H,W)`` with label
    ``(B,H,W)`` or ``(B,1,H,W)``.
    """
    ish, lsh = tuple(image.shape), tuple(lesion_label.shape)
    if len(ish) == 2 and lsh == ish:
        sel = lesion_label > 0
    elif len(ish) == 4 and ish[1] == 1 and lsh in ((ish[0], ish[2], ish[3]), ish):
        sel = lesion_label > 0
        if len(lsh) == 3:
            sel = sel[:, None]
    else:
        raise ValueError(f"expected image (H,W) with label (H,W), or image (B,1,H,W) with label (B,H,W) or "
                         f"(B,1,H,W); got image {ish} and label {lsh}")
    return sel


def whiten(image: Array, lesion_label: Array, *, value: float = WHITE) -> Array:
    """The slice with every lesion pixel (``lesion_label > 0``, any class) set to ``value``.

    ``image``: ``(H,W)`` or ``(B,1,H,W)`` float in [0, 1] (numpy or torch); ``lesion_label``:
    integer or binary map ``(H,W)``, ``(B,H,W)`` or ``(B,1,H,W)`` of the same kind. Returns a new
    array of ``image``'s shape, dtype and device; pixels outside the lesion are unchanged.
    """
    sel = _lesion_like(image, lesion_label)
    if isinstance(image, torch.Tensor):
        if not isinstance(sel, torch.Tensor):
            raise TypeError("image is a torch tensor but lesion_label is not")
        return torch.where(sel.to(image.device), torch.full_like(image, value), image)
    if isinstance(sel, torch.Tensor):
        raise TypeError("image is a numpy array but lesion_label is a torch tensor")
    return np.where(sel, np.asarray(value, dtype=image.dtype), image)


def fill_input(image: torch.Tensor, lesion_label: torch.Tensor, n_classes: int = 1) -> torch.Tensor:
    """A pix2pix generator's input: ``whiten(image, lesion_label)`` ``(B,1,H,W)``, followed with
    ``n_classes`` > 1 by one channel per lesion class ``1..n_classes-1`` (1 where the label has that
    class; the multimodal generator's :func:`~synth_core.multimodal_model.generator_input`), so
    ``(B, n_classes, H, W)``. ``n_classes = 1`` is the paper's input, the whitened slice alone.
    ``lesion_label``: ``(B,H,W)`` or ``(B,1,H,W)`` integer classes in ``[0, n_classes)`` (any
    value > 0 with ``n_classes = 1``)."""
    if image.ndim != 4 or image.shape[1] != 1:
        raise ValueError(f"expected images (B, 1, H, W), got {tuple(image.shape)}")
    white = whiten(image, lesion_label)
    if n_classes == 1:
        return white
    lab = lesion_label[:, 0] if lesion_label.ndim == 4 else lesion_label
    return generator_input(white, lab.to(image.device).long(), n_classes)


def input_channels(G: nn.Module) -> int:
    """``n_classes`` of :func:`fill_input` that ``G`` (a U-Net, or a wrapper with ``.module``) takes."""
    net = getattr(G, "module", G)
    return int(getattr(net, "in_channels", 1))


@torch.no_grad()
def fill_lesions(G: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, composite: bool = True,
                 chunk: int = 16) -> torch.Tensor:
    """Fill the lesions of ``images`` with the pix2pix generator ``G``.

    ``images``: ``(B,1,H,W)`` (or ``(H,W)``) float in [0, 1] — healthy or real slices; ``labels``:
    the lesion map to synthesise, ``(B,H,W)``/``(B,1,H,W)`` (or ``(H,W)``), > 0 = lesion. The
    generator sees :func:`fill_input` (images, labels) with as many channels as it takes
    (:func:`input_channels`: the whitened slice, plus the lesion classes for a ``label_input``
    run, which then needs the label's classes, not only > 0) and returns an image of the same shape.

    ``composite=True`` (default) keeps every pixel outside the lesion exactly as in ``images``
    and takes only the lesion pixels from ``G``: the synthetic slice is then the real slice plus a
    generated lesion, with an exact label and no drift elsewhere (the paper's generator changes
    the rest of the image only slightly, but "slightly" is not "not at all"). ``composite=False``
    returns ``G``'s raw output, as the paper evaluates it.

    ``G`` runs in eval mode (dropout off, so the same input gives the same output); its previous
    training flag is restored. Inputs move to ``G``'s device in chunks of ``chunk`` slices; the
    result is on the device of ``images``.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, not {chunk}")
    sel = _lesion_like(images, labels)
    single = images.ndim == 2
    x = images[None, None] if single else images
    m = sel[None, None] if single else sel
    lab = labels[None, None] if single else (labels if labels.ndim == 4 else labels[:, None])
    n_classes = input_channels(G)
    try:
        device = next(G.parameters()).device
    except StopIteration:
        device = x.device
    was_training = G.training
    G.eval()
    try:
        outs = []
        for start in range(0, x.shape[0], chunk):
            xs = x[start : start + chunk].to(device)
            ms = m[start : start + chunk].to(device)
            gen = G(fill_input(xs, lab[start : start + chunk].to(device), n_classes)).to(xs.dtype)
            outs.append((torch.where(ms, gen, xs) if composite else gen).to(images.device))
        out = torch.cat(outs)
    finally:
        G.train(was_training)
    return out[0, 0] if single else out


def lesion_box(label: np.ndarray | torch.Tensor, *, margin: int = 2, min_size: int = 11) -> tuple[slice, slice] | None:
    """Row and column slices of the lesion's bounding box in ``label (H,W)`` (> 0 = lesion),
    grown by ``margin`` pixels per side and to at least ``min_size`` per axis (the 11-tap SSIM
    window of :func:`synth_core.metrics.ssim` needs that much), clipped to the image. ``None`` when there is no lesion.
    """
    lab = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
    if lab.ndim != 2:
        raise ValueError(f"expected a label map (H,W), got shape {lab.shape}")
    rows, cols = np.nonzero(lab > 0)
    if rows.size == 0:
        return None

    def span(first: int, last: int, n: int) -> slice:  # lesion extent [first, last] on an axis of length n
        lo, hi = max(first - margin, 0), min(last + 1 + margin, n)
        short = min_size - (hi - lo)
        if short > 0:  # grow around the lesion, shifted back inside the image at a border
            lo, hi = lo - short // 2, hi + short - short // 2
            if lo < 0:
                lo, hi = 0, hi - lo
            if hi > n:
                lo, hi = max(lo - (hi - n), 0), n
        return slice(lo, hi)

    return span(rows.min(), rows.max(), lab.shape[0]), span(cols.min(), cols.max(), lab.shape[1])
