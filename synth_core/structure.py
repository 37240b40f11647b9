"""Structure feature maps (thesis Algorithm 1), organ masks (Algorithm 2) and noise fusion (eq. 12).

All functions are pure: they take numpy arrays, return new arrays and work on a single image
``(H, W)`` or a batch ``(N, H, W)`` (filters run per image; the batch axis is never mixed).

Mask convention used throughout the project: **1 = inside the organ/body, 0 = outside**.
(Algorithm 2 as printed, and the thesis code, return the complement; METHOD.md §3.)

Defaults follow the thesis code (METHOD.md §13) per data kind, adapted to the 64–512 px range:
the median filter size is given for a 256 px image and scaled with the image size (odd, >= 3), so
the same preset gives comparable maps at 128 px and at 512 px.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from scipy import ndimage

KINDS = ("mri", "ct", "xray", "other")


@dataclass(frozen=True)
class StructureParams:
    """Parameters of Algorithm 1. Thresholds act on per-image min-max normalised Sobel maps."""

    alpha: float = 0.035  # threshold of the mean-subtracted edge maps (thesis code, BraTS)
    sigma1: float = 0.0  # Gaussian blur of the two edge maps, in pixels (0 = none, as in BraTS code)
    sigma2: float = 0.0  # Gaussian blur of the binary map that thickens and joins lines (0 = none)
    beta: float = 0.0  # threshold after the second blur
    gamma: float = 0.05  # background threshold: keep contours only where the image > gamma
    median: int = 5  # median filter size at 256 px (scaled with the image size, odd, >= 3)

    def __post_init__(self) -> None:
        for name in ("alpha", "sigma1", "sigma2", "beta", "gamma"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"StructureParams.{name} must be a finite number >= 0, not {v!r}")
        if self.median < 1:
            raise ValueError(f"StructureParams.median must be >= 1, not {self.median!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class MaskParams:
    """Parameters of Algorithm 2 (organ mask from intensity)."""

    threshold: float = 0.1  # on the min-max normalised image; brighter pixels are organ/body
    grow: int = 10  # p: nearest-neighbour zoom by (H+p, W+p) about the centre, cropped back
    median: int = 5  # median filter size at 256 px (scaled like StructureParams.median)
    fill_holes: bool = True  # fill enclosed dark regions (ventricles, vessels); not in the thesis

    def __post_init__(self) -> None:
        if not (0.0 <= self.threshold < 1.0):
            raise ValueError(f"MaskParams.threshold must be in [0, 1), not {self.threshold!r}")
        if self.grow < 0:
            raise ValueError(f"MaskParams.grow must be >= 0, not {self.grow!r}")
        if self.median < 1:
            raise ValueError(f"MaskParams.median must be >= 1, not {self.median!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Per data kind defaults (thesis code values: BraTS for MRI, LiTS/lung CT for CT, chest X-ray).
STRUCTURE_PRESETS: dict[str, StructureParams] = {
    # MRI: the thesis code's BraTS values (alpha 0.035, no blur, median 5) leave speckle at 64-128 px on
    # noisy slices; a light blur and a higher alpha give the clean lines of thesis Fig. 6 (checked on
    # the demo data at 128 px). The thesis values remain available: --structure alpha=0.035 ...
    "mri": StructureParams(alpha=0.05, sigma1=0.7, sigma2=0.5, beta=0.3, gamma=0.05, median=3),
    "ct": StructureParams(alpha=0.0125, sigma1=0.4, sigma2=0.3, beta=0.05, gamma=0.05, median=7),
    "xray": StructureParams(alpha=0.009, sigma1=0.4, sigma2=0.5, beta=0.05, gamma=0.05, median=3),
    "other": StructureParams(alpha=0.014, sigma1=0.4, sigma2=0.3, beta=0.05, gamma=0.05, median=5),
}
MASK_PRESETS: dict[str, MaskParams] = {
    "mri": MaskParams(threshold=0.1, grow=10, median=5),
    "ct": MaskParams(threshold=0.48, grow=10, median=5),
    "xray": MaskParams(threshold=0.15, grow=10, median=5),
    "other": MaskParams(threshold=0.1, grow=10, median=5),
}


def structure_preset(kind: str, **overrides: Any) -> StructureParams:
    if kind not in STRUCTURE_PRESETS:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {', '.join(KINDS)}")
    return replace(STRUCTURE_PRESETS[kind], **overrides)


def mask_preset(kind: str, **overrides: Any) -> MaskParams:
    if kind not in MASK_PRESETS:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {', '.join(KINDS)}")
    return replace(MASK_PRESETS[kind], **overrides)


def scaled_kernel(size_at_256: int, image_size: int) -> int:
    """An odd filter size scaled from a 256 px reference to ``image_size`` (>= 3 unless 1)."""
    if size_at_256 <= 1:
        return 1
    k = int(round(size_at_256 * image_size / 256.0))
    k = max(3, k)
    return k if k % 2 == 1 else k + 1


def _as_batch(x: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    x = np.asarray(x)
    if x.ndim == 2:
        return x[None], True
    if x.ndim == 3:
        return x, False
    raise ValueError(f"{name} must be (H,W) or (N,H,W), got shape {x.shape}")


def _minmax(x: np.ndarray) -> np.ndarray:
    """Per-image min-max normalisation of a batch ``(N,H,W)``; constant images become 0."""
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (x - lo) / span


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return x
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma), mode="reflect", truncate=2.0)


def _sobel_rows_cols(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives of a batch ``(N,H,W)`` along rows and columns, per image.

    (``ndimage.sobel`` would also smooth along the batch axis and mix neighbouring images.)
    """
    deriv, smooth = [-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]
    gr = ndimage.correlate1d(ndimage.correlate1d(x, deriv, axis=1, mode="reflect"), smooth, axis=2, mode="reflect")
    gc = ndimage.correlate1d(ndimage.correlate1d(x, deriv, axis=2, mode="reflect"), smooth, axis=1, mode="reflect")
    return gr, gc


