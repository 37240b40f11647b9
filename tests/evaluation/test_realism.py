"""The realism family on its own (C2ST rows in two views, PRDC rows, realness) and the realness side
table: stored beside the set, joined into the catalog, explained, and filterable through export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_core.dataset import Dataset
from synth_core.errors import InputError
from synth_core.evaluation.realism import (
    HELD_OUT_SPLITS,
    ViewFeatures,
    c2st_rows,
    prdc_rows,
    real_slices,
    realness_frame,
)
from synth_core.review import REVIEW_COLUMNS
from synth_core.synthesis.realness import REALNESS_FILE, read_realness, realness_info, write_realness
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def tiny(workspace):
    """Dataset ``tiny`` (5 subjects x 4 slices: 3 train, 1 val, 1 test) and set ``fake`` (12 samples)."""
    make_tiny_dataset(workspace)
    make_fake_set(workspace, n=12)
    ws = Workspace.open(workspace)
    return Dataset(ws.existing("datasets", "tiny")), SyntheticSet(ws.existing("synthetic", "fake"))


def test_real_slices_take_whole_splits_and_their_subjects(tiny):
    ds, _ = tiny
    held = real_slices(ds, HELD_OUT_SPLITS, 100, seed=0, stream=1)
    assert len(held) == 8 and held.subjects == 2 and set(ds.index["split"][held.rows]) == {"val", "test"}
    assert held.images.shape == (8, 2, 32, 32) and held.structure.shape == (8, 32, 32)
    capped = real_slices(ds, ("train",), 5, seed=0, stream=2)
    assert len(capped) == 5 and np.array_equal(capped.rows, real_slices(ds, ("train",), 5, 0, 2).rows)
    assert set(ds.index["split"][capped.rows]) == {"train"}
    assert capped.describe() == f"5 real train slices of {capped.subjects} subjects"


def test_c2st_rows_in_two_views_with_controls_and_prdc_rows(tiny):
    ds, syn = tiny
    held = real_slices(ds, HELD_OUT_SPLITS, 100, 0, 1)
    train = real_slices(ds, ("train",), len(syn), 0, 2)
    rng = np.random.default_rng(0)
    net = {"t1": ViewFeatures("own:seg", rng.random((8, 6)), rng.random((12, 6)), rng.random((12, 6)) + 5.0)}
    said = []
    rows, tests = c2st_rows(held, train, np.asarray(syn.images), np.asarray(syn.structure), ["t1", "t2"],
                            network=net, seed=3, progress=said.append)
    df = pd.DataFrame(rows)
    got = set(zip(df.metric, df.modality, df.extractor))
    for m in ("t1", "t2", "structure"):
        assert {("c2st_auc", m, "handmade"), ("c2st_auc_control", m, "handmade")} <= got
    assert {("c2st_auc", "t1", "own:seg"), ("c2st_auc_control", "t1", "own:seg")} <= got
    assert ("c2st_auc", "t2", "own:seg") not in got and said[-1] == "C2ST structure maps"
    assert df.value.between(0, 1).all() and (df.region == "image").all()
    own = df[(df.metric == "c2st_auc") & (df.extractor == "own:seg")].iloc[0]
    assert own.value == 1.0 and own.n == 12  # features shifted by 5: always told apart
    note = df[(df.metric == "c2st_auc") & (df.modality == "t1")].note.iloc[0]
    assert note.startswith("8 real val+test slices of 2 subjects vs 12 synthetic samples; 2-fold, subject-grouped, "
                           "mean of 5 fold splits (sd ") and note.endswith(", seed 3")
    # each AUC row has its spread over the five fold splits beside it, with the split AUCs in the note
    for metric in ("c2st_auc", "c2st_auc_control"):
        auc = df[(df.metric == metric) & (df.modality == "t2") & (df.extractor == "handmade")].iloc[0]
        sd = df[(df.metric == metric.replace("c2st_auc", "c2st_auc_sd")) & (df.modality == "t2")
                & (df.extractor == "handmade")].iloc[0]
        splits = [float(v) for v in sd.note.split("split AUCs ")[1].split(", ")]
        assert len(splits) == 5 and auc.value == pytest.approx(np.mean(splits), abs=1e-3)
        assert sd.value == pytest.approx(np.std(splits, ddof=1), abs=1e-3) and sd.n == auc.n
    one, _ = c2st_rows(held, train, np.asarray(syn.images), np.asarray(syn.structure), ["t1"], seed=3, repeats=1)
    one = pd.DataFrame(one)
    assert one[one.metric == "c2st_auc_sd"].value.isna().all()  # one split: no spread
    assert one[(one.metric == "c2st_auc") & (one.modality == "t1")].note.iloc[0] == (
        "8 real val+test slices of 2 subjects vs 12 synthetic samples; 2-fold, subject-grouped, seed 3")
    assert set(tests) == {"t1", "t2", "structure"} and all(len(t.p_real) == 12 for t in tests.values())

    p = pd.DataFrame(prdc_rows(net["t1"], "t1", held, train))
    assert sorted(p.metric) == sorted(f"prd_{k}{s}" for k in ("precision", "recall", "density", "coverage")
                                      for s in ("", "_control"))
    syn_side = p[~p.metric.str.endswith("_control")].set_index("metric").value
    assert syn_side["prd_precision"] == 0.0 and syn_side["prd_coverage"] == 0.0  # far apart
    assert p[p.metric.str.endswith("_control")].value.notna().all()
    too_few = pd.DataFrame(prdc_rows(ViewFeatures("x", rng.random((4, 3)), rng.random((12, 3)), rng.random((12, 3))),
                                     "t1", held, train))
    assert too_few.value.isna().all() and too_few.note.str.contains("more than 6 samples").all()


def test_realness_covers_every_sample_and_is_the_lowest_part(tiny):
    ds, syn = tiny
    held = real_slices(ds, HELD_OUT_SPLITS, 100, 0, 1)
    train = real_slices(ds, ("train",), 8, 0, 2)
    tested = np.arange(0, 12, 2)  # a capped evaluation: half the samples were in the test
    _, tests = c2st_rows(held, train, np.asarray(syn.images[tested]), np.asarray(syn.structure[tested]), ["t1", "t2"])
    frame = realness_frame(syn, tested, tests, ["t1", "t2"], chunk=4)
    assert list(frame.columns) == ["sample_id", "realness", "realness_t1", "realness_t2", "realness_structure"]
    assert list(frame.sample_id) == list(syn.catalog.sample_id)
    vals = frame.drop(columns="sample_id").to_numpy()
    assert np.isfinite(vals).all() and ((vals >= 0) & (vals <= 1)).all()
    assert np.array_equal(frame.realness, frame[["realness_t1", "realness_t2", "realness_structure"]].min(axis=1))
    assert np.allclose(frame.realness_t1.to_numpy()[tested], tests["t1"].p_real)


def test_side_table_is_joined_into_the_catalog_and_explained(tiny):
    _, syn = tiny
    stored = syn.stored_catalog.copy()
    ids = syn.catalog.sample_id
    side = pd.DataFrame({"sample_id": ids[::-1].to_numpy(), "realness": np.linspace(0, 1, 12),
                         "realness_t1": np.linspace(0, 1, 12)})
    write_realness(syn.path, side.iloc[:10], {"seed": 7})  # two samples without a value
    fresh = SyntheticSet(syn.path)
    cat = fresh.catalog
    assert list(cat.columns) == [*stored.columns, "realness", "realness_t1", *REVIEW_COLUMNS]  # review: always there
    assert list(cat.sample_id) == list(ids) and cat.realness.isna().sum() == 2
    by_id = dict(zip(side.sample_id, side.realness))
    assert all(cat.realness[i] == pytest.approx(by_id[s]) for i, s in enumerate(cat.sample_id) if s in
               set(side.sample_id[:10]))
    pd.testing.assert_frame_equal(fresh.stored_catalog, stored)
    help_ = fresh.column_help
    assert "0.5" in help_["realness"] and "modality" in help_["realness_"]
    assert realness_info(syn.path)["seed"] == 7
    assert len(fresh.select("realness >= 0.5")) == int((cat.realness >= 0.5).sum()) > 0
    with pytest.raises(ValueError, match="only realness columns"):
        write_realness(syn.path, side.assign(nn_dist=0.0), {})


def test_a_broken_or_foreign_side_table_is_a_one_line_error(tiny):
    _, syn = tiny
    (syn.path / REALNESS_FILE).write_bytes(b"not parquet")
    with pytest.raises(InputError, match="unreadable realness table"):
        SyntheticSet(syn.path).catalog
    write_realness(syn.path, pd.DataFrame({"sample_id": ["syn-999999"], "realness": [0.3]}), {})
    with pytest.raises(InputError, match="names samples this set does not hold"):
        SyntheticSet(syn.path).catalog
    assert read_realness(syn.path).sample_id.tolist() == ["syn-999999"]


def test_export_filters_on_realness(tiny, cli, workspace):
    _, syn = tiny
    cat = syn.catalog
    values = np.linspace(0.0, 0.55, len(cat))
    write_realness(syn.path, pd.DataFrame({"sample_id": cat.sample_id, "realness": values}), {})
    res = cli("export", "--dataset", "tiny", "--set", "fake", "--out", "real-enough", "--filter", "realness >= 0.2")
    assert res.rc == 0, res.err
    m = pd.read_parquet(workspace / "exports" / "real-enough" / "manifest.parquet")
    syn_rows = m[(m.source == "synthetic") & (m.kind == "image")].drop_duplicates("sample_id")
    assert len(syn_rows) == int((values >= 0.2).sum()) and (syn_rows.realness >= 0.2).all()
    out = m[(m.source == "synthetic") & (m.path == "")]
    assert set(out.decision) == {"filtered out"} and (out.realness < 0.2).all()
