"""nnU-Net cross-validation folds of an export, grouped by subject (``splits_final.json``).

nnU-Net v2 splits the training cases into 5 folds at random unless
``nnUNet_preprocessed/DatasetXXX/splits_final.json`` exists (a list of ``{"train": [...], "val":
[...]}``, one per fold). An export's cases are 2-D slices, so a random split puts slices of one
subject into both the training and the validation fold, and synthetic slices into validation
folds. The file written here instead: every real training case's subject (its case, or for DICOM
its patient) lies in exactly one validation fold, with all its slices; synthetic cases are only
ever in training folds; subjects are dealt to folds after a seeded shuffle, each to the fold with
the fewest slices so far (balanced folds).

A synthetic case painted into a real slice (a pix2pix set, :mod:`synth_core.synthesis.inpaint`) is
that slice's subject outside the lesion: it is left out of the training side of the fold that
validates its subject (``synthetic_subjects``), so no fold trains on a picture of a subject it
validates on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FILE = "splits_final.json"
N_FOLDS = 5


def subject_folds(real_cases: Sequence[str], subjects: Sequence[str], synthetic_cases: Sequence[str], *, seed: int,
                  n_folds: int = N_FOLDS,
                  synthetic_subjects: Sequence[str | None] | None = None) -> list[dict[str, list[str]]]:
    """``[{"train": [...], "val": [...]}, ...]``: ``real_cases[i]`` belongs to ``subjects[i]``;
    ``synthetic_subjects[j]`` is the subject whose slice ``synthetic_cases[j]`` was painted into
    (None, or no list: made from no particular slice, so in every fold's ``train``).

    With fewer subjects than ``n_folds`` there is one fold per subject (none with fewer than 2)."""
    if len(real_cases) != len(subjects):
        raise ValueError("one subject per real case")
    if synthetic_subjects is not None and len(synthetic_subjects) != len(synthetic_cases):
        raise ValueError("one subject (or None) per synthetic case")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, not {n_folds}")
    members: dict[str, list[str]] = {}
    for case, subject in zip(real_cases, subjects):
        members.setdefault(str(subject), []).append(case)
    order = sorted(members)
    k = min(n_folds, len(order))
    if k < 2:
        return []
    rng = np.random.default_rng(seed)
    order = [order[i] for i in rng.permutation(len(order))]
    val: list[list[str]] = [[] for _ in range(k)]
    fold_of: dict[str, int] = {}
    for subject in order:
        f = min(range(k), key=lambda j: (len(val[j]), j))
        val[f].extend(members[subject])
        fold_of[subject] = f
    source = list(synthetic_subjects) if synthetic_subjects is not None else [None] * len(synthetic_cases)
    everything = list(real_cases)
    folds = []
    for f in range(k):
        held = set(val[f])
        synthetic = [c for c, s in zip(synthetic_cases, source) if s is None or fold_of.get(str(s)) != f]
        folds.append({"train": [c for c in everything if c not in held] + synthetic, "val": sorted(val[f])})
    return folds


def describe(n_folds: int) -> str:
    """One line for the CLI summary and the Export page: what was written and where nnU-Net wants it."""
    if n_folds:
        return (f"{FILE}: {n_folds} folds grouped by subject; for nnU-Net copy it to "
                "nnUNet_preprocessed/DatasetXXX_Name/ after nnUNetv2_plan_and_preprocess")
    return (f"none: fewer than 2 training subjects, so no {FILE} (nnU-Net's own random split would validate on "
            "slices of the subject it trains on)")


def folds_problems(folds: Any, train_cases: Sequence[str], is_synthetic: Any) -> list[str]:
    """What is wrong with ``folds`` (the parsed file) for an export whose training cases are
    ``train_cases``: one line each, naming the file. Checks the shape nnU-Net reads, that every
    case is a training case, that no fold has a case on both sides, that synthetic cases
    (``is_synthetic(case)``) are never validated on, and that each real training case is
    validated exactly once (the subjects themselves are not in the export, so the grouping is
    checked where the file is made, not here)."""
    if not isinstance(folds, list) or not folds or not all(
            isinstance(f, dict) and set(f) == {"train", "val"} and all(
                isinstance(f[k], list) and all(isinstance(c, str) for c in f[k]) for k in ("train", "val"))
            for f in folds):
        return [f'{FILE}: not a non-empty list of {{"train": [cases], "val": [cases]}}']
    known = set(train_cases)
    real = [c for c in train_cases if not is_synthetic(c)]
    out: list[str] = []
    validated: dict[str, int] = {}
    for k, f in enumerate(folds):
        unknown = sorted((set(f["train"]) | set(f["val"])) - known)
        if unknown:
            out.append(f"{FILE}: fold {k} names {len(unknown)} case(s) that are not training cases of this export "
                       f"(first {unknown[0]})")
        both = sorted(set(f["train"]) & set(f["val"]))
        if both:
            out.append(f"{FILE}: fold {k} has {len(both)} case(s) in both train and val (first {both[0]})")
        synthetic = sorted(c for c in f["val"] if is_synthetic(c))
        if synthetic:
            out.append(f"{FILE}: fold {k} validates on {len(synthetic)} synthetic case(s) (first {synthetic[0]})")
        missing = sorted(set(real) - set(f["train"]) - set(f["val"]))
        if missing:
            out.append(f"{FILE}: fold {k} leaves out {len(missing)} real training case(s) (first {missing[0]})")
        for c in f["val"]:
            validated[c] = validated.get(c, 0) + 1
    wrong = sorted(c for c in real if validated.get(c, 0) != 1)
    if wrong:
        out.append(f"{FILE}: {len(wrong)} real training case(s) are not validated exactly once (first {wrong[0]}: "
                   f"{validated.get(wrong[0], 0)} times)")
    return out