def organ_mask(image: np.ndarray, params: MaskParams | None = None) -> np.ndarray:
    """Algorithm 2: organ/body mask of ``image`` ((H,W) or (N,H,W), any range).

    Steps: min-max normalise; ``inside = x > threshold``; optionally fill holes; zoom about the
    centre to ``(H+p, W+p)`` with nearest neighbour and crop back to ``(H, W)`` (grows a centred
    organ by about p/2 pixels per side); median filter. Returns uint8 {0,1}, 1 = inside.
    """
    params = params or MaskParams()
    x, single = _as_batch(image, "image")
    x = _minmax(x.astype(np.float32))
    inside = x > params.threshold
    n, h, w = inside.shape
    if params.fill_holes:
        inside = np.stack([ndimage.binary_fill_holes(m) for m in inside])
    if params.grow > 0:
        rows = np.floor((np.arange(h) + params.grow / 2) * h / (h + params.grow)).astype(int).clip(0, h - 1)
        cols = np.floor((np.arange(w) + params.grow / 2) * w / (w + params.grow)).astype(int).clip(0, w - 1)
        inside = inside[:, rows][:, :, cols]
    k = scaled_kernel(params.median, max(h, w))
    if k > 1:
        inside = ndimage.median_filter(inside.astype(np.uint8), size=(1, k, k), mode="nearest")
    out = inside.astype(np.uint8)
    return out[0] if single else out


#: the default smallest region of a generated organ mask, as a fraction of the frame (the multimodal
#: config's ``mask_min_area``; the Latent page uses it for a structure run without a multimodal run)
MASK_MIN_AREA = 0.005


def drop_small_regions(masks: np.ndarray, min_area: float) -> np.ndarray:
    """Masks ((H,W) or (N,H,W), {0,1}) without the connected regions (8-connected) smaller than
    ``min_area`` x H x W pixels, per image; ``min_area = 0`` returns them unchanged. For generated
    organ masks: ``G_m`` leaves specks of a few pixels where a map has stray contour bits, where real
    masks are one region, or two of hundreds of pixels (the demo: a second region in 7 % of slices,
    median 450 px at 128 px). Returns uint8 {0,1} of the input's shape."""
    if not 0 <= min_area < 1:
        raise ValueError(f"min_area must be a fraction of the image in [0, 1), not {min_area!r}")
    m, single = _as_batch(masks, "masks")
    out = (m > 0).astype(np.uint8)
    if min_area > 0:
        from skimage.morphology import remove_small_objects

        below = int(np.ceil(min_area * m.shape[1] * m.shape[2])) - 1  # regions of at most this many pixels go
        if below >= 1:
            for i, x in enumerate(out):  # in place: an empty batch stays empty
                out[i] = remove_small_objects(x.astype(bool), max_size=below, connectivity=2)
    return out[0] if single else out


