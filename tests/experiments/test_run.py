"""Training runs: test data is only the real test split, sequential modes switch sources, resume
skips finished configurations, and one tiny end-to-end run through the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.experiments.conftest import SMALL_ARGS, small
from synth_core.experiments.results import load_experiment
from training.experiments import usability
from training.experiments.command import main
from training.experiments.usability import augment_batch, run_usability


@pytest.fixture
def spy(monkeypatch):
    """Record every training batch's (source, index) and every array the scorer is given."""
    seen = {"batches": [], "scored": []}
    load, score = usability.load_batch, usability.score_segmenter

    def load_spy(ds, syn, source, index, device):
        seen["batches"].append((source.copy(), index.copy()))
        return load(ds, syn, source, index, device)

    def score_spy(net, images, labels, n_classes, **kw):
        seen["scored"].append((np.array(images), np.array(labels)))
        return score(net, images, labels, n_classes, **kw)

    monkeypatch.setattr(usability, "load_batch", load_spy)
    monkeypatch.setattr(usability, "score_segmenter", score_spy)
    return seen


def test_tests_only_on_the_real_test_split_and_trains_only_on_train_and_the_set(usab_ws, spy):
    ws = Workspace.open(usab_ws)
    cfg = small(real_fractions=(0.5,), synthetic_multipliers=(1,), modes=("random",), steps=4, name="split")
    run_usability(ws, cfg, progress=False)
    ds = Dataset(ws.existing("datasets", "tiny"))
    test = ds.split_indices("test")
    (images, labels), = spy["scored"]
    assert np.array_equal(images, ds.images[test]) and np.array_equal(labels, ds.labels[test])
    real = np.concatenate([i[s == 0] for s, i in spy["batches"]])
    synth = np.concatenate([i[s == 1] for s, i in spy["batches"]])
    assert len(real) and len(synth)
    assert set(real.tolist()) <= set(ds.split_indices("train").tolist())
    assert len(set(synth.tolist())) <= 6 and set(synth.tolist()) <= set(range(len(SyntheticSet(ws.existing("synthetic", "fake")))))
    assert not any(np.array_equal(images[0], ds.images[r]) for r in np.unique(real))


def test_sequential_modes_train_on_one_source_then_the_other(usab_ws, spy):
    ws = Workspace.open(usab_ws)
    # 12 real + 6 synthetic slices, 3 steps: real-first = 2 real steps then 1 synthetic step
    cfg = small(real_fractions=(1.0,), synthetic_multipliers=(0.5,), modes=("real-first", "synthetic-first"),
                steps=3, name="seq")
    run_usability(ws, cfg, progress=False)
    sources = [tuple(np.unique(s)) for s, _ in spy["batches"]]
    assert sources == [(0,), (0,), (1,), (1,), (0,), (0,)]
    per_seed = load_experiment(ws, "seq")[2]
    assert per_seed[["steps_real", "steps_synthetic", "steps_mixed"]].values.tolist() == [[2, 1, 0], [2, 1, 0]]


def test_resume_skips_finished_configurations(usab_ws, monkeypatch):
    ws = Workspace.open(usab_ws)
    cfg = small(real_fractions=(1.0, 0.5), synthetic_multipliers=(0, 0.5), modes=("random",), steps=2, name="res")
    total = 4

    def kill(row):
        raise KeyboardInterrupt  # as if interrupted after the first finished configuration

    with pytest.raises(KeyboardInterrupt):
        run_usability(ws, cfg, progress=False, on_result=kill)
    first = load_experiment(ws, "res")[2]
    assert len(first) == 1
    trained = []
    real_train = usability.train_configuration

    def counting(prep, c, conf, seed, device):
        trained.append((conf.key, seed))
        return real_train(prep, c, conf, seed, device)

    monkeypatch.setattr(usability, "train_configuration", counting)
    run_usability(ws, cfg, progress=False)
    assert len(trained) == total - 1 and (first["config"][0], 0) not in trained
    per_seed = load_experiment(ws, "res")[2]
    assert len(per_seed) == total and not per_seed.duplicated(["config", "seed"]).any()
    trained.clear()
    run_usability(ws, cfg, progress=False)  # everything is done: nothing is retrained
    assert trained == []
    events = [json.loads(x)["event"] for x in (ws.experiments / "res" / "progress.jsonl").read_text().splitlines()]
    assert events.count("done") == total and events.count("interrupted") == 1
    with pytest.raises(ConfigError, match="exists with other settings .*steps 2 -> 3"):
        run_usability(ws, small(real_fractions=(1.0,), synthetic_multipliers=(0,), steps=3, name="res"), progress=False)


