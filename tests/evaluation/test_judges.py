"""Independent judges in evaluate_set (issue 13): lesion validity and registration of a set scored by
judge runs beside the generator's training helpers, each row labelled; a judge that is a training
helper is refused in one line. Known answers from constant networks: a segmenter that calls every
pixel lesion, one that calls none, a translator that always outputs 0.5."""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pytest
import torch

from synth_core.cli_edge import run_at_edge
from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.evaluation.command import add_evaluate_arguments, run_evaluate_command
from synth_core.evaluation.evaluate import evaluate_set
from synth_core.evaluation.judges import HELPER, JUDGE, scored_by
from synth_core.runs.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from synth_core.runs.config import config_to_dict, make_config
from synth_core.runs.folder import RunDir
from synth_core.runs.stage_configs import CONFIGS
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.evaluation.helpers import fake_run
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


def _constant_head(ws_root, run_id: str, bias: list[float]) -> None:
    """Zero the output layer of every network of run ``run_id`` and set its bias: a constant output."""
    path = RunDir(Workspace.open(ws_root).runs / run_id).checkpoint_path("last")
    payload = load_checkpoint(path)
    for state in payload["models"].values():
        if "head.weight" in state:
            state["head.weight"].zero_()
            state["head.bias"].copy_(torch.tensor(bias))
    torch.save(payload, path)


def _generator_with_helpers(ws_root, run_id: str, helpers: dict[str, str]) -> None:
    """A multimodal run whose checkpoint records ``helpers`` (stage -> run) as training helpers."""
    ws = Workspace.open(ws_root)
    ds = Dataset(ws.existing("datasets", "tiny"))
    cfg = make_config(CONFIGS["multimodal"], {"dataset": "tiny", "base_channels": 4, "depth": 2, "d_n_down": 2})
    run = RunDir.create(ws, "multimodal", run_id)
    run.write_config({"stage": "multimodal", "config": config_to_dict(cfg), "dataset": "tiny",
                      "fingerprint": ds.fingerprint})
    meta = {"dataset": "tiny", "image_size": ds.spec.size, "modalities": list(ds.modalities),
            "label_names": {str(k): v for k, v in ds.label_names.items()}, "kind": ds.spec.kind,
            "dataset_content": ds.content_record(),
            "helpers": {stage: {"run_id": rid, "step": 1, "checkpoint": "last.pt", "fingerprint": ds.fingerprint,
                                "sha256": file_sha256(ws.runs / rid / "checkpoints" / "last.pt")}
                        for stage, rid in helpers.items()}}
    from synth_core.runs.networks import build_networks

    save_checkpoint(run.checkpoint_path("last"), stage="multimodal", step=1,
                    models=build_networks("multimodal", cfg, meta), optimizers={}, config=config_to_dict(cfg),
                    fingerprint=ds.fingerprint, meta=meta)
    run.write_status("finished", stage="multimodal", step=1)


@pytest.fixture
def judged_ws(workspace):
    """Set 'fake' of generator 'fake-run', trained against helper runs 'h-sg' (calls nothing lesion)
    and 'h-tr'; judges 'j-sg' (calls everything lesion) and 'j-tr' (always 0.5); 'h-sg-copy' is a
    byte copy of the helper segmenter under another name."""
    make_tiny_dataset(workspace)
    make_fake_set(workspace, n=12)
    fake_run(workspace, "segmenter", "h-sg", seed=0)
    fake_run(workspace, "translator", "h-tr", seed=0, base_channels=4, depth=2)
    fake_run(workspace, "segmenter", "j-sg", seed=1, base_channels=8)
    fake_run(workspace, "translator", "j-tr", seed=1, base_channels=8, depth=2)
    _constant_head(workspace, "h-sg", [10.0, 0.0, 0.0])  # background everywhere
    _constant_head(workspace, "j-sg", [0.0, 10.0, 0.0])  # lesion (class 1) everywhere
    _constant_head(workspace, "j-tr", [0.0])  # sigmoid(0) = 0.5 everywhere
    shutil.copytree(workspace / "runs" / "h-sg", workspace / "runs" / "h-sg-copy")
    _generator_with_helpers(workspace, "fake-run", {"segmenter": "h-sg", "translator": "h-tr"})
    return Workspace.open(workspace)


def _rows(df, metric: str, extractor: str):
    sel = df[(df.metric == metric) & (df.extractor == extractor)].set_index("modality")
    assert len(sel), (metric, extractor)
    return sel


