"""A plain folder of NIfTI volumes, one single-channel volume per case.

Images: the ``.nii`` / ``.nii.gz`` files directly in SRC. Optional, matched by file name:

* lesion labels: ``labels/<same name>`` or a sibling ``<name>_seg``, ``<name>_label``,
  ``<name>_labels`` (any NIfTI ending);
* organ masks (1 = inside): ``masks/<same name>`` or a sibling ``<name>_mask``, ``<name>_organ``.

Siblings that are labels or masks are not ingested as images. Labels are binary ({0,1} or
{0,255}) unless ``--label-names`` names integer classes. Kind via ``--kind`` (default mri); the
single channel is named after the kind (``mr``, ``ct``, ``xray``, ``image``) or by a one-name
``--modalities``. Without a mask the organ mask comes from Algorithm 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, generic_label_names, map_generic_label
from synth_core.ingest.options import IngestOptions
from synth_core.io.nifti import check_same_grid, nifti_files, read_header_shape, read_nifti, strip_nifti_suffix

LABEL_SUFFIXES = ("_seg", "_label", "_labels")
MASK_SUFFIXES = ("_mask", "_organ")
CHANNEL_BY_KIND = {"mri": "mr", "ct": "ct", "xray": "xray", "other": "image"}


def _match(folder: Path, stem: str, by_stem: dict[str, Path], subfolder: str, suffixes: tuple[str, ...]) -> Path | None:
    sub = folder / subfolder
    if sub.is_dir():
        for ext in (".nii.gz", ".nii"):
            if (sub / f"{stem}{ext}").is_file():
                return sub / f"{stem}{ext}"
    for s in suffixes:
        if f"{stem}{s}".lower() in by_stem:
            return by_stem[f"{stem}{s}".lower()]
    return None


def find_cases(src: Path) -> list[tuple[str, Path, Path | None, Path | None]]:
    """``(case_id, image, label or None, mask or None)`` sorted by name."""
    files = nifti_files(src)
    by_stem: dict[str, Path] = {}
    for f in files:
        key = strip_nifti_suffix(f.name).lower()
        if key in by_stem:
            raise InputError(f, f"same name as {by_stem[key].name}")
        by_stem[key] = f
    side = {k for k in by_stem if any(k.endswith(s) and k[: -len(s)] in by_stem for s in LABEL_SUFFIXES + MASK_SUFFIXES)}
    cases = []
    for key, f in sorted(by_stem.items()):
        if key in side:
            continue
        stem = strip_nifti_suffix(f.name)
        label = _match(src, stem, by_stem, "labels", LABEL_SUFFIXES)
        mask = _match(src, stem, by_stem, "masks", MASK_SUFFIXES)
        cases.append((stem, f, label, mask))
    return cases


def _channel(options: IngestOptions, kind: str) -> str:
    if options.modalities is None:
        return CHANNEL_BY_KIND[kind]
    if len(options.modalities) != 1:
        raise ConfigError(f"the nifti layout reads one channel per case; --modalities names {len(options.modalities)}: {', '.join(options.modalities)}")
    return options.modalities[0]


def describe(src: Path, options: IngestOptions) -> LayoutInfo:
    src = check_source(src)
    cases = find_cases(src)
    if not cases:
        raise InputError(src, "no NIfTI volumes (.nii / .nii.gz) in this folder")
    read_header_shape(cases[0][1], options)
    kind = options.kind or "mri"
    return LayoutInfo(
        kind=kind,
        modalities=(_channel(options, kind),),
        label_names=generic_label_names(options),
        structure_modality=0,
        erase_lesion_contours=True,
        params={
            "n_cases": len(cases),
            "n_labelled": sum(c[2] is not None for c in cases),
            "n_masked": sum(c[3] is not None for c in cases),
        },
    )


def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]:
    src = Path(src)
    for case_id, image_path, label_path, mask_path in find_cases(src):
        vol = read_nifti(image_path, options)
        label = organ = None
        if label_path is not None:
            seg = read_nifti(label_path, options, label=True)
            check_same_grid(image_path, vol, label_path, seg)
            label = map_generic_label(label_path, seg.data, options)
            del seg
        if mask_path is not None:
            m = read_nifti(mask_path, options, label=True)
            check_same_grid(image_path, vol, mask_path, m)
            organ = m.data > 0
            del m
        yield CaseVolume(
            case_id=case_id,
            images=vol.data[None],
            label=label,
            organ=organ,
            spacing=vol.spacing,
            source_path=image_path.relative_to(src).as_posix(),
        )
