"""Feature extractors for distribution distances (FID, KID): images -> one vector per image.

A feature extractor (:class:`FeatureExtractor`) has a ``name`` (recorded in the evaluation table's
``extractor`` column, so numbers from different feature spaces are never mixed), a feature size
``dim``, and is called on a batch of grey images ``(N, 1, H, W)`` (or ``(N, H, W)``) float in
[0, 1] (numpy or torch) to give ``(N, dim)`` float64 features. Extraction runs in eval mode,
without gradients, in batches of ``batch_size`` images.

Two extractors:

- :class:`InceptionV3Features` — the standard FID feature space: the 2048-d pool3 features of the
  FID Inception-v3 (:mod:`synth_core.evaluation.inception`), grey replicated to 3 channels,
  resized to 299 px, scaled to [-1, 1]. It needs the user's local copy of pytorch-fid's weight
  file (:func:`load_inception`); nothing is downloaded. Numbers are comparable with published FIDs
  only when computed with those weights and enough samples (the usual advice is >= 10 000; the
  bias of FID grows as the sample count falls).
- :class:`EncoderFeatures` — the default that always works offline: the encoder of the project's
  own trained lesion segmenter (``seg_<modality>`` of a segmenter run), global-average-pooled at
  every encoder level and the bottleneck, concatenated. A network trained on this very data type
  (e.g. brain MR) is a meaningful feature space for it, where ImageNet features are not
  necessarily; the values are NOT comparable with published FIDs, only between sets evaluated
  with the same segmenter run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from synth_core.errors import InputError
from synth_core.evaluation.inception import FID_DIM, FIDInceptionV3

__all__ = [
    "EncoderFeatures",
    "FeatureExtractor",
    "InceptionV3Features",
    "as_image_batch",
    "load_inception",
]


@runtime_checkable
class FeatureExtractor(Protocol):
    """``name``, ``dim`` and ``__call__(images (N,1,H,W) in [0,1]) -> (N, dim) float64``."""

    name: str
    dim: int

    def __call__(self, images: Any) -> np.ndarray: ...


def as_image_batch(images: Any) -> torch.Tensor:
    """``(N, H, W)`` or ``(N, 1, H, W)`` numpy/torch -> float32 CPU tensor ``(N, 1, H, W)``."""
    t = images.detach().cpu() if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    t = t.float()
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise ValueError(f"expected grey images (N, H, W) or (N, 1, H, W), got {tuple(t.shape)}")
    return t


def _device_of(net: nn.Module) -> torch.device:
    try:
        return next(net.parameters()).device
    except StopIteration:
        return torch.device("cpu")


class _Batched:
    """Shared batching: subclasses implement ``_features(x (B,1,H,W) on device) -> (B, dim)``."""

    name: str
    dim: int
    batch_size: int
    net: nn.Module

    @torch.no_grad()
    def __call__(self, images: Any) -> np.ndarray:
        x = as_image_batch(images)
        if len(x) == 0:
            return np.zeros((0, self.dim), np.float64)
        device = _device_of(self.net)
        was_training = self.net.training
        self.net.eval()
        try:
            out = [self._features(x[i : i + self.batch_size].to(device)).double().cpu()
                   for i in range(0, len(x), self.batch_size)]
        finally:
            self.net.train(was_training)
        feats = torch.cat(out).numpy()
        if feats.shape != (len(x), self.dim):
            raise RuntimeError(f"{self.name}: features have shape {feats.shape}, expected {(len(x), self.dim)}")
        return feats

    def _features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class InceptionV3Features(_Batched):
    """FID Inception-v3 pool3 features (2048-d) of grey images.

    Each image ``(1, H, W)`` in [0, 1] is replicated to 3 channels; the network resizes it
    bilinearly to 299x299 and scales it to [-1, 1] (pytorch-fid's preprocessing). ``net`` defaults
    to a randomly initialised network (tests only); use :func:`load_inception` for real numbers.
    """

    dim = FID_DIM

    def __init__(self, net: FIDInceptionV3 | None = None, *, name: str = "inception:random", batch_size: int = 16):
        self.net = net if net is not None else FIDInceptionV3()
        self.net.eval()
        self.name = name
        self.batch_size = int(batch_size)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.clamp(0, 1).expand(-1, 3, -1, -1))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def load_inception(path: str | Path, *, device: torch.device | str = "cpu", batch_size: int = 16) -> InceptionV3Features:
    """Load the FID Inception weights from a local file (pytorch-fid's
    ``pt_inception-2015-12-05-6726825d.pth`` or any state dict with its key names).

    The file is read with ``torch.load(weights_only=True)`` (no pickled code runs) and loaded with
    ``load_state_dict(strict=True)``. Batch-norm ``num_batches_tracked`` counters, which older
    files lack and inference never reads, are filled in when missing. Any other problem — no such
    file, not a torch file, not a state dict, missing/unexpected keys, wrong shapes — is a one-line
    :class:`~synth_core.errors.InputError` naming the file. The extractor's ``name`` is
    ``inception:<first 12 hex digits of the file's sha256>``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(path, "no such Inception weights file (give a local copy of pytorch-fid's "
                               "pt_inception-2015-12-05-6726825d.pth; nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged or non-torch file
        raise InputError(path, f"not a readable torch weights file ({_first_line(err)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(path, "not a state dict of tensors (expected the FID Inception weights)")
    net = FIDInceptionV3()
    expected = net.state_dict()
    state = dict(state)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]})")
        if wrong:
            parts.append(f"{len(wrong)} key(s) with a wrong shape (e.g. {wrong[0]}: {tuple(state[wrong[0]].shape)} "
                         f"instead of {tuple(expected[wrong[0]].shape)})")
        raise InputError(path, "not the FID Inception-v3 weights: " + ", ".join(parts))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise InputError(path, f"weights do not load ({_first_line(err)})") from None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return InceptionV3Features(net, name=f"inception:{digest.hexdigest()[:12]}", batch_size=batch_size)


class EncoderFeatures(_Batched):
    """Features from a trained segmenter U-Net's encoder (:meth:`synth_core.nets.UNet.encode`).

    For each image: the global average of every channel of the stem, of every down-sampling level
    and of the bottleneck, concatenated — ``dim = w0 + w1 + ... + w_depth`` (e.g. 16+32+64+128 =
    240 for the default segmenter). The image size must be divisible by ``2**depth`` (it is the
    size the segmenter was trained at). ``name`` should identify the network, e.g.
    ``own:<run id>:seg_t1``.
    """

    def __init__(self, net: nn.Module, *, name: str, batch_size: int = 32):
        if not hasattr(net, "encode") or not hasattr(net, "stem") or not hasattr(net, "down"):
            raise TypeError(f"EncoderFeatures needs a synth_core.nets.UNet, got {type(net).__name__}")
        self.net = net
        self.name = name
        self.batch_size = int(batch_size)
        self.dim = int(sum(block[0].out_channels for block in [net.stem, *net.down]))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([f.mean(dim=(2, 3)) for f in self.net.encode(x)], dim=1)
