"""Fine-texture measure: known answers on flat, noisy, blurred and empty images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from synth_core.evaluation.texture import texture, texture_ratio


def _disc(n: int = 64, value: float = 0.5) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return np.where((yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.4 * n) ** 2, value, 0.0)


def test_a_flat_foreground_has_no_texture_and_its_outline_is_not_counted():
    assert texture(_disc()[None]) == pytest.approx([0.0], abs=1e-12)


def test_white_noise_gives_sqrt_20_sigma():
    rng = np.random.default_rng(0)
    sigma = 0.02
    img = _disc(128) + rng.normal(0, sigma, (128, 128)) * (_disc(128) > 0)
    assert texture(img[None])[0] == pytest.approx(np.sqrt(20) * sigma, rel=0.05)


def test_blurring_lowers_texture_and_the_ratio_says_by_how_much():
    rng = np.random.default_rng(1)
    real = np.stack([_disc() + rng.normal(0, 0.03, (64, 64)) * (_disc() > 0) for _ in range(6)])
    smooth = np.stack([ndimage.gaussian_filter(r, 1.0) * (_disc() > 0) for r in real])
    assert texture_ratio(real, real) == pytest.approx(1.0)
    assert texture_ratio(smooth, real) < 0.3


def test_images_without_foreground_are_nan_and_bad_shapes_are_refused():
    out = texture(np.stack([np.zeros((32, 32)), _disc(32)]))
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(texture_ratio(np.zeros((2, 32, 32)), _disc(32)[None]))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        texture(np.zeros((32, 32)))


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(0.1, 4.0), seed=st.integers(0, 1000))
def test_texture_scales_linearly_with_contrast(scale, seed):
    rng = np.random.default_rng(seed)
    img = (_disc(48, 0.2) + rng.normal(0, 0.01, (48, 48)) * (_disc(48) > 0))[None]
    a = texture(img, floor=0.0)[0]
    b = texture(img * scale, floor=0.0)[0]
    assert b == pytest.approx(a * scale, rel=1e-9)
