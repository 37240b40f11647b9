"""evaluate_set's metric families, each called alone on tiny arrays with known answers
(synth_core.evaluation.evaluate: frd_rows, fid_kid_rows, diversity_rows, lesion_validity_rows,
reconstruction_rows, fill_rows); how evaluate_set picks their inputs is tested in test_evaluate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from synth_core.evaluation.evaluate import (FILL_METRICS, REC_METRICS, diversity_rows, fid_kid_rows, fill_rows,
                                            frd_rows, lesion_validity_rows, reconstruction_rows, skip_rows,
                                            texture_rows)
from tests.evaluation.test_frd import _slices

KEYS = {"metric", "modality", "region", "value", "n", "extractor", "note"}


def _by(rows, metric, modality, region="image"):
    (row,) = [r for r in rows if (r["metric"], r["modality"], r["region"]) == (metric, modality, region)]
    return row


def test_skip_rows_are_nan_with_the_reason_for_every_metric_and_modality():
    rows = skip_rows(["a", "b"], ["t1", "t2"], "lesion", "x", "why")
    assert [(r["modality"], r["metric"]) for r in rows] == [("t1", "a"), ("t1", "b"), ("t2", "a"), ("t2", "b")]
    assert all(math.isnan(r["value"]) and r["n"] == 0 and r["note"] == "why" and r["region"] == "lesion" for r in rows)


def test_frd_rows_zero_against_itself_and_a_nan_row_with_the_reason():
    imgs, labels = _slices(4, seed=0)
    real = imgs[:, None]
    empty = np.zeros_like(labels)  # no lesion on the synthetic side: the lesion region cannot be scored
    seen = []
    rows = frd_rows(real, real, labels, empty, ["t1"], n_frd=4, seed=0, progress=lambda f, m: seen.append((f, m)))
    assert [(r["metric"], r["region"]) for r in rows] == [("frd", "image"), ("frd", "lesion")]
    image, lesion = rows
    assert set(image) == KEYS and abs(image["value"]) < 1e-3 and image["n"] == 4  # a degraded side scores > 1 and image["extractor"] == "radiomics"
    assert image["note"].startswith("4 real vs 4 synthetic slices")
    assert math.isnan(lesion["value"]) and lesion["n"] == 0 and "synthetic side has 0 slice" in lesion["note"]
    assert seen == [(0.0, "FRD t1 image"), (0.5, "FRD t1 lesion")]


class _MeanStd:
    """A two-number feature space: each slice's mean and standard deviation."""

    name, dim = "meanstd", 2

    def __call__(self, images):
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return np.stack([x.mean(1), x.std(1)], axis=1)


def test_fid_kid_rows_known_answers():
    rng = np.random.default_rng(0)
    real = rng.random((6, 1, 8, 8)).astype(np.float32)
    rows, fs = fid_kid_rows(_MeanStd(), real, real.copy(), "t1", seed=0, counts="6 vs 6")
    assert [r["metric"] for r in rows] == ["fid", "kid", "kid_std"]
    assert _by(rows, "fid", "t1")["value"] == pytest.approx(0.0, abs=1e-6)
    assert all(r["extractor"] == "meanstd" and r["n"] == 6 for r in rows)
    assert _by(rows, "fid", "t1")["note"] == "6 vs 6, 2-d features"
    np.testing.assert_allclose(fs, _MeanStd()(real))
    # shifting every synthetic slice by 0.5 moves the mean feature by 0.5: FID = 0.5^2 (same spread)
    shifted, _ = fid_kid_rows(_MeanStd(), real, real + 0.5, "t1", seed=0, counts="")
    assert _by(shifted, "fid", "t1")["value"] == pytest.approx(0.25, rel=1e-4)
    assert _by(shifted, "kid", "t1")["value"] > 0
    # one synthetic slice: KID cannot be computed, its rows say why
    one, _ = fid_kid_rows(_MeanStd(), real, real[:1], "t1", seed=0, counts="")
    assert math.isnan(_by(one, "kid", "t1")["value"]) and "at least 2" in _by(one, "kid_std", "t1")["note"]


def test_texture_rows_measure_both_sides_and_tell_stripes_from_noise():
    n = 64
    yy, xx = np.mgrid[:n, :n]
    head = ((yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.4 * n) ** 2).astype(np.float32)
    rng = np.random.default_rng(4)
    noisy = np.stack([(0.5 + rng.normal(0, 0.03, (2, n, n))) * head for _ in range(3)]).astype(np.float32)
    stripes = np.stack([np.stack([(0.5 + 0.05 * np.sin(2 * np.pi * yy / 5)) * head] * 2)] * 3).astype(np.float32)
    rows = texture_rows(noisy, stripes, ["t1", "t2"], split="test")
    assert sorted({r["metric"] for r in rows}) == ["grain", "grain_real", "texture", "texture_real"]
    for m in ("t1", "t2"):
        assert _by(rows, "grain", m)["value"] > 0.95 and _by(rows, "grain_real", m)["value"] < 0.3
        assert _by(rows, "texture_real", m)["value"] == pytest.approx(np.sqrt(20) * 0.03, rel=0.1)
        assert _by(rows, "grain", m)["extractor"] == "coherence" and _by(rows, "texture", m)["extractor"] == "laplacian"
        assert _by(rows, "texture", m)["note"] == "median over 3 of 3 synthetic slices"
        assert _by(rows, "grain_real", m)["note"] == "median over 3 of 3 real (test) slices"
    empty = texture_rows(noisy, np.zeros_like(stripes), ["t1", "t2"], split="test")
    assert math.isnan(_by(empty, "grain", "t1")["value"]) and _by(empty, "grain", "t1")["n"] == 0
    assert "none of 3 synthetic slices" in _by(empty, "texture", "t2")["note"]


