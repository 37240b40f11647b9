"""Check an export folder before a segmentation pipeline trains on it.

:func:`check_export` returns a list of one-line problems (empty = good):

- dataset.json and the manifest are readable; manifest.csv lists the same files as the Parquet;
- every case is complete: each training/test case has every channel and a label, every file
  that dataset.json lists exists, and no stray file sits in the image/label folders;
- channels of a case have the same shape, and the label has that shape too;
- label values are among dataset.json's labels;
- every file's sha256 matches the manifest (a changed file is caught);
- ``numTraining`` (and ``numTest`` for MSD) count the cases on disk;
- no synthetic case is in the test split (by case name and by the manifest);
- ``splits_final.json`` is there when dataset.json says so and is sound: only training cases,
  none on both sides of a fold, no synthetic case validated on, each real training case
  validated exactly once.

Files are read one case at a time, so checking a large export keeps memory flat.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.export import manifest
from synth_core.export.encode import NIFTI_ENDING, read_array
from synth_core.export.folds import FILE as FOLDS_FILE
from synth_core.export.folds import folds_problems
from synth_core.export.formats import PARTS
from synth_core.export.naming import is_synthetic_case

FOLDERS = tuple(f for part in PARTS.values() for f in part)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _format_of(info: dict[str, Any]) -> str:
    fmt = (info.get("medsynth") or {}).get("format")
    if fmt in ("nnunet", "msd", "png"):
        return str(fmt)
    if "training" in info and "modality" in info:
        return "msd"
    return "png" if info.get("file_ending") == ".png" else "nnunet"


def _allowed_labels(info: dict[str, Any], fmt: str) -> set[int]:
    labels = info.get("labels") or {}
    if fmt == "msd":
        return {int(k) for k in labels}
    out = set()
    for v in labels.values():  # nnU-Net v2 allows a region as a list of values
        out.update(int(x) for x in (v if isinstance(v, list) else [v]))
    return out


class _Cases:
    """Case name -> its files, per part, as found on disk and as dataset.json implies."""

    def __init__(self) -> None:
        self.images: dict[str, dict[str, list[str]]] = {"train": defaultdict(list), "test": defaultdict(list)}
        self.labels: dict[str, dict[str, str]] = {"train": {}, "test": {}}


def check_export(path: str | Path) -> list[str]:
    """Problems of the export folder ``path`` (module docstring); an empty list means it is good."""
    root = Path(path)
    if not root.is_dir():
        return [f"{root}: not a folder"]
    problems: list[str] = []
    try:
        info = json.loads((root / "dataset.json").read_text())
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        return [f"dataset.json: unreadable ({err})"]
    fmt = _format_of(info)
    table = _read_manifest(root, problems)
    on_disk = {f"{d}/{p.name}" for d in FOLDERS if (root / d).is_dir() for p in (root / d).iterdir() if p.is_file()}

    if fmt == "msd":
        cases = _msd_cases(root, info, on_disk, problems)
    else:
        cases = _nnunet_cases(root, info, fmt, on_disk, problems)
    _check_contents(root, fmt, info, cases, problems)
    if table is not None:
        _check_manifest(root, table, on_disk, problems)
    for part in ("test",):
        for case in sorted(set(cases.images[part]) | set(cases.labels[part])):
            if is_synthetic_case(case):
                problems.append(f"{case}: synthetic case in the test split ({PARTS[part][0]})")
    _check_folds(root, info, sorted(set(cases.images["train"]) | set(cases.labels["train"])), problems)
    return list(dict.fromkeys(problems))  # one line per problem, in order


def _check_folds(root: Path, info: dict[str, Any], train_cases: list[str], problems: list[str]) -> None:
    """``splits_final.json``: there when dataset.json says so, and sound (:func:`folds_problems`)."""
    said = ((info.get("medsynth") or {}).get("splits_final") or {}).get("file")
    path = root / FOLDS_FILE
    if not path.exists():
        if said:
            problems.append(f"{FOLDS_FILE}: missing (dataset.json says the export has one)")
        return
    try:
        folds = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        problems.append(f"{FOLDS_FILE}: unreadable ({err})")
        return
    problems.extend(folds_problems(folds, train_cases, is_synthetic_case))


def _read_manifest(root: Path, problems: list[str]) -> pd.DataFrame | None:
    try:
        table = manifest.read(root)
    except Exception as err:  # pyarrow raises several types for a missing or damaged file
        problems.append(f"{manifest.PARQUET}: unreadable ({type(err).__name__})")
        return None
    missing = [c for c in ("path", "sha256", "source", "split") if c not in table.columns]
    if missing:
        problems.append(f"{manifest.PARQUET}: lacks columns {missing}")
        return None
    try:
        csv = pd.read_csv(root / manifest.CSV, usecols=["path", "sha256"], dtype=str, keep_default_na=False)
        if sorted(zip(csv["path"], csv["sha256"])) != sorted(zip(table["path"], table["sha256"])):
            problems.append(f"{manifest.CSV}: lists other files or checksums than {manifest.PARQUET}")
    except (OSError, ValueError) as err:
        problems.append(f"{manifest.CSV}: unreadable ({err})")
    return table


def _nnunet_cases(root: Path, info: dict[str, Any], fmt: str, on_disk: set[str], problems: list[str]) -> _Cases:
    ending = str(info.get("file_ending", ".png" if fmt == "png" else NIFTI_ENDING))
    n_ch = len(info.get("channel_names") or {})
    if n_ch == 0:
        problems.append("dataset.json: no channel_names")
    image_re = re.compile(rf"^(?P<case>.+)_(?P<ch>\d{{4}}){re.escape(ending)}$")
    cases = _Cases()
    for part, (img_dir, lab_dir) in PARTS.items():
        for rel in sorted(p for p in on_disk if p.startswith(img_dir + "/")):
            m = image_re.match(rel.split("/", 1)[1])
            if not m or int(m["ch"]) >= max(n_ch, 1):
                problems.append(f"{rel}: unexpected file (not <case>_<channel 0..{n_ch - 1:04d}>{ending})")
                continue
            cases.images[part][m["case"]].append(rel)
        for rel in sorted(p for p in on_disk if p.startswith(lab_dir + "/")):
            name = rel.split("/", 1)[1]
            if not name.endswith(ending):
                problems.append(f"{rel}: unexpected file (not <case>{ending})")
                continue
            cases.labels[part][name[: -len(ending)]] = rel
        need_labels = part == "train" or (root / lab_dir).is_dir()
        for case in sorted(set(cases.images[part]) | set(cases.labels[part])):
            for k in range(n_ch):
                rel = f"{img_dir}/{case}_{k:04d}{ending}"
                if rel not in on_disk:
                    problems.append(f"{rel}: missing (case {case} needs {n_ch} channels)")
            if need_labels and case not in cases.labels[part]:
                problems.append(f"{lab_dir}/{case}{ending}: missing (label of case {case})")
    n_train = len(set(cases.images["train"]) | set(cases.labels["train"]))
    if info.get("numTraining") != n_train:
        problems.append(f"dataset.json: numTraining is {info.get('numTraining')} but {PARTS['train'][0]} holds {n_train} cases")
    return cases


def _strip(rel: str) -> str:
    return rel[2:] if rel.startswith("./") else rel


def _msd_cases(root: Path, info: dict[str, Any], on_disk: set[str], problems: list[str]) -> _Cases:
    cases = _Cases()
    listed: set[str] = set()
    for part, key in (("train", "training"), ("test", "test")):
        img_dir, lab_dir = PARTS[part]
        entries = info.get(key) or []
        for e in entries:
            img = _strip(e["image"] if isinstance(e, dict) else str(e))
            case = Path(img).name[: -len(NIFTI_ENDING)] if img.endswith(NIFTI_ENDING) else Path(img).stem
            lab = _strip(e["label"]) if isinstance(e, dict) and "label" in e else (
                f"{lab_dir}/{Path(img).name}" if (root / lab_dir).is_dir() else None)
            listed.add(img)
            if img not in on_disk:
                problems.append(f"{img}: missing (listed in dataset.json {key})")
            else:
                cases.images[part][case].append(img)
            if lab is not None:
                listed.add(lab)
                if lab not in on_disk:
                    problems.append(f"{lab}: missing (label of case {case})")
                else:
                    cases.labels[part][case] = lab
        for rel in sorted(p for p in on_disk if p.startswith((img_dir + "/", lab_dir + "/"))):
            if rel not in listed:
                problems.append(f"{rel}: not listed in dataset.json {key}")
    for key, count in (("numTraining", len(info.get("training") or [])), ("numTest", len(info.get("test") or []))):
        if info.get(key) != count:
            problems.append(f"dataset.json: {key} is {info.get(key)} but it lists {count} cases")
    n_train_disk = sum(1 for p in on_disk if p.startswith(PARTS["train"][0] + "/"))
    if info.get("numTraining") != n_train_disk:
        problems.append(f"dataset.json: numTraining is {info.get('numTraining')} but {PARTS['train'][0]} holds {n_train_disk} cases")
    return cases


def _read(root: Path, rel: str, problems: list[str]) -> np.ndarray | None:
    try:
        return read_array(root / rel)
    except Exception as err:  # nibabel / Pillow raise many types for damaged files
        problems.append(f"{rel}: unreadable ({type(err).__name__}: {' '.join(str(err).split())[:120]})")
        return None


def _check_contents(root: Path, fmt: str, info: dict[str, Any], cases: _Cases, problems: list[str]) -> None:
    allowed = _allowed_labels(info, fmt)
    n_ch = len(info.get("modality") or {}) if fmt == "msd" else len(info.get("channel_names") or {})
    for part in PARTS:
        for case in sorted(set(cases.images[part]) | set(cases.labels[part])):
            shapes: dict[str, tuple[int, ...]] = {}
            for rel in sorted(cases.images[part].get(case, [])):
                arr = _read(root, rel, problems)
                if arr is None:
                    continue
                if fmt == "msd":
                    channels = arr.shape[3] if arr.ndim == 4 else 1
                    if channels != n_ch:
                        problems.append(f"{rel}: {channels} channels but dataset.json has {n_ch} modalities")
                    shapes[rel] = tuple(arr.shape[:3])
                else:
                    shapes[rel] = tuple(arr.shape)
                if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
                    problems.append(f"{rel}: NaN or infinite values")
            lab_rel = cases.labels[part].get(case)
            if lab_rel is not None:
                lab = _read(root, lab_rel, problems)
                if lab is not None:
                    shapes[lab_rel] = tuple(lab.shape)
                    bad = sorted(set(np.unique(lab).tolist()) - allowed)
                    if bad:
                        problems.append(f"{lab_rel}: label values {bad} not among dataset.json labels {sorted(allowed)}")
            if len(set(shapes.values())) > 1:
                shown = ", ".join(f"{Path(r).name} {s}" for r, s in shapes.items())
                problems.append(f"{case}: files disagree on the shape ({shown})")


def _check_manifest(root: Path, table: pd.DataFrame, on_disk: set[str], problems: list[str]) -> None:
    files = table[table["path"] != ""]
    listed = set(files["path"])
    reported_missing = {pr.split(": ", 1)[0] for pr in problems if ": missing" in pr}
    for rel, digest, source, split in zip(files["path"], files["sha256"], files["source"], files["split"]):
        if source == "synthetic" and (split == "test" or rel.startswith((PARTS["test"][0] + "/", PARTS["test"][1] + "/"))):
            problems.append(f"{rel}: synthetic file in the test split (manifest)")
        p = root / rel
        if not p.is_file():
            if rel not in reported_missing:
                problems.append(f"{rel}: missing")
            continue
        if _sha256(p) != digest:
            problems.append(f"{rel}: checksum differs from the manifest (the file changed after export)")
    for rel in sorted(on_disk - listed):
        problems.append(f"{rel}: not in the manifest")
