"""nnU-Net folds (splits_final.json): the grouping invariant for any cases and subjects (hypothesis),
and an export of a set painted on real slices (pix2pix), whose samples are their source subject's
pictures: never in the training side of the fold that validates that subject."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from synth_core.dataset import Dataset
from synth_core.errors import InputError
from synth_core.export import export
from synth_core.export.check import check_export
from synth_core.export.folds import N_FOLDS, subject_folds
from synth_core.export.naming import is_synthetic_case, real_case_name
from synth_core.pseudonym import workspace_secret
from synth_core.workspace import Workspace
from tests.export.test_privacy_and_folds import _grouped_dataset
from tests.synthesis.fixtures import make_painted_set

_case_subjects = hs.lists(hs.integers(0, 11), min_size=0, max_size=40)  # subject of each real case
_synthetic = hs.lists(hs.one_of(hs.none(), hs.integers(0, 13)), max_size=15)  # source subject or None


@settings(max_examples=300, deadline=None)
@given(subjects=_case_subjects, synthetic=_synthetic, seed=hs.integers(0, 2**32 - 1), n_folds=hs.integers(2, 7))
def test_folds_never_put_one_subject_on_both_sides(subjects, synthetic, seed, n_folds):
    real = [f"real_{i:03d}" for i in range(len(subjects))]
    subj = [f"s{s}" for s in subjects]
    syn = [f"syn_{j:03d}" for j in range(len(synthetic))]
    syn_subj = [None if s is None else f"s{s}" for s in synthetic]
    folds = subject_folds(real, subj, syn, seed=seed, n_folds=n_folds, synthetic_subjects=syn_subj)
    n_subjects = len(set(subj))
    if n_subjects < 2:
        assert folds == []
        return
    assert len(folds) == min(n_folds, n_subjects)
    subject_of = dict(zip(real, subj)) | dict(zip(syn, syn_subj))
    validated: list[str] = []
    for f in folds:
        train, val = f["train"], f["val"]
        assert set(f) == {"train", "val"} and val and len(set(train)) == len(train)
        assert not set(train) & set(val)
        assert sorted(c for c in train + val if c in set(real)) == real  # every real case on one side
        assert not set(val) & set(syn)  # synthetic cases are never validated on
        val_subjects = {subject_of[c] for c in val}
        assert not val_subjects & {subject_of[c] for c in train}  # no subject (or its picture) on both sides
        for c, s in zip(syn, syn_subj):  # a synthetic case is left out only where its subject is validated
            assert (c in train) == (s not in val_subjects)
        validated += val
    assert sorted(validated) == real  # each real case validated exactly once
    sizes = [len(f["val"]) for f in folds]
    largest = max(subj.count(s) for s in set(subj))
    assert max(sizes) - min(sizes) <= largest  # dealt to the emptiest fold: balanced up to one subject


def test_folds_refuse_mismatched_inputs():
    with pytest.raises(ValueError, match="one subject per real case"):
        subject_folds(["a", "b"], ["s"], [], seed=0)
    with pytest.raises(ValueError, match="per synthetic case"):
        subject_folds(["a", "b"], ["s", "t"], ["x"], seed=0, synthetic_subjects=[])
    with pytest.raises(ValueError, match="at least 2"):
        subject_folds(["a", "b"], ["s", "t"], [], seed=0, n_folds=1)


def test_a_painted_sample_never_trains_the_fold_that_validates_its_source_subject(workspace):
    ds = _grouped_dataset(workspace)
    ws = Workspace.open(workspace)
    idx = ds.index
    rows = [int(i) for i in np.flatnonzero(idx["split"].isin(["train", "val"]).to_numpy())]
    make_painted_set(workspace, rows, dataset="grp")
    r = export(ws, "grp", "painted", "e", fmt="nnunet")
    folds = json.loads((r.path / "splits_final.json").read_text())
    assert len(folds) == N_FOLDS
    man = pd.read_csv(r.path / "manifest.csv")
    syn_rows = man[(man["source"] == "synthetic") & (man["kind"] == "label")]
    source_of = {c: json.loads(p)["source_row"] for c, p in zip(syn_rows["case"], syn_rows["provenance"])}
    secret = workspace_secret(ws.root)
    subjects = ds.subjects().to_numpy()
    subject_of = {real_case_name(secret, ds.fingerprint, c, k): s
                  for c, k, s in zip(idx["case_id"], idx["slice_index"], subjects)}
    subject_of |= {c: subjects[row] for c, row in source_of.items()}
    assert len(source_of) == len(rows)
    for f in folds:
        val_subjects = {subject_of[c] for c in f["val"]}
        assert not any(is_synthetic_case(c) for c in f["val"])
        assert not val_subjects & {subject_of[c] for c in f["train"]}
        # every painted sample whose subject is trained on in this fold is there
        assert {c for c in f["train"] if is_synthetic_case(c)} == \
            {c for c in source_of if subject_of[c] not in val_subjects}
    assert check_export(r.path) == []


def test_a_sample_painted_into_a_test_slice_is_refused_and_nothing_is_written(workspace):
    ds = _grouped_dataset(workspace)
    ws = Workspace.open(workspace)
    test_row = int(np.flatnonzero((ds.index["split"] == "test").to_numpy())[0])
    make_painted_set(workspace, [test_row], dataset="grp", name="leaky")
    with pytest.raises(InputError, match=f"dataset row {test_row}, which is not a train or val slice"):
        export(ws, "grp", "leaky", "e", fmt="nnunet")
    assert not (ws.exports / "e").exists() and not [p for p in ws.exports.iterdir() if not p.name.endswith(".lock")]


def test_check_export_catches_a_damaged_or_missing_folds_file(workspace):
    _grouped_dataset(workspace)
    ws = Workspace.open(workspace)
    rows = [int(i) for i in np.flatnonzero(Dataset(ws.existing("datasets", "grp")).index["split"].isin(["train"]))]
    make_painted_set(workspace, rows[:3], dataset="grp")
    r = export(ws, "grp", "painted", "e", fmt="nnunet")
    path = r.path / "splits_final.json"
    good = json.loads(path.read_text())
    assert check_export(r.path) == []
    syn = next(c for c in good[0]["train"] if is_synthetic_case(c))
    real = good[0]["val"][0]

    def damaged(folds) -> list[str]:
        path.write_text(json.dumps(folds))
        return [p for p in check_export(r.path) if p.startswith("splits_final.json")]

    bad = json.loads(json.dumps(good))
    bad[0]["val"].append(syn)
    bad[0]["train"].remove(syn)
    assert damaged(bad) == [f"splits_final.json: fold 0 validates on 1 synthetic case(s) (first {syn})"]
    bad = json.loads(json.dumps(good))
    bad[1]["train"].remove(real)
    bad[1]["val"].append(real)  # now validated in folds 0 and 1
    assert damaged(bad) == ["splits_final.json: 1 real training case(s) are not validated exactly once "
                            f"(first {real}: 2 times)"]
    bad = json.loads(json.dumps(good))
    held = good[2]["val"][0]
    bad[2]["train"].append(held)
    assert damaged(bad) == [f"splits_final.json: fold 2 has 1 case(s) in both train and val (first {held})"]
    bad = json.loads(json.dumps(good))
    bad[3]["train"].append("real_0000000000_000")
    assert damaged(bad) == ["splits_final.json: fold 3 names 1 case(s) that are not training cases of this export "
                            "(first real_0000000000_000)"]
    assert damaged({"train": []}) == ['splits_final.json: not a non-empty list of {"train": [cases], "val": [cases]}']
    path.unlink()
    assert check_export(r.path) == ["splits_final.json: missing (dataset.json says the export has one)"]
