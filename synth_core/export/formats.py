"""The three export layouts: which files one 2-D case becomes, and the dataset.json that goes with them.

- ``nnunet`` (nnU-Net v2, 2-D as ``(H, W, 1)`` volumes): ``imagesTr/<case>_<XXXX>.nii.gz`` one
  float32 file per channel, ``labelsTr/<case>.nii.gz`` uint8; test cases in ``imagesTs`` /
  ``labelsTs``. dataset.json: ``channel_names``, ``labels`` (name -> value), ``numTraining``,
  ``file_ending``.
- ``msd`` (Medical Segmentation Decathlon): one 4-D ``(H, W, 1, C)`` float32 file per case in
  ``imagesTr`` / ``imagesTs``, labels in ``labelsTr`` (and ``labelsTs``, so the test split can be
  scored). dataset.json: ``modality``, ``labels`` (value -> name), ``numTraining``, ``numTest``,
  ``training: [{image, label}]``, ``test: [image]``.
- ``png`` (nnU-Net's NaturalImage2DIO): ``imagesTr/<case>_<XXXX>.png`` 16-bit grey (0..65535 =
  [0, 1]), ``labelsTr/<case>.png`` 8-bit label values as they are; dataset.json as ``nnunet``
  with ``file_ending`` ``.png``.

Test labels are written in every layout: without them the real test split cannot be scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synth_core.export.encode import NIFTI_ENDING, PNG_ENDING, nifti_bytes, png_bytes, to_uint16

PARTS = {"train": ("imagesTr", "labelsTr"), "test": ("imagesTs", "labelsTs")}


@dataclass(frozen=True)
class CaseFile:
    """One file of a case: path relative to the export root, kind (image/label), channel, bytes."""

    path: str
    kind: str  # image | label
    channel: str  # modality name of a single-channel image, "+"-joined names of a 4-D one, "" for a label
    data: bytes


def case_files(fmt: str, case: str, part: str, image: np.ndarray, label: np.ndarray,
               spacing: tuple[float, float, float], modalities: tuple[str, ...]) -> list[CaseFile]:
    """The files of one case: ``image (C, H, W)`` float32 in [0, 1], ``label (H, W)`` uint8."""
    img_dir, lab_dir = PARTS[part]
    label = np.asarray(label, dtype=np.uint8)
    out: list[CaseFile] = []
    if fmt == "nnunet":
        for k, m in enumerate(modalities):
            data = nifti_bytes(np.asarray(image[k], dtype=np.float32)[:, :, None], spacing)
            out.append(CaseFile(f"{img_dir}/{case}_{k:04d}{NIFTI_ENDING}", "image", m, data))
        out.append(CaseFile(f"{lab_dir}/{case}{NIFTI_ENDING}", "label", "", nifti_bytes(label[:, :, None], spacing)))
    elif fmt == "msd":
        vol = np.moveaxis(np.asarray(image, dtype=np.float32), 0, -1)[:, :, None, :]  # (H, W, 1, C)
        out.append(CaseFile(f"{img_dir}/{case}{NIFTI_ENDING}", "image", "+".join(modalities), nifti_bytes(vol, spacing)))
        out.append(CaseFile(f"{lab_dir}/{case}{NIFTI_ENDING}", "label", "", nifti_bytes(label[:, :, None], spacing)))
    elif fmt == "png":
        for k, m in enumerate(modalities):
            out.append(CaseFile(f"{img_dir}/{case}_{k:04d}{PNG_ENDING}", "image", m, png_bytes(to_uint16(image[k]))))
        out.append(CaseFile(f"{lab_dir}/{case}{PNG_ENDING}", "label", "", png_bytes(label)))
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return out


def file_ending(fmt: str) -> str:
    return PNG_ENDING if fmt == "png" else NIFTI_ENDING


def dataset_json(fmt: str, *, name: str, modalities: tuple[str, ...], label_names: dict[int, str],
                 train_cases: list[str], test_cases: list[str], medsynth: dict[str, Any]) -> dict[str, Any]:
    """The dataset.json of a layout (module docstring), with the ``medsynth`` block added."""
    ending = file_ending(fmt)
    if fmt == "msd":
        return {
            "name": name,
            "description": "exported by MedSynth Studio: real slices plus selected synthetic ones (2-D cases)",
            "tensorImageSize": "4D",
            "modality": {str(k): m for k, m in enumerate(modalities)},
            "labels": {str(v): n for v, n in sorted(label_names.items())},
            "numTraining": len(train_cases),
            "numTest": len(test_cases),
            "training": [{"image": f"./imagesTr/{c}{ending}", "label": f"./labelsTr/{c}{ending}"} for c in train_cases],
            "test": [f"./imagesTs/{c}{ending}" for c in test_cases],
            "medsynth": medsynth,
        }
    return {
        "name": name,
        "channel_names": {str(k): m for k, m in enumerate(modalities)},
        "labels": {n: int(v) for v, n in sorted(label_names.items())},
        "numTraining": len(train_cases),
        "file_ending": ending,
        "medsynth": medsynth,
    }