def structure_map(
    image: np.ndarray,
    params: StructureParams | None = None,
    *,
    mask: np.ndarray | None = None,
    lesion: np.ndarray | None = None,
) -> np.ndarray:
    """Algorithm 1: binary structure map of a grey ``image`` ((H,W) or (N,H,W), values in [0,1]).

    1. Sobel along rows and columns; ``s1`` = element-wise min, ``s2`` = max; each min-max
       normalised per image.
    2. Gaussian blur (``sigma1``).
    3. ``s1 = mean(s1) - s1``, ``s2 = s2 - mean(s2)``; 4. binarise each at ``alpha``, OR them.
    5. Gaussian blur (``sigma2``) of the binary map, binarise at ``beta``.
    6. Median filter (``median``, scaled to the image size) removes isolated dots.
    7. Keep only pixels where ``image > gamma`` and, if given, inside ``mask`` (1 = inside).
    Optionally erase the lesion's own contours: pixels within a small margin of ``lesion > 0`` (2 px
    at 128 px, 3 px at 256, scaled) become 0 — the lesion's boundary edge lies just outside its label.
    The thesis does this for BraTS so that lesions come only from the label channel.

    Returns uint8 {0,1} with the input's batch shape.
    """
    params = params or StructureParams()
    x, single = _as_batch(image, "image")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("image contains NaN or infinite values")
    gr, gc = _sobel_rows_cols(x)
    s1 = _blur(_minmax(np.minimum(gr, gc)), params.sigma1)
    s2 = _blur(_minmax(np.maximum(gr, gc)), params.sigma1)
    s1 = s1.mean(axis=(1, 2), keepdims=True) - s1
    s2 = s2 - s2.mean(axis=(1, 2), keepdims=True)
    s = ((s1 > params.alpha) | (s2 > params.alpha)).astype(np.float32)
    if params.sigma2 > 0:
        s = _blur(s, params.sigma2)
    s = s > params.beta
    k = scaled_kernel(params.median, max(x.shape[1:]))
    if k > 1:
        s = ndimage.median_filter(s.astype(np.uint8), size=(1, k, k), mode="nearest") > 0
    s &= x > params.gamma
    if mask is not None:
        m, _ = _as_batch(mask, "mask")
        if m.shape != s.shape:
            raise ValueError(f"mask shape {np.shape(mask)} does not match image {np.shape(image)}")
        s &= m > 0
    if lesion is not None:
        les, _ = _as_batch(lesion, "lesion")
        if les.shape != s.shape:
            raise ValueError(f"lesion shape {np.shape(lesion)} does not match image {np.shape(image)}")
        margin = max(2, int(round(3 * max(x.shape[1:]) / 256)))
        grown = ndimage.binary_dilation(les > 0, structure=np.ones((1, 3, 3), bool), iterations=margin)
        s &= ~grown
    out = s.astype(np.uint8)
    return out[0] if single else out


def fuse_noise(
    structure: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    low: float = 0.5,
    high: float = 0.6,
) -> np.ndarray:
    """Eq. (12): ``s' = s + z' * m * (1 - s)``, ``z' ~ U(low, high)`` per pixel.

    ``structure`` and ``mask`` are {0,1} arrays of equal shape ((H,W) or (N,H,W)); ``m`` = 1 inside
    the organ, so noise fills the organ interior where there is no contour. Returns float32 in
    [0, 1]: contours stay 1, the background stays 0, the interior gets values in [low, high).
    """
    if not (0.0 <= low <= high <= 1.0):
        raise ValueError(f"noise range must satisfy 0 <= low <= high <= 1, not ({low}, {high})")
    s = np.asarray(structure).astype(np.float32)
    m = np.asarray(mask).astype(np.float32)
    if s.shape != m.shape:
        raise ValueError(f"structure shape {s.shape} does not match mask shape {m.shape}")
    z = rng.uniform(low, high, size=s.shape).astype(np.float32)
    return s + z * m * (1.0 - s)
