"""The gallery view: filter, review status, sort (undefined last), pages and stepping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_core.errors import ConfigError
from synth_core.review.view import ViewSpec, default_sort, page_of, select_view, sort_columns, step


def _cat() -> pd.DataFrame:
    return pd.DataFrame({"sample_id": [f"syn-{i:06d}" for i in range(6)], "index": range(6), "seed": 0,
                         "dice_t1": [0.5, np.nan, 0.1, 0.9, 0.1, 0.3], "nn_dist": [0.3, 0.2, 0.1, 0.4, 0.5, 0.6],
                         "has_lesion": [True] * 6, "review": ["", "kept", "rejected", "", "kept", ""],
                         "review_reason": ["", "", "copy", "", "", ""], "review_tags": ""})


def test_sort_filter_and_status():
    cat = _cat()
    assert sort_columns(cat) == ["dice_t1", "nn_dist", "sample_id", "review"]
    assert default_sort(cat) == "dice_t1" and default_sort(cat.assign(realness=0.5)) == "realness"
    ids = lambda v: v.sample_id.str[-1].astype(int).tolist()  # noqa: E731
    assert ids(select_view(cat, ViewSpec("dice_t1"))) == [2, 4, 5, 0, 3, 1]  # ties by sample order, NaN last
    assert ids(select_view(cat, ViewSpec("dice_t1", ascending=False))) == [3, 0, 5, 2, 4, 1]
    assert ids(select_view(cat, ViewSpec("nn_dist", show="not reviewed"))) == [0, 3, 5]
    assert ids(select_view(cat, ViewSpec("nn_dist", show="kept"))) == [1, 4]
    assert ids(select_view(cat, ViewSpec("nn_dist", filter="nn_dist >= 0.3 and review != 'kept'"))) == [0, 3, 5]
    with pytest.raises(ConfigError, match="unknown column 'nope'"):
        select_view(cat, ViewSpec("nn_dist", filter="nope > 1"))


def test_pages_and_steps():
    order = [f"s{i}" for i in range(7)]
    assert [page_of(order, s, 3) for s in order] == [0, 0, 0, 1, 1, 1, 2]
    assert page_of(order, "gone", 3) == 0
    assert step(order, "s2", 1) == "s3" and step(order, "s6", 1) == "s6" and step(order, "s0", -1) == "s0"
    assert step(order, "gone", 1) == "s0" and step([], "s1", 1) is None
