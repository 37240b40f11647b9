"""Learned output noise (synth_core.nets.noise, the multimodal ``output_noise`` setting): starts as
the plain U-Net, adds each modality's own filter of the noise inside the organ only, and is drawn
reproducibly per sample by the synthesis helpers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.multimodal_model import generate_modalities, has_output_noise
from synth_core.nets import NoisyGenerator, OutputNoise, UNet


def _unet(m: int = 2) -> UNet:
    torch.manual_seed(0)
    return UNet(in_channels=2, out_channels=1, base_channels=4, depth=2, condition_dim=m if m > 1 else 0,
                condition_at="decoder")


def _inputs(b: int = 2, size: int = 16) -> torch.Tensor:
    x = torch.zeros(b, 2, size, size)
    x[:, 0, 4:12, 4:12] = 0.55  # the organ: fused noise level inside, 0 outside
    return x


def test_a_new_noisy_generator_is_the_plain_unet():
    unet = _unet()
    G = NoisyGenerator(unet, kernel=3)
    x, cond = _inputs(), torch.eye(2)
    assert torch.equal(G(x, cond, torch.randn(2, 1, 16, 16)), unet(x, cond))  # filters start at 0
    assert torch.equal(G(x, cond), unet(x, cond))  # no noise given: the clean image
    assert G.condition_dim == 2 and G.noise.weight.shape == (2, 1, 3, 3)


def test_each_modality_adds_its_own_filter_of_the_noise_inside_the_organ_only():
    unet = _unet()
    G = NoisyGenerator(unet, kernel=1)
    with torch.no_grad():
        G.noise.weight[:, 0, 0, 0] = torch.tensor([0.1, 0.3])  # 1x1 filters: plain gains per modality
    x, noise = _inputs(), torch.randn(2, 1, 16, 16)
    cond = torch.eye(2)  # sample 0 is modality 0, sample 1 modality 1
    added = G(x, cond, noise) - unet(x, cond)
    inside = x[:, :1] > 0
    assert torch.allclose(added[0][inside[0]], 0.1 * noise[0][inside[0]], atol=1e-6)
    assert torch.allclose(added[1][inside[1]], 0.3 * noise[1][inside[1]], atol=1e-6)
    assert torch.count_nonzero(added[~inside]) == 0


@settings(max_examples=15, deadline=None)
@given(shift=st.tuples(st.integers(-2, 2), st.integers(-2, 2)), gain=st.floats(0.05, 2.0))
def test_a_filter_is_a_convolution_of_the_noise(shift, gain):
    noise = OutputNoise(n_modalities=1, kernel=5)
    with torch.no_grad():
        noise.weight.zero_()
        noise.weight[0, 0, 2 + shift[0], 2 + shift[1]] = gain
    n = torch.randn(3, 1, 20, 20)
    out = noise(n)
    # a single tap at offset (dy, dx) is the noise shifted by (-dy, -dx), scaled (cross-correlation)
    dy, dx = shift
    core = (slice(None), slice(None), slice(3, 17), slice(3, 17))
    expected = gain * torch.roll(n, shifts=(-dy, -dx), dims=(2, 3))
    assert torch.allclose(out[core], expected[core], atol=1e-5)


def test_generate_modalities_draws_independent_reproducible_noise_per_modality():
    G = NoisyGenerator(_unet(), kernel=1)
    with torch.no_grad():
        G.noise.weight.fill_(0.2)
    x = _inputs()
    a = generate_modalities(G, x, 2, generator=torch.Generator().manual_seed(5))
    b = generate_modalities(G, x, 2, generator=torch.Generator().manual_seed(5))
    c = generate_modalities(G, x, 2, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    clean = generate_modalities(G.unet, x, 2)
    d0, d1 = (a - clean)[:, 0], (a - clean)[:, 1]
    inside = x[:, 0] > 0
    assert not torch.allclose(d0[inside], d1[inside])  # the two modalities got different fields
    given_noise = torch.randn(2, 2, 16, 16)
    out = generate_modalities(G, x, 2, noise=given_noise)
    assert torch.allclose((out - clean)[inside[:, None].expand_as(out)],
                          (0.2 * given_noise)[inside[:, None].expand_as(out)], atol=1e-6)
    with pytest.raises(ValueError, match="expected noise"):
        generate_modalities(G, x, 2, noise=torch.randn(2, 1, 16, 16))
    assert has_output_noise(G) and not has_output_noise(G.unet)


def test_one_modality_and_bad_arguments():
    G = NoisyGenerator(_unet(1), kernel=3)
    assert generate_modalities(G, _inputs(), 1).shape == (2, 1, 16, 16)
    for kernel in (0, 2):
        with pytest.raises(ValueError, match="kernel"):
            OutputNoise(n_modalities=2, kernel=kernel)
    with pytest.raises(ValueError, match="need a condition"):
        OutputNoise(n_modalities=2, kernel=3)(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="expected a condition"):
        OutputNoise(n_modalities=2, kernel=3)(torch.randn(2, 1, 8, 8), torch.eye(3)[:2])
