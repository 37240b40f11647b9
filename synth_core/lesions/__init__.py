"""Lesion labels: a bank of real lesions, replayable augmentation and placement in organ masks
(METHOD.md §8). Import the pieces from here: ``from synth_core.lesions import LesionBank``."""

from synth_core.lesions.augment import (
    AugmentParams,
    AugmentRanges,
    apply_transform,
    sample_params,
    transform_lesion,
)
from synth_core.lesions.bank import LesionBank, LesionEntry, extract_lesions
from synth_core.lesions.placement import (
    POSITIONS,
    REASONS,
    BatchResult,
    Placement,
    augment_batch,
    place_lesion,
    replay,
    sample_placement,
)

__all__ = [
    "AugmentParams",
    "AugmentRanges",
    "BatchResult",
    "LesionBank",
    "LesionEntry",
    "POSITIONS",
    "Placement",
    "REASONS",
    "apply_transform",
    "augment_batch",
    "extract_lesions",
    "place_lesion",
    "replay",
    "sample_params",
    "sample_placement",
    "transform_lesion",
]
