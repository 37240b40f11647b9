"""Scoring a reader study against its key: per rater, overall, between raters, per image.

Each rater's latest answer per item counts (``responses.latest_answers``). Definitions, with
"synthetic" as the positive class:

* accuracy: fraction of answers that match the source;
* sensitivity: of the synthetic items a rater answered, the fraction called synthetic;
  specificity: of the real items, the fraction called real;
* ROC AUC from confidence-weighted scores, ``score = confidence`` for "synthetic" and
  ``-confidence`` for "real" (scikit-learn ``roc_auc_score``); 0.5 = the readers cannot tell
  synthetic from real, 1 = they always can. Undefined (NaN) when a rater saw only one source;
* Cohen's kappa for every pair of raters on the items both answered (``cohen_kappa_score``):
  agreement beyond chance, whether or not they were right;
* per image: answers, the fraction saying synthetic and whether the majority was right
  (``<NA>`` on a tie or with no answers).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from synth_core.readerstudy.responses import latest_answers
from synth_core.readerstudy.study import open_study
from synth_core.workspace import Workspace


@dataclass(frozen=True)
class StudyResults:
    """The scored study. Tables are pandas frames; metrics that cannot be computed are NaN."""

    study: dict[str, Any]  # study.json (without the item list)
    answers: pd.DataFrame  # rater, item, answer, confidence, time, source, correct, score
    raters: pd.DataFrame  # rater, n_answered, accuracy, sensitivity, specificity, auc
    overall: dict[str, Any]  # n_raters, n_answers, accuracy, sensitivity, specificity, auc, mean_kappa
    kappa: pd.DataFrame  # rater_a, rater_b, n_common, kappa
    agreement: pd.DataFrame  # item, source, ref, n_answers, fraction_synthetic, majority_correct

    def kappa_matrix(self) -> pd.DataFrame:
        """Raters x raters table of kappa (diagonal 1 where a rater has answers)."""
        names = list(self.raters["rater"])
        m = pd.DataFrame(np.nan, index=names, columns=names)
        for r in names:
            m.loc[r, r] = 1.0
        for row in self.kappa.itertuples():
            m.loc[row.rater_a, row.rater_b] = m.loc[row.rater_b, row.rater_a] = row.kappa
        return m

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-safe dict (NaN and <NA> become null)."""
        def clean(v: Any) -> Any:
            if v is None or v is pd.NA:
                return None
            if isinstance(v, (np.bool_, bool)):
                return bool(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, (float, np.floating)):
                return None if math.isnan(v) else float(v)
            return v

        def table(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: clean(v) for k, v in r.items()} for r in df.astype(object).to_dict("records")]

        return {"study": self.study, "overall": {k: clean(v) for k, v in self.overall.items()},
                "raters": table(self.raters), "kappa": table(self.kappa), "agreement": table(self.agreement)}


def _auc(truth: pd.Series, score: pd.Series) -> float:
    y = (truth == "synthetic").to_numpy()
    if len(y) == 0 or y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, score.to_numpy()))


def _rates(frame: pd.DataFrame) -> dict[str, float]:
    syn = frame[frame["source"] == "synthetic"]
    real = frame[frame["source"] == "real"]
    nan = float("nan")
    return {
        "accuracy": float(frame["correct"].mean()) if len(frame) else nan,
        "sensitivity": float((syn["answer"] == "synthetic").mean()) if len(syn) else nan,
        "specificity": float((real["answer"] == "real").mean()) if len(real) else nan,
        "auc": _auc(frame["source"], frame["score"]),
    }


def _kappa(a: pd.Series, b: pd.Series) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant identical answers: 0/0, reported as NaN
        k = cohen_kappa_score(a.to_numpy(), b.to_numpy(), labels=["real", "synthetic"])
    return float(k)


def results(ws: Workspace | str | Path, study: str) -> StudyResults:
    """Score ``study`` (see the module docstring for every definition)."""
    opened = open_study(ws, study)
    key = opened.key()
    ans = latest_answers(opened).merge(key[["item", "source"]], on="item", how="left")
    ans["correct"] = ans["answer"] == ans["source"]
    ans["score"] = np.where(ans["answer"] == "synthetic", ans["confidence"], -ans["confidence"]).astype(float)

    names = list(dict.fromkeys(ans["rater"]))
    rater_rows = []
    for r in names:
        sub = ans[ans["rater"] == r]
        rater_rows.append({"rater": r, "n_answered": int(len(sub)), **_rates(sub)})
    rater_cols = ["rater", "n_answered", "accuracy", "sensitivity", "specificity", "auc"]
    raters = pd.DataFrame(rater_rows, columns=rater_cols)

    kappa_rows = []
    for a, b in combinations(names, 2):
        pair = ans[ans["rater"] == a].merge(ans[ans["rater"] == b], on="item", suffixes=("_a", "_b"))
        k = _kappa(pair["answer_a"], pair["answer_b"]) if len(pair) else float("nan")
        kappa_rows.append({"rater_a": a, "rater_b": b, "n_common": int(len(pair)), "kappa": k})
    kappa = pd.DataFrame(kappa_rows, columns=["rater_a", "rater_b", "n_common", "kappa"])

    said_syn = (ans["answer"] == "synthetic").groupby(ans["item"])
    per_item = pd.DataFrame({"n_answers": said_syn.size(), "fraction_synthetic": said_syn.mean()})
    agreement = key[["item", "source", "ref"]].merge(per_item, left_on="item", right_index=True, how="left")
    agreement["n_answers"] = agreement["n_answers"].fillna(0).astype("int64")
    frac = agreement["fraction_synthetic"].astype(float)
    truth_syn = agreement["source"] == "synthetic"
    majority = pd.array([pd.NA] * len(agreement), dtype="boolean")
    decided = (agreement["n_answers"] > 0) & (frac != 0.5)
    majority[decided.to_numpy()] = ((frac > 0.5) == truth_syn)[decided].to_numpy()
    agreement["fraction_synthetic"] = frac
    agreement["majority_correct"] = majority

    kvals = kappa["kappa"].dropna()
    overall = {"n_raters": len(names), "n_answers": int(len(ans)), **_rates(ans),
               "mean_kappa": float(kvals.mean()) if len(kvals) else float("nan")}
    meta = {k: v for k, v in opened.meta.items() if k != "items"}
    return StudyResults(study=meta, answers=ans, raters=raters, overall=overall, kappa=kappa, agreement=agreement)
