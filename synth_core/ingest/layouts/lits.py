"""LiTS (Liver Tumor Segmentation challenge): ``volume-K.nii[.gz]`` + ``segmentation-K.nii[.gz]``.

Files may sit in sub-folders (the challenge ships "Training Batch 1" and "Training Batch 2").
Segmentation values: 0 background, 1 liver, 2 tumour. The organ mask is the liver (label >= 1);
the lesion label is the tumour (label == 2) as class 1 "tumour". CT in Hounsfield units, windowed
with the liver window [-100, 200] unless ``--window`` says otherwise.

A volume without a segmentation file (the challenge's test set, or a file that went missing) is
refused, naming each such volume, unless ``--allow-unlabelled`` (``IngestOptions.allow_unlabelled``)
says to ingest it without a label (Algorithm 2 mask, no tumour pixels); then each such volume is
named in a warning and listed in the dataset's parameters (``unlabelled_cases``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from synth_core.errors import InputError, warn_user
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, select_modalities
from synth_core.ingest.options import IngestOptions
from synth_core.io.nifti import check_same_grid, is_nifti, read_header_shape, read_nifti, strip_nifti_suffix
from synth_core.io.windows import WINDOW_PRESETS

_NAME = re.compile(r"^(volume|segmentation)-(\d+)$", re.IGNORECASE)
LABELS = {0: "background", 1: "liver", 2: "tumour"}  # the LiTS convention of the segmentation files


def find_cases(src: Path) -> list[tuple[str, Path, Path | None]]:
    """``(case_id, volume, segmentation or None)`` sorted by the number K."""
    volumes: dict[int, Path] = {}
    segs: dict[int, Path] = {}
    for p in sorted(src.rglob("*")):
        if not (p.is_file() and is_nifti(p)):
            continue
        m = _NAME.match(strip_nifti_suffix(p.name))
        if not m:
            continue
        k = int(m.group(2))
        target = volumes if m.group(1).lower() == "volume" else segs
        if k in target:
            raise InputError(p, f"second file for case {k} (also {target[k]})")
        target[k] = p
    orphans = sorted(set(segs) - set(volumes))
    if orphans:
        raise InputError(segs[orphans[0]], f"segmentation without a volume-{orphans[0]} file")
    return [(f"volume-{k}", volumes[k], segs.get(k)) for k in sorted(volumes)]


def describe(src: Path, options: IngestOptions) -> LayoutInfo:
    src = check_source(src)
    cases = find_cases(src)
    if not cases:
        raise InputError(src, "no LiTS cases found (expected volume-K.nii[.gz] with segmentation-K.nii[.gz])")
    select_modalities(("ct",), options)  # only checks the names
    read_header_shape(cases[0][1], options)
    unlabelled = [(c, v) for c, v, seg in cases if seg is None]
    rel = lambda p: p.relative_to(src).as_posix()  # noqa: E731
    if unlabelled and not options.allow_unlabelled:
        k = [c.split("-", 1)[1] for c, _ in unlabelled]
        names = ", ".join(rel(v) for _, v in unlabelled)
        raise InputError(unlabelled[0][1], f"no segmentation file for {len(unlabelled)} volume(s) ({names}; expected "
                                           f"segmentation-{k[0]}.nii[.gz] beside it); add --allow-unlabelled to ingest "
                                           "them without tumour labels, or add the missing files")
    for _, v in unlabelled:
        warn_user(f"{rel(v)}: no segmentation file; ingested without a label (organ mask by Algorithm 2, no tumour)")
    params = {"n_cases": len(cases), "n_labelled": sum(s is not None for _, _, s in cases),
              "source_labels": {str(k): v for k, v in LABELS.items()}}
    if unlabelled:
        params["unlabelled_cases"] = [c for c, _ in unlabelled]
    return LayoutInfo(
        kind=options.kind or "ct",
        modalities=("ct",),
        label_names={0: "background", 1: "tumour"},
        structure_modality=0,
        erase_lesion_contours=True,
        window=WINDOW_PRESETS["liver"],
        params=params,
    )


def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]:
    src = Path(src)
    for case_id, vol_path, seg_path in find_cases(src):
        vol = read_nifti(vol_path, options)
        label = organ = None
        if seg_path is not None:
            seg = read_nifti(seg_path, options, label=True)
            check_same_grid(vol_path, vol, seg_path, seg)
            bad = sorted(set(np.unique(seg.data).tolist()) - set(LABELS))
            if bad:
                raise InputError(seg_path, f"label values {bad} outside the LiTS convention {{0 background, 1 liver, 2 tumour}}")
            organ = seg.data >= 1
            label = (seg.data == 2).astype(np.uint8)
            del seg
        yield CaseVolume(
            case_id=case_id,
            images=vol.data[None],
            label=label,
            organ=organ,
            spacing=vol.spacing,
            source_path=vol_path.relative_to(src).as_posix(),
        )
