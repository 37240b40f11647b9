"""FRD with the frd-score package on tiny slices: zero against itself, larger when degraded,
lesion-region variant, and clear errors when a side has too few usable slices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from synth_core.errors import ConfigError, InputError
from synth_core.evaluation.frd import frd


def _slices(n: int, seed: int, size: int = 32):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    imgs = np.zeros((n, size, size), np.float32)
    labels = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        organ = np.hypot(yy - size / 2, xx - size / 2) < size * (0.35 + 0.05 * rng.random())
        d = np.hypot(yy - size / 2 - rng.integers(-3, 4), xx - size / 2 - rng.integers(-3, 4))
        lesion = d < size * (0.12 + 0.04 * rng.random())
        labels[i][lesion] = 1
        imgs[i] = np.clip(organ * 0.4 + lesion * 0.3 + ndimage.gaussian_filter(rng.normal(0, 0.08, (size, size)), 1.0), 0, 1)
    return imgs, labels


def test_frd_is_zero_against_itself_and_grows_with_degradation():
    real, _ = _slices(6, seed=0)
    same = frd(real, real, n=4, seed=0)
    assert same.n_real == same.n_synthetic == 4 and same.n_features > 50 and same.dropped == 0
    noisy = np.clip(real + np.random.default_rng(1).normal(0, 0.15, real.shape), 0, 1).astype(np.float32)
    worse = frd(real, noisy, n=4, seed=0)
    assert abs(same.value) < 1e-6 * worse.value and worse.value > 1.0
    assert worse.log_value == pytest.approx(np.log(worse.value))


def test_frd_of_the_lesion_region_sees_a_blurred_lesion():
    real, labels = _slices(5, seed=3)
    blurred = real.copy()
    blurred[labels > 0] = ndimage.gaussian_filter(real, (0, 2.0, 2.0))[labels > 0]  # lesion texture only
    res = frd(real, blurred, real_masks=labels, synthetic_masks=labels, n=4, seed=0)
    assert res.n_real == res.n_synthetic == 4 and res.value > 1.0


def test_frd_refuses_sides_without_enough_usable_slices():
    real, labels = _slices(4, seed=2)
    tiny = np.zeros_like(labels)
    tiny[:, 5, 5] = 1  # one-pixel "lesions" are below min_lesion_pixels
    with pytest.raises(InputError, match="synthetic side has 0 slice"):
        frd(real, real, real_masks=labels, synthetic_masks=tiny, n=4)
    with pytest.raises(InputError, match="real side has 1 slice"):
        frd(real[:1], real, n=4)
    with pytest.raises(ConfigError, match="norm_ref must be one of joint, d1"):
        frd(real, real, norm_ref="independent")
