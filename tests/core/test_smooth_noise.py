"""Eq. 12's noise made spatially smooth (``noise_blur``): every pixel keeps the law U(low, high),
neighbours become correlated, contours and the outside are untouched, the thesis path is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from synth_core.errors import ConfigError
from synth_core.multimodal_model import fuse_noise_torch, smooth_uniform
from synth_core.nets.blur import gaussian_kernel
from synth_core.runs.stage_configs import MultimodalConfig
from synth_core.synthesis.models import GenerationSettings


def _neighbour_corr(u: torch.Tensor) -> float:
    a, b = u[..., 8:-8, 8:-9].flatten().numpy(), u[..., 8:-8, 9:-8].flatten().numpy()
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize("blur", [0.7, 1.5, 3.0])
def test_smooth_noise_is_uniform_per_pixel_and_correlated_between_neighbours(blur):
    u = smooth_uniform((32, 1, 64, 64), blur, generator=torch.Generator().manual_seed(0))
    assert u.shape == (32, 1, 64, 64) and u.dtype == torch.float32
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0
    interior = u[..., 10:-10, 10:-10]  # away from the reflect-padded border
    # one pixel per map and position block is close to independent: test the law on a sparse grid
    sample = interior[..., ::11, ::11].flatten().numpy()
    assert stats.kstest(sample, "uniform").pvalue > 1e-3
    assert abs(float(interior.mean()) - 0.5) < 0.02 and abs(float(interior.std()) - (1 / 12) ** 0.5) < 0.02
    # a Gaussian field with kernel sd s has neighbour correlation exp(-1 / (4 s^2)); the CDF keeps it close
    assert _neighbour_corr(u) == pytest.approx(np.exp(-1 / (4 * blur**2)), abs=0.06)


def test_smoother_noise_correlates_further():
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    corr = [_neighbour_corr(smooth_uniform((8, 1, 48, 48), b, generator=g())) for b in (0.7, 1.5, 3.0)]
    assert corr[0] < corr[1] < corr[2]
    white = torch.rand((8, 1, 48, 48), generator=g())
    assert abs(_neighbour_corr(white)) < 0.05


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), low=st.floats(0.0, 0.5), width=st.floats(0.0, 0.5),
       blur=st.floats(0.3, 3.0))
def test_smooth_fusion_keeps_contours_and_outside(seed, low, width, blur):
    rng = np.random.default_rng(seed)
    s = torch.from_numpy(rng.random((2, 1, 24, 24)) < 0.3).float()
    m = torch.from_numpy(rng.random((2, 1, 24, 24)) < 0.6).float()
    high = low + width
    out = fuse_noise_torch(s, m, low, high, blur=blur, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(out[s == 1], torch.ones_like(out[s == 1]))
    outside = (m == 0) & (s == 0)
    assert torch.equal(out[outside], torch.zeros_like(out[outside]))
    inside = (m == 1) & (s == 0)
    assert bool(((out[inside] >= low - 1e-6) & (out[inside] <= high + 1e-6)).all())
    again = fuse_noise_torch(s, m, low, high, blur=blur, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(out, again)


def test_blur_zero_is_the_thesis_draw():
    s, m = torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16)
    ref = torch.rand((1, 1, 16, 16), generator=torch.Generator().manual_seed(5)) * 0.1 + 0.5
    out = fuse_noise_torch(s, m, 0.5, 0.6, generator=torch.Generator().manual_seed(5), blur=0.0)
    assert torch.equal(out, ref)
    smooth = fuse_noise_torch(s, m, 0.5, 0.6, generator=torch.Generator().manual_seed(5), blur=1.0)
    assert not torch.equal(out, smooth)


def test_bad_blur_is_refused():
    s = torch.zeros(1, 1, 16, 16)
    with pytest.raises(ValueError, match="noise blur must be >= 0"):
        fuse_noise_torch(s, s, blur=-1.0)
    with pytest.raises(ValueError, match="too large"):
        smooth_uniform((1, 1, 8, 8), 4.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_kernel(0.0)
    with pytest.raises(ConfigError, match="noise_blur"):
        MultimodalConfig(noise_blur=-0.5)
    with pytest.raises(ConfigError, match="noise_blur"):
        GenerationSettings(noise_blur=9.0)


def test_kernel_is_normalised_and_symmetric():
    k = gaussian_kernel(1.5)
    assert len(k) == 2 * 5 + 1 and float(k.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(k, k.flip(0)) and int(k.argmax()) == 5


def test_first_channel_is_the_fused_map_the_plain_map_or_noise_under_the_switches():
    from synth_core.multimodal_model import first_channel, noise_input

    s = torch.zeros(2, 1, 16, 16)
    s[:, :, 4, 2:14] = 1
    m = torch.zeros_like(s)
    m[:, :, 2:14, 2:14] = 1
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    fused = first_channel(s, m, low=0.2, high=0.3, blur=1.0, generator=g())
    assert torch.equal(fused, fuse_noise_torch(s, m, 0.2, 0.3, blur=1.0, generator=g()))
    inside = (m > 0) & (s == 0)
    assert fused[inside].min() >= 0.2 and fused[inside].max() < 0.3 and torch.all(fused[s > 0] == 1)
    assert torch.equal(first_channel(s, m, noise_fusion=False, generator=g()), s)  # ablation C: s' = s
    noise = first_channel(s, m, use_structure=False, generator=g())  # ablation A: noise only
    assert torch.equal(noise, noise_input(s.shape, generator=g())) and noise[m == 0].std() > 0.2
