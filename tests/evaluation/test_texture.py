"""Fine-texture measure: known answers on flat, noisy, blurred and empty images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from synth_core.evaluation.texture import coherence, coherence_ratio, texture, texture_ratio


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


def _stripes(n: int, angle: float, period: float = 6.0, amp: float = 0.05) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    along = yy * np.cos(angle) + xx * np.sin(angle)
    return (0.5 + amp * np.sin(2 * np.pi * along / period)) * (_disc(n) > 0)


def test_coherence_tells_stripes_from_noise_of_the_same_texture():
    rng = np.random.default_rng(2)
    noise = (0.5 + rng.normal(0, 0.03, (96, 96))) * (_disc(96) > 0)
    stripes = _stripes(96, 0.0)
    coh = coherence(np.stack([stripes, noise]))
    assert coh[0] > 0.95 and coh[1] < 0.2
    assert coherence_ratio(stripes[None], noise[None]) > 5
    assert coherence_ratio(noise[None], noise[None]) == pytest.approx(1.0)


def test_coherence_does_not_take_the_head_outline_for_detail():
    # a flat head and a head of pure noise: the outline would be perfectly coherent if it counted
    assert np.isnan(coherence(_disc(96)[None]))[0]
    rng = np.random.default_rng(3)
    noisy = (0.5 + rng.normal(0, 0.01, (96, 96))) * (_disc(96) > 0)
    assert coherence(noisy[None], erode=0)[0] < 0.25


def test_coherence_refuses_bad_arguments_and_is_nan_without_foreground():
    assert np.isnan(coherence(np.zeros((1, 32, 32))))[0]
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        coherence(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="window"):
        coherence(_disc(32)[None], window=0)


@settings(max_examples=20, deadline=None)
@given(angle=st.floats(0.0, np.pi), scale=st.floats(0.2, 5.0))
def test_stripes_are_coherent_at_any_angle_and_contrast_does_not_matter(angle, scale):
    img = _stripes(96, angle)
    a = coherence(img[None])[0]
    assert a > 0.9
    assert coherence((img * scale)[None])[0] == pytest.approx(a, rel=1e-6)
