"""Preview candidates and saved augmented label sets."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, ExistsError
from synth_core.lesions import AugmentRanges, LesionBank
from synth_core.lesions.labelset import LabelSet, make_label_set, preview_candidates, target_rows
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def ds(tmp_path):
    return Dataset(make_tiny_dataset(tmp_path / "ws", cases=4))


def test_preview_verdicts_and_drawn_lesions(ds):
    bank = LesionBank.from_dataset(ds, min_area=5)
    rows = target_rows(ds, "train")
    cands = preview_candidates(bank, ds, rows, 20, AugmentRanges(), seed=1)
    assert len(cands) == 20
    for c in cands:
        assert c.drawn.shape == ds.masks.shape[1:]
        if c.accepted:
            assert c.reason is None and np.all(np.asarray(ds.masks[c.row])[c.drawn > 0] == 1)
        else:
            assert c.reason in ("outside_organ", "out_of_frame", "too_small", "overlap")
    again = preview_candidates(bank, ds, rows, 20, AugmentRanges(), seed=1)
    assert [c.params for c in again] == [c.params for c in cands]


def test_label_set_round_trip_and_replay(ds, tmp_path):
    bank = LesionBank.from_dataset(ds, min_area=5)
    path = make_label_set(tmp_path / "lesions", "s", ds, bank, n=10, ranges=AugmentRanges(), seed=3)
    ls = LabelSet.load(path)
    assert ls.labels.shape == (10, 32, 32) and ls.meta["accepted"] == 10
    assert ls.meta["fingerprint"] == ds.fingerprint
    assert set(ls.placements["target_row"]) <= set(ds.split_indices("train").tolist())
    for i in range(10):
        assert np.array_equal(ls.replay(i), ls.labels[i])
        assert np.all(np.asarray(ds.masks[int(ls.placements["target_row"].iloc[i])])[ls.labels[i] > 0] == 1)
    with pytest.raises(ExistsError):
        make_label_set(tmp_path / "lesions", "s", ds, bank, n=10, ranges=AugmentRanges(), seed=3)


def test_label_set_refuses_when_nothing_fits(ds, tmp_path):
    bank = LesionBank.from_dataset(ds, min_area=5)
    with pytest.raises(ConfigError, match="no candidate was accepted"):
        make_label_set(tmp_path / "lesions", "s", ds, bank, n=5, ranges=AugmentRanges(scale=(4.0, 5.0)), seed=0)
    assert not (tmp_path / "lesions" / "s").exists()
