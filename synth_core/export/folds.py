"""nnU-Net cross-validation folds of an export, grouped by subject (``splits_final.json``).

nnU-Net v2 splits the training cases into 5 folds at random unless
``nnUNet_preprocessed/DatasetXXX/splits_final.json`` exists (a list of ``{"train": [...], "val":
[...]}``, one per fold). An export's cases are 2-D slices, so a random split puts slices of one
subject into both the training and the validation fold, and synthetic slices into validation
folds. The file written here instead: every real training case's subject (its case, or for DICOM
its patient) lies in exactly one validation fold, with all its slices; synthetic cases are only
ever in training folds; subjects are dealt to folds after a seeded shuffle, each to the fold with
the fewest slices so far (balanced folds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FILE = "splits_final.json"
N_FOLDS = 5


def subject_folds(real_cases: Sequence[str], subjects: Sequence[str], synthetic_cases: Sequence[str], *, seed: int,
                  n_folds: int = N_FOLDS) -> list[dict[str, list[str]]]:
    """``[{"train": [...], "val": [...]}, ...]``: ``real_cases[i]`` belongs to ``subjects[i]``.

    With fewer subjects than ``n_folds`` there is one fold per subject (none with fewer than 2)."""
    if len(real_cases) != len(subjects):
        raise ValueError("one subject per real case")
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
    for subject in order:
        f = min(range(k), key=lambda j: (len(val[j]), j))
        val[f].extend(members[subject])
    everything = list(real_cases)
    folds = []
    for f in range(k):
        held = set(val[f])
        folds.append({"train": [c for c in everything if c not in held] + list(synthetic_cases),
                      "val": sorted(val[f])})
    return folds

