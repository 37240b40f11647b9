"""Counts of a review and whether the automatic figures would have caught the rejections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_core.review.analysis import review_counts, rejection_signals


def _catalog() -> pd.DataFrame:
    review = ["kept"] * 10 + ["rejected"] * 4 + [""] * 6
    reason = [""] * 10 + ["artefact", "artefact", "copy", "anatomy"] + [""] * 6
    realness = np.r_[np.linspace(0.3, 0.6, 10), [0.01, 0.02, 0.05, 0.1], np.full(6, 0.4)]
    nn = np.r_[np.linspace(0.1, 0.2, 10), [0.19, 0.11, 0.15, 0.12], np.full(6, 0.15)]
    return pd.DataFrame({"sample_id": [f"syn-{i:06d}" for i in range(20)], "realness": realness, "nn_dist": nn,
                         "seed": 0, "has_lesion": True, "review": review, "review_reason": reason, "review_tags": ""})


def test_review_counts_known_answer():
    c = review_counts(_catalog())
    assert (c.total, c.reviewed, c.kept, c.rejected, c.unreviewed) == (20, 14, 10, 4, 6)
    assert c.reasons == {"artefact": 2, "copy": 1, "anatomy": 1}
    assert list(c.reasons) == ["artefact", "copy", "anatomy"]


def test_rejection_signals_known_answer():
    sig = rejection_signals(_catalog())
    assert sig["figure"].tolist() == ["realness", "nn_dist"]  # only figures; strongest first; seed is no figure
    top = sig.iloc[0]
    assert top.auc == 1.0 and top.rejected_are == "lower" and (top.n_kept, top.n_rejected) == (10, 4)
    assert top["filter"] == f"realness >= {np.quantile(np.linspace(0.3, 0.6, 10), 0.1):.4g}" and top.caught == 1.0
    nn = sig.iloc[1]
    # rejected 0.19, 0.11, 0.15, 0.12 among kept 0.10 .. 0.20: P(rejected < kept) by Mann-Whitney
    kept = np.linspace(0.1, 0.2, 10)
    p = np.mean([[(r < k) + 0.5 * (r == k) for k in kept] for r in (0.19, 0.11, 0.15, 0.12)])
    assert nn.auc == pytest.approx(max(p, 1 - p))


def test_no_signal_without_both_sides():
    cat = _catalog()
    cat["review"] = cat["review"].replace("rejected", "")
    assert rejection_signals(cat).empty
