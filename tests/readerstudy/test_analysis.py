"""results: known answers for accuracy, sensitivity, AUC, Cohen's kappa and per-image agreement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synth_core.readerstudy import create_study, open_study, record_answer, results


@pytest.fixture
def s1(study_ws):
    """4 real + 4 synthetic items (balanced)."""
    create_study(study_ws, "s1", dataset="tiny", set_name="fake", n_real=4, n_synthetic=4, modality="t1", seed=1)
    return study_ws


def _key(ws) -> dict[str, str]:
    return dict(open_study(ws, "s1").key()[["item", "source"]].itertuples(index=False))


def _other(source: str) -> str:
    return "real" if source == "synthetic" else "synthetic"


def test_no_answers_yet(s1):
    res = results(s1, "s1")
    assert res.overall["n_answers"] == 0 and np.isnan(res.overall["accuracy"]) and np.isnan(res.overall["auc"])
    assert res.raters.empty and res.kappa.empty
    assert len(res.agreement) == 8 and (res.agreement["n_answers"] == 0).all()
    assert res.agreement["majority_correct"].isna().all()
    json.dumps(res.to_json())


def test_always_right_identical_and_opposite_raters(s1):
    key = _key(s1)
    for item, source in key.items():
        record_answer(s1, "s1", "right", item, source, 4)
        record_answer(s1, "s1", "twin", item, source, 2)
        record_answer(s1, "s1", "wrong", item, _other(source), 5)
    res = results(s1, "s1")
    r = res.raters.set_index("rater")
    assert r.loc["right", ["accuracy", "sensitivity", "specificity", "auc"]].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert r.loc["wrong", ["accuracy", "sensitivity", "specificity", "auc"]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert (r["n_answered"] == 8).all()
    k = res.kappa.set_index(["rater_a", "rater_b"])["kappa"]
    assert k[("right", "twin")] == pytest.approx(1.0)
    assert k[("right", "wrong")] == pytest.approx(-1.0) and k[("twin", "wrong")] == pytest.approx(-1.0)
    assert res.kappa["n_common"].tolist() == [8, 8, 8]
    m = res.kappa_matrix()
    assert m.loc["twin", "right"] == pytest.approx(1.0) and m.loc["wrong", "wrong"] == 1.0
    # per image: 2 of 3 raters right everywhere -> the majority is right, 2/3 say the truth
    a = res.agreement
    assert a["majority_correct"].tolist() == [True] * 8 and (a["n_answers"] == 3).all()
    syn = a["source"] == "synthetic"
    assert np.allclose(a.loc[syn, "fraction_synthetic"], 2 / 3) and np.allclose(a.loc[~syn, "fraction_synthetic"], 1 / 3)
    assert res.overall["n_raters"] == 3 and res.overall["accuracy"] == pytest.approx(2 / 3)
    assert res.overall["mean_kappa"] == pytest.approx(-1 / 3)


def test_auc_uses_the_confidence(s1):
    """Always answers "synthetic": accuracy 0.5, but sure only on synthetic items -> AUC 1."""
    for item, source in _key(s1).items():
        record_answer(s1, "s1", "r1", item, "synthetic", 5 if source == "synthetic" else 1)
    row = results(s1, "s1").raters.iloc[0]
    assert row["accuracy"] == 0.5 and row["sensitivity"] == 1.0 and row["specificity"] == 0.0
    assert row["auc"] == pytest.approx(1.0)


def test_latest_answer_wins_and_partial_overlap(s1):
    key = _key(s1)
    items = list(key)
    for item in items:
        record_answer(s1, "s1", "a", item, _other(key[item]), 3)  # first all wrong ...
    for item in items:
        record_answer(s1, "s1", "a", item, key[item], 3)  # ... then corrected
    for item in items[:3]:
        record_answer(s1, "s1", "b", item, key[item], 3)
    res = results(s1, "s1")
    r = res.raters.set_index("rater")
    assert r.loc["a", "accuracy"] == 1.0 and r.loc["a", "n_answered"] == 8 and r.loc["b", "n_answered"] == 3
    assert res.kappa.iloc[0]["n_common"] == 3
    assert len(res.answers) == 11
    # a tie (one right, one wrong) has no majority
    record_answer(s1, "s1", "b", items[0], _other(key[items[0]]), 3)
    a = results(s1, "s1").agreement.set_index("item")
    assert pd.isna(a.loc[items[0], "majority_correct"]) and a.loc[items[0], "fraction_synthetic"] == 0.5
    assert bool(a.loc[items[-1], "majority_correct"]) is True and a.loc[items[-1], "n_answers"] == 1


def test_one_source_only_gives_nan_auc(s1):
    key = _key(s1)
    for item in [i for i, s in key.items() if s == "real"]:
        record_answer(s1, "s1", "r1", item, "real", 5)
    row = results(s1, "s1").raters.iloc[0]
    assert row["accuracy"] == 1.0 and np.isnan(row["auc"]) and np.isnan(row["sensitivity"])
    out = results(s1, "s1").to_json()
    assert out["raters"][0]["auc"] is None and out["overall"]["specificity"] == 1.0
