"""A subset dataset holds exactly the training rows given plus the validation split, never the
test split; its arrays, splits and subjects are the parent's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth_core.dataset import Dataset
from synth_core.dataset_subset import rows_sha256, subset_matches, write_subset
from synth_core.errors import ConfigError
from synth_core.workspace import Workspace
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def parent(workspace: Path) -> Dataset:
    return Dataset(make_tiny_dataset(workspace, cases=6, slices=3))


def _key(ds: Dataset, rows) -> list[tuple[str, int]]:
    idx = ds.index
    return sorted(zip(idx["case_id"].to_numpy()[rows].tolist(), idx["slice_index"].to_numpy()[rows].tolist()))


def test_subset_holds_the_rows_given_and_the_val_split_only(workspace, parent):
    train = parent.split_indices("train")
    rows = np.sort(np.concatenate([train[train < 3], train[-1:]]))  # one whole case and one slice of another
    sub = write_subset(parent, rows, Workspace.open(workspace).path("datasets", "part"), "part", purpose="test")
    assert sub.name == "part" and len(sub) == len(rows) + len(parent.split_indices("val"))
    assert len(sub.split_indices("test")) == 0
    assert _key(sub, sub.split_indices("train")) == _key(parent, rows)
    assert _key(sub, sub.split_indices("val")) == _key(parent, parent.split_indices("val"))
    # arrays are copied as they are, in the same (case, slice) order
    for arr in ("images", "masks", "labels", "structure"):
        src = {k: getattr(parent, arr)[r] for k, r in zip(_key(parent, range(len(parent))), range(len(parent)))}
        for r in range(len(sub)):
            k = (str(sub.index["case_id"].iloc[r]), int(sub.index["slice_index"].iloc[r]))
            assert np.array_equal(getattr(sub, arr)[r], src[k])
    d = sub.info["derived_from"]
    assert d["dataset"] == parent.name and d["fingerprint"] == parent.fingerprint and d["n_train_rows"] == len(rows)
    assert d["rows_sha256"] == rows_sha256(rows[::-1]) and d["kept_splits"] == ["val"]
    assert subset_matches(sub, parent, rows) and not subset_matches(sub, parent, rows[:-1])


def test_subset_refuses_rows_outside_the_train_split(workspace, parent):
    ws = Workspace.open(workspace)
    test_row = parent.split_indices("test")[:1]
    with pytest.raises(ConfigError, match="1 of the rows given are not in the train split"):
        write_subset(parent, test_row, ws.path("datasets", "bad"), "bad")
    with pytest.raises(ConfigError, match="at least one training slice"):
        write_subset(parent, np.zeros(0, np.int64), ws.path("datasets", "bad"), "bad")
    with pytest.raises(ConfigError, match="keep lists the val and/or test split"):
        write_subset(parent, parent.split_indices("train")[:1], ws.path("datasets", "bad"), "bad", keep=("train",))
    assert not ws.path("datasets", "bad").exists()
