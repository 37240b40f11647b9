"""2-D images: ``images/`` holding grey images, optional ``masks/`` (organ, 1 = inside) and
``labels/`` (lesions) with the same file names (any of the accepted endings).

Each image is one case with a single slice (Z = 1); the case id is the file name without its
ending. RGB images are converted to grey (ITU-R 601 luma); 16-bit images are scaled to the 8-bit
range, so every image maps 0..255 -> [0, 1]. Labels are binary ({0,1} or {0,255}) unless
``--label-names`` names integer classes; a mask is inside where it is > 0. Kind via ``--kind``
(default other). Pixel spacing is unknown and recorded as 1 mm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, generic_label_names, map_generic_label
from synth_core.ingest.options import IngestOptions
from synth_core.io.png import IMAGE_SUFFIXES, LABEL_SUFFIXES, image_files, read_grey, read_label

CHANNEL_BY_KIND = {"mri": "mr", "ct": "ct", "xray": "xray", "other": "image"}


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for f in image_files(folder, suffixes):
        if f.stem in out:
            raise InputError(f, f"same name as {out[f.stem].name}")
        out[f.stem] = f
    return out


def find_cases(src: Path) -> list[tuple[str, Path, Path | None, Path | None]]:
    """``(case_id, image, label or None, mask or None)`` sorted by name."""
    images_dir = src / "images"
    if not images_dir.is_dir():
        raise InputError(images_dir, "no such folder; the png layout needs images/ (with optional masks/ and labels/)")
    images = _by_stem(images_dir, IMAGE_SUFFIXES)
    labels = _by_stem(src / "labels", LABEL_SUFFIXES)
    masks = _by_stem(src / "masks", LABEL_SUFFIXES)
    for what, found in (("label", labels), ("mask", masks)):
        orphans = sorted(set(found) - set(images))
        if orphans:
            raise InputError(found[orphans[0]], f"{what} without an image of the same name in images/")
    return [(stem, images[stem], labels.get(stem), masks.get(stem)) for stem in sorted(images)]


def describe(src: Path, options: IngestOptions) -> LayoutInfo:
    src = check_source(src)
    cases = find_cases(src)
    if not cases:
        raise InputError(src / "images", f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    kind = options.kind or "other"
    if options.modalities is not None and len(options.modalities) != 1:
        raise ConfigError(f"the png layout reads one grey channel; --modalities names {len(options.modalities)}: {', '.join(options.modalities)}")
    channel = options.modalities[0] if options.modalities else CHANNEL_BY_KIND[kind]
    return LayoutInfo(
        kind=kind,
        modalities=(channel,),
        label_names=generic_label_names(options),
        structure_modality=0,
        erase_lesion_contours=True,
        value_range=(0.0, 255.0),
        params={
            "n_cases": len(cases),
            "n_labelled": sum(c[2] is not None for c in cases),
            "n_masked": sum(c[3] is not None for c in cases),
            "spacing_known": False,
        },
    )


def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]:
    src = Path(src)
    for case_id, image_path, label_path, mask_path in find_cases(src):
        image = read_grey(image_path, options)
        label = organ = None
        if label_path is not None:
            lab = read_label(label_path, options)
            if lab.shape != image.shape:
                raise InputError(label_path, f"size {lab.shape[::-1]} does not match the image {image.shape[::-1]} (width, height)")
            label = map_generic_label(label_path, lab, options)[None]
        if mask_path is not None:
            m = read_label(mask_path, options)
            if m.shape != image.shape:
                raise InputError(mask_path, f"size {m.shape[::-1]} does not match the image {image.shape[::-1]} (width, height)")
            organ = (m > 0)[None]
        yield CaseVolume(
            case_id=case_id,
            images=image[None, None],
            label=label,
            organ=organ,
            spacing=(1.0, 1.0, 1.0),
            source_path=image_path.relative_to(src).as_posix(),
        )