def test_diversity_rows_known_answers():
    rng = np.random.default_rng(1)
    same = np.repeat(rng.random((1, 2, 32, 32)).astype(np.float32), 4, axis=0)  # four copies of one slice
    varied = rng.random((4, 2, 32, 32)).astype(np.float32)
    rows = diversity_rows(varied, same, ["t1", "t2"], n_pairs=5, seed=0, split="test")
    assert len(rows) == 4
    for m in ("t1", "t2"):
        syn = _by(rows, "diversity_ms_ssim", m)
        assert syn["value"] == pytest.approx(1.0, abs=1e-5) and syn["n"] == 5  # identical pairs
        assert syn["note"] == "5 pairs of 4 synthetic slices" and syn["extractor"] == "ms-ssim"
        assert _by(rows, "diversity_ms_ssim_real", m)["value"] < 0.5  # independent noise
    tiny = diversity_rows(varied[:, :, :4, :4], same[:, :, :4, :4], ["t1", "t2"], n_pairs=5, seed=0, split="test")
    assert all(math.isnan(r["value"]) and "at least 7x7" in r["note"] for r in tiny)


class _Oracle(nn.Module):
    """A segmenter stand-in that calls a pixel lesion when its value exceeds 0.5."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 40.0 * (x - 0.5)], dim=1)


def test_lesion_validity_rows_known_answers():
    lab = np.zeros((3, 16, 16), np.uint8)
    lab[:2, 4:9, 4:9] = 1  # the third slice has no lesion: not scored
    perfect = (lab > 0).astype(np.float32)[:, None]
    blank = np.zeros_like(perfect)
    rows = lesion_validity_rows({"t1": _Oracle()}, perfect, lab, blank, lab, ["t1"], "segmenter:s")
    real, syn = _by(rows, "seg_dice_real", "t1", "lesion"), _by(rows, "seg_dice_synthetic", "t1", "lesion")
    assert real["value"] == pytest.approx(1.0) and real["n"] == 2 and real["note"] == ""
    assert syn["value"] == pytest.approx(0.0) and syn["extractor"] == "segmenter:s"
    assert _by(rows, "seg_mse_real", "t1", "lesion")["value"] < 1e-6
    none = lesion_validity_rows({"t1": _Oracle()}, perfect, lab, blank, np.zeros_like(lab), ["t1"], "s")
    assert math.isnan(_by(none, "seg_dice_synthetic", "t1", "lesion")["value"])
    assert _by(none, "seg_dice_synthetic", "t1", "lesion")["note"] == "no synthetic slice with a lesion"


def test_reconstruction_rows_known_answers():
    rng = np.random.default_rng(2)
    real = rng.random((3, 2, 32, 32)).astype(np.float32)
    lab = np.zeros((3, 32, 32), np.uint8)
    lab[0, 10:20, 10:20] = 1
    rec = real.copy()
    rec[:, 1] = 0.0  # channel t2 reconstructed as black
    rows = reconstruction_rows(rec, real, lab, ["t1", "t2"], "multimodal:m")
    assert {r["metric"] for r in rows} == set(REC_METRICS) and len(rows) == 16
    assert _by(rows, "rec_mse", "t1")["value"] == 0.0 and _by(rows, "rec_ssim", "t1")["value"] == pytest.approx(1.0)
    assert _by(rows, "rec_mse", "t2")["value"] == pytest.approx(float((real[:, 1] ** 2).mean()), rel=1e-5)
    lesion = _by(rows, "rec_mse", "t2", "lesion")
    box = real[0, 1, 8:22, 8:22]  # the lesion box grown by its 2-px margin
    assert lesion["n"] == 1 and lesion["value"] == pytest.approx(float((box ** 2).mean()), rel=1e-5)
    small = reconstruction_rows(rec[..., :4, :4], real[..., :4, :4], lab[:, :4, :4], ["t1", "t2"], "m")
    assert len(small) == 16 and all(math.isnan(r["value"]) for r in small)


class _Black(nn.Module):
    """A pix2pix stand-in that paints everything black."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros_like(x)


def test_fill_rows_known_answers():
    rng = np.random.default_rng(3)
    real = (0.2 + 0.6 * rng.random((3, 32, 32))).astype(np.float32)
    lab = np.zeros((3, 32, 32), np.uint8)
    lab[1, 8:16, 8:16] = 1  # one lesion slice: only it is filled and scored
    rows = fill_rows(_Black(), "t2", real, lab, split="test", extractor="pix2pix:p")
    mse = _by(rows, "fill_mse", "t2")
    assert mse["n"] == 1 and mse["value"] == pytest.approx(float((real[1] ** 2).mean()), rel=1e-5)
    assert mse["note"] == "1 real test lesion slices" and mse["extractor"] == "pix2pix:p"
    paper, usual = _by(rows, "fill_psnr_paper", "t2"), _by(rows, "fill_psnr", "t2")
    assert paper["value"] == pytest.approx(usual["value"] + 20 * math.log10(255), rel=1e-4)
    none = fill_rows(_Black(), "t2", real, np.zeros_like(lab), split="val", extractor="pix2pix:p")
    assert len(none) == 2 * len(FILL_METRICS) and all(math.isnan(r["value"]) for r in none)
    assert none[0]["note"] == "no real val slice with a lesion"
