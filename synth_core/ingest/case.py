"""The record every layout reader yields: one case's raw volumes, before normalisation.

Layout readers (``synth_core/ingest/layouts/*.py``) only find files, read them strictly and map
labels to the dataset's convention; the shared pipeline (``synth_core/ingest/pipeline.py``) then
normalises, selects slices, resizes, and writes with :class:`synth_core.dataset.DatasetWriter`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CaseVolume:
    """One case.

    ``images``: ``(C, Z, H, W)`` float32 raw intensities (Hounsfield units for CT), channels in
    the order of the dataset's modalities, ``Z`` = 1 for 2-D images; display orientation (row 0 at
    the top of the image as a radiologist sees it, anterior up for axial slices).
    ``label``: ``(Z, H, W)`` integer lesion classes already mapped to the dataset's convention
    (0 = no lesion), or None when the case has no label.
    ``organ``: ``(Z, H, W)`` bool organ mask when the layout provides one (e.g. the LiTS liver
    label), else None and the pipeline computes Algorithm 2.
    ``spacing``: ``(row, col, slice)`` in mm of the raw arrays.
    ``source_path``: path of the main file relative to the ingested folder (no absolute paths:
    they may contain patient names).
    ``subject``: an identifier shared by the cases of one patient (DICOM: the *PatientID*) or None
    (the case is its own subject). Used only to keep a patient's cases in one split; the pipeline
    stores a keyed hash of it (:mod:`synth_core.pseudonym`), never the identifier.
    """

    case_id: str
    images: np.ndarray
    label: np.ndarray | None
    organ: np.ndarray | None
    spacing: tuple[float, float, float]
    source_path: str
    subject: str | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (C,Z,H,W), got {self.images.shape}")
        zhw = self.images.shape[1:]
        for name in ("label", "organ"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != zhw:
                raise ValueError(f"{name} shape {arr.shape} does not match images {zhw}")
