"""Classifier two-sample test: known answers on seeded toy images, subject-grouped folds, realness."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.evaluation.c2st import (
    HAND_VIEW_DIM,
    C2STError,
    _block_means,
    assign_folds,
    c2st,
    handmade_features,
)


def _discs(rng: np.random.Generator, n: int, *, level: float = 0.5, size: int = 32) -> np.ndarray:
    """Noisy discs of random radius: one 'scan' per image."""
    yy, xx = np.mgrid[:size, :size]
    r = size * (0.3 + 0.1 * rng.random(n))
    disc = np.hypot(yy - size / 2, xx - size / 2)[None] < r[:, None, None]
    return np.clip(disc * level + rng.normal(0, 0.05, (n, size, size)), 0, 1)


SUBJECTS = np.repeat(np.arange(20), 10)  # 200 real slices, 10 per subject


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_identical_distributions_give_auc_near_one_half(seed):
    rng = np.random.default_rng(seed)
    a, b = handmade_features(_discs(rng, 200)), handmade_features(_discs(rng, 200))
    res = c2st(a, b, SUBJECTS, seed=seed)
    assert abs(res.auc - 0.5) < 0.15, res.auc
    assert res.n_folds == 5 and res.n_real == 200 and res.n_other == 200


@pytest.mark.parametrize("seed", [0, 1])
def test_shifted_distributions_are_told_apart(seed):
    rng = np.random.default_rng(seed)
    a, b = handmade_features(_discs(rng, 200)), handmade_features(_discs(rng, 200, level=0.6))
    assert c2st(a, b, SUBJECTS, seed=seed).auc > 0.95


def test_realness_is_one_probability_per_synthetic_sample_in_0_1_and_seeded():
    rng = np.random.default_rng(3)
    a, b = handmade_features(_discs(rng, 200)), handmade_features(_discs(rng, 150, level=0.55))
    res = c2st(a, b, SUBJECTS, seed=4)
    assert res.p_real.shape == (150,) and np.all((res.p_real >= 0) & (res.p_real <= 1))
    assert np.array_equal(res.p_real, c2st(a, b, SUBJECTS, seed=4).p_real)
    # the refitted model scores unseen samples in [0, 1] too
    p = res.model.predict_proba(handmade_features(_discs(rng, 7)))[:, 1]
    assert p.shape == (7,) and np.all((p >= 0) & (p <= 1))


def test_folds_keep_each_subject_in_one_fold_and_hold_both_sides():
    rng = np.random.default_rng(0)
    real_groups = np.repeat([f"case{i}" for i in range(7)], rng.integers(1, 9, 7))
    labels = np.r_[np.ones(len(real_groups)), np.zeros(30)]
    groups = np.r_[np.char.add("r:", real_groups), [f"s:{i}" for i in range(30)]]
    for seed in range(5):
        folds = assign_folds(labels, groups, 5, seed)
        assert folds.min() == 0 and folds.max() == 4
        for g in np.unique(groups):
            assert len(np.unique(folds[groups == g])) == 1, g
        for f in range(5):
            assert set(labels[folds == f]) == {0.0, 1.0}
    # inside the test itself: a real subject's slices share one fold
    res = c2st(rng.random((len(real_groups), 4)), rng.random((30, 4)), real_groups, seed=1)
    real_folds = res.folds[: len(real_groups)]
    for g in np.unique(real_groups):
        assert len(np.unique(real_folds[real_groups == g])) == 1


def test_too_few_subjects_is_a_clear_error():
    rng = np.random.default_rng(0)
    with pytest.raises(C2STError, match="at least 2 subjects on each side, got 1 real"):
        c2st(rng.random((10, 3)), rng.random((10, 3)), np.zeros(10))
    res = c2st(rng.random((10, 3)), rng.random((10, 3)), np.repeat([0, 1], 5))
    assert res.n_folds == 2  # k shrinks to the smaller side's subjects


def test_handmade_view_shape_and_parts():
    rng = np.random.default_rng(0)
    x = rng.random((3, 64, 64))
    f = handmade_features(x)
    assert f.shape == (3, HAND_VIEW_DIM) and np.isfinite(f).all()
    assert np.allclose(f[:, :256], x.reshape(3, 16, 4, 16, 4).mean(axis=(2, 4)).reshape(3, 256))
    assert np.allclose(f[:, 256:272].sum(axis=1), 1.0) and np.allclose(f[:, 272:288].sum(axis=1), 1.0)
    # odd sizes pool like torch's adaptive average pooling; binary maps and (N, 1, H, W) work
    import torch

    odd = rng.random((2, 37, 23))
    ref = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(odd)[:, None], 16).numpy().reshape(2, 256)
    assert np.allclose(_block_means(odd, 16), ref)
    maps = (rng.random((2, 1, 32, 32)) > 0.8).astype(np.uint8)
    assert handmade_features(maps).shape == (2, HAND_VIEW_DIM)


# ---- repeated fold splits ------------------------------------------------------------------------
def _few_synthetic(seed: int = 5, n_other: int = 24):
    rng = np.random.default_rng(seed)
    return handmade_features(_discs(rng, 200)), handmade_features(_discs(rng, n_other, level=0.505))


def test_repeats_average_the_split_aucs_and_report_their_spread():
    a, b = _few_synthetic()
    res = c2st(a, b, SUBJECTS, seed=3, repeats=4)
    assert len(res.aucs) == 4 == res.repeats
    assert res.auc == pytest.approx(np.mean(res.aucs))
    assert res.auc_sd == pytest.approx(np.std(res.aucs, ddof=1))
    assert len(set(res.aucs)) > 1 and res.auc_sd > 0  # 24 samples: the split matters
    # the first split is the single-split test of the same seed; its realness is one of the averaged ones
    one = c2st(a, b, SUBJECTS, seed=3, repeats=1)
    assert one.aucs == (res.aucs[0],) and np.isnan(one.auc_sd) and one.auc == res.aucs[0]
    assert np.array_equal(one.folds, res.folds)
    assert res.p_real.shape == (24,) and np.all((res.p_real >= 0) & (res.p_real <= 1))
    assert "mean of 4 fold splits" in res.note() and "sd " in res.note() and one.note() == "5-fold, subject-grouped"
    assert res.few and not c2st(a, a[:150], SUBJECTS, SUBJECTS[:150], repeats=2).few


def test_the_mean_over_splits_moves_less_with_the_seed_than_one_split():
    """What the repeats are for: with 24 samples one split's AUC depends on the fold seed much more
    than the mean over five splits does (seeds 10 apart, so no split is shared)."""
    a, b = _few_synthetic()
    single = [c2st(a, b, SUBJECTS, seed=s, repeats=1).auc for s in range(0, 120, 10)]
    mean5 = [c2st(a, b, SUBJECTS, seed=s, repeats=5).auc for s in range(0, 120, 10)]
    assert np.std(mean5) < 0.6 * np.std(single), (np.std(mean5), np.std(single))


def test_repeats_must_be_positive():
    a, b = _few_synthetic()
    with pytest.raises(ValueError, match="repeats"):
        c2st(a, b, SUBJECTS, repeats=0)
