"""Paired reconstruction quality: PSNR, SSIM, MS-SSIM and MSE of generated slices against the real
slices they should reproduce (thesis Table 3; the "Ours+" row crops to the lesion region).

Two reconstructions of REAL held-out slices:

(a) :func:`reconstruct_multimodal` — the multi-modal generator ``G`` given the slice's own
    structure map, organ mask and lesion label (the input of the self-supervised pre-training,
    eq. 18: noise fusion eq. 12 with seeded noise, then ``generator_input``), generating every
    modality; compared with the real modalities. A ``G`` with a style code (``style_quantiles``)
    gets one drawn from its prior with the same seeded generator, as in synthesis: never the real
    slice's own, which would hand it the target's intensity quantiles.
(b) :func:`fill_real_lesions` — the pix2pix "whitening" generator filling the whitened lesion of a
    real lesion slice (the liver paper's test), raw generator output (``composite=False``, as the
    paper evaluates it); compared with the original slice.

:func:`paired_scores` scores any such pair of arrays over the whole image (region ``"image"``) and
cropped to each slice's lesion bounding box (region ``"lesion"``; :func:`synth_core.whitening.lesion_box`,
2 px margin, at least 11 px per side so that the SSIM window fits; only slices with a lesion).
Higher PSNR/SSIM/MS-SSIM and lower MSE are better. MS-SSIM on small crops uses fewer scales (the
rule of :func:`synth_core.metrics.ms_ssim_params`).

The liver paper's numbers (PSNR 64.72 dB, SSIM 0.9973 on LiTS test slices) are NOT on this scale;
:func:`paper_scores` computes them the way they can have been computed (its docstring says why).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from synth_core.metrics import ms_ssim, mse, psnr, ssim
from synth_core.multimodal_model import first_channel, generate_modalities, generator_input
from synth_core.whitening import fill_lesions, lesion_box

__all__ = ["PAIRED_METRICS", "PAPER_PEAK", "fill_real_lesions", "paired_scores", "paper_scores",
           "reconstruct_multimodal"]

#: the peak value of the liver paper's PSNR/SSIM convention (see :func:`paper_scores`)
PAPER_PEAK = 255.0

#: metric name -> function (per image, data range 1)
PAIRED_METRICS = {"psnr": psnr, "ssim": ssim, "ms_ssim": ms_ssim, "mse": mse}


def _device_of(net: nn.Module) -> torch.device:
    try:
        return next(net.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def reconstruct_multimodal(G: nn.Module, structure: Any, masks: Any, labels: Any, *, n_modalities: int,
                           n_classes: int, noise: tuple[float, float] = (0.5, 0.6), noise_blur: float = 0.0,
                           use_structure: bool = True, noise_fusion: bool = True, seed: int = 0,
                           batch_size: int = 16) -> np.ndarray:
    """``G``'s reconstruction of real slices from their own structure maps ``(N, H, W)``, organ
    masks ``(N, H, W)`` and labels ``(N, H, W)`` -> ``(N, M, H, W)`` float32 in [0, 1].

    The input follows the multimodal stage's ``g_input`` under the run's switches: fused noise
    ``U(noise)`` inside the organ (eq. 12; smooth over ``noise_blur`` pixels) — or ``s' = s`` without
    noise fusion, or pure noise for ablation A — plus the label's one-hot lesion channels. Noise
    comes from a CPU generator seeded with ``seed``, so the result is reproducible. ``G`` runs in eval mode (its flag is restored).
    """
    s = torch.from_numpy(np.asarray(structure, dtype=np.float32))
    m = torch.from_numpy(np.asarray(masks, dtype=np.float32))
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    gen = torch.Generator().manual_seed(int(seed))
    device = _device_of(G)
    was_training = G.training
    G.eval()
    out = []
    try:
        for start in range(0, len(s), batch_size):
            sb, mb, lb = s[start : start + batch_size, None], m[start : start + batch_size, None], lab[start : start + batch_size]
            first = first_channel(sb, mb, use_structure=use_structure, noise_fusion=noise_fusion, low=noise[0],
                                  high=noise[1], blur=noise_blur, generator=gen)
            x = generator_input(first, lb, n_classes).to(device)
            out.append(generate_modalities(G, x, n_modalities, generator=gen).float().cpu())
    finally:
        G.train(was_training)
    if not out:
        return np.zeros((0, n_modalities, *s.shape[1:]), np.float32)
    return torch.cat(out).clamp(0, 1).numpy()


def fill_real_lesions(G: nn.Module, images: Any, labels: Any, *, chunk: int = 16) -> np.ndarray:
    """pix2pix fill of real lesion slices ``images (N, H, W)`` whose lesion ``labels (N, H, W) > 0``
    are whitened -> raw generator output ``(N, H, W)`` (no compositing, as the paper evaluates)."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32))[:, None]
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return fill_lesions(G, x, lab, composite=False, chunk=chunk)[:, 0].clamp(0, 1).numpy()


