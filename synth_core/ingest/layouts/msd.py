"""Medical Segmentation Decathlon / nnU-Net v2 raw datasets.

Folder: ``dataset.json``, ``imagesTr/`` and ``labelsTr/``. Two conventions are read:

* nnU-Net v2: ``imagesTr/<case>_0000<ending>``, ``_0001`` ... one file per channel,
  ``labelsTr/<case><ending>``; ``dataset.json`` has ``channel_names`` ({"0": "CT"}),
  ``labels`` ({"background": 0, "liver": 1, ...}) and ``file_ending`` (default ``.nii.gz``).
* MSD (the Decathlon downloads): ``modality`` ({"0": "FLAIR", ...}), ``labels``
  ({"0": "background", "1": "edema", ...}); ``imagesTr/<case>.nii.gz`` holds all channels as a
  4-D volume (or ``_0000`` files as above). macOS ``._*`` files in the archives are skipped.

Only ``imagesTr`` is read (``imagesTs`` has no labels).

**Organ and lesion classes.** The label classes named by ``--organ-labels`` form the organ mask;
without it, a class is an organ when its name contains one of :data:`ORGAN_WORDS` and none of
:data:`LESION_WORDS` (so "liver" is the organ, "liver tumour" and "colon cancer primaries" are
lesions). The remaining non-background classes become the lesion classes, renumbered 1, 2, ...
in order of their original values. With no organ class the mask comes from Algorithm 2.

**Kind.** ``ct`` when every channel is named CT (then the HU window is applied; default by organ:
liver -> liver window, lung -> lung, brain -> brain, else abdomen), otherwise ``mri`` (percentile
scaling). Algorithm 1 runs on the FLAIR channel when there is one, else on the first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, select_modalities
from synth_core.ingest.options import IngestOptions
from synth_core.io.nifti import check_same_grid, is_nifti, read_header_shape, read_nifti, strip_nifti_suffix
from synth_core.io.windows import WINDOW_PRESETS

#: words that make a label class an organ (matched as whole words, case-insensitive, plural "s" allowed)
ORGAN_WORDS = (
    "liver", "pancreas", "kidney", "spleen", "prostate", "lung", "heart", "brain", "stomach",
    "gallbladder", "esophagus", "oesophagus", "bladder", "duodenum", "colon", "bowel", "intestine",
    "aorta", "adrenal", "thyroid", "breast", "uterus", "ovary", "rectum", "body",
)  # fmt: skip
#: words that make a class a lesion even when it also names an organ
LESION_WORDS = (
    "tumour", "tumor", "cancer", "lesion", "cyst", "nodule", "mass", "metastasis", "metastases",
    "carcinoma", "neoplasm", "edema", "oedema", "necrosis", "necrotic", "enhancing", "primaries",
)  # fmt: skip
_CHANNEL_RE = re.compile(r"^(.+)_(\d{4})$")


@dataclass(frozen=True)
class MsdPlan:
    """What dataset.json and the options say about the classes and channels."""

    channel_names: tuple[str, ...]  # all channels of a case, by channel index
    channels: tuple[int, ...]  # indices of the kept channels, in output order
    modalities: tuple[str, ...]  # names of the kept channels
    source_labels: dict[int, str]  # value -> name, from dataset.json
    organ_values: tuple[int, ...]
    lesion_map: dict[int, int]  # original value -> new lesion class
    label_names: dict[int, str]  # new lesion classes
    file_ending: str
    kind: str


def _read_json(src: Path) -> dict[str, Any]:
    path = src / "dataset.json"
    if not path.is_file():
        raise InputError(path, "file not found; an MSD / nnU-Net dataset needs dataset.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a JSON object")
    return data


def _channel_names(path: Path, data: dict[str, Any]) -> tuple[str, ...]:
    raw = data.get("channel_names", data.get("modality"))
    if not isinstance(raw, dict) or not raw:
        raise InputError(path, "no channel_names (nnU-Net v2) or modality (MSD) entry")
    try:
        by_index = {int(k): str(v).strip() for k, v in raw.items()}
    except ValueError:
        raise InputError(path, f"channel indices must be integers: {sorted(raw)}") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise InputError(path, f"channel indices must be 0..{len(by_index) - 1}, not {sorted(by_index)}")
    names = [by_index[i] or f"channel{i}" for i in range(len(by_index))]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # make repeated names unique: "MRI", "MRI_1"
        key = n.lower()
        if key in seen:
            names[i] = f"{n}_{i}"
        seen[key] = i
    return tuple(names)


def _labels(path: Path, data: dict[str, Any]) -> dict[int, str]:
    raw = data.get("labels")
    if not isinstance(raw, dict) or not raw:
        raise InputError(path, "no labels entry")
    out: dict[int, str] = {}
    for k, v in raw.items():
        if isinstance(v, (list, tuple)):
            raise InputError(path, f"label {k!r} is region-based ({v}); only one value per class is supported")
        if isinstance(v, (int, float)) and not isinstance(v, bool):  # nnU-Net v2: {"liver": 1}
            value, name = int(v), str(k)
        else:  # MSD: {"1": "liver"}
            try:
                value, name = int(k), str(v)
            except ValueError:
                raise InputError(path, f"cannot read label entry {k!r}: {v!r}") from None
        if value in out:
            raise InputError(path, f"label value {value} is given twice")
        out[value] = name.strip()
    if 0 not in out:
        raise InputError(path, "labels have no value 0 (background)")
    if any(not (0 <= v < 256) for v in out):
        raise InputError(path, f"label values must be 0..255: {sorted(out)}")
    return out


def _words(name: str) -> set[str]:
    words = set(re.findall(r"[a-z]+", name.lower()))
    return words | {w[:-1] for w in words if w.endswith("s")} | {w[:-2] for w in words if w.endswith("es")}


def is_organ_name(name: str) -> bool:
    """True for a label name that is an organ (see :data:`ORGAN_WORDS`, :data:`LESION_WORDS`)."""
    words = _words(name)
    return bool(words & set(ORGAN_WORDS)) and not (words & set(LESION_WORDS))


def _ct_window(organ_names: list[str]) -> tuple[float, float]:
    words = set().union(*(_words(n) for n in organ_names)) if organ_names else set()
    for organ in ("liver", "lung", "brain"):
        if organ in words:
            return WINDOW_PRESETS[organ]
    return WINDOW_PRESETS["abdomen"]


def plan(src: Path, options: IngestOptions) -> MsdPlan:
    data = _read_json(src)
    path = src / "dataset.json"
    names = _channel_names(path, data)
    labels = _labels(path, data)
    ending = str(data.get("file_ending", ".nii.gz"))
    if ending.lower() not in (".nii.gz", ".nii"):
        raise InputError(path, f"file_ending {ending!r} is not supported; this layout reads .nii / .nii.gz (2-D PNG datasets: --layout png)")
    kept = select_modalities(names, options)
    channels = tuple(names.index(m) for m in kept)
    by_name = {n.lower(): v for v, n in labels.items() if v != 0}
    if options.organ_labels is not None:
        unknown = [n for n in options.organ_labels if n.lower() not in by_name]
        if unknown:
            raise ConfigError(f"--organ-labels {', '.join(unknown)} not among the label names: {', '.join(n for v, n in sorted(labels.items()) if v)}")
        organ_values = tuple(sorted(by_name[n.lower()] for n in options.organ_labels))
    else:
        organ_values = tuple(v for v, n in sorted(labels.items()) if v != 0 and is_organ_name(n))
    lesion_values = [v for v in sorted(labels) if v != 0 and v not in organ_values]
    lesion_map = {v: i + 1 for i, v in enumerate(lesion_values)}
    label_names = {0: "background", **{lesion_map[v]: labels[v] for v in lesion_values}}
    all_ct = all(n.lower() == "ct" for n in kept)
    kind = options.kind or ("ct" if all_ct else "mri")
    return MsdPlan(names, channels, kept, labels, organ_values, lesion_map, label_names, ending, kind)


def find_cases(src: Path, p: MsdPlan) -> list[tuple[str, list[Path] | Path, Path | None]]:
    """``(case_id, channel files or one 4-D file, label or None)``, sorted by case id."""
    images_dir, labels_dir = src / "imagesTr", src / "labelsTr"
    if not images_dir.is_dir():
        raise InputError(images_dir, "no such folder; an MSD / nnU-Net dataset needs imagesTr/")
    ending = p.file_ending.lower()
    per_channel: dict[str, dict[int, Path]] = {}
    single: dict[str, Path] = {}
    for f in sorted(images_dir.iterdir()):
        if not (f.is_file() and is_nifti(f) and f.name.lower().endswith(ending)):
            continue
        stem = strip_nifti_suffix(f.name)
        m = _CHANNEL_RE.match(stem)
        if m:
            per_channel.setdefault(m.group(1), {})[int(m.group(2))] = f
        else:
            single[stem] = f
    cases: list[tuple[str, list[Path] | Path, Path | None]] = []
    n = len(p.channel_names)
    for cid in sorted(set(per_channel) | set(single)):
        if cid in per_channel and cid in single:
            raise InputError(single[cid], f"case {cid} has both a single image file and per-channel _0000 files")
        if cid in per_channel:
            files = per_channel[cid]
            missing = [i for i in range(n) if i not in files]
            if missing:
                raise InputError(images_dir, f"case {cid}: missing channel file(s) {', '.join(f'{cid}_{i:04d}{p.file_ending}' for i in missing)}")
            extra = sorted(set(files) - set(range(n)))
            if extra:
                raise InputError(files[extra[0]], f"channel {extra[0]} is not in dataset.json (channels 0..{n - 1})")
            image: list[Path] | Path = [files[i] for i in range(n)]
        else:
            image = single[cid]
        label = None
        for ext in (p.file_ending, ".nii.gz", ".nii"):
            cand = labels_dir / f"{cid}{ext}"
            if cand.is_file():
                label = cand
                break
        if label is None:
            raise InputError(labels_dir / f"{cid}{p.file_ending}", f"file not found; every image in imagesTr needs a label")
        cases.append((cid, image, label))
    return cases


def describe(src: Path, options: IngestOptions) -> LayoutInfo:
    src = check_source(src)
    p = plan(src, options)
    cases = find_cases(src, p)
    if not cases:
        raise InputError(src / "imagesTr", "no cases found")
    first = cases[0][1]
    read_header_shape(first[0] if isinstance(first, list) else first, options, channels=len(p.channel_names))
    organ_names = [p.source_labels[v] for v in p.organ_values]
    flair = [i for i, m in enumerate(p.modalities) if m.lower() == "flair"]
    return LayoutInfo(
        kind=p.kind,
        modalities=p.modalities,
        label_names=p.label_names,
        structure_modality=flair[0] if flair else 0,
        erase_lesion_contours=True,
        window=_ct_window(organ_names) if p.kind == "ct" else None,
        params={
            "n_cases": len(cases),
            "source_labels": {str(k): v for k, v in sorted(p.source_labels.items())},
            "organ_labels": organ_names,
            "lesion_mapping": {str(k): v for k, v in p.lesion_map.items()},
            "channel_names": list(p.channel_names),
        },
    )


def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]:
    src = Path(src)
    p = plan(src, options)
    n = len(p.channel_names)
    lut = np.zeros(256, np.uint8)
    for old, new in p.lesion_map.items():
        lut[old] = new
    organ_lut = np.zeros(256, bool)
    organ_lut[list(p.organ_values)] = True
    for cid, image, label_path in find_cases(src, p):
        if isinstance(image, list):
            ref_path = image[p.channels[0]]
            ref = read_nifti(ref_path, options)
            images = np.empty((len(p.channels),) + ref.data.shape, np.float32)
            images[0] = ref.data
            for j, ch in enumerate(p.channels[1:], start=1):
                vol = read_nifti(image[ch], options)
                check_same_grid(ref_path, ref, image[ch], vol)
                images[j] = vol.data
                del vol
        else:
            ref_path = image
            ref = read_nifti(image, options, channels=n)
            data = ref.data if ref.data.ndim == 4 else ref.data[None]
            if data.shape[0] != n:
                raise InputError(image, f"{data.shape[0]} channel(s), dataset.json names {n}")
            images = np.ascontiguousarray(data[list(p.channels)])
            ref.data = images[0]
        organ = label = None
        if label_path is not None:
            seg = read_nifti(label_path, options, label=True)
            check_same_grid(ref_path, ref, label_path, seg)
            bad = sorted(set(np.unique(seg.data).tolist()) - set(p.source_labels))
            if bad:
                raise InputError(label_path, f"label values {bad} are not in dataset.json labels {sorted(p.source_labels)}")
            values = seg.data.astype(np.intp)
            label = lut[values]
            organ = organ_lut[values] if p.organ_values else None
            del seg, values
        yield CaseVolume(
            case_id=cid,
            images=images,
            label=label,
            organ=organ,
            spacing=ref.spacing,
            source_path=ref_path.relative_to(src).as_posix(),
        )
