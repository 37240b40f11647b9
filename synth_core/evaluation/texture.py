"""Fine texture of images: how much pixel-scale detail (acquisition noise, grey/white-matter edges)
an image carries, compared with real slices.

A generator trained with pixel losses learns the conditional average, which is smooth; the
classifier two-sample test sees that in its gradient histograms, but not how far off it is. This
measure says it in one number a person can read: the standard deviation of the discrete Laplacian
(``scipy.ndimage.laplace``, the 5-point stencil) over the foreground of each image, where the
foreground is the pixels above ``floor`` eroded by ``erode`` pixels so that the outline of the head
itself is not counted. For white noise of standard deviation ``s`` on a flat image the value is
``sqrt(20) * s``; for a smooth image it is near 0. :func:`texture_ratio` divides the median over
synthetic images by the median over real ones (1 = as much fine detail as real slices).

How much detail is not what kind of detail: a generator can also raise the Laplacian spread with
edges and a streaky ripple ("wood grain") that no scanner makes. :func:`coherence` says which kind
it is: the fine detail (the image minus its Gaussian blur of ``highpass`` pixels) gets a structure
tensor averaged over a Gaussian window of ``window`` pixels, and its coherence
``(l1 - l2) / (l1 + l2)`` (eigenvalues ``l1 >= l2``; 0 = no preferred direction, 1 = parallel
lines) is taken at every foreground pixel; the value per image is the median. In scans the fine
detail is mostly acquisition noise and fine tissue, close to isotropic (the demo data's real
slices: 0.31); detail that runs in lines is near 1, whether it is a few sharp edges on otherwise
smooth tissue or a ripple (measured on the demo: the first image generator, smooth, 0.61; the one
shipped on 2026-12-03, with a ripple, 0.45–0.60). So a high value says "not the real kind of
detail", and the pictures say which. :func:`coherence_ratio` divides synthetic by real as
:func:`texture_ratio` does.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["coherence", "coherence_ratio", "texture", "texture_ratio"]


def _foreground(img: np.ndarray, floor: float, erode: int) -> np.ndarray:
    fg = img > floor
    return ndimage.binary_erosion(fg, iterations=erode, border_value=0) if erode else fg


def _checked(images: np.ndarray, floor: float, erode: int) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected images (N, H, W), got shape {images.shape}")
    if erode < 0 or not np.isfinite(floor):
        raise ValueError(f"erode must be >= 0 and floor finite, not {erode} and {floor}")
    return images


def _median_ratio(a: np.ndarray, b: np.ndarray) -> float:
    if not np.isfinite(a).any() or not np.isfinite(b).any():
        return float("nan")
    den = float(np.nanmedian(b))
    return float(np.nanmedian(a)) / den if den > 0 else float("nan")


def texture(images: np.ndarray, *, floor: float = 0.02, erode: int = 2) -> np.ndarray:
    """Per-image Laplacian standard deviation over the eroded foreground.

    ``images (N, H, W)`` (intensities in [0, 1], background near 0) -> ``(N,)`` float64; NaN for an
    image whose eroded foreground has fewer than 16 pixels."""
    images = _checked(images, floor, erode)
    out = np.full(len(images), np.nan)
    for i, img in enumerate(images):
        fg = _foreground(img, floor, erode)
        if fg.sum() >= 16:
            out[i] = float(ndimage.laplace(img, mode="nearest")[fg].std())
    return out


def texture_ratio(synthetic: np.ndarray, real: np.ndarray, **kw) -> float:
    """``median(texture(synthetic)) / median(texture(real))`` over images with a foreground."""
    return _median_ratio(texture(synthetic, **kw), texture(real, **kw))


def coherence(images: np.ndarray, *, floor: float = 0.02, erode: int = 4, highpass: float = 2.0,
              window: float = 4.0) -> np.ndarray:
    """Per-image median orientation coherence of the fine detail over the eroded foreground.

    ``images (N, H, W)`` -> ``(N,)`` float64 in [0, 1]; NaN for an image whose eroded foreground has
    fewer than 16 pixels or no fine detail at all (a flat head). The blur is normalised inside the
    head (pixels above ``floor``), so the head's outline is not taken for detail; ``erode`` keeps
    the window's reach across that outline out of the median."""
    from skimage.feature import structure_tensor, structure_tensor_eigenvalues

    images = _checked(images, floor, erode)
    if not (highpass > 0 and window > 0):
        raise ValueError(f"highpass and window must be > 0, not {highpass} and {window}")
    out = np.full(len(images), np.nan)
    for i, img in enumerate(images):
        head = img > floor
        fg = _foreground(img, floor, erode)
        if fg.sum() < 16:
            continue
        # the blur is normalised inside the head, so its outline is no detail of the image
        weight = ndimage.gaussian_filter(head.astype(np.float64), highpass, mode="constant")
        blur = ndimage.gaussian_filter(np.where(head, img, 0.0), highpass, mode="constant")
        detail = np.where(head, img - blur / np.maximum(weight, 1e-12), 0.0)
        if np.abs(detail[fg]).max() <= 1e-9 * max(float(np.abs(img[fg]).max()), 1e-300):
            continue
        l1, l2 = structure_tensor_eigenvalues(structure_tensor(detail, sigma=window, order="rc"))
        energy = (l1 + l2)[fg]
        out[i] = float(np.median((l1 - l2)[fg] / np.maximum(energy, 1e-300)))
    return out


def coherence_ratio(synthetic: np.ndarray, real: np.ndarray, **kw) -> float:
    """``median(coherence(synthetic)) / median(coherence(real))`` (1 = as one-directional as real)."""
    return _median_ratio(coherence(synthetic, **kw), coherence(real, **kw))
