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
