"""Augmented lesion-label sets: candidates previewed with their verdicts, and saved sets of
accepted labels with the parameters that replay them (input to synthesis, METHOD.md §8–9).

A saved set lives in ``workspace/lesions/NAME/``::

    labelset.json     dataset, fingerprint, dataset_content (byte hash and per-case summary of the
                      dataset, :mod:`synth_core.datalink`), ranges, position, seed, counts and
                      rejection reasons
    labels.npy        (K, H, W) uint8 accepted labels
    placements.parquet  one row per label: target dataset row, lesion id, every transform parameter
    bank/             the lesion bank the set was drawn from (so every row replays bit-exactly)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.atomic import atomic_dir
from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, InputError
from synth_core.lesions.augment import AugmentParams, AugmentRanges, paste, transform_lesion
from synth_core.lesions.bank import LesionBank
from synth_core.lesions.placement import augment_batch, replay, sample_placement


@dataclass(frozen=True)
class Candidate:
    """One previewed candidate: the target row, the verdict, and the lesion drawn where it was
    tried (clipped to the frame), accepted or not."""

    row: int
    accepted: bool
    reason: str | None
    drawn: np.ndarray
    params: dict[str, Any]
    inside_fraction: float


def target_rows(ds: Dataset, split: str = "train", n: int | None = None, seed: int = 0) -> np.ndarray:
    """Dataset rows whose organ masks serve as targets (a seeded subset of ``split``)."""
    rows = ds.split_indices(split)
    if len(rows) == 0:
        raise ConfigError(f"dataset {ds.name!r} has no slices in the {split!r} split")
    if n is not None and n < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))
    return rows


def preview_candidates(bank: LesionBank, ds: Dataset, rows: np.ndarray, n: int, ranges: AugmentRanges,
                       *, seed: int = 0, position: str = "uniform") -> list[Candidate]:
    """``n`` candidates on the masks of ``rows`` (cycled), each with its verdict and reason."""
    if len(bank) == 0:
        raise ConfigError("the lesion bank is empty; build it from a dataset with lesions")
    rng = np.random.default_rng(seed)
    shape = ds.masks.shape[1:]
    out = []
    for i in range(n):
        row = int(rows[i % len(rows)])
        entry = bank[int(rng.integers(len(bank)))]
        p = sample_placement(entry, np.asarray(ds.masks[row]), ranges, rng, position=position)
        params = AugmentParams.from_dict({k: v for k, v in p.params.items() if k != "lesion_id"})
        drawn = p.label if p.label is not None else paste(transform_lesion(entry.patch, params, shape), shape, np.uint8)
        out.append(Candidate(row, p.accepted, p.reason, drawn, p.params, p.inside_fraction))
    return out


def make_label_set(ws_path: Path, name: str, ds: Dataset, bank: LesionBank, *, n: int, ranges: AugmentRanges,
                   seed: int = 0, split: str = "train", position: str = "uniform", n_masks: int | None = 256) -> Path:
    """Draw up to ``n`` accepted labels on ``split`` masks and save them (atomically) as a set."""
    rows = target_rows(ds, split, n_masks, seed)
    masks = np.asarray(ds.masks[np.sort(rows)])
    res = augment_batch(bank, masks, n, ranges, seed, position=position)
    if res.n_accepted == 0:
        raise ConfigError(f"no candidate was accepted in {res.tries} tries ({res.rejected}); widen the ranges "
                          "or lower the containment threshold")
    dest = ws_path / name
    with atomic_dir(dest) as tmp:
        np.save(tmp / "labels.npy", res.labels)
        table = pd.DataFrame([{"target_row": int(rows[k]), **_flat(p)} for k, p in zip(res.mask_index, res.params)])
        table.to_parquet(tmp / "placements.parquet", index=False)
        bank.save(tmp / "bank")
        meta = {"name": name, "dataset": ds.name, "fingerprint": ds.fingerprint,
                "dataset_content": {"dataset_sha256": ds.content_sha256, "summary": ds.info.get("content_summary")},
                "ranges": ranges.to_dict(),
                "position": position, "seed": seed, "split": split, "requested": n, **res.summary()}
        (tmp / "labelset.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return dest


def _flat(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                out[f"{k}_{i}"] = x
        else:
            out[k] = v
    return out


@dataclass
class LabelSet:
    path: Path
    meta: dict[str, Any]
    labels: np.ndarray
    placements: pd.DataFrame
    bank: LesionBank

    @classmethod
    def load(cls, path: str | Path) -> "LabelSet":
        path = Path(path)
        try:
            meta = json.loads((path / "labelset.json").read_text())
        except (OSError, ValueError) as err:
            raise InputError(path / "labelset.json", f"not a lesion label set ({err})") from None
        labels = np.load(path / "labels.npy", allow_pickle=False)
        return cls(path, meta, labels, pd.read_parquet(path / "placements.parquet"), LesionBank.load(path / "bank"))

    def params(self, i: int) -> dict[str, Any]:
        """The params dict of label ``i`` (as recorded), ready for :func:`replay`."""
        row = self.placements.iloc[i].to_dict()
        out: dict[str, Any] = {}
        for k, v in row.items():
            if k == "target_row":
                continue
            base, _, idx = k.rpartition("_")
            if idx.isdigit() and base in ("translate", "center"):
                out.setdefault(base, [None, None])[int(idx)] = None if pd.isna(v) else v
            else:
                out[k] = None if (not isinstance(v, str) and pd.isna(v)) else v
        for key in ("translate", "center"):
            if key in out and all(x is None for x in out[key]):
                out[key] = None
        return out

    def replay(self, i: int) -> np.ndarray:
        return replay(self.bank, self.params(i), self.labels.shape[1:])
