"""evaluate_set end to end on a tiny workspace (tiny dataset, a fake set, tiny run checkpoints),
the long table and its storage, bad input, and the CLI module."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from synth_core.cli_edge import run_at_edge
from synth_core.errors import ConfigError, InputError, NotFoundError
from synth_core.evaluation import frd as frd_module
from synth_core.evaluation.command import add_evaluate_arguments, run_evaluate_command
from synth_core.evaluation.evaluate import (
    COLUMNS,
    METRIC_HELP,
    evaluate_set,
    load_evaluations,
    merge_evaluations,
)
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.evaluation.helpers import fake_run
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.fixture
def ws(workspace):
    make_tiny_dataset(workspace)
    make_fake_set(workspace, n=12)
    return Workspace.open(workspace)


@pytest.fixture
def fast_frd(monkeypatch):
    """FRD replaced by a quick stand-in (the real one is tested in test_frd.py): records its calls."""
    calls = []

    def fake(real, synthetic, *, real_masks=None, synthetic_masks=None, n=64, seed=0, workers=1, min_lesion_pixels=16):
        calls.append({"n_real": len(real), "n_syn": len(synthetic), "masks": real_masks is not None, "n": n})
        return frd_module.FRDResult(value=float(abs(real.mean() - synthetic.mean())), n_real=min(n, len(real)),
                                    n_synthetic=min(n, len(synthetic)), n_features=99)

    monkeypatch.setattr(frd_module, "frd", fake)
    return calls


def _row(df, metric, modality, region="image"):
    sel = df[(df.metric == metric) & (df.modality == modality) & (df.region == region)]
    assert len(sel) == 1, (metric, modality, region, sel)
    return sel.iloc[0]


def test_without_runs_only_run_free_metrics_are_computed_and_the_rest_say_why(ws):
    df = evaluate_set(ws, "fake", "tiny", frd=False, n_pairs=10)
    assert list(df.columns) == COLUMNS
    assert (df.set_n == 12).all()  # the set's size when evaluated (a set grown since shows these rows as stale)
    assert set(df.metric) <= set(METRIC_HELP)
    assert (df.set == "fake").all() and (df.dataset == "tiny").all() and (df.run == "fake-run").all()
    d = _row(df, "diversity_ms_ssim", "t1")
    assert 0 < d.value < 1 and d.n == 10 and d.extractor == "ms-ssim"
    assert 0 < _row(df, "diversity_ms_ssim_real", "t2").value < 1
    for metric in ("texture", "texture_real", "grain", "grain_real"):  # run-free: always computed
        assert {_row(df, metric, m).value >= 0 for m in ("t1", "t2")} == {True}, metric
    assert _row(df, "grain", "t1").value <= 1 and _row(df, "texture", "t2").extractor == "laplacian"
    assert _row(df, "frd", "t1", "lesion").note == "FRD switched off"
    assert "own features need a segmenter run" in _row(df, "fid", "t2").note
    assert "no segmenter run on dataset 'tiny'" in _row(df, "seg_dice_real", "t1", "lesion").note
    assert "multimodal run 'fake-run' not usable" in _row(df, "rec_psnr", "t1", "lesion").note
    assert "no pix2pix run" in _row(df, "fill_ssim", "t1").note
    # realism: the hand-made view needs no network; the FID view says why it is missing
    hand = df[(df.extractor == "handmade") & df.metric.str.startswith("c2st")]
    assert hand.value.between(0, 1).all() and set(hand.modality) == {"t1", "t2", "structure"} and len(hand) == 12
    assert sorted(set(hand.metric)) == ["c2st_auc", "c2st_auc_control", "c2st_auc_sd", "c2st_auc_sd_control"]
    assert "own features need a segmenter run" in df[(df.metric == "prd_coverage") & (df.modality == "t1")].note.iloc[0]
    skipped = df[df.value.isna()]
    assert (skipped.n == 0).all() and (skipped.note != "").all()
    saved = pd.read_parquet(ws.synthetic / "fake" / "evaluation.parquet")
    pd.testing.assert_frame_equal(saved, df)


def test_with_runs_every_metric_is_computed_and_saved(ws, fast_frd):
    fake_run(ws.root, "segmenter", "seg")
    fake_run(ws.root, "multimodal", "fake-run")  # the run the fake set names
    fake_run(ws.root, "pix2pix", "p2p", modality="t2")
    fake_run(ws.root, "translator", "tr", base_channels=4, depth=2)  # registration: no helper recorded, so given
    seen = []
    df = evaluate_set(ws, "fake", "tiny", n_frd=5, n_pairs=8, seed=1, translator_run="tr",
                      progress=lambda f, m: seen.append((f, m)))
    assert seen[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in seen)
    assert df.value.notna().all(), df[df.value.isna()]
    assert len(fast_frd) == 4 and {c["masks"] for c in fast_frd} == {True, False} and fast_frd[0]["n"] == 5
    for m in ("t1", "t2"):
        fid = _row(df, "fid", m)
        assert fid.extractor == "own:seg" and fid.value > 0 and fid.n == 12 and "4 real (test) vs 12 synthetic" in fid.note
        assert _row(df, "kid_std", m).value >= 0
        assert _row(df, "frd", m, "lesion").extractor == "radiomics"
        for side in ("real", "synthetic"):
            assert 0 <= _row(df, f"seg_dice_{side}", m, "lesion").value <= 1
            assert 0 <= _row(df, f"seg_mse_{side}", m, "lesion").value <= 1
        assert _row(df, "seg_dice_real", m, "lesion").n == 4  # every tiny test slice has a lesion
        rec = _row(df, "rec_psnr", m, "lesion")
        assert rec.extractor == "multimodal:fake-run" and rec.n == 4 and np.isfinite(rec.value)
        assert 0 < _row(df, "rec_ssim", m).value <= 1
    # realism rows: C2ST in both views (and the structure maps), PRDC in the FID view, each with its control
    for m in ("t1", "t2"):
        for view in ("handmade", "own:seg"):
            auc = df[(df.metric == "c2st_auc") & (df.modality == m) & (df.extractor == view)]
            ctl = df[(df.metric == "c2st_auc_control") & (df.modality == m) & (df.extractor == view)]
            assert len(auc) == len(ctl) == 1 and auc.n.item() == 12 and "seed 1" in auc.note.item()
            assert "8 real val+test slices of 2 subjects" in ctl.note.item()
        for k in ("precision", "recall", "density", "coverage"):
            for suffix in ("", "_control"):
                assert _row(df, f"prd_{k}{suffix}", m).extractor == "own:seg"
    assert _row(df, "c2st_auc", "structure").extractor == "handmade"
    cat = SyntheticSet(ws.synthetic / "fake").catalog
    assert {"realness", "realness_t1", "realness_t2", "realness_structure"} <= set(cat.columns)
    assert cat.realness.between(0, 1).all()
    fill = df[df.metric.str.startswith("fill_")]
    # 4 metrics x 2 regions the usual way, and PSNR/SSIM of whole slices in the liver paper's convention
    assert set(fill.modality) == {"t2"} and set(fill.extractor) == {"pix2pix:p2p"} and len(fill) == 10
    assert _row(df, "fill_psnr_paper", "t2").value == pytest.approx(_row(df, "fill_psnr", "t2").value + 48.1308, abs=1e-3)
    # evaluating again replaces the rows with the same key instead of piling them up
    again = evaluate_set(ws, "fake", "tiny", frd=False, n_pairs=8, seed=1, translator_run="tr")
    saved = load_evaluations(ws)
    assert len(again) == len(df) and len(saved) == len(df)
    assert not saved.duplicated(["dataset", "extractor", "metric", "modality", "region"]).any()
    assert _row(saved, "fid", "t1").value == _row(again, "fid", "t1").value
    assert _row(saved, "frd", "t2", "lesion").value == _row(df, "frd", "t2", "lesion").value  # the skip kept it


def test_realism_can_be_switched_off_and_keeps_an_earlier_realness_table(ws):
    from synth_core.synthesis.realness import REALNESS_FILE

    df = evaluate_set(ws, "fake", "tiny", frd=False, n_pairs=4, realism=False)
    assert not df.metric.str.startswith("prd_").any()
    off = df[df.metric == "c2st_auc"]
    assert off.value.isna().all() and (off.note == "realism metrics switched off").all()
    assert not (ws.synthetic / "fake" / REALNESS_FILE).exists()
    assert "realness" not in SyntheticSet(ws.synthetic / "fake").catalog


def test_foreign_runs_are_skipped_with_a_note(ws):
    fake_run(ws.root, "segmenter", "elsewhere", fingerprint="0" * 64)
    df = evaluate_set(ws, "fake", "tiny", frd=False, n_pairs=4, segmenter_run="elsewhere")
    assert "trained on another dataset" in _row(df, "seg_mse_synthetic", "t2", "lesion").note
    assert "trained on another dataset" in _row(df, "kid", "t1").note


def test_merge_keeps_other_feature_spaces_and_drops_superseded_skips():
    base = dict(set="s", dataset="d", run="r", modality="t1", region="image", n=3, metric_version="v", created="c", note="")
    old = pd.DataFrame([
        {**base, "metric": "fid", "value": 1.0, "extractor": "own:seg"},
        {**base, "metric": "fid", "value": 2.0, "extractor": "inception:abc"},
        {**base, "metric": "frd", "value": np.nan, "extractor": "radiomics", "note": "switched off"},
        {**base, "metric": "kid", "value": 0.1, "extractor": "own:seg"},
        {**base, "metric": "seg_mse_real", "value": np.nan, "extractor": "segmenter", "note": "no run"},
    ], columns=COLUMNS)
    new = pd.DataFrame([
        {**base, "metric": "fid", "value": 5.0, "extractor": "own:seg"},
        {**base, "metric": "frd", "value": 0.5, "extractor": "radiomics"},
        {**base, "metric": "kid", "value": np.nan, "extractor": "own:seg", "note": "failed"},
        {**base, "metric": "seg_mse_real", "value": np.nan, "extractor": "segmenter", "note": "still no run"},
    ], columns=COLUMNS)
    merged = merge_evaluations(old, new)
    assert sorted(zip(merged.metric, merged.extractor, merged.value.fillna(-1), merged.note)) == [
        ("fid", "inception:abc", 2.0, ""), ("fid", "own:seg", 5.0, ""), ("frd", "radiomics", 0.5, ""),
        ("kid", "own:seg", 0.1, ""), ("seg_mse_real", "segmenter", -1, "still no run")]


def test_bad_input_is_a_one_line_error(ws, workspace, tmp_path):
    with pytest.raises(NotFoundError, match="synthetic 'nope' not found"):
        evaluate_set(ws, "nope", "tiny")
    with pytest.raises(NotFoundError, match="datasets 'other' not found"):
        evaluate_set(ws, "fake", "other")
    make_tiny_dataset(workspace, name="tiny2", seed=1)
    with pytest.raises(ConfigError, match="set 'fake' was made from dataset 'tiny' .* not from 'tiny2'"):
        evaluate_set(ws, "fake", "tiny2")
    with pytest.raises(InputError, match="missing.pth: no such Inception weights file"):
        evaluate_set(ws, "fake", "tiny", features=str(tmp_path / "missing.pth"))
    with pytest.raises(ConfigError, match="split must be one of"):
        evaluate_set(ws, "fake", "tiny", split="holdout")
    assert not (ws.synthetic / "fake" / "evaluation.parquet").exists()


def _parse(argv):
    p = argparse.ArgumentParser()
    add_evaluate_arguments(p)
    return p.parse_args(argv)


def test_cli_prints_the_table_and_errors_in_one_line(ws, capsys):
    args = _parse(["--set", "fake", "--real", "tiny", "--no-frd", "--n-pairs", "4", "--no-progress"])
    assert run_evaluate_command(args, ws) == 0
    out = capsys.readouterr().out
    assert "set fake  vs  dataset tiny (test)" in out and "diversity_ms_ssim" in out and "FRD switched off" in out
    assert "c2st_auc_control" in out and "handmade" in out
    args = _parse(["--set", "fake", "--real", "tiny", "--features", "/no/such.pth"])
    rc = run_at_edge(lambda: run_evaluate_command(args, ws), debug=False, interrupted="", catch_bugs=True)
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count("\n") == 0 and err.startswith("error: /no/such.pth: no such Inception")


@pytest.mark.slow
def test_real_frd_inside_evaluate_set(workspace):
    make_tiny_dataset(workspace, modalities=("t1",))
    make_fake_set(workspace, n=6)
    df = evaluate_set(workspace, "fake", "tiny", n_frd=4, n_pairs=4)
    for region in ("image", "lesion"):
        row = _row(df, "frd", "t1", region)
        assert row.value > 0 and row.n == 4 and "4 real vs 4 synthetic slices" in row.note


@pytest.mark.slow
def test_inception_features_inside_evaluate_set(workspace, tmp_path):
    import torch

    from synth_core.evaluation.inception import FIDInceptionV3

    make_tiny_dataset(workspace, modalities=("t1",))
    make_fake_set(workspace, n=4)
    torch.manual_seed(0)
    torch.save(FIDInceptionV3().state_dict(), tmp_path / "inception.pth")
    df = evaluate_set(workspace, "fake", "tiny", features=str(tmp_path / "inception.pth"), frd=False, n_pairs=4)
    fid = _row(df, "fid", "t1")  # (a 2048-d covariance root: most of this test's time)
    assert fid.extractor.startswith("inception:") and np.isfinite(fid.value) and "2048-d features" in fid.note
    assert _row(df, "kid", "t1").n == 4
