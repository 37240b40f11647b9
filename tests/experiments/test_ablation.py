"""The ablation study (thesis Table 1): row parsing, settings, bad inputs refused before any
training, one tiny end-to-end experiment with two rows, and resume (finished work is not redone)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_core.errors import ConfigError
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.experiments.conftest import make_lesionless_dataset
from tests.synthesis.conftest import COMMON, SMALL, STRUCTURE
from tests.training.conftest import make_tiny_dataset
from training.cli import main as training_main
from training.experiments import ablation
from synth_core.experiments.ablation import (ROW_OFF, ROWS, SUMMARY_NAMES, aggregate_ablation, format_ablation,
                                             load_ablation, summary_frame)
from synth_core.runs.stage_configs import ABLATIONS
from training.experiments.ablation_config import build_ablation_config, parse_rows, row_config, split_settings
from training.experiments.ablation_command import main
from synth_core.experiments.results import list_experiments
from synth_core.runs.folder import RunDir

#: tiny networks and schedules (32 px, 2 + 1 steps, 4 samples, no FRD): each row takes ~1-2 s
TINY = ["--steps", "2", "--pretrain-steps", "1", "--n", "4", "--no-frd", "--device", "cpu", "--no-progress",
        "--set", "threads=1", "--set", "n_pairs=4", "--set", "n_max=8", "--set", "synth_batch=4",
        "--set", "base_channels=4", "--set", "depth=2", "--set", "d_n_down=2", "--set", "val_slices=2",
        "--set", "lesion_scale=0.5,1.0", "--set", "batch_size=2", "--set", "sample_every=0",
        "--set", "judge_width=8", "--set", "judge_steps=2", "--set", "judge.depth=2", "--set", "judge.batch_size=2",
        "--set", "judge.sample_every=0", "--set", "judge.d_n_down=2", "--set", "judge.val_slices=2"]


def _helpers(ws: Path, dataset: str = "tiny") -> None:
    """The three frozen helper runs (structure, segmenter, translator), 2 steps each."""
    def run(*args: str) -> None:
        assert training_main(["--workspace", str(ws), *args]) == 0

    one = ["--dataset", dataset, "--steps", "2", *COMMON]
    run("structure", *one, "--run-name", "st", *STRUCTURE)
    run("segmenter", *one, "--run-name", "sg", *SMALL)
    run("translator", *one, "--run-name", "tr", *SMALL, "--set", "d_n_down=2")


@pytest.fixture(scope="module")
def abl_ws(tmp_path_factory) -> Path:
    """A workspace with the tiny dataset, its helper runs and a finished two-row ablation 'exp'."""
    root = tmp_path_factory.mktemp("ablation") / "ws"
    make_tiny_dataset(root, cases=6)
    _helpers(root)
    assert main(["--workspace", str(root), "ablation", "--dataset", "tiny", "--rows", "F,e", "--name", "exp",
                 *TINY]) == 0
    return root


# ---- parsing and settings -------------------------------------------------------------------------
def test_rows_are_parsed_case_blind_unique_and_in_table_order():
    assert parse_rows("f, a,C,a") == ("A", "C", "F")
    assert parse_rows(["e", "B"]) == ("B", "E")
    assert parse_rows(None) == ROWS
    with pytest.raises(ConfigError, match=r"unknown ablation row\(s\) G, X; valid: A, B, C, D, E, F"):
        parse_rows("A,G,x")
    with pytest.raises(ConfigError, match="no ablation row given"):
        parse_rows(" , ")
    assert build_ablation_config({"rows": "d,b"}).rows == ("B", "D")


def test_set_splits_into_experiment_and_multimodal_settings():
    mine, rest = split_settings(["steps=7", "n_frd=4", "base_channels=16", "lesion_scale=0.5,1.0"])
    assert mine == {"steps": "7", "n_frd": "4"} and rest == ["base_channels=16", "lesion_scale=0.5,1.0"]
    for key in ("ablation=A", "registration=false", "dataset=x"):
        with pytest.raises(ConfigError, match="the ablation sets these itself"):
            build_ablation_config({"multimodal": (key,)})
    with pytest.raises(ConfigError, match="unknown setting"):
        build_ablation_config({"colour": "red"})


def test_each_row_switches_off_exactly_its_part_with_the_same_helpers():
    cfg = build_ablation_config({"dataset": "tiny", "multimodal": ("base_channels=4",)})
    helpers = {"structure": "st", "segmenter": "sg", "translator": "tr"}
    switches = ("use_structure", "mask_filter", "noise_fusion", "registration", "lesion_guidance")
    for row in ROWS:
        mc = row_config(cfg, row, helpers)
        off = [s for s in switches if not getattr(mc, s)]
        assert off == ([ABLATIONS[row]] if row != "F" else [])
        assert (mc.structure_run, mc.segmenter_run, mc.translator_run) == ("st", "sg", "tr")
        assert (mc.steps, mc.pretrain_steps, mc.base_channels, mc.dataset) == (120, 100, 4, "tiny")
    assert set(ROW_OFF) == set(ROWS)


# ---- bad inputs -----------------------------------------------------------------------------------
@pytest.fixture
def no_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("worked although the input is bad")

    for name in ("train_row", "synthesize_row", "evaluate_row"):
        monkeypatch.setattr(ablation, name, boom)


def _fails(capsys, ws: Path, *args: str) -> str:
    rc = main(["--workspace", str(ws), "ablation", *TINY, *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_inputs_are_refused_in_one_line_before_any_training(workspace, capsys, no_work):
    make_tiny_dataset(workspace)
    make_lesionless_dataset(workspace)
    assert "unknown ablation row(s) G" in _fails(capsys, workspace, "--dataset", "tiny", "--rows", "A,G")
    assert "datasets 'nope' not found" in _fails(capsys, workspace, "--dataset", "nope")
    err = _fails(capsys, workspace, "--dataset", "clean")
    assert "dataset 'clean' has no lesion labels" in err
    err = _fails(capsys, workspace, "--dataset", "tiny")
    assert ("needs a finished structure run on dataset 'tiny'" in err
            and "`python -m training structure --dataset tiny`" in err)
    assert "unknown setting(s) colour" in _fails(capsys, workspace, "--dataset", "tiny", "--set", "colour=red")
    assert "n must be >= 1, not 0" in _fails(capsys, workspace, "--dataset", "tiny", "--n", "0")
    # nothing but lock files (hidden from every listing, released by the kernel)
    visible = [p for d in ("experiments", "runs") for p in (workspace / d).iterdir() if not p.name.startswith(".")]
    assert not visible


def test_missing_segmenter_names_what_to_train(workspace, capsys, no_work):
    make_tiny_dataset(workspace)
    run = RunDir.create(Workspace.open(workspace), "structure", "st")  # found, never loaded: the check comes first
    run.write_config({"stage": "structure", "dataset": "tiny", "config": {}})
    run.write_status("finished")
    run.checkpoint_path("last").write_bytes(b"")
    err = _fails(capsys, workspace, "--dataset", "tiny")
    assert "needs a finished segmenter run" in err and "`python -m training segmenter --dataset tiny`" in err


# ---- end to end and resume ------------------------------------------------------------------------
def test_end_to_end_two_rows(abl_ws, capsys):
    ws = Workspace.open(abl_ws)
    folder = abl_ws / "experiments" / "exp"
    assert {"config.json", "summary.parquet", "summary.csv", "progress.jsonl"} <= {p.name for p in folder.iterdir()}
    config, summary = load_ablation(ws, "exp")
    assert config["kind"] == "ablation" and config["identity"]["helpers"] == {"structure": "st", "segmenter": "sg",
                                                                               "translator": "tr"}
    assert list(summary.columns) == list(SUMMARY_NAMES)
    assert summary["row"].tolist() == ["E", "F"] and summary["run"].tolist() == ["exp-E", "exp-F"]
    assert summary["seed"].tolist() == [0, 0]
    assert summary["switched_off"].tolist() == [ROW_OFF["E"], ROW_OFF["F"]]
    assert (summary["n"] == 4).all() and summary["train_seconds"].gt(0).all()
    assert pd.read_csv(folder / "summary.csv")["row"].tolist() == ["E", "F"]
    # the same latents for both rows; the judges score row E although it trained without a segmenter
    e, f = (SyntheticSet(ws.existing("synthetic", f"exp-{r}")) for r in "EF")
    assert np.array_equal(e.structure[:], f.structure[:]) and not np.array_equal(e.images[:], f.images[:])
    for s in (e, f):
        assert {"dice_t1", "dice_t2", "reg_err_t1", "reg_err_t2"} <= set(s.catalog.columns)
        assert s.meta["runs"]["translator"]["run_id"] == "exp-judge-translator"
    assert summary["registration_error"].notna().all() and summary["with_lesion"].between(0, 1).all()
    assert summary["seg_dice_real"].notna().all()  # the judge's Dice on real slices
    # judges: separate runs with other checkpoints; they scored the catalogs and the main columns
    from synth_core.runs.checkpoint import file_sha256

    judges = config["judges"]
    assert {s: j["run_id"] for s, j in judges.items()} == {"segmenter": "exp-judge-segmenter",
                                                          "translator": "exp-judge-translator"}
    for stage, helper in (("segmenter", "sg"), ("translator", "tr")):
        assert judges[stage]["sha256"] == file_sha256(abl_ws / "runs" / judges[stage]["run_id"] / "checkpoints" / "last.pt")
        assert judges[stage]["sha256"] != file_sha256(abl_ws / "runs" / helper / "checkpoints" / "last.pt")
        assert judges[stage]["not_helper"]["run_id"] == helper
    jcfg = json.loads((abl_ws / "runs" / "exp-judge-segmenter" / "config.json").read_text())["config"]
    assert (jcfg["seed"], jcfg["base_channels"], jcfg["steps"]) == (1000, 8, 2)
    for s in (e, f):
        assert s.meta["runs"]["segmenter"]["run_id"] == "exp-judge-segmenter"
    assert (summary["scored_by"] == "judge").all()
    for _, r in summary.iterrows():
        ev = pd.read_parquet(abl_ws / "synthetic" / r["set"] / "evaluation.parquet")
        for col, metric, extractor in (("lesion_dice", "seg_dice_synthetic", "segmenter:exp-judge-segmenter"),
                                       ("lesion_dice_helper", "seg_dice_synthetic", "segmenter:sg"),
                                       ("registration_error", "reg_err", "translator:exp-judge-translator"),
                                       ("registration_error_helper", "reg_err", "translator:tr"),
                                       ("seg_dice_real", "seg_dice_real", "segmenter:exp-judge-segmenter"),
                                       ("seg_dice_real_helper", "seg_dice_real", "segmenter:sg")):
            rows = ev[(ev.metric == metric) & (ev.extractor == extractor)]
            assert len(rows) == 2 and r[col] == pytest.approx(rows["value"].mean(), nan_ok=True), (col, rows)
    mm = json.loads((abl_ws / "runs" / "exp-E" / "config.json").read_text())["config"]
    assert mm["ablation"] == "E" and mm["lesion_guidance"] is False and mm["segmenter_run"] == "sg"
    assert list_experiments(ws) == [] and list_experiments(ws, "ablation") == ["exp"]
    assert list_experiments(ws, None) == ["exp"]
    assert main(["--workspace", str(abl_ws), "ablation-table", "exp"]) == 0
    out = capsys.readouterr().out
    assert "2/2 rows finished" in out and "lesion guidance" in out


def test_rerun_redoes_only_what_is_missing(abl_ws, monkeypatch):
    calls: list[tuple[str, str]] = []
    for name in ("train_row", "synthesize_row", "evaluate_row"):
        real = getattr(ablation, name)

        def spy(*a, _name=name, _real=real, **k):
            calls.append((_name, str(a[-1] if _name != "train_row" else a[2])))
            return _real(*a, **k)

        monkeypatch.setattr(ablation, name, spy)
    args = ["--workspace", str(abl_ws), "ablation", "--dataset", "tiny", "--rows", "E,F", "--name", "exp", *TINY]
    assert main(args) == 0
    assert calls == []  # everything was finished
    (abl_ws / "synthetic" / "exp-F" / "evaluation.parquet").unlink()
    assert main(args) == 0
    assert calls == [("evaluate_row", "exp-F")]
    config, summary = load_ablation(Workspace.open(abl_ws), "exp")
    assert summary["row"].tolist() == ["E", "F"]
    assert main([*args, "--steps", "3"]) == 2  # other settings: refused, nothing trained
    assert [c for c in calls if c[0] == "train_row"] == []


def test_reading_an_ablation_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, training.experiments.ablation, training.experiments.ablation_config, "
            "training.experiments.ablation_command; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=True, timeout=60)


# ---- seeds ----------------------------------------------------------------------------------------
def test_seed_runs_are_named_and_configured_per_seed():
    cfg = build_ablation_config({"dataset": "tiny", "name": "exp", "seed": 4, "seeds": 3})
    assert cfg.seed_list == (4, 5, 6)
    assert [cfg.run_id("F", s) for s in cfg.seed_list] == ["exp-F", "exp-F-s5", "exp-F-s6"]
    assert cfg.run_id("F") == "exp-F"
    helpers = {"structure": "st", "segmenter": "sg", "translator": "tr"}
    assert [row_config(cfg, "B", helpers, s).seed for s in cfg.seed_list] == [4, 5, 6]
    assert row_config(cfg, "B", helpers).seed == 4
    with pytest.raises(ConfigError, match="seeds must be >= 1, not 0"):
        build_ablation_config({"seeds": 0})


def _summary(values: dict[tuple[str, int], float]) -> pd.DataFrame:
    return summary_frame([{"row": r, "switched_off": ROW_OFF[r], "seed": s, "run": f"x-{r}", "set": f"x-{r}",
                                    "n": 4, "lesion_dice": v, "fid": 2.0 * s, "scored_by": "judge"}
                                   for (r, s), v in values.items()])


def test_aggregate_gives_mean_and_sample_sd_per_row_in_table_order():
    summary = _summary({("F", 1): 0.6, ("B", 0): 0.1, ("F", 0): 0.4, ("B", 1): float("nan"), ("F", 2): 0.5})
    assert summary["row"].tolist() == ["B", "B", "F", "F", "F"] and summary["seed"].tolist() == [0, 1, 0, 1, 2]
    agg = aggregate_ablation(summary)
    assert agg["row"].tolist() == ["B", "F"] and agg["seeds"].tolist() == [2, 3]
    b, f = agg.iloc[0], agg.iloc[1]
    assert b["lesion_dice"] == pytest.approx(0.1) and np.isnan(b["lesion_dice_sd"])  # the NaN seed is left out
    assert f["lesion_dice"] == pytest.approx(0.5) and f["lesion_dice_sd"] == pytest.approx(0.1)
    assert f["fid"] == pytest.approx(2.0) and f["fid_sd"] == pytest.approx(2.0)
    assert np.isnan(f["kid"]) and np.isnan(f["kid_sd"])
    text = format_ablation(summary)
    assert "0.500 ± 0.100" in text and "seeds" in text and "0.100" in text
    assert "±" not in format_ablation(_summary({("F", 0): 0.4, ("E", 0): 0.2}))  # one seed: plain values
    assert aggregate_ablation(_summary({})).empty


def test_old_summaries_without_a_seed_column_read_as_the_first_seed(abl_ws, tmp_path):
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(abl_ws / "experiments", root / "experiments")
    path = root / "experiments" / "exp" / "summary.parquet"
    pd.read_parquet(path).drop(columns="seed").to_parquet(path)
    _, summary = load_ablation(Workspace.open(root), "exp")
    assert summary["seed"].tolist() == [0, 0] and list(summary.columns) == list(SUMMARY_NAMES)
    pd.DataFrame({"x": [1]}).to_parquet(path)
    with pytest.raises(Exception, match="lacks column"):
        load_ablation(Workspace.open(root), "exp")


def test_more_seeds_extend_a_finished_experiment(abl_ws, tmp_path, monkeypatch, capsys):
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(abl_ws, root)
    trained: list[str] = []
    real = ablation.train_row
    monkeypatch.setattr(ablation, "train_row", lambda ws, mc, name, **k: (trained.append(name), real(ws, mc, name, **k)))
    args = ["--workspace", str(root), "ablation", "--dataset", "tiny", "--rows", "F", "--name", "exp", *TINY]
    assert main([*args, "--seeds", "2"]) == 0
    assert trained == ["exp-F-s1"]  # seed 0 of row F was finished: only the new seed trains
    ws = Workspace.open(root)
    config, summary = load_ablation(ws, "exp")
    assert config["seeds"] == [0, 1] and config["runs"]["F"] == ["exp-F", "exp-F-s1"]
    assert list(zip(summary["row"], summary["seed"])) == [("E", 0), ("F", 0), ("F", 1)]
    mm = json.loads((root / "runs" / "exp-F-s1" / "config.json").read_text())["config"]
    assert mm["seed"] == 1 and mm["ablation"] == "F"
    s0, s1 = (SyntheticSet(ws.existing("synthetic", n)) for n in ("exp-F", "exp-F-s1"))
    assert set(s1.catalog["seed"]) == {1} and not np.array_equal(s0.structure[:], s1.structure[:])  # the set follows the seed
    assert aggregate_ablation(summary)["seeds"].tolist() == [1, 2]
    capsys.readouterr()
    assert main(["--workspace", str(root), "ablation-table", "exp"]) == 0
    out = capsys.readouterr().out
    assert "3/4 trainings over 2 seeds" in out and "±" in out
    trained.clear()
    assert main(args) == 0 and trained == []  # fewer seeds asked: nothing new, nothing lost
    assert len(load_ablation(ws, "exp")[1]) == 3


# ---- judges -----------------------------------------------------------------------------------------
def test_the_main_columns_come_from_the_judges_and_the_helper_columns_from_the_helpers(abl_ws, tmp_path):
    """Known answers: once the judge translator always outputs 0.5 and the judge segmenter calls every
    pixel lesion, a re-scored set's registration_error is the mean of (x - 0.5)^2, seg_dice_real (and
    lesion_dice, where the set has lesions) the mean of 2|L| / (|L| + HW); the helper columns keep
    their values."""
    import shutil

    from synth_core.dataset import Dataset
    from synth_core.runs.checkpoint import file_sha256
    from tests.evaluation.test_judges import _constant_head

    root = tmp_path / "ws"
    shutil.copytree(abl_ws, root)
    ws = Workspace.open(root)
    before = load_ablation(ws, "exp")[1].set_index("row")
    _constant_head(root, "exp-judge-segmenter", [0.0, 10.0, 0.0])
    _constant_head(root, "exp-judge-translator", [0.0])
    (root / "synthetic" / "exp-F" / "evaluation.parquet").unlink()
    args = ["--workspace", str(root), "ablation", "--dataset", "tiny", "--rows", "E,F", "--name", "exp", *TINY]
    assert main(args) == 0
    config, summary = load_ablation(ws, "exp")
    f = summary.set_index("row").loc["F"]

    def everywhere(labels: np.ndarray) -> float:
        lesion = labels[labels.reshape(len(labels), -1).any(axis=1)] > 0
        return float(np.mean([2 * lab.sum() / (lab.sum() + lab.size) for lab in lesion])) if len(lesion) else np.nan

    s = SyntheticSet(ws.existing("synthetic", "exp-F"))
    images = np.asarray(s.images[:], dtype=np.float64)
    assert f["registration_error"] == pytest.approx(((images - 0.5) ** 2).mean(axis=(0, 2, 3)).mean(), rel=1e-5)
    ds = Dataset(ws.existing("datasets", "tiny"))
    assert f["seg_dice_real"] == pytest.approx(everywhere(np.asarray(ds.labels[ds.split_indices("test")])))
    assert f["lesion_dice"] == pytest.approx(everywhere(np.asarray(s.labels[:])), nan_ok=True)
    for col in ("lesion_dice_helper", "registration_error_helper"):  # the helpers scored again, as before
        assert f[col] == pytest.approx(before.loc["F", col], nan_ok=True)
    assert f["registration_error"] != pytest.approx(f["registration_error_helper"])
    for stage in ("segmenter", "translator"):  # the changed judges are recorded anew
        assert config["judges"][stage]["sha256"] == file_sha256(root / "runs" / f"exp-judge-{stage}" / "checkpoints"
                                                                / "last.pt")


def test_a_judge_run_with_other_settings_is_refused_in_one_line(abl_ws, tmp_path, capsys, no_work):
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(abl_ws, root)
    shutil.copytree(root / "runs" / "exp-judge-segmenter", root / "runs" / "exp2-judge-segmenter")
    err = _fails(capsys, root, "--dataset", "tiny", "--rows", "F", "--name", "exp2", "--set", "judge_steps=3")
    assert "run 'exp2-judge-segmenter' exists but has other settings (steps)" in err


def test_an_old_experiment_without_judges_reads_as_scored_by_the_helper(abl_ws, tmp_path):
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(abl_ws / "experiments", root / "experiments")
    path = root / "experiments" / "exp" / "summary.parquet"
    old = pd.read_parquet(path)
    old = old.drop(columns=["lesion_dice", "lesion_dice_helper", "registration_error_helper", "scored_by"])
    old = old.assign(lesion_fidelity=[0.25, 0.75], seg_dice_synthetic=[0.2, 0.7])  # as written before judges
    old.to_parquet(path)
    _, summary = load_ablation(Workspace.open(root), "exp")
    assert list(summary.columns) == list(SUMMARY_NAMES)
    assert summary["scored_by"].tolist() == ["helper", "helper"]
    assert summary["lesion_dice_helper"].tolist() == [0.25, 0.75] and summary["lesion_dice"].isna().all()
    assert summary["registration_error_helper"].tolist() == old["registration_error"].tolist()
    text = format_ablation(summary)
    assert "scored by" in text and "helper" in text


def _old_summary(root: Path, rows: list[dict], absent: tuple[str, ...], extra: tuple[str, ...] = ()) -> Workspace:
    """An ablation folder 'old' whose summary.parquet holds ``rows`` in today's columns less ``absent``
    plus ``extra``, as an earlier version wrote it (no torch, no training)."""
    from synth_core.experiments.results import ExperimentStore, write_parquet

    ws = Workspace.open(root)
    store = ExperimentStore(ws.experiments / "old")
    store.write_config({"kind": "ablation", "dataset": "tiny", "rows": ["E", "F"], "config": {"seed": 0}})
    columns = [n for n in SUMMARY_NAMES if n not in absent] + list(extra)
    write_parquet(store.path / "summary.parquet", pd.DataFrame(rows).reindex(columns=columns))
    return ws


def test_an_old_summary_puts_every_helper_score_under_a_helper_name(tmp_path):
    """Before judges the helpers scored lesion Dice (lesion_fidelity), registration error and
    seg_dice_real. Read today, those values are in the _helper columns, the judge columns are empty,
    and the table and the conclusions speak of the _helper columns."""
    from synth_core.experiments.ablation import paired_ablation
    from synth_core.experiments.conclusions import ablation_conclusions

    base = {"run": "r", "set": "s", "n": 4, "with_lesion": 1.0, "lesion_outside_organ": 0.0, "nn_dist": 1.0}
    rows = [{**base, "row": r, "switched_off": ROW_OFF[r], "seed": s, "lesion_fidelity": dice + 0.01 * s,
             "seg_dice_synthetic": 0.5, "registration_error": 0.02 if r == "E" else 0.01, "seg_dice_real": 0.8}
            for r, dice in (("E", 0.2), ("F", 0.6)) for s in range(3)]
    ws = _old_summary(tmp_path / "ws", rows, ("lesion_dice", "lesion_dice_helper", "registration_error_helper",
                                              "seg_dice_real_helper", "scored_by"), ("lesion_fidelity", "seg_dice_synthetic"))
    _, summary = load_ablation(ws, "old")
    assert list(summary.columns) == list(SUMMARY_NAMES) and (summary["scored_by"] == "helper").all()
    for judge, helper, want in (("lesion_dice", "lesion_dice_helper", [0.2, 0.21, 0.22, 0.6, 0.61, 0.62]),
                                ("registration_error", "registration_error_helper", [0.02] * 3 + [0.01] * 3),
                                ("seg_dice_real", "seg_dice_real_helper", [0.8] * 6)):
        assert summary[judge].isna().all(), judge  # no judge scored them
        assert summary[helper].tolist() == pytest.approx(want), helper
    head, e_line, _ = format_ablation(summary).splitlines()
    for label, want in (("lesion Dice ↑", "-"), ("Dice (helper) ↑", "0.210 ± 0.010"), ("reg err ↓", "-")):
        end = head.index(label) + len(label)  # right-aligned under its label
        assert e_line[:end].split("  ")[-1].strip() == want, label
    words = " ".join(ablation_conclusions(aggregate_ablation(summary), paired_ablation(summary),
                                          {"lesion_dice_helper": "higher", "registration_error_helper": "lower"},
                                          scored_by="helper"))
    assert "lesion_dice_helper lower than the full model F by 0.400" in words and "circular" in words
    assert "registration_error_helper higher than the full model F" in words
    # a summary from the judges' first version lacks seg_dice_real_helper: it reads empty, nothing else moves
    judged = [{**r, "lesion_dice": 0.3, "lesion_dice_helper": 0.9, "registration_error_helper": 0.5, "scored_by": "judge"}
              for r in rows]
    for r in judged:
        r.pop("lesion_fidelity"), r.pop("seg_dice_synthetic")
    _, summary = load_ablation(_old_summary(tmp_path / "ws", judged, ("seg_dice_real_helper",)), "old")
    assert summary["seg_dice_real"].tolist() == [0.8] * 6 and summary["seg_dice_real_helper"].isna().all()
    assert (summary["lesion_dice"] == 0.3).all() and (summary["registration_error_helper"] == 0.5).all()


def test_evaluation_done_needs_both_judges_with_their_current_checkpoints(tmp_path):
    """A hand-made evaluation table with FID and rows from judge segmenter J and judge translator T."""
    from synth_core.evaluation.table import save_evaluation

    ws = Workspace.open(tmp_path / "ws")
    folder = ws.path("synthetic", "s")
    folder.mkdir(parents=True)
    base = {"set": "s", "dataset": "tiny", "run": "r", "modality": "t1", "region": "image", "n": 4, "value": 0.5,
            "metric_version": "x/1", "created": "2026-11-23T00:00:00Z", "note": ""}
    rows = [("fid", "own:sg"), ("seg_dice_synthetic", "segmenter:J"), ("reg_err", "translator:T")]
    save_evaluation(folder, pd.DataFrame([{**base, "metric": m, "extractor": e} for m, e in rows]))
    judges = {"segmenter": {"run_id": "J", "sha256": "a" * 64}, "translator": {"run_id": "T", "sha256": "b" * 64}}
    now = {"segmenter": "a" * 64, "translator": "b" * 64}
    assert ablation.evaluation_done(ws, "s", False, judges, now)
    assert not ablation.evaluation_done(ws, "s", False, judges, {**now, "translator": "c" * 64})  # T retrained
    assert not ablation.evaluation_done(ws, "s", False, judges, {**now, "segmenter": "c" * 64})  # J retrained
    assert not ablation.evaluation_done(ws, "s", False, judges, {})  # evaluated before sha256s were recorded
    other = {**judges, "translator": {"run_id": "T2", "sha256": "b" * 64}}
    assert not ablation.evaluation_done(ws, "s", False, other, now)  # no rows of that translator
    assert ablation.evaluation_done(ws, "s", False)  # the summary's question: is there an evaluation at all


def test_a_set_scored_before_the_judge_translator_changed_is_evaluated_again(abl_ws, tmp_path, monkeypatch):
    """Only the judge translator's checkpoint changes (its segmenter and every set stay): both sets are
    evaluated again, config.json names the new sha256 for each, and a third run evaluates nothing."""
    import shutil

    from synth_core.runs.checkpoint import file_sha256
    from tests.evaluation.test_judges import _constant_head

    root = tmp_path / "ws"
    shutil.copytree(abl_ws, root)
    def sha(stage: str) -> str:
        return file_sha256(root / "runs" / f"exp-judge-{stage}" / "checkpoints" / "last.pt")

    before = sha("translator")
    _constant_head(root, "exp-judge-translator", [0.0])
    new = sha("translator")
    assert new != before
    calls: list[str] = []
    real = ablation.evaluate_row
    monkeypatch.setattr(ablation, "evaluate_row", lambda ctx, name: (calls.append(name), real(ctx, name)))
    args = ["--workspace", str(root), "ablation", "--dataset", "tiny", "--rows", "E,F", "--name", "exp", *TINY]
    assert main(args) == 0
    assert calls == ["exp-E", "exp-F"]
    recorded = json.loads((root / "experiments" / "exp" / "config.json").read_text())["evaluated_with"]
    assert {s: r["translator"] for s, r in recorded.items()} == {"exp-E": new, "exp-F": new}
    assert recorded["exp-F"]["segmenter"] == sha("segmenter")
    calls.clear()
    assert main(args) == 0 and calls == []


def test_a_field_added_with_the_old_behaviour_does_not_refuse_an_older_experiment():
    """An experiment saved before ``patch_norm`` existed ran D_p with instance norm, the field's
    default: it may be continued with the default, and is refused with another value. A field whose
    default can change behaviour (``zero_background``) still refuses."""
    from synth_core.runs.stage_configs import MULTIMODAL_ADDED_AS_BEFORE

    identity = {"settings": {"steps": 120}, "multimodal": {"patch_weight": 5.0, **MULTIMODAL_ADDED_AS_BEFORE,
                                                           "zero_background": "auto"},
                "helpers": {"segmenter": "s"}, "dataset_fingerprint": "f", "dataset_sha256": "h"}
    old = {"kind": "ablation", "identity": {**identity, "multimodal": {"patch_weight": 5.0, "zero_background": "auto"}}}
    ablation._check_resumable(old, identity, "exp")  # patch_norm missing = instance: same experiment
    other = {**identity, "multimodal": {**identity["multimodal"], "patch_norm": "none"}}
    with pytest.raises(ConfigError, match="patch_norm 'instance' -> 'none'"):
        ablation._check_resumable(old, other, "exp")
    sn = {**identity, "multimodal": {**identity["multimodal"], "patch_spectral_norm": True}}
    with pytest.raises(ConfigError, match="patch_spectral_norm False -> True"):
        ablation._check_resumable(old, sn, "exp")
    noisy = {**identity, "multimodal": {**identity["multimodal"], "output_noise": 5}}
    with pytest.raises(ConfigError, match="output_noise 0 -> 5"):
        ablation._check_resumable(old, noisy, "exp")
    smooth = {**identity, "multimodal": {**identity["multimodal"], "noise_blur": 1.5}}
    with pytest.raises(ConfigError, match="noise_blur 0.0 -> 1.5"):
        ablation._check_resumable(old, smooth, "exp")
    tissue = {**identity, "multimodal": {**identity["multimodal"], "tissue_weight": 50.0}}
    with pytest.raises(ConfigError, match="tissue_weight 0.0 -> 50.0"):
        ablation._check_resumable(old, tissue, "exp")
    mbstd = {**identity, "multimodal": {**identity["multimodal"], "d_minibatch_std": True}}
    with pytest.raises(ConfigError, match="d_minibatch_std False -> True"):
        ablation._check_resumable(old, mbstd, "exp")
    older = {"kind": "ablation", "identity": {**identity, "multimodal": {"patch_weight": 5.0}}}
    with pytest.raises(ConfigError, match="zero_background None -> 'auto'"):
        ablation._check_resumable(older, identity, "exp")
