"""Which way each evaluation metric is better (synth_core.evaluation.table.better, LOWER_BETTER): one
definition beside the metric definitions, read by the Quality page and the report."""

from __future__ import annotations

import pytest

from synth_core.evaluation.table import LOWER_BETTER, METRIC_HELP, METRIC_VERSIONS, better


@pytest.mark.parametrize("metric, direction", [
    ("frd", "lower"), ("fid", "lower"), ("kid", "lower"), ("kid_std", "lower"), ("diversity_ms_ssim", "lower"),
    ("seg_mse_synthetic", "lower"), ("rec_mse", "lower"), ("fill_mse", "lower"),
    ("rec_psnr", "higher"), ("fill_ssim_paper", "higher"), ("seg_dice_synthetic", "higher"), ("prd_coverage", "higher"),
    ("c2st_auc", "closer to 0.5"), ("texture", "closer to real"), ("grain", "closer to real"),
    ("texture_real", "reference (real data)"), ("grain_real", "reference (real data)"),
    ("c2st_auc_control", "reference (real data)"), ("c2st_auc_sd", "lower"), ("c2st_auc_sd_control", "reference (real data)"), ("diversity_ms_ssim_real", "reference (real data)"),
    ("seg_mse_real", "reference (real data)"), ("prd_recall_control", "reference (real data)"),
])
def test_known_directions(metric, direction):
    assert better(metric) == direction


def test_lower_better_names_only_metrics_that_exist():
    assert LOWER_BETTER <= set(METRIC_VERSIONS)  # a renamed metric cannot leave a stale name behind


def test_directions_agree_with_the_plain_words_help():
    for metric in METRIC_VERSIONS:
        text = METRIC_HELP[metric].lower()
        if "lower is better" in text:
            assert better(metric) != "higher", metric
        if "higher is better" in text:
            assert better(metric) != "lower", metric


def test_the_report_uses_the_same_definition():
    from synth_core.report import build

    assert build.better is better and not hasattr(build, "LOWER_BETTER")
