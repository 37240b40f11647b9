"""Turn arrays into displayable pictures: display windows, label overlays, contact sheets.

Pure numpy (+ Pillow for PNG bytes); shared by the dashboard, the sample grids of training runs
and the HTML report. Stored images are already normalised to [0, 1] at ingest (CT windowed in HU,
MR percentile-scaled); a *display* window here re-maps that [0, 1] range for viewing only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Colours of lesion classes 1..7 in overlays (BraTS order: core, oedema, enhancing, ...).
LABEL_COLOURS = np.array(
    [
        [0, 0, 0],
        [230, 60, 60],
        [60, 200, 90],
        [250, 210, 40],
        [70, 130, 240],
        [200, 90, 220],
        [40, 210, 210],
        [240, 140, 40],
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class DisplayWindow:
    """Map stored values in [low, high] to black..white (values outside are clipped)."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.high > self.low):
            raise ValueError(f"display window needs low < high, not ({self.low}, {self.high})")

    @classmethod
    def from_percentiles(cls, image: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> "DisplayWindow":
        a, b = np.percentile(np.asarray(image, dtype=np.float32), [lo, hi])
        return cls(float(a), float(b) if b > a else float(a) + 1e-6)

    @classmethod
    def from_level_width(cls, level: float, width: float) -> "DisplayWindow":
        return cls(level - width / 2, level + width / 2)


def to_uint8(image: np.ndarray, window: DisplayWindow | None = None) -> np.ndarray:
    """``(H,W)`` float -> ``(H,W)`` uint8 through the display window (default [0, 1])."""
    w = window or DisplayWindow()
    x = (np.asarray(image, dtype=np.float32) - w.low) / (w.high - w.low)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def overlay(
    image: np.ndarray,
    label: np.ndarray | None = None,
    *,
    mask: np.ndarray | None = None,
    structure: np.ndarray | None = None,
    window: DisplayWindow | None = None,
    alpha: float = 0.45,
) -> np.ndarray:
    """Grey ``image (H,W)`` -> RGB ``(H,W,3)`` uint8 with optional lesion classes (filled,
    ``alpha``), organ-mask outline (cyan) and structure map (white) drawn on top."""
    grey = to_uint8(image, window)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    if structure is not None:
        rgb[np.asarray(structure) > 0] = [255, 255, 255]
    if mask is not None:
        m = np.asarray(mask) > 0
        edge = m & ~_erode(m)
        rgb[edge] = [0, 220, 255]
    if label is not None:
        lab = np.asarray(label).astype(np.int64)
        sel = lab > 0
        colours = LABEL_COLOURS[np.clip(lab, 0, len(LABEL_COLOURS) - 1)].astype(np.float32)
        rgb[sel] = (1 - alpha) * rgb[sel] + alpha * colours[sel]
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def outline(rgb: np.ndarray, region: np.ndarray, colour: tuple[int, int, int] = (255, 220, 0)) -> np.ndarray:
    """A copy of the RGB image ``rgb (H,W,3)`` uint8 with the boundary pixels of ``region (H,W)``
    (e.g. a lesion label > 0) painted in ``colour``: the outline leaves the tissue inside visible."""
    m = np.asarray(region) > 0
    out = np.array(rgb, dtype=np.uint8, copy=True)
    out[m & ~_erode(m)] = colour
    return out


def _erode(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[1:, :] &= m[:-1, :]
    out[:-1, :] &= m[1:, :]
    out[:, 1:] &= m[:, :-1]
    out[:, :-1] &= m[:, 1:]
    return out


def grid(tiles: list[np.ndarray], columns: int, pad: int = 2, fill: int = 0) -> np.ndarray:
    """Arrange equally sized uint8 tiles ``(H,W)`` or ``(H,W,3)`` in a grid with ``columns``."""
    if not tiles:
        raise ValueError("grid needs at least one tile")
    tiles = [t if t.ndim == 3 else np.repeat(t[..., None], 3, axis=2) for t in tiles]
    h, w, _ = tiles[0].shape
    if any(t.shape != (h, w, 3) for t in tiles):
        raise ValueError("all tiles must have the same size")
    rows = (len(tiles) + columns - 1) // columns
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), fill, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = t
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 ``(H,W)`` or ``(H,W,3)`` array."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement for display (keeps pixels crisp)."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
