"""Realism of a synthetic set, each number beside a real-vs-real control (issue 12).

Two metric families that :func:`synth_core.evaluation.evaluate.evaluate_set` adds to the long
evaluation table, each a function usable on its own:

- :func:`c2st_rows` — the classifier two-sample test (:mod:`synth_core.evaluation.c2st`) per
  modality and for the structure maps, in the hand-made view (``extractor = "handmade"``) and, for
  the modalities, in the FID feature space (``extractor`` = the FID extractor's name): rows
  ``c2st_auc`` (held-out real slices vs synthetic samples) and ``c2st_auc_control`` (held-out real
  slices vs real slices of training subjects, computed the same way), each the mean over
  :data:`~synth_core.evaluation.c2st.REPEATS` fold splits, with their spread over the splits in
  ``c2st_auc_sd`` and ``c2st_auc_sd_control`` (:data:`C2ST_METRICS`).
- :func:`prdc_rows` — precision, recall, density, coverage (:mod:`synth_core.evaluation.precision_recall`)
  in the FID feature space: rows ``prd_<name>`` and ``prd_<name>_control``.

Which real slices (:func:`real_slices`). The networks were trained on the training split, so the
real side is slices of the **held-out subjects** (``val`` + ``test``); the control's second side is
slices of **training subjects**, as many as there are synthetic samples (when the training split
has them), so both tests have the same sample sizes. Structure maps: the dataset's ``structure.npy``
maps of those subjects against the set's maps. Each draw is seeded from the evaluation seed.

How to read the control. Real-vs-real is ~0.5 when the feature view cannot tell subjects of the
two splits apart. Above 0.5 says the view itself separates training subjects from others — for
the segmenter's own features a sign that the segmenter memorised its training subjects — and the
synthetic AUC must be read against it, not against 0.5.

:func:`realness_frame` turns the hand-made view's tests into the per-sample side table of the set
(:mod:`synth_core.synthesis.realness`): ``realness_<modality>``, ``realness_structure`` (the
out-of-fold probability of "real" of each tested sample; samples beyond the sample cap are scored
by the classifier refitted on all tested data, which never saw them) and ``realness``, the lowest
of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synth_core.errors import SynthCoreError
from synth_core.evaluation.c2st import HAND_VIEW, HAND_VIEW_GROUPS, REPEATS, C2STResult, c2st, handmade_features
from synth_core.evaluation.precision_recall import NEAREST_K, PRDC_KEYS, prdc

__all__ = ["C2ST_METRICS", "CONTROL_SPLIT", "HELD_OUT_SPLITS", "STRUCTURE", "RealSlices", "ViewFeatures", "c2st_rows",
           "prdc_rows", "real_slices", "realness_frame"]

HELD_OUT_SPLITS = ("val", "test")
CONTROL_SPLIT = "train"
STRUCTURE = "structure"  # the "modality" of the structure-map rows
#: the rows of one C2ST view: the AUC and the control's, then their spreads over fold splits
C2ST_METRICS = ("c2st_auc", "c2st_auc_control", "c2st_auc_sd", "c2st_auc_sd_control")


@dataclass
class RealSlices:
    """Real slices drawn for the realism metrics: dataset rows, their subjects, images and maps."""

    rows: np.ndarray  # (N,) dataset rows, sorted
    groups: np.ndarray  # (N,) case id of each slice
    images: np.ndarray  # (N, M, H, W) float32
    structure: np.ndarray  # (N, H, W)
    splits: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def subjects(self) -> int:
        return int(len(np.unique(self.groups)))

    def describe(self) -> str:
        return f"{len(self)} real {'+'.join(self.splits)} slices of {self.subjects} subjects"


def real_slices(ds: Any, splits: tuple[str, ...], n: int, seed: int, stream: int) -> RealSlices:
    """At most ``n`` slices of the ``splits`` of dataset ``ds`` (seeded by ``(seed, stream)``)."""
    rows = np.sort(np.concatenate([np.asarray(ds.split_indices(s), np.int64) for s in splits]))
    if len(rows) > n:
        rows = np.sort(np.random.default_rng([int(seed), 12, int(stream)]).choice(rows, int(n), replace=False))
    return RealSlices(rows=rows, groups=ds.index["case_id"].to_numpy().astype(str)[rows],
                      images=np.asarray(ds.images[rows], dtype=np.float32), structure=np.asarray(ds.structure[rows]),
                      splits=tuple(splits))


@dataclass
class ViewFeatures:
    """One modality's features in a network view (e.g. the FID extractor) for the three samples."""

    extractor: str
    held: np.ndarray
    train: np.ndarray
    synthetic: np.ndarray


def _row(metric: str, modality: str, value: float, n: int, extractor: str, note: str) -> dict[str, Any]:
    return {"metric": metric, "modality": modality, "region": "image", "value": float(value), "n": int(n),
            "extractor": extractor, "note": note}


