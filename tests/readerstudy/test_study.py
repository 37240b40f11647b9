"""create_study / open_study: the blinded folder, its key, and every refusal."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, ExistsError, NotFoundError
from synth_core.readerstudy import available_images, create_study, item_png, list_studies, open_study, sets_for_dataset
from synth_core.readerstudy import study as study_mod
from synth_core.render import DisplayWindow, to_uint8
from synth_core.synthesis.setstore import SyntheticSet
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset

ARGS = dict(dataset="tiny", set_name="fake", n_real=3, n_synthetic=4, modality="t2")


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_create_writes_a_blinded_shuffled_study(study_ws):
    path = create_study(study_ws, "s1", **ARGS, window=DisplayWindow(0.1, 0.8), seed=3)
    assert path == study_ws / "studies" / "s1" and list_studies(study_ws) == ["s1"]
    st = open_study(study_ws, "s1")
    meta = json.loads((path / "study.json").read_text())
    assert meta["counts"] == {"real": 3, "synthetic": 4, "total": 7}
    assert meta["dataset"] == "tiny" and meta["set"] == "fake" and meta["modality"] == "t2"
    assert meta["window"] == {"low": 0.1, "high": 0.8} and meta["seed"] == 3 and meta["split"] == "test"
    assert "created" in meta and st.items == ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]
    # item files carry nothing but their position
    assert sorted(p.name for p in (path / "items").iterdir()) == [f"{i}.png" for i in st.items]
    key = st.key()
    assert sorted(key["source"]) == ["real"] * 3 + ["synthetic"] * 4
    ds, syn = Dataset(study_ws / "datasets" / "tiny"), SyntheticSet(study_ws / "synthetic" / "fake")
    test_rows = set(ds.split_indices("test").tolist())
    win = DisplayWindow(0.1, 0.8)
    for row in key.itertuples():
        img = _png(path / "items" / f"{row.item}.png")
        if row.source == "real":
            assert row.dataset_row in test_rows and row.set_index == -1  # only the held-out test split
            expected = to_uint8(ds.images[row.dataset_row, 1], win)
        else:
            assert row.dataset_row == -1 and 0 <= row.set_index < len(syn)
            expected = to_uint8(syn.images[row.set_index, 1], win)
        assert np.array_equal(img, expected)
    # same seed -> same study; another seed -> another order
    create_study(study_ws, "s1-again", **ARGS, window=DisplayWindow(0.1, 0.8), seed=3)
    create_study(study_ws, "s2", **ARGS, window={"percentile": [1, 99]}, seed=4)
    cols = ["source", "dataset_row", "set_index"]
    assert open_study(study_ws, "s1-again").key()[cols].equals(key[cols])
    assert not open_study(study_ws, "s2").key()[cols].equals(key[cols])
    assert open_study(study_ws, "s2").meta["window"] == {"percentile": [1.0, 99.0]}


def test_item_png_enlarges_with_crisp_pixels(study_ws):
    create_study(study_ws, "s1", **ARGS)
    small = _png(io.BytesIO(item_png(study_ws, "s1", 1)))
    big = _png(io.BytesIO(item_png(study_ws, "s1", "0001", min_size=100)))
    assert small.shape == (32, 32) and big.shape == (128, 128)
    assert np.array_equal(big[::4, ::4], small)


def test_helpers_for_the_setup_form(study_ws):
    assert sets_for_dataset(study_ws, "tiny") == ["fake"] and sets_for_dataset(study_ws, "other") == []
    assert available_images(study_ws, "tiny", "fake") == {"real": 4, "synthetic": 8, "modalities": ["t1", "t2"]}


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"dataset": "nope"}, NotFoundError, "datasets 'nope' not found"),
        ({"set_name": "nope"}, NotFoundError, "synthetic 'nope' not found"),
        ({"n_real": 5}, ConfigError, "has 4 slices in its test split"),
        ({"n_synthetic": 9}, ConfigError, "has 8 samples"),
        ({"n_real": 0}, ConfigError, "at least 1"),
        ({"n_synthetic": 2.5}, ConfigError, "whole number"),
        ({"modality": "flair"}, ConfigError, "unknown modality 'flair'"),
        ({"split": "train"}, ConfigError, "never trained on"),
        ({"window": {"low": 0.9, "high": 0.1}}, ConfigError, "low < high"),
        ({"window": {"level": 0.5}}, ConfigError, "needs keys"),
        ({"window": {"percentile": [99, 1]}}, ConfigError, "0 <= low < high <= 100"),
    ],
)
def test_create_refuses_bad_inputs(study_ws, change, error, words):
    with pytest.raises(error, match=words):
        create_study(study_ws, "bad", **{**ARGS, **change})
    assert list_studies(study_ws) == []
    assert not any((study_ws / "studies").iterdir())  # no temporary folder left either


def test_create_refuses_bad_names_and_overwrite(study_ws):
    with pytest.raises(ConfigError, match="not allowed"):
        create_study(study_ws, "../escape", **ARGS)
    create_study(study_ws, "s1", **ARGS)
    before = (study_ws / "studies" / "s1" / "study.json").read_text()
    with pytest.raises(ExistsError, match="already exists"):
        create_study(study_ws, "s1", **{**ARGS, "seed": 9})
    assert (study_ws / "studies" / "s1" / "study.json").read_text() == before


def test_create_refuses_a_set_of_another_dataset(study_ws):
    make_tiny_dataset(study_ws, name="other", cases=6, seed=1)
    make_fake_set(study_ws, dataset="other", name="fake-other", n=4)
    with pytest.raises(ConfigError, match="made from dataset 'other'"):
        create_study(study_ws, "bad", **{**ARGS, "set_name": "fake-other"})


def test_an_interrupted_create_leaves_nothing(study_ws, monkeypatch):
    calls = []

    def failing(image):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return b"png"

    monkeypatch.setattr(study_mod, "png_bytes", failing)
    with pytest.raises(KeyboardInterrupt):
        create_study(study_ws, "s1", **ARGS)
    assert list((study_ws / "studies").iterdir()) == []


def test_open_study_errors(study_ws):
    with pytest.raises(NotFoundError, match="not found"):
        open_study(study_ws, "missing")
    (study_ws / "studies" / "junk").mkdir()
    with pytest.raises(NotFoundError, match="not a reader study"):
        open_study(study_ws, "junk")
