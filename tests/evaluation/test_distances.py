"""FID / Fréchet distance and KID against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.evaluation.distances import (
    fid_from_features,
    frechet_distance,
    gaussian_stats,
    kid_from_features,
    polynomial_mmd2,
)


def test_identical_features_give_zero_fid():
    f = np.random.default_rng(0).normal(size=(50, 8))
    assert abs(fid_from_features(f, f)) < 1e-8
    mu, s = gaussian_stats(f)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8


def test_frechet_distance_of_known_gaussians():
    # diagonal: |mu1-mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2)) = 5 + (1 + 4 - 4) + (4 + 9 - 12) = 7
    assert frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([4.0, 9.0])) == pytest.approx(7.0)
    # full covariance against the identity: Tr(I + A - 2 A^(1/2)), A^(1/2) from the eigen-decomposition
    a = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 0.5]])
    w, v = np.linalg.eigh(a)
    root = v @ np.diag(np.sqrt(w)) @ v.T
    mu2 = np.array([0.5, -1.0, 0.0])
    expected = mu2 @ mu2 + np.trace(np.eye(3) + a - 2 * root)
    assert frechet_distance(np.zeros(3), np.eye(3), mu2, a) == pytest.approx(expected, rel=1e-9)
    # from samples: the estimate converges to the analytic value
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40000, 2)) * [1.0, 2.0]
    y = rng.normal(size=(40000, 2)) * [2.0, 3.0] + [1.0, 2.0]
    assert fid_from_features(x, y) == pytest.approx(7.0, rel=0.03)


def test_singular_covariances_are_handled():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 20)), rng.normal(size=(5, 20)) + 1.0  # rank-4 covariances in 20 dims
    d = fid_from_features(x, y)
    assert np.isfinite(d) and d > 10
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_features(x[:1], y)
    with pytest.raises(ValueError, match="feature sizes differ"):
        fid_from_features(x, y[:, :3])


def test_polynomial_mmd2_matches_the_definition():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)) + 0.5
    k = lambda a, b: (a @ b / 4 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert polynomial_mmd2(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_is_about_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    mean, std, m = kid_from_features(a, b, n_subsets=50, subset_size=100, seed=0)
    assert m == 100 and std > 0 and abs(mean) < max(3 * std, 1e-3)
    far, far_std, _ = kid_from_features(a, b + 1.0, n_subsets=50, subset_size=100, seed=0)
    assert far > 10 * far_std and far > 0.1
    # seeded; small sets shrink the subset
    assert kid_from_features(a, b, n_subsets=5, subset_size=100, seed=7) == kid_from_features(a, b, n_subsets=5, subset_size=100, seed=7)
    assert kid_from_features(a[:10], b, n_subsets=3)[2] == 10