def test_augmentation_moves_image_and_label_together():
    lab = torch.zeros(3, 8, 8, dtype=torch.long)
    lab[:, 1, 2] = 1
    lab[:, 5, 6] = 2
    img = lab[:, None].float().repeat(1, 2, 1, 1) / 4
    out_img, out_lab = augment_batch(img, lab, np.random.default_rng(3), 0.0)
    assert torch.equal(out_img[:, 0], out_lab.float() / 4) and torch.equal(out_img[:, 1], out_lab.float() / 4)
    assert not torch.equal(out_lab, lab)
    flat = torch.full((3, 2, 8, 8), 0.5)
    scaled, _ = augment_batch(flat, lab, np.random.default_rng(0), 0.1)
    factor = scaled / 0.5  # one factor per image and channel, in [0.9, 1.1]
    assert torch.allclose(factor, factor[:, :, :1, :1].expand_as(factor))
    assert float(factor.min()) >= 0.9 - 1e-6 and float(factor.max()) <= 1.1 + 1e-6 and float(factor.std()) > 0


def test_end_to_end_command(usab_ws, capsys):
    ws = str(usab_ws)
    rc = main(["--workspace", ws, "usability", "--dataset", "tiny", "--set", "fake", "--real-fractions", "1",
               "--synthetic-multipliers", "0,0.5", "--modes", "random", "--seeds", "1", "--steps", "3",
               "--augmentation-control", *SMALL_ARGS])
    out = capsys.readouterr().out
    assert rc == 0, out
    folder = usab_ws / "experiments" / "usability-fake"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "progress.jsonl", "results.parquet",
                                                        "summary.csv", "summary.parquet"]
    cfg, summary, per_seed = load_experiment(Workspace.open(usab_ws), "usability-fake")
    assert cfg["config"]["steps"] == 3 and cfg["n_test_slices"] == 4 and len(cfg["grid"]) == 3
    assert summary[["mode", "augmentation", "n_real", "n_synthetic"]].values.tolist() == [
        ["real-only", False, 12, 0], ["real-only", True, 12, 0], ["random", False, 12, 6]]
    for m in ("dice", "dice_lesion", "mse", "hd95"):
        assert per_seed[m].between(0, 100).all()
    assert per_seed["dice"].between(0, 1).all() and per_seed["mse"].between(0, 1).all()
    assert pd.read_parquet(folder / "results.parquet").shape[0] == 3
    assert main(["--workspace", ws, "usability-table", "usability-fake", "--per-seed"]) == 0
    table = capsys.readouterr().out
    assert "3/3 trainings finished" in table and "real-only" in table and "± -" in table
    assert main(["--workspace", ws, "usability-table", "nope"]) == 2


def test_a_second_run_of_the_same_experiment_is_refused_while_one_runs(usab_ws):
    import threading

    from synth_core.locks import BusyError

    ws = Workspace.open(usab_ws)
    cfg = small(real_fractions=(1.0,), synthetic_multipliers=(0,), steps=2, name="busy")
    holding, release = threading.Event(), threading.Event()
    store = usability.ExperimentStore.open(ws, "busy", must_exist=False)

    def other_session():
        with store.running():
            holding.set()
            release.wait(30)

    t = threading.Thread(target=other_session)
    t.start()
    try:
        assert holding.wait(30)
        with pytest.raises(BusyError, match="experiment 'busy': in use by another process"):
            run_usability(ws, cfg, progress=False)
        assert not (ws.experiments / "busy" / "results.parquet").exists()
    finally:
        release.set()
        t.join(30)
    run_usability(ws, cfg, progress=False)  # free again
    assert len(load_experiment(ws, "busy")[2]) == 1
