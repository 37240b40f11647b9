"""A per-sample style code for ``G``: how bright and how contrasted each modality of a scan is
(``style_quantiles``; not in the thesis).

Every input of the thesis's ``G`` is either anatomy (the structure map, the organ mask, the
lesion label) or noise per pixel (eq. 12, the output noise), whose average over the organ is the
same for every sample. Nothing carries what differs from one scan to the next as a whole: the
scanner's gain and contrast, the intensity normalisation. Pre-training (eq. 18) therefore teaches
``G`` the *average* contrast, and every generated sample gets it: measured on the demo, the
per-image median brightness inside the brain varies 3-5x less across generated samples than
across real slices, and the intensity histogram alone tells them apart.

The code of one slice is, per modality, a few quantiles of its intensities inside the organ mask
and outside the lesion (:func:`style_codes`), standardised by the training split's mean and
spread. ``G`` is told the code of each real slice it learns from, so eq. 18 and the reconstruction
anchor teach it to obey the code instead of averaging over it. For a generated sample the code is drawn from
:class:`StylePrior`: a Gaussian with the training codes' mean and covariance (Ledoit-Wolf
shrinkage, scikit-learn), so generated samples vary in contrast as much as, and in the same
correlated way as, the real slices. The prior is a buffer of ``G`` (``G.style_prior``), so it is
saved, averaged and loaded with ``G``'s weights and every caller of ``G`` draws from the same law.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["StylePrior", "check_quantiles", "style_codes", "style_prior_of"]

#: an organ smaller than this many pixels gives no code (the prior's mean instead)
MIN_ORGAN_PIXELS = 16


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    """The quantile levels of a style code: strictly increasing, each in ``(0, 1)``, at most 8."""
    q = tuple(float(v) for v in quantiles)
    if len(q) > 8:
        raise ValueError(f"at most 8 style quantiles, not {len(q)}")
    if any(not 0.0 < v < 1.0 for v in q) or any(b <= a for a, b in zip(q, q[1:])):
        raise ValueError(f"style quantiles must be strictly increasing levels in (0, 1), not {list(q)}")
    return q


def style_codes(images: torch.Tensor, masks: torch.Tensor, quantiles: Sequence[float],
                lesions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw codes of slices: ``images (B, M, H, W)``, ``masks (B, 1, H, W)`` or ``(B, H, W)``
    (1 = organ) -> ``(codes (B, M, k), valid (B,) bool)``: per modality the intensities' quantiles
    at ``quantiles`` inside the mask (linear interpolation, as ``numpy.quantile``), leaving out the
    lesion when ``lesions`` (a label map of the same layout, > 0 = lesion) is given: the code then
    says how the scan renders healthy tissue, and a lesion's size and brightness stay the label's
    business (a drawn code knows nothing of the lesion it will be generated with). A slice with
    fewer than :data:`MIN_ORGAN_PIXELS` such pixels is not ``valid`` and its code is 0."""
    q = check_quantiles(quantiles)
    if images.ndim != 4:
        raise ValueError(f"expected images (B, M, H, W), got {tuple(images.shape)}")
    m = masks[:, 0] if masks.ndim == 4 else masks
    if m.shape != (images.shape[0], *images.shape[-2:]):
        raise ValueError(f"expected masks (B, H, W) = {(images.shape[0], *images.shape[-2:])}, got {tuple(masks.shape)}")
    if lesions is not None:
        les = lesions[:, 0] if lesions.ndim == 4 else lesions
        if les.shape != m.shape:
            raise ValueError(f"expected lesions (B, H, W) = {tuple(m.shape)}, got {tuple(lesions.shape)}")
        m = (m > 0) & (les.to(m.device) == 0)
    b, n_mod = images.shape[:2]
    codes = images.new_zeros((b, n_mod, len(q)), dtype=torch.float32)
    valid = torch.zeros(b, dtype=torch.bool)
    levels = torch.tensor(q, dtype=torch.float32, device=images.device)
    for i in range(b):
        inside = m[i] > 0
        if int(inside.sum()) < MIN_ORGAN_PIXELS:
            continue
        pixels = images[i][:, inside].float()  # (M, P)
        codes[i] = torch.quantile(pixels, levels, dim=1).T
        valid[i] = True
    return codes, valid


