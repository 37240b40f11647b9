"""Diversity: mean pairwise MS-SSIM within a set."""

from __future__ import annotations

import numpy as np

from synth_core.evaluation.diversity import pair_indices, pairwise_ms_ssim


def test_identical_images_score_one_and_independent_noise_scores_low():
    img = np.random.default_rng(0).random((1, 64, 64)).astype(np.float32)
    same, k = pairwise_ms_ssim(np.repeat(img, 6, axis=0), n_pairs=20, seed=0)
    assert k == 15 and abs(same - 1.0) < 1e-5
    noise = np.random.default_rng(1).random((10, 64, 64)).astype(np.float32)
    low, k = pairwise_ms_ssim(noise, n_pairs=20, seed=0)
    assert k == 20 and low < 0.1
    assert np.isnan(pairwise_ms_ssim(noise[:1])[0])


def test_pairs_are_distinct_seeded_and_exhaustive_when_few():
    i, j = pair_indices(5, 100)
    assert len(i) == 10 and set(zip(i.tolist(), j.tolist())) == {(a, b) for a in range(5) for b in range(a + 1, 5)}
    i, j = pair_indices(50, 30, seed=3)
    assert len(i) == 30 and np.all(i != j) and np.all((0 <= j) & (j < 50))
    assert all(np.array_equal(a, b) for a, b in zip(pair_indices(50, 30, seed=3), (i, j)))
