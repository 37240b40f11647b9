"""The lesion bank: extraction known answers, dataset streaming, statistics, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.errors import ConfigError, ExistsError, InputError, NotFoundError
from synth_core.lesions import LesionBank, extract_lesions
from synth_core.lesions import bank as bank_mod

from .conftest import LABEL_NAMES, case_labels


def test_two_lesions_known_answer():
    entries = extract_lesions(case_labels(0)[0], case_id="c", slice_index=7, split="train", row=3)
    assert [e.id for e in entries] == ["c:7:1", "c:7:2"]
    big, small = entries
    assert big.bbox == (4, 5, 10, 12) and big.area == 42
    assert big.classes == {1: 6, 2: 35, 3: 1}  # multi-class kept inside one lesion
    assert small.bbox == (20, 20, 23, 22) and small.area == 6 and small.classes == {1: 6}
    assert big.patch.dtype == np.uint8 and big.patch.shape == (6, 7) and not big.patch.flags.writeable
    assert big.case_id == "c" and big.slice_index == 7 and big.split == "train" and big.row == 3
    assert small.centroid == pytest.approx((21 / 32, 20.5 / 32))
    assert big.image_shape == (32, 32) and big.center == (6.5, 8.0)


def test_eight_connectivity_and_other_lesions_cut_out():
    lab = np.zeros((8, 8), np.uint8)
    lab[0, 5] = lab[1, 6] = lab[2, 7] = 3  # a diagonal: one lesion under 8-connectivity
    lab[3:8, 3] = 1
    lab[7, 3:8] = 2  # an L: one lesion with two classes, bounding box rows 3-7, cols 3-7
    lab[4, 6] = 1  # a separate lesion inside the L's bounding box
    diag, ell, dot = extract_lesions(lab, case_id="x", slice_index=0)
    assert np.array_equal(diag.patch, 3 * np.eye(3, dtype=np.uint8))
    assert ell.bbox == (3, 3, 8, 8) and ell.area == 9 and ell.classes == {1: 4, 2: 5}
    assert ell.patch[1, 3] == 0  # the other lesion's pixel is cut out of the L's patch
    assert dot.area == 1 and dot.bbox == (4, 6, 5, 7)


def test_min_area_and_bad_input():
    lab = case_labels(0)[0]
    assert [e.area for e in extract_lesions(lab, case_id="c", slice_index=0, min_area=10)] == [42]
    with pytest.raises(ValueError, match="integer"):
        extract_lesions(lab.astype(float), case_id="c", slice_index=0)


def test_from_dataset_train_split_only(tiny_dataset):
    ds = tiny_dataset
    bank = LesionBank.from_dataset(ds)
    train_cases = set(ds.index.loc[ds.index["split"] == "train", "case_id"])
    assert train_cases and train_cases != set(ds.index["case_id"])
    assert {e.case_id for e in bank} == train_cases
    assert len(bank) == 3 * len(train_cases)  # two lesions on slice 40, one on 41
    assert all(e.split == "train" for e in bank)
    e = bank["case0:40:1"] if "case0" in train_cases else bank[0]
    row = ds.index.iloc[e.row]
    assert row.case_id == e.case_id and row.slice_index == e.slice_index
    r0, c0, r1, c1 = e.bbox
    src = np.asarray(ds.labels[e.row])[r0:r1, c0:c1]
    assert np.array_equal(e.patch[e.patch > 0], src[e.patch > 0])
    assert bank.label_names == LABEL_NAMES and bank.source["fingerprint"] == ds.fingerprint


def test_from_dataset_all_splits_and_chunking(tiny_dataset, monkeypatch):
    full = LesionBank.from_dataset(tiny_dataset, splits=("train", "val", "test"))
    assert len(full) == 12 and {e.split for e in full} == {"train", "val", "test"}
    monkeypatch.setattr(bank_mod, "_CHUNK_BYTES", 1)  # one slice per read
    chunked = LesionBank.from_dataset(tiny_dataset, splits=("train", "val", "test"))
    assert chunked.ids == full.ids
    assert all(np.array_equal(a.patch, b.patch) for a, b in zip(full, chunked))
    with pytest.raises(ConfigError, match="splits"):
        LesionBank.from_dataset(tiny_dataset, splits=("training",))


def test_frame_filter_and_lookup(tiny_dataset):
    bank = LesionBank.from_dataset(tiny_dataset, splits=("train", "val", "test"))
    df = bank.to_frame()
    assert len(df) == len(bank) and list(df["id"]) == bank.ids
    assert {"area", "bbox_r0", "centroid_r", "px_1", "px_2", "px_3", "dominant_name"} <= set(df.columns)
    assert (df["px_1"] + df["px_2"] + df["px_3"] == df["area"]).all()
    assert set(df["dominant_name"]) == {"edema", "core"}
    only3 = bank.filter(classes=[3])
    assert len(only3) == 4 and all(3 in e.classes for e in only3)
    assert all(e.area <= 10 for e in bank.filter(max_area=10))
    assert len(bank.filter(min_area=40)) == 4
    assert len(bank.filter(splits=["val"])) == 3
    with pytest.raises(NotFoundError):
        bank["nope:0:1"]


def test_save_load_round_trip(tiny_dataset, tmp_path):
    bank = LesionBank.from_dataset(tiny_dataset, splits=("train", "val", "test"))
    bank.save(tmp_path / "bank")
    back = LesionBank.load(tmp_path / "bank")
    assert back.ids == bank.ids and back.label_names == bank.label_names
    for a, b in zip(bank, back):
        assert np.array_equal(a.patch, b.patch) and a.patch.dtype == b.patch.dtype
        assert (a.bbox, a.classes, a.area, a.centroid, a.image_shape, a.split, a.row) == \
               (b.bbox, b.classes, b.area, b.centroid, b.image_shape, b.split, b.row)
    assert back.to_frame().equals(bank.to_frame())
    assert back.source["fingerprint"] == tiny_dataset.fingerprint
    with np.load(tmp_path / "bank" / "patches.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"data", "shapes"}
    with pytest.raises(ExistsError):
        bank.save(tmp_path / "bank")
    bank.filter(classes=[3]).save(tmp_path / "bank", overwrite=True)
    assert len(LesionBank.load(tmp_path / "bank")) == 4


def test_empty_bank_round_trip_and_corrupt(tmp_path):
    LesionBank([], {0: "background"}).save(tmp_path / "empty")
    assert len(LesionBank.load(tmp_path / "empty")) == 0
    bank = LesionBank.from_arrays(case_labels(1)[:2])
    bank.save(tmp_path / "b")
    np.savez(tmp_path / "b" / "patches.npz", data=np.zeros(3, np.uint8), shapes=np.zeros((0, 2), np.int64))
    with pytest.raises(InputError, match="disagree"):
        LesionBank.load(tmp_path / "b")
    with pytest.raises(NotFoundError):
        LesionBank.load(tmp_path / "missing")
