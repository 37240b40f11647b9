"""BraTS: one folder per case holding ``<case>_t1``, ``_t1ce``, ``_t2``, ``_flair``, ``_seg``
(``.nii`` or ``.nii.gz``).

Also accepted: the BraTS 2023+ names ``-t1n``, ``-t1c``, ``-t2w``, ``-t2f``, ``-seg`` (hyphen or
underscore); they map to the same channels (t1, t1ce, t2, flair). Case folders are found at any
depth below SRC (the archives nest them), or SRC may itself be one case folder.

Labels (per case, from the values present):

* {0, 1, 2, 4} (BraTS 2017–2021: 4 = enhancing tumour) -> 4 becomes 3;
* {0, 1, 2, 3} (BraTS 2023: 3 = enhancing tumour) -> unchanged;
* both 3 and 4 (BraTS 2012–2016 five classes: 3 = non-enhancing core) -> 3 joins 1, 4 becomes 3,
  as BraTS itself merged them from 2017.

giving {0 background, 1 necrotic / non-enhancing core, 2 edema, 3 enhancing tumour}; other values
are an error. A case without a ``seg`` file is ingested without a label.

The images are skull-stripped, so the organ mask is the brain: any channel > 0, holes filled
slice by slice. Kind mri; Algorithm 1 runs on FLAIR (when kept) and lesion contours are erased
from the structure maps, as in the thesis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage

from synth_core.errors import InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, select_modalities
from synth_core.ingest.options import IngestOptions
from synth_core.io.nifti import check_same_grid, is_nifti, read_header_shape, read_nifti, strip_nifti_suffix

MODALITIES = ("t1", "t1ce", "t2", "flair")
#: file-name suffix -> channel (BraTS 2012–2021 and 2023+ names)
SUFFIXES = {
    "t1": "t1", "t1n": "t1",
    "t1ce": "t1ce", "t1c": "t1ce", "t1gd": "t1ce",
    "t2": "t2", "t2w": "t2",
    "flair": "flair", "t2f": "flair",
    "seg": "seg",
}  # fmt: skip
#: accepted spellings for --modalities
ALIASES = {"t1n": "t1", "t1c": "t1ce", "t1gd": "t1ce", "t2w": "t2", "t2f": "flair"}
LABEL_NAMES = {0: "background", 1: "necrotic / non-enhancing core", 2: "edema", 3: "enhancing tumour"}
_SUFFIX_RE = re.compile(r"[_-]([A-Za-z0-9]+)$")


def case_files(folder: Path) -> dict[str, Path]:
    """``{channel or "seg": file}`` of one case folder; InputError on two files for one channel."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not (p.is_file() and is_nifti(p)):
            continue
        m = _SUFFIX_RE.search(strip_nifti_suffix(p.name))
        key = SUFFIXES.get(m.group(1).lower()) if m else None
        if key is None:
            continue
        if key in out:
            raise InputError(p, f"second {key} file in the case folder (also {out[key].name})")
        out[key] = p
    return out


def find_cases(src: Path) -> list[tuple[str, Path, dict[str, Path]]]:
    """``(case_id, folder, files)`` for every folder at or below ``src`` holding BraTS files."""
    folders = [src] + sorted(p for p in src.rglob("*") if p.is_dir() and not p.name.startswith("."))
    cases = []
    for folder in folders:
        files = case_files(folder)
        if any(k != "seg" for k in files):
            cases.append((folder.name, folder, files))
    seen: dict[str, Path] = {}
    for cid, folder, _ in cases:
        if cid in seen:
            raise InputError(folder, f"case name {cid!r} also used by {seen[cid]}")
        seen[cid] = folder
    return cases


def _chosen(options: IngestOptions) -> tuple[str, ...]:
    return select_modalities(MODALITIES, options, ALIASES)


def describe(src: Path, options: IngestOptions) -> LayoutInfo:
    src = check_source(src)
    cases = find_cases(src)
    if not cases:
        raise InputError(src, "no BraTS cases found (expected case folders with <case>_t1/_t1ce/_t2/_flair/_seg .nii[.gz])")
    mods = _chosen(options)
    first = cases[0][2]
    for m in mods:
        if m in first:
            read_header_shape(first[m], options)
            break
    return LayoutInfo(
        kind=options.kind or "mri",
        modalities=mods,
        label_names=dict(LABEL_NAMES),
        structure_modality=mods.index("flair") if "flair" in mods else 0,
        erase_lesion_contours=True,
        params={
            "n_cases": len(cases),
            "organ_mask": "brain: any channel > 0, holes filled",
            "label_mapping": "{0,1,2,4}: 4->3; {0,1,2,3}: unchanged; 3 and 4: 3->1, 4->3",
        },
    )


def map_labels(path: Path, seg: np.ndarray) -> np.ndarray:
    """BraTS labels -> {0, 1, 2, 3} (see the module docstring)."""
    values = set(np.unique(seg).tolist())
    bad = sorted(values - {0, 1, 2, 3, 4})
    if bad:
        raise InputError(path, f"label values {bad} outside the BraTS convention {{0,1,2,4}} or {{0,1,2,3}}")
    out = seg.astype(np.uint8)
    if 4 in values:
        if 3 in values:
            out[seg == 3] = 1
        out[seg == 4] = 3
    return out


def brain_mask(images: np.ndarray) -> np.ndarray:
    """``(C, Z, H, W)`` skull-stripped intensities -> ``(Z, H, W)`` bool: any channel > 0, holes filled."""
    inside = np.any(images > 0, axis=0)
    return np.stack([ndimage.binary_fill_holes(s) for s in inside]) if len(inside) else inside


def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]:
    src = Path(src)
    mods = _chosen(options)
    for case_id, folder, files in find_cases(src):
        missing = [m for m in mods if m not in files]
        if missing:
            raise InputError(folder, f"case {case_id} has no {', '.join(missing)} file (found: {', '.join(sorted(files)) or 'none'})")
        ref_path = files[mods[0]]
        ref = read_nifti(ref_path, options)
        channels = np.empty((len(mods),) + ref.data.shape, np.float32)
        channels[0] = ref.data
        for i, m in enumerate(mods[1:], start=1):
            vol = read_nifti(files[m], options)
            check_same_grid(ref_path, ref, files[m], vol)
            channels[i] = vol.data
            del vol
        label = None
        if "seg" in files:
            seg = read_nifti(files["seg"], options, label=True)
            check_same_grid(ref_path, ref, files["seg"], seg)
            label = map_labels(files["seg"], seg.data)
            del seg
        yield CaseVolume(
            case_id=case_id,
            images=channels,
            label=label,
            organ=brain_mask(channels),
            spacing=ref.spacing,
            source_path=ref_path.relative_to(src).as_posix(),
        )