def _test_pair(rows: list[dict[str, Any]], modality: str, extractor: str, held: RealSlices, train: RealSlices,
               f_held: np.ndarray, f_train: np.ndarray, f_syn: np.ndarray, seed: int,
               n_splits: int, repeats: int) -> C2STResult | None:
    """Append the :data:`C2ST_METRICS` rows of one view; returns the synthetic test."""
    out = None
    for suffix, other, groups, what in (
        ("", f_syn, None, f"{len(f_syn)} synthetic samples"),
        ("_control", f_train, train.groups, train.describe()),
    ):
        try:
            res = c2st(f_held, other, held.groups, groups, n_splits=n_splits, seed=seed, repeats=repeats,
                       feature_groups=HAND_VIEW_GROUPS if extractor == HAND_VIEW else None)
        except (SynthCoreError, ValueError) as err:
            rows.extend(_row(f"{metric}{suffix}", modality, float("nan"), 0, extractor, str(err))
                        for metric in ("c2st_auc", "c2st_auc_sd"))
            continue
        note = f"{held.describe()} vs {what}; {res.note()}, seed {seed}"
        rows.append(_row(f"c2st_auc{suffix}", modality, res.auc, len(other), extractor, note))
        rows.append(_row(f"c2st_auc_sd{suffix}", modality, res.auc_sd, len(other), extractor,
                         f"{note}; split AUCs {', '.join(f'{a:.3f}' for a in res.aucs)}"))
        if not suffix:
            out = res
    return out


def c2st_rows(held: RealSlices, train: RealSlices, syn_images: np.ndarray, syn_structure: np.ndarray,
              modalities: list[str] | tuple[str, ...], *, network: dict[str, ViewFeatures] | None = None,
              seed: int = 0, n_splits: int = 5, repeats: int = REPEATS,
              progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], dict[str, C2STResult]]:
    """The C2ST rows (module docstring) and the hand-made view's synthetic tests by modality
    (``"structure"`` for the maps; for :func:`realness_frame`).

    ``syn_images (N, M, H, W)`` and ``syn_structure (N, H, W)`` are the tested synthetic samples;
    ``network`` holds per modality the features of a network view (no entry: that view is left out).
    Rows are dicts with ``metric, modality, region, value, n, extractor, note``; a test that cannot
    run is a row with ``value = NaN`` and the reason.
    """
    say = progress or (lambda message: None)
    rows: list[dict[str, Any]] = []
    tests: dict[str, C2STResult] = {}
    for c, m in enumerate(modalities):
        say(f"C2ST {m}")
        res = _test_pair(rows, m, HAND_VIEW, held, train, handmade_features(held.images[:, c]),
                         handmade_features(train.images[:, c]), handmade_features(syn_images[:, c]), seed, n_splits,
                         repeats)
        if res is not None:
            tests[m] = res
        v = (network or {}).get(m)
        if v is not None:
            _test_pair(rows, m, v.extractor, held, train, v.held, v.train, v.synthetic, seed, n_splits, repeats)
    say("C2ST structure maps")
    res = _test_pair(rows, STRUCTURE, HAND_VIEW, held, train, handmade_features(held.structure),
                     handmade_features(train.structure), handmade_features(syn_structure), seed, n_splits, repeats)
    if res is not None:
        tests[STRUCTURE] = res
    return rows, tests


def prdc_rows(view: ViewFeatures, modality: str, held: RealSlices, train: RealSlices, *,
              k: int = NEAREST_K) -> list[dict[str, Any]]:
    """``prd_<precision|recall|density|coverage>`` of the synthetic features against the held-out
    real ones, and ``prd_<name>_control`` of the training subjects' features against the same."""
    rows: list[dict[str, Any]] = []
    for suffix, other, what in (("", view.synthetic, f"{len(view.synthetic)} synthetic samples"),
                                ("_control", view.train, train.describe())):
        try:
            vals = prdc(view.held, other, k=k)
        except (SynthCoreError, ValueError) as err:
            rows.extend(_row(f"prd_{key}{suffix}", modality, float("nan"), 0, view.extractor, str(err))
                        for key in PRDC_KEYS)
            continue
        note = f"{held.describe()} vs {what}; k = {k}"
        rows.extend(_row(f"prd_{key}{suffix}", modality, vals[key], len(other), view.extractor, note)
                    for key in PRDC_KEYS)
    return rows


def realness_frame(syn: Any, tested: np.ndarray, tests: dict[str, C2STResult], modalities: list[str] | tuple[str, ...],
                   *, chunk: int = 256) -> pd.DataFrame:
    """Per-sample realness of every sample of set ``syn`` (module docstring): ``sample_id``,
    ``realness_<key>`` for each key of ``tests`` and ``realness`` (their minimum). ``tested``: the
    set rows the tests were run on, in the order of their ``p_real``."""
    from synth_core.synthesis.setstore import sample_id

    n = len(syn)
    tested = np.asarray(tested, np.int64)
    rest = np.setdiff1d(np.arange(n), tested)
    out = pd.DataFrame({"sample_id": [sample_id(i) for i in range(n)]})
    cols = []
    for key, res in tests.items():
        vals = np.full(n, np.nan)
        vals[tested] = res.p_real
        for s in range(0, len(rest), chunk):
            idx = rest[s : s + chunk]
            imgs = np.asarray(syn.structure[idx]) if key == STRUCTURE else \
                np.asarray(syn.images[idx, list(modalities).index(key)], dtype=np.float32)
            vals[idx] = res.model.predict_proba(handmade_features(imgs))[:, 1]
        out[f"realness_{key}"] = vals
        cols.append(f"realness_{key}")
    if cols:
        out.insert(1, "realness", out[cols].min(axis=1))
    return out
