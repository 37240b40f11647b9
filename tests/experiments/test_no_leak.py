"""Issue 13: the usability experiment without leakage. Below 100 % real, a fraction's synthetic rows
come from a generator that saw that fraction's slices only; segmenters stop early on the real
validation split and the test split is scored once, by the network kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synth_core.dataset import Dataset
from synth_core.experiments.results import load_experiment
from synth_core.lesions.bank import LesionBank
from synth_core.runs.folder import RunDir
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.experiments.conftest import small
from training.experiments import usability
from training.experiments.fraction_generators import fraction_names, scaled_config
from training.experiments.usability import EarlyStopping, run_usability


def test_early_stopping_keeps_the_best_weights_and_stops_after_patience():
    net = torch.nn.Linear(1, 1, bias=False)
    stop = EarlyStopping(patience=2)
    seen = []
    for step, score in [(10, 0.2), (20, 0.5), (30, 0.4), (40, 0.5), (50, 0.9)]:
        with torch.no_grad():
            net.weight.fill_(float(step))
        seen.append(stop.update(score, step, net))
    # 0.4 and the tie 0.5 do not beat 0.5: the second of them ends the phase
    assert seen == [False, False, False, True, False]
    assert stop.best_score == 0.9 and stop.best_step == 50
    # a new phase is judged against its own best, not the earlier phase's: it may start low and recover
    stop.new_phase()
    assert [stop.update(s, st, net) for st, s in [(60, 0.1), (70, 0.3), (80, 0.2), (90, 0.6)]] == [False] * 4
    assert stop.update(0.5, 100, net) is False
    assert stop.update(0.55, 110, net) is True and stop.best_step == 50  # two without beating 0.6; best kept
    stop2 = EarlyStopping(patience=3)
    for step, score in [(1, 0.3), (2, 0.7), (3, 0.1)]:
        with torch.no_grad():
            net.weight.fill_(float(step))
        stop2.update(score, step, net)
    stop2.restore(net)
    assert float(net.weight.detach()) == 2.0 and stop2.best_step == 2
    stop2.new_phase()
    assert stop2.since_best == 0 and stop2.best_score == 0.7  # the best so far is kept across phases


def test_segmenters_stop_early_on_validation_and_test_once(usab_ws, monkeypatch):
    ws = Workspace.open(usab_ws)
    ds = Dataset(ws.existing("datasets", "tiny"))
    val_seen, test_seen = [], []
    vd, sc = usability.validation_dice, usability.score_segmenter

    def val_spy(net, images, labels, k, **kw):
        val_seen.append(np.array(labels))
        return 0.5  # never improves after the first score

    def test_spy(net, images, labels, k, **kw):
        test_seen.append(np.array(labels))
        return sc(net, images, labels, k, **kw)

    monkeypatch.setattr(usability, "validation_dice", val_spy)
    monkeypatch.setattr(usability, "score_segmenter", test_spy)
    cfg = small(real_fractions=(1.0,), synthetic_multipliers=(0, 0.5), modes=("synthetic-first",), steps=40,
                val_every=2, patience=3, name="es")
    run_usability(ws, cfg, progress=False)
    per_seed = load_experiment(ws, "es")[2].set_index("mode")
    val_rows = ds.split_indices("val")
    assert all(np.array_equal(v, ds.labels[val_rows]) for v in val_seen)  # every val slice of 'tiny' has a lesion
    assert len(test_seen) == 2 and all(np.array_equal(t, ds.labels[ds.split_indices("test")]) for t in test_seen)
    # real only: scores at 2, 4, 6, 8; the first is best, three more without improvement end it at step 8
    assert per_seed.loc["real-only", "steps_run"] == 8 and per_seed.loc["real-only", "best_step"] == 2
    # synthetic first: 8 steps; the real phase is judged against its own best: its first score is
    # its best, three more without improvement end it after 8 steps; the network kept is still step 2's
    row = per_seed.loc["synthetic-first"]
    assert (row["steps_synthetic"], row["steps_real"], row["steps_run"], row["best_step"]) == (8, 8, 16, 2)
    assert row["val_dice"] == 0.5 and row["generator"] == "fraction"


def test_real_subset_is_the_same_for_every_seed(usab_ws, monkeypatch):
    ws = Workspace.open(usab_ws)
    seen: dict[int, set] = {}
    real_train = usability.train_configuration

    def record(prep, cfg, conf, seed, device):
        seen.setdefault(seed, set()).update(prep.real_rows(conf.real_fraction).tolist())
        return real_train(prep, cfg, conf, seed, device)

    monkeypatch.setattr(usability, "train_configuration", record)
    run_usability(ws, small(real_fractions=(0.5,), synthetic_multipliers=(0,), seeds=3, steps=2, name="sub"),
                  progress=False)
    assert seen[0] == seen[1] == seen[2] and len(seen[0]) == 6
    config = json.loads((ws.experiments / "sub" / "config.json").read_text())
    assert config["real_subsets"]["0.5"]["n_real"] == 6 and len(config["real_subsets"]["0.5"]["cases"]) == 2


def test_scaled_config_multiplies_every_step_count():
    cfg = scaled_config("multimodal", "cpu-demo", 0.1, {"dataset": "x"})
    assert (cfg.pretrain_steps, cfg.steps, cfg.dataset) == (100, 150, "x")
    cfg = scaled_config("structure", "cpu-demo", 0.001, {})
    assert (cfg.mask_steps, cfg.steps) == (1, 2)  # at least one step each; 2000 x 0.001 = 2


@pytest.mark.slow
def test_a_fractions_generator_sees_only_that_fractions_slices(usab_ws):
    """The whole chain below 100 %: subset dataset, four stages, set; nothing saw another training slice."""
    ws = Workspace.open(usab_ws)
    cfg = small(real_fractions=(1.0, 0.5), synthetic_multipliers=(0, 1), modes=("random",), steps=2,
                generators="per-fraction", generator_scale=0.001, name="noleak")
    run_usability(ws, cfg, progress=False)
    parent = Dataset(ws.existing("datasets", "tiny"))
    config, summary, per_seed = load_experiment(ws, "noleak")
    names = fraction_names("noleak", 0.5)
    sub = Dataset(ws.existing("datasets", names.dataset))
    mine = set(config["real_subsets"]["0.5"]["cases"])
    train_cases = set(sub.index.loc[sub.index["split"] == "train", "case_id"])
    assert train_cases == mine and len(sub.split_indices("train")) == 6
    assert len(sub.split_indices("test")) == 0
    assert set(sub.index["case_id"]) - mine == set(parent.index.loc[parent.index["split"] == "val", "case_id"])
    runs = config["generators"]["0.5"]["runs"]
    for stage, rid in runs.items():
        rc = RunDir.open(ws, rid).read_config()
        assert rc["dataset"] == names.dataset and RunDir.open(ws, rid).read_status()["state"] == "finished"
    mm = RunDir.open(ws, runs["multimodal"]).read_config()["config"]
    assert (mm["structure_run"], mm["segmenter_run"], mm["translator_run"]) == (
        runs["structure"], runs["segmenter"], runs["translator"])
    syn = SyntheticSet(ws.existing("synthetic", names.set))
    assert syn.dataset == names.dataset and len(syn) == 6
    bank = LesionBank.load(syn.path / "bank")
    assert {e.case_id for e in bank} <= mine
    rows = per_seed.set_index(["real_fraction", "generator"])
    assert rows.loc[(0.5, "fraction"), "generator_set"] == names.set
    assert rows.loc[(0.5, "oracle"), "generator_set"] == "fake"
    assert rows.loc[(1.0, "fraction"), "generator_set"] == "fake"
    # a rerun reuses everything: no new runs, the same rows
    before = sorted(p.name for p in ws.runs.iterdir())
    run_usability(ws, cfg, progress=False)
    assert sorted(p.name for p in ws.runs.iterdir()) == before
    assert len(load_experiment(ws, "noleak")[2]) == len(per_seed)


def _fake_run(ws: Workspace, stage: str, run_id: str, cfg, ds: Dataset, state: str = "finished") -> RunDir:
    """A run folder as the trainer leaves it (config.json with the dataset's identity, a status), no weights."""
    from synth_core.runs.config import config_to_dict

    run = RunDir.create(ws, stage, run_id)
    run.write_config({"stage": stage, "config": config_to_dict(cfg), "dataset": ds.name,
                      "fingerprint": ds.fingerprint, "content_sha256": ds.content_sha256})
    run.write_status(state)
    return run


def _case_rows(ds: Dataset) -> tuple[str, np.ndarray]:
    train = ds.split_indices("train")
    case = str(ds.index["case_id"].to_numpy()[train][0])
    return case, train[ds.index["case_id"].to_numpy()[train] == case]


def test_a_run_left_from_another_fraction_dataset_is_not_reused(usab_ws, monkeypatch):
    """The fraction dataset was deleted and written again with other slices of the same case (same
    case ids and splits, so the same fingerprint; other content): the finished structure run under
    its name saw the old slices and must not be reused, or the chain leaks slices the fraction lacks."""
    from synth_core.dataset_subset import write_subset
    from synth_core.errors import ConfigError
    from training.experiments import fraction_generators as fg

    ws = Workspace.open(usab_ws)
    parent = Dataset(ws.existing("datasets", "tiny"))
    _, rows = _case_rows(parent)
    names = fraction_names("E", 0.5)
    old = write_subset(parent, rows[:2], ws.path("datasets", names.dataset), names.dataset)
    _fake_run(ws, "structure", names.runs["structure"],
              scaled_config("structure", "cpu-demo", 0.001, {"dataset": names.dataset}), old)
    import shutil

    shutil.rmtree(old.path)

    def no_training(*a, **k):
        raise AssertionError("a stage was trained: the stale structure run was reused")

    monkeypatch.setattr(fg, "Trainer", no_training)
    with pytest.raises(ConfigError, match="another version of dataset"):
        fg.ensure_fraction_set(ws, parent, rows[2:], experiment="E", fraction=0.5, n=4, preset="cpu-demo",
                               scale=0.001, progress=False)
    new = Dataset(ws.existing("datasets", names.dataset))
    assert new.fingerprint == old.fingerprint and new.content_sha256 != old.content_sha256


def test_a_set_made_by_an_earlier_generator_is_not_reused(usab_ws, monkeypatch):
    """The image generator was retrained (its checkpoint changed) after the fraction's set was made:
    the old set must be refused; the set made by the current checkpoint is reused."""
    import hashlib

    from synth_core.dataset_subset import write_subset
    from synth_core.errors import ConfigError
    from tests.synthesis.fixtures import make_fake_set
    from training.experiments import fraction_generators as fg

    ws = Workspace.open(usab_ws)
    parent = Dataset(ws.existing("datasets", "tiny"))
    _, rows = _case_rows(parent)
    names = fraction_names("E", 0.5)
    sub = write_subset(parent, rows, ws.path("datasets", names.dataset), names.dataset)
    mm = RunDir.create(ws, "multimodal", names.runs["multimodal"])
    mm.checkpoint_path("best").write_bytes(b"retrained weights")
    monkeypatch.setattr(fg, "_train", lambda ws, stage, run_id, *a, **k: run_id)

    def no_synthesis(*a, **k):
        raise AssertionError("synthesized again")

    monkeypatch.setattr(fg, "_synthesize", no_synthesis)
    make_fake_set(usab_ws, dataset=names.dataset, name=names.set, n=6)
    meta_path = ws.path("synthetic", names.set) / "set.json"

    def made_by(weights: bytes) -> None:
        meta = json.loads(meta_path.read_text())
        meta["fingerprint"] = sub.fingerprint
        meta["runs"]["multimodal"] = {"run_id": names.runs["multimodal"], "checkpoint": "best.pt",
                                      "sha256": hashlib.sha256(weights).hexdigest()}
        meta_path.write_text(json.dumps(meta))

    made_by(b"first weights")
    with pytest.raises(ConfigError, match="not made by the current checkpoint"):
        fg.ensure_fraction_set(ws, parent, rows, experiment="E", fraction=0.5, n=4, preset="cpu-demo", scale=0.001,
                               progress=False)
    made_by(b"retrained weights")
    syn, record = fg.ensure_fraction_set(ws, parent, rows, experiment="E", fraction=0.5, n=4, preset="cpu-demo",
                                         scale=0.001, progress=False)
    assert len(syn) == 6 and record["set"] == names.set


def test_a_filter_that_empties_a_fraction_set_is_refused_even_with_cap(usab_ws, monkeypatch):
    """cap_synthetic caps a too-small pool; a pool the filter empties would turn every synthetic row of
    the fraction into a real-only training reported as a synthetic row. Refused, as for --set."""
    from synth_core.errors import ConfigError
    from training.experiments import fraction_generators as fg

    ws = Workspace.open(usab_ws)
    monkeypatch.setattr(fg, "ensure_fraction_set",
                        lambda ws, *a, **k: (SyntheticSet(ws.existing("synthetic", "fake")), {}))

    def no_training(prep, cfg, conf, seed, device):
        raise AssertionError(f"{conf.key} was trained with {prep.sizes(conf, True)[1]} synthetic samples")

    monkeypatch.setattr(usability, "train_configuration", no_training)
    cfg = small(real_fractions=(0.5,), synthetic_multipliers=(0, 1), modes=("random",), generators="per-fraction",
                oracle_rows=False, cap_synthetic=True, filter="contour_outside > 1000000", name="cap0")
    with pytest.raises(ConfigError, match="leaves no sample"):
        run_usability(ws, cfg, progress=False)


def test_a_fraction_without_lesions_is_refused_before_any_training(workspace):
    from synth_core.dataset import DatasetSpec, DatasetWriter
    from synth_core.errors import ConfigError
    from synth_core.structure import StructureParams
    from training.experiments.fraction_generators import ensure_fraction_set

    ws = Workspace.open(workspace)
    spec = DatasetSpec(name="mixed", layout="demo", kind="mri", modalities=("t1",), label_names={0: "background", 1: "core"},
                       size=32, structure=StructureParams(median=1))
    rng = np.random.default_rng(0)
    splits = {"case0": "train", "case1": "train", "case2": "train", "case3": "val", "case4": "test"}
    with DatasetWriter(ws.path("datasets", "mixed"), spec, splits=splits) as w:
        for c in range(5):
            labels = np.zeros((2, 32, 32), np.uint8)
            if c:
                labels[:, 10:14, 10:14] = 1
            w.add_case(f"case{c}", rng.uniform(0.2, 0.8, (2, 1, 32, 32)).astype(np.float32),
                       np.ones((2, 32, 32), np.uint8), labels, [0, 1], (1.0, 1.0, 1.0), f"case{c}")
    ds = Dataset(ws.existing("datasets", "mixed"))
    rows = ds.index.index[ds.index["case_id"] == "case0"].to_numpy()
    assert len(rows) == 2 and (ds.index["split"].to_numpy()[rows] == "train").all()
    with pytest.raises(ConfigError, match="holds no slice with a lesion"):
        ensure_fraction_set(ws, ds, rows, experiment="e", fraction=0.1, n=2, preset="cpu-demo", scale=0.001,
                            progress=False)
    assert not ws.path("datasets", "e.f0.1").exists() and not list(ws.runs.glob("e.*"))


@pytest.mark.slow
def test_a_stage_killed_before_its_config_is_trained_again(usab_ws):
    ws = Workspace.open(usab_ws)
    names = fraction_names("again", 0.5)
    (ws.runs / names.runs["structure"] / "samples").mkdir(parents=True)  # what a kill -9 right after creation leaves
    cfg = small(real_fractions=(0.5,), synthetic_multipliers=(1,), modes=("random",), steps=2,
                generators="per-fraction", oracle_rows=False, generator_scale=0.001, name="again")
    run_usability(ws, cfg, progress=False)
    assert RunDir.open(ws, names.runs["structure"]).read_status()["state"] == "finished"
    assert len(load_experiment(ws, "again")[2]) == 1


def test_a_run_made_before_a_setting_existed_is_reused_when_the_setting_is_at_its_default(usab_ws, monkeypatch):
    """A finished generator run whose config.json lacks a setting added since (e.g. zero_background):
    reused when the experiment asks for that setting's default, refused when it asks for another value."""
    import dataclasses
    import json

    from synth_core.dataset_subset import write_subset
    from synth_core.errors import ConfigError
    from training.experiments import fraction_generators as fg

    ws = Workspace.open(usab_ws)
    parent = Dataset(ws.existing("datasets", "tiny"))
    _, rows = _case_rows(parent)
    names = fraction_names("D", 0.5)
    sub = write_subset(parent, rows, ws.path("datasets", names.dataset), names.dataset)
    cfg = scaled_config("multimodal", "cpu-demo", 0.001, {"dataset": names.dataset})
    defaults = {f.name: f.default for f in dataclasses.fields(cfg) if f.default is not dataclasses.MISSING}
    at_default = next(k for k, v in defaults.items() if getattr(cfg, k) == v and k not in ("threads", "device"))
    changed = next(k for k, v in defaults.items() if getattr(cfg, k) != v and k not in ("threads", "device", "dataset"))
    run = _fake_run(ws, "multimodal", names.runs["multimodal"], cfg, sub)

    def drop(key: str) -> None:
        meta = json.loads((run.path / "config.json").read_text())
        meta["config"].pop(key)
        (run.path / "config.json").write_text(json.dumps(meta))

    def no_training(*a, **k):
        raise AssertionError("the finished run was trained again")

    monkeypatch.setattr(fg, "Trainer", no_training)
    drop(at_default)
    assert fg._train(ws, "multimodal", run.run_id, cfg, False, sub) == run.run_id
    drop(changed)  # the saved run now reads as the default, which is not what the experiment asks for
    with pytest.raises(ConfigError, match=f"exists with other settings .*{changed}"):
        fg._train(ws, "multimodal", run.run_id, cfg, False, sub)
