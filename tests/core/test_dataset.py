"""Dataset writing/reading, splits, fingerprints, atomic folders and workspace names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synth_core.atomic import atomic_dir, atomic_write_json
from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter, assign_splits
from synth_core.errors import ConfigError, ExistsError, InputError, NotFoundError
from synth_core.npyfile import NpyAppender
from synth_core.workspace import Workspace, validate_name


def make_spec(**kw) -> DatasetSpec:
    base = dict(name="t", layout="png", kind="mri", modalities=("a", "b"),
                label_names={0: "background", 1: "lesion", 2: "core"}, size=16)
    base.update(kw)
    return DatasetSpec(**base)


def write_cases(path: Path, spec: DatasetSpec, n_cases: int = 5, seed: int = 0, stripped: bool = False) -> None:
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, spec) as w:
        for c in range(n_cases):
            img = rng.random((3, 2, 16, 16)).astype(np.float32)
            lab = np.zeros((3, 16, 16), np.uint8)
            lab[0, 2:5, 2:5] = 1
            lab[0, 10:12, 10:12] = 2
            mask = np.zeros((3, 16, 16), np.uint8)
            mask[:, 4:14, 4:14] = 1
            if stripped:  # skull-stripped: nothing outside the organ
                img = img * mask[:, None]
            w.add_case(f"case{c}", img, mask, lab, [10, 11, 12], (0.5, 0.5, 2.0), f"case{c}/img.nii.gz")


def test_npy_appender_round_trip(tmp_path):
    a = NpyAppender(tmp_path / "x.npy", np.float32, (2, 3))
    a.append(np.ones((4, 2, 3)))
    a.append(np.zeros((1, 2, 3)))
    a.close()
    arr = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert arr.shape == (5, 2, 3) and arr.dtype == np.float32 and arr[:4].sum() == 24
    with pytest.raises(ValueError):
        NpyAppender(tmp_path / "y.npy", np.uint8, (2,)).append(np.zeros((1, 3)))


def test_write_and_read_dataset(tmp_path):
    spec = make_spec()
    write_cases(tmp_path / "t", spec)
    ds = Dataset(tmp_path / "t")
    assert len(ds) == 15 and ds.images.shape == (15, 2, 16, 16)
    s = ds.sample(0)
    assert s.image.shape == (2, 16, 16) and s.meta.case_id == "case0" and s.meta.slice_index == 10
    assert s.meta.spacing == (0.5, 0.5, 2.0)
    # lesions are always inside the stored organ mask
    assert np.all(ds.masks[np.asarray(ds.labels) > 0] == 1)
    summ = ds.summary()
    assert summ["cases"] == 5 and summ["lesions"] == 10 and summ["slices_with_lesion"] == 5
    assert summ["label_classes"]["lesion"]["pixels"] == 45
    assert summ["label_classes"]["core"]["pixels"] == 20
    # split is by case: a case never appears in two splits
    per_case = ds.index.groupby("case_id")["split"].nunique()
    assert per_case.max() == 1
    assert set(ds.index["split"]) == {"train", "val", "test"}


def test_zero_outside_masks_tells_stripped_images_from_others(tmp_path):
    spec = make_spec()
    write_cases(tmp_path / "plain", spec)
    write_cases(tmp_path / "stripped", spec, stripped=True)
    assert not Dataset(tmp_path / "plain").zero_outside_masks()
    stripped = Dataset(tmp_path / "stripped")
    assert stripped.zero_outside_masks() and stripped.zero_outside_masks(n=1)
    # one bright pixel outside the mask of a sampled slice is enough to say no
    imgs = np.load(tmp_path / "stripped" / "images.npy", mmap_mode="r+")
    imgs[0, 1, 0, 0] = 0.5
    imgs.flush()
    del imgs
    assert not Dataset(tmp_path / "stripped").zero_outside_masks()


def test_fingerprint_is_the_identity_and_the_byte_hash_the_content(tmp_path):
    write_cases(tmp_path / "a", make_spec(), seed=0)
    write_cases(tmp_path / "b", make_spec(), seed=0)
    write_cases(tmp_path / "c", make_spec(), seed=1)  # other pixels under the same cases
    write_cases(tmp_path / "d", make_spec(seed=5), seed=0)  # another split
    write_cases(tmp_path / "e", make_spec(), n_cases=4, seed=0)  # other cases
    ds = {k: Dataset(tmp_path / k) for k in "abcde"}
    fp = {k: d.fingerprint for k, d in ds.items()}
    sha = {k: d.content_sha256 for k, d in ds.items()}
    assert fp["a"] == fp["b"] and sha["a"] == sha["b"]
    assert fp["a"] == fp["c"] and sha["a"] != sha["c"]
    assert fp["a"] != fp["d"] and fp["a"] != fp["e"]
    assert ds["a"].info["format_version"] == 2
    summary = ds["a"].info["content_summary"]
    assert summary["columns"] == ["slices", "mean_a", "mean_b", "organ", "lesion", "contour"]
    assert summary["cases"] == [f"case{c}" for c in range(5)] and len(summary["values"]) == 5
    assert ds["a"].content_record() == {"sha256": sha["a"], "summary": summary}


def test_writer_rejects_bad_cases_and_leaves_nothing(tmp_path):
    spec = make_spec()
    with pytest.raises(InputError, match="label values"):
        with DatasetWriter(tmp_path / "t", spec) as w:
            w.add_case("c", np.zeros((1, 2, 16, 16)), np.ones((1, 16, 16)), np.full((1, 16, 16), 7), [0], (1, 1, 1), "c.png")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        with DatasetWriter(tmp_path / "t", spec) as w:
            w.add_case("c", np.full((1, 2, 16, 16), 2.0), np.ones((1, 16, 16)), np.zeros((1, 16, 16)), [0], (1, 1, 1), "c.png")
    with pytest.raises(InputError, match="no slices"):
        with DatasetWriter(tmp_path / "t", spec):
            pass
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "t", spec) as w:
            w.add_case("c", np.zeros((1, 2, 16, 16)), np.ones((1, 16, 16)), np.zeros((1, 16, 16)), [0], (1, 1, 1), "c.png")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_spec_validation_names_the_value():
    with pytest.raises(ValueError, match="kind"):
        make_spec(kind="pet")
    with pytest.raises(ValueError, match="background"):
        make_spec(label_names={1: "x"})
    with pytest.raises(ValueError, match="split_fractions"):
        make_spec(split_fractions=(0.5, 0.5, 0.5))
    spec = make_spec()
    assert DatasetSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
def test_assign_splits_covers_every_case_once(n):
    cases = [f"c{i}" for i in range(n)]
    s = assign_splits(cases, (0.7, 0.15, 0.15), seed=3)
    assert sorted(s) == sorted(cases)
    if n >= 3:
        assert set(s.values()) == {"train", "val", "test"}
    assert s == assign_splits(list(reversed(cases)), (0.7, 0.15, 0.15), seed=3)


def test_atomic_dir_and_write(tmp_path):
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "f").write_text("x")
    assert (tmp_path / "out" / "f").read_text() == "x"
    with pytest.raises(ExistsError):
        with atomic_dir(tmp_path / "out"):
            pass
    with pytest.raises(KeyError):
        with atomic_dir(tmp_path / "other") as tmp:
            (tmp / "f").write_text("x")
            raise KeyError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    atomic_write_json(tmp_path / "j.json", {"a": 1})
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": 1}


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a\\b", "../x", ".hidden", "a" * 101, "x y"])
def test_validate_name_rejects(bad):
    with pytest.raises(ConfigError):
        validate_name(bad)


def test_workspace_resolution_and_listing(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(tmp_path / "env"))
    ws = Workspace.open()
    assert ws.root == (tmp_path / "env").resolve()
    assert all((ws.root / k).is_dir() for k in ("datasets", "runs", "synthetic", "exports", "lesions"))
    assert Workspace.open(tmp_path / "arg").root == (tmp_path / "arg").resolve()
    (ws.datasets / "b").mkdir()
    (ws.datasets / "a").mkdir()
    (ws.datasets / ".tmp-c-123").mkdir()
    assert ws.list("datasets") == ["a", "b"]
    with pytest.raises(NotFoundError, match="available: a, b"):
        ws.existing("datasets", "zzz")