def test_judges_score_beside_the_helpers_with_known_answers_and_labels(judged_ws):
    ws = judged_ws
    df = evaluate_set(ws, "fake", "tiny", frd=False, realism=False, n_pairs=4, judge_segmenter="j-sg",
                      judge_translator="j-tr")
    s = SyntheticSet(ws.existing("synthetic", "fake"))
    labels = np.asarray(s.labels[:]) > 0
    has = labels.reshape(len(labels), -1).any(axis=1)
    size = labels.shape[1] * labels.shape[2]
    lesion_everywhere = np.mean([2 * lab.sum() / (lab.sum() + size) for lab in labels[has]])
    judge = _rows(df, "seg_dice_synthetic", "segmenter:j-sg")
    helper = _rows(df, "seg_dice_synthetic", "segmenter:h-sg")  # the set's generator's helper (no segmenter given)
    assert judge["value"].to_numpy() == pytest.approx([lesion_everywhere] * 2)
    assert helper["value"].to_numpy() == pytest.approx([0.0, 0.0])  # calls no pixel lesion: Dice 0
    assert all(scored_by(n) == JUDGE for n in judge["note"]) and all(scored_by(n) == HELPER for n in helper["note"])
    assert all("scored by the training helper (circular)" in n for n in helper["note"])
    images = np.asarray(s.images[:], dtype=np.float64)
    reg_judge = _rows(df, "reg_err", "translator:j-tr")
    for c, m in enumerate(("t1", "t2")):
        assert reg_judge.loc[m, "value"] == pytest.approx(((images[:, c] - 0.5) ** 2).mean(), rel=1e-5)
    reg_helper = _rows(df, "reg_err", "translator:h-tr")
    assert not np.allclose(reg_helper["value"], reg_judge["value"]) and reg_helper["n"].eq(12).all()
    assert all(scored_by(n) == HELPER for n in reg_helper["note"])
    # without judges: today's rows, labelled circular; the stored judge rows stay beside them
    again = evaluate_set(ws, "fake", "tiny", frd=False, realism=False, n_pairs=4)
    assert set(again[again.metric.isin(["seg_dice_synthetic", "reg_err"])]["extractor"]) == {"segmenter:h-sg",
                                                                                            "translator:h-tr"}
    stored = __import__("pandas").read_parquet(s.path / "evaluation.parquet")
    assert {"segmenter:j-sg", "translator:j-tr"} <= set(stored["extractor"])


def test_a_training_helper_is_refused_as_judge_in_one_line(judged_ws):
    ws = judged_ws
    with pytest.raises(ConfigError, match=r"judge segmenter run 'h-sg' is set 'fake''s training helper "
                                          r"\(segmenter run 'h-sg'; it is that run\)"):
        evaluate_set(ws, "fake", "tiny", frd=False, realism=False, judge_segmenter="h-sg")
    with pytest.raises(ConfigError, match=r"judge segmenter run 'h-sg-copy' .*same checkpoint sha256"):
        evaluate_set(ws, "fake", "tiny", frd=False, realism=False, judge_segmenter="h-sg-copy")
    with pytest.raises(ConfigError, match="judge translator run 'h-tr' is set 'fake''s training helper"):
        evaluate_set(ws, "fake", "tiny", frd=False, realism=False, judge_translator="h-tr")
    with pytest.raises(ConfigError, match="judge translator: translator run 'j-sg' not usable: .*stage 'segmenter'"):
        evaluate_set(ws, "fake", "tiny", frd=False, realism=False, judge_translator="j-sg")
    assert not (ws.synthetic / "fake" / "evaluation.parquet").exists()  # refused before anything was written


def test_cli_takes_judges_and_prints_one_line_refusals(judged_ws, capsys):
    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    base = ["--set", "fake", "--real", "tiny", "--no-frd", "--no-realism", "--n-pairs", "4", "--no-progress"]
    args = parser.parse_args([*base, "--judge-segmenter", "h-sg-copy"])
    assert run_at_edge(lambda: run_evaluate_command(args, judged_ws), debug=False, interrupted="", catch_bugs=True) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: judge segmenter run 'h-sg-copy'") and "\n" not in err
    args = parser.parse_args([*base, "--judge-segmenter", "j-sg", "--judge-translator", "j-tr"])
    assert run_at_edge(lambda: run_evaluate_command(args, judged_ws), debug=False, interrupted="", catch_bugs=True) == 0
    out = capsys.readouterr().out
    assert "segmenter:j-sg" in out and "translator:j-tr" in out and "scored by the independent judge" in out
