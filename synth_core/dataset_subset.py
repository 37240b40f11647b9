"""A dataset holding only some training slices of another: what a generator may see when the
usability experiment trains one per real fraction without leakage (issue 13).

:func:`write_subset` writes ``workspace/datasets/NAME`` with

- the chosen TRAIN rows of the parent (their cases keep the ``train`` split; a case may be partial),
- every row of the splits in ``keep`` (default: ``val``, so the stages can still validate on
  subjects they do not train on),
- nothing of the other splits (the test split never reaches a model trained on a subset).

Images, masks, labels and structure maps are copied as they are (the structure maps are not
recomputed), splits are the parent's, and ``dataset.json`` records where it came from:
``derived_from = {"dataset", "fingerprint", "rows_sha256", "n_train_rows", "kept_splits", "purpose"}``.
:func:`subset_matches` tells whether an existing subset holds exactly those rows of that parent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.dataset import SPLITS, Dataset, DatasetSpec, DatasetWriter
from synth_core.errors import ConfigError


def rows_sha256(rows: np.ndarray) -> str:
    """Hash of a set of dataset rows (order does not matter)."""
    return hashlib.sha256(np.sort(np.asarray(rows, dtype=np.int64)).tobytes()).hexdigest()


def write_subset(parent: Dataset, train_rows: np.ndarray, dest: str | Path, name: str, *,
                 keep: Sequence[str] = ("val",), purpose: str = "") -> Dataset:
    """Write the subset (see the module docstring) to ``dest`` atomically and open it."""
    rows = np.unique(np.asarray(train_rows, dtype=np.int64))
    if len(rows) == 0:
        raise ConfigError(f"a subset of dataset {parent.name!r} needs at least one training slice")
    if rows.min() < 0 or rows.max() >= len(parent):
        raise ConfigError(f"rows outside dataset {parent.name!r} (0..{len(parent) - 1})")
    split = parent.index["split"].to_numpy().astype(str)
    if not (split[rows] == "train").all():
        raise ConfigError(f"a subset takes TRAIN slices of dataset {parent.name!r}; "
                          f"{int((split[rows] != 'train').sum())} of the rows given are not in the train split")
    bad = set(keep) - set(SPLITS) | ({"train"} & set(keep))
    if bad:
        raise ConfigError(f"keep lists the val and/or test split, not {sorted(bad)}")
    kept = np.flatnonzero(np.isin(split, list(keep)))
    all_rows = np.concatenate([rows, kept])
    idx = parent.index
    spec_d = parent.spec.to_json()
    spec_d["name"] = name
    spec = DatasetSpec.from_json(spec_d)
    cases = idx["case_id"].to_numpy().astype(str)
    subjects = parent.subjects().to_numpy()
    order = sorted(set(cases[all_rows].tolist()))
    splits = {c: str(split[all_rows][cases[all_rows] == c][0]) for c in order}
    derived: dict[str, Any] = {"dataset": parent.name, "fingerprint": parent.fingerprint,
                               "rows_sha256": rows_sha256(rows), "n_train_rows": int(len(rows)),
                               "kept_splits": list(keep), "purpose": purpose}
    with DatasetWriter(dest, spec, splits=splits, derived_from=derived) as w:
        for c in order:
            mine = np.sort(all_rows[cases[all_rows] == c])
            first = idx.iloc[int(mine[0])]
            w.add_case(c, np.asarray(parent.images[mine]), np.asarray(parent.masks[mine]),
                       np.asarray(parent.labels[mine]), idx["slice_index"].to_numpy()[mine],
                       (float(first.spacing_row), float(first.spacing_col), float(first.spacing_slice)),
                       str(first.source_path), subject=str(subjects[mine[0]]),
                       structure=np.asarray(parent.structure[mine]))
    return Dataset(dest)


def subset_matches(ds: Dataset, parent: Dataset, train_rows: np.ndarray, keep: Sequence[str] = ("val",)) -> bool:
    """Whether ``ds`` is the subset :func:`write_subset` makes of ``parent`` with these rows."""
    d = ds.info.get("derived_from") or {}
    return (d.get("dataset") == parent.name and d.get("fingerprint") == parent.fingerprint
            and d.get("rows_sha256") == rows_sha256(train_rows) and list(d.get("kept_splits", [])) == list(keep))