class StylePrior(nn.Module):
    """The law of the standardised style codes of ``n_modalities`` modalities with ``k`` quantiles
    each: buffers ``mean``/``sd (M, k)`` of the raw training codes and ``chol (M*k, M*k)``, the
    Cholesky factor of the standardised codes' covariance. A new prior is the identity (mean 0, sd
    1, chol I) until :meth:`fit` sets it."""

    def __init__(self, n_modalities: int, k: int):
        super().__init__()
        if n_modalities < 1 or k < 1:
            raise ValueError(f"need n_modalities >= 1 and k >= 1, not {n_modalities}, {k}")
        self.n_modalities, self.k = int(n_modalities), int(k)
        d = self.n_modalities * self.k
        self.register_buffer("mean", torch.zeros(self.n_modalities, self.k))
        self.register_buffer("sd", torch.ones(self.n_modalities, self.k))
        self.register_buffer("chol", torch.eye(d))

    @torch.no_grad()
    def fit(self, codes: np.ndarray | torch.Tensor) -> "StylePrior":
        """Set the prior from raw training codes ``(N, M, k)`` (the valid ones of :func:`style_codes`;
        at least 2): mean, spread (floored at 1e-4) and the Ledoit-Wolf shrunk covariance of the
        standardised codes, which stays positive definite with fewer slices than dimensions."""
        from sklearn.covariance import LedoitWolf

        c = np.asarray(codes.cpu() if isinstance(codes, torch.Tensor) else codes, dtype=np.float64)
        if c.ndim != 3 or c.shape[1:] != (self.n_modalities, self.k):
            raise ValueError(f"expected codes (N, {self.n_modalities}, {self.k}), got {c.shape}")
        if len(c) < 2 or not np.isfinite(c).all():
            raise ValueError(f"a style prior needs at least 2 finite codes, got {len(c)}")
        mean, sd = c.mean(axis=0), np.maximum(c.std(axis=0), 1e-4)
        z = ((c - mean) / sd).reshape(len(c), -1)
        cov = LedoitWolf(assume_centered=True).fit(z).covariance_
        chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(cov)))
        self.mean.copy_(torch.from_numpy(mean))
        self.sd.copy_(torch.from_numpy(sd))
        self.chol.copy_(torch.from_numpy(chol))
        return self

    def standardize(self, codes: torch.Tensor) -> torch.Tensor:
        """Raw codes ``(B, M, k)`` -> ``(codes - mean) / sd``, float32."""
        if codes.shape[1:] != (self.n_modalities, self.k):
            raise ValueError(f"expected codes (B, {self.n_modalities}, {self.k}), got {tuple(codes.shape)}")
        return ((codes.float() - self.mean.float().to(codes.device)) / self.sd.float().to(codes.device))

    def raw(self, standardized: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`standardize`: intensity quantiles ``(B, M, k)``."""
        return standardized.float() * self.sd.float().to(standardized.device) + self.mean.float().to(standardized.device)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` standardised codes ``(n, M, k)`` float32 ~ N(0, chol chol^T), drawn from
        ``generator`` (on its own device; torch's global one without it) and returned there."""
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        where = generator.device if generator is not None else self.chol.device
        eps = torch.randn((n, self.n_modalities * self.k), generator=generator, device=where)
        return (eps @ self.chol.float().to(where).T).view(n, self.n_modalities, self.k)


def style_prior_of(G: nn.Module) -> StylePrior | None:
    """The style prior of ``G`` (or of the network a DDP wrapper holds); None without a style code."""
    prior = getattr(getattr(G, "module", G), "style_prior", None)
    return prior if isinstance(prior, StylePrior) else None
