"""The sample record that crosses module boundaries.

One :class:`Sample` carries the modalities, organ mask, lesion label, structure map and metadata
of one 2-D slice together, so transforms cannot let them drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SOURCES = ("real", "synthetic")


@dataclass(frozen=True)
class SliceMeta:
    """Where a slice came from.

    ``spacing`` is the pixel spacing of the stored slice in mm as ``(row, col, slice)``.
    ``provenance`` is set for synthetic samples (run, checkpoint hash, seed, latent, lesion transform).
    """

    case_id: str
    slice_index: int
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    source: str = "real"
    source_path: str = ""
    split: str = ""
    provenance: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        if len(self.spacing) != 3:
            raise ValueError(f"spacing must have 3 values (row, col, slice), not {self.spacing!r}")


@dataclass(frozen=True)
class Sample:
    """One slice: ``image (C,H,W) float32 in [0,1]``, ``mask (H,W) uint8 {0,1}`` (1 = inside the
    organ), ``label (H,W) uint8`` lesion classes (0 = no lesion), ``structure (H,W) uint8 {0,1}``."""

    image: np.ndarray
    mask: np.ndarray
    label: np.ndarray
    structure: np.ndarray
    meta: SliceMeta

    def __post_init__(self) -> None:
        if self.image.ndim != 3:
            raise ValueError(f"image must be (C,H,W), got shape {self.image.shape}")
        hw = self.image.shape[1:]
        for name in ("mask", "label", "structure"):
            arr = getattr(self, name)
            if arr.shape != hw:
                raise ValueError(f"{name} shape {arr.shape} does not match image {hw}")

    @property
    def channels(self) -> int:
        return int(self.image.shape[0])