def paired_scores(generated: Any, real: Any, labels: Any) -> dict[tuple[str, str], tuple[float, int]]:
    """``{(metric, region): (mean, n)}`` for ``generated`` vs ``real`` ``(N, H, W)`` in [0, 1].

    Region ``"image"``: each metric per slice over the whole slice, mean over the ``N`` slices.
    Region ``"lesion"``: the same on each slice's lesion box (``labels > 0``), mean over the slices
    that have a lesion (``n`` = their count; NaN with none). PSNR of an exact reproduction is
    ``inf`` and so is the mean then.
    """
    g = np.asarray(generated, dtype=np.float32)
    r = np.asarray(real, dtype=np.float32)
    lab = np.asarray(labels)
    if g.shape != r.shape or g.ndim != 3 or lab.shape != g.shape:
        raise ValueError(f"expected generated, real and labels (N, H, W) of one shape, got {g.shape}, {r.shape}, {lab.shape}")
    out: dict[tuple[str, str], tuple[float, int]] = {}
    n = len(g)
    for name, fn in PAIRED_METRICS.items():
        out[(name, "image")] = (float(np.mean(fn(g, r))) if n else float("nan"), n)
    boxes = [lesion_box(lab[i]) for i in range(n)]
    crops = [(g[i][b], r[i][b]) for i, b in enumerate(boxes) if b is not None]
    for name, fn in PAIRED_METRICS.items():
        vals = [float(fn(a, b)) for a, b in crops]
        out[(name, "lesion")] = (float(np.mean(vals)) if vals else float("nan"), len(vals))
    return out


def paper_scores(generated: Any, real: Any) -> dict[str, tuple[float, int]]:
    """PSNR and SSIM of ``generated`` vs ``real`` ``(N, H, W)`` in [0, 1] under the liver paper's
    convention as we reconstruct it: ``{"psnr_paper": (mean, N), "ssim_paper": (mean, N)}``.

    The paper (Meng et al. 2020, Table 2; TensorFlow 1.1 and MATLAB 2016b) reports a mean PSNR of
    64.72 dB and SSIM of 0.9973 on whole test slices without giving a formula. Under the usual
    definition on images in [0, 1] (peak 1), 64.72 dB means a root-mean-square error of 0.06 % of
    the intensity range over the whole slice, i.e. about 0.15 grey levels of 255, while the paper
    itself says the pixels outside the lesion change slightly; no pix2pix output is that close.
    The value is what the usual formula gives when the peak is taken as 255 while the images are
    floats in [0, 1] (MATLAB ``psnr(A, ref, 255)`` or ``tf.image.psnr(max_val=255)`` on [0, 1]
    data), a common slip: ``PSNR_paper = 10 log10(255^2 / MSE) = PSNR + 20 log10(255) = PSNR +
    48.13 dB``. SSIM with the same 255 range puts its stabilising constants ``(0.01 * 255)^2`` and
    ``(0.03 * 255)^2`` far above the image's own variances, which pushes every value towards 1.
    Both are computed with scikit-image (``peak_signal_noise_ratio``, ``structural_similarity``
    with a Gaussian window, sigma 1.5, population covariances, ``data_range=255``) per slice, then
    averaged over slices; compare them with the paper's numbers, and :func:`paired_scores` (peak 1)
    with everything else.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    g = np.asarray(generated, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    if g.shape != r.shape or g.ndim != 3:
        raise ValueError(f"expected generated and real (N, H, W) of one shape, got {g.shape} and {r.shape}")
    n = len(g)
    if n == 0:
        return {"psnr_paper": (float("nan"), 0), "ssim_paper": (float("nan"), 0)}
    with np.errstate(divide="ignore"):  # an exact copy has PSNR inf
        psnr_v = [peak_signal_noise_ratio(r[i], g[i], data_range=PAPER_PEAK) for i in range(n)]
    ssim_v = [structural_similarity(r[i], g[i], data_range=PAPER_PEAK, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False) for i in range(n)]
    return {"psnr_paper": (float(np.mean(psnr_v)), n), "ssim_paper": (float(np.mean(ssim_v)), n)}
