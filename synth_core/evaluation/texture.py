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
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["texture", "texture_ratio"]


def texture(images: np.ndarray, *, floor: float = 0.02, erode: int = 2) -> np.ndarray:
    """Per-image Laplacian standard deviation over the eroded foreground.

    ``images (N, H, W)`` (intensities in [0, 1], background near 0) -> ``(N,)`` float64; NaN for an
    image whose eroded foreground has fewer than 16 pixels."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected images (N, H, W), got shape {images.shape}")
    if erode < 0 or not np.isfinite(floor):
        raise ValueError(f"erode must be >= 0 and floor finite, not {erode} and {floor}")
    out = np.full(len(images), np.nan)
    for i, img in enumerate(images):
        fg = img > floor
        if erode:
            fg = ndimage.binary_erosion(fg, iterations=erode, border_value=0)
        if fg.sum() >= 16:
            out[i] = float(ndimage.laplace(img, mode="nearest")[fg].std())
    return out


def texture_ratio(synthetic: np.ndarray, real: np.ndarray, **kw) -> float:
    """``median(texture(synthetic)) / median(texture(real))`` over images with a foreground."""
    a, b = texture(synthetic, **kw), texture(real, **kw)
    if not np.isfinite(a).any() or not np.isfinite(b).any():
        return float("nan")
    den = float(np.nanmedian(b))
    return float(np.nanmedian(a)) / den if den > 0 else float("nan")
