"""The per-sample style code (synth_core.nets.style, the multimodal ``style_quantiles`` setting):
codes are intensity quantiles inside the organ and outside the lesion, the prior has the training codes' mean and
covariance, the U-Net reads each modality's own code, and ``generate_modalities`` draws codes
reproducibly when none is given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.multimodal_model import generate_modalities
from synth_core.nets import NoisyGenerator, StylePrior, UNet
from synth_core.nets.style import check_quantiles, style_codes, style_prior_of


def test_codes_are_the_quantiles_inside_the_organ():
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 12, 12)).astype(np.float32)
    masks = np.zeros((2, 1, 12, 12), np.float32)
    masks[0, 0, 2:9, 3:10] = 1  # 49 pixels
    masks[1, 0, :3, :5] = 1  # 15 pixels: too small an organ for a code
    codes, valid = style_codes(torch.from_numpy(images), torch.from_numpy(masks), (0.1, 0.5, 0.9))
    assert codes.shape == (2, 3, 3) and valid.tolist() == [True, False]
    inside = masks[0, 0] > 0
    for m in range(3):
        np.testing.assert_allclose(codes[0, m].numpy(), np.quantile(images[0, m][inside], [0.1, 0.5, 0.9]), atol=1e-6)
    assert torch.count_nonzero(codes[1]) == 0
    # a (B, H, W) mask reads the same
    again, _ = style_codes(torch.from_numpy(images), torch.from_numpy(masks[:, 0]), (0.1, 0.5, 0.9))
    assert torch.equal(again, codes)
    # with a label map the lesion is left out: the code reads the healthy tissue only
    labels = np.zeros((2, 12, 12), np.int64)
    labels[0, 2:5, 3:10] = 2  # 21 of the organ's 49 pixels
    labels[1, :3, :5] = 1
    images[0, :, 2:5, 3:10] = 5.0  # a lesion far brighter than anything else
    healthy, ok = style_codes(torch.from_numpy(images), torch.from_numpy(masks), (0.1, 0.5, 0.9),
                              torch.from_numpy(labels))
    assert ok.tolist() == [True, False]
    tissue = inside & (labels[0] == 0)
    for m in range(3):
        np.testing.assert_allclose(healthy[0, m].numpy(), np.quantile(images[0, m][tissue], [0.1, 0.5, 0.9]), atol=1e-6)
    assert float(healthy[0].max()) < 1.0  # the bright lesion does not reach the code
    few = labels.copy()
    few[0, 2:9, 3:9] = 1  # 42 of 49 lesion: 7 healthy pixels, too few for a code
    assert style_codes(torch.from_numpy(images), torch.from_numpy(masks), (0.5,), torch.from_numpy(few))[1].tolist() == [False, False]
    with pytest.raises(ValueError, match="expected lesions"):
        style_codes(torch.from_numpy(images), torch.from_numpy(masks), (0.5,), torch.zeros(2, 12, 11))


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.9, 0.1), (0.0, 0.5), (0.5, 1.0), tuple(np.linspace(0.05, 0.95, 9))])
def test_bad_quantile_levels_are_refused(bad):
    with pytest.raises(ValueError, match="style quantiles"):
        check_quantiles(bad)
    from synth_core.errors import ConfigError
    from synth_core.runs.stage_configs import MultimodalConfig

    with pytest.raises(ConfigError, match="style_quantiles"):
        MultimodalConfig(style_quantiles=bad)


def test_a_fitted_prior_has_the_codes_mean_spread_and_correlation():
    rng = np.random.default_rng(1)
    n = 4000
    gain = rng.normal(0, 1, n)  # one scanner gain moves every quantile of both modalities
    codes = np.stack([np.stack([0.3 + 0.05 * gain, 0.5 + 0.05 * gain + 0.01 * rng.normal(size=n)], -1),
                      np.stack([0.4 - 0.02 * gain, 0.6 + 0.03 * rng.normal(size=n)], -1)], 1)  # (n, 2, 2)
    prior = StylePrior(2, 2).fit(codes)
    np.testing.assert_allclose(prior.mean.numpy(), codes.mean(0), atol=1e-6)
    np.testing.assert_allclose(prior.sd.numpy(), codes.std(0), rtol=1e-5)
    z = prior.sample(20000, generator=torch.Generator().manual_seed(0)).reshape(20000, 4).numpy()
    want = np.corrcoef(((codes - codes.mean(0)) / codes.std(0)).reshape(n, 4).T)
    np.testing.assert_allclose(np.corrcoef(z.T), want, atol=0.03)  # shrinkage is tiny with 4000 codes
    assert np.corrcoef(z.T)[0, 2] < -0.9  # the second modality darkens as the first brightens
    a = prior.sample(3, generator=torch.Generator().manual_seed(5))
    b = prior.sample(3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == (3, 2, 2)


def test_a_prior_from_fewer_codes_than_dimensions_stays_positive_definite():
    codes = np.random.default_rng(2).random((3, 4, 3))  # 3 slices, 12 dimensions
    prior = StylePrior(4, 3).fit(codes)
    cov = prior.chol @ prior.chol.T
    assert torch.linalg.eigvalsh(cov).min() > 0
    with pytest.raises(ValueError, match="at least 2 finite codes"):
        StylePrior(4, 3).fit(codes[:1])
    with pytest.raises(ValueError, match=r"expected codes \(N, 4, 3\)"):
        StylePrior(4, 3).fit(codes[:, :2])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_standardize_and_raw_are_inverse(seed):
    rng = np.random.default_rng(seed)
    prior = StylePrior(3, 2).fit(rng.random((10, 3, 2)))
    codes = torch.from_numpy(rng.random((5, 3, 2)).astype(np.float32))
    torch.testing.assert_close(prior.raw(prior.standardize(codes)), codes, atol=1e-5, rtol=1e-5)


def _styled_unet(m: int = 2, k: int = 3, condition_at: str = "decoder") -> UNet:
    torch.manual_seed(0)
    net = UNet(in_channels=2, out_channels=1, base_channels=4, depth=2, condition_dim=m if m > 1 else 0,
               condition_at=condition_at, style_dim=k)
    with torch.no_grad():  # FiLM starts at zero (the plain network); give it a response to every input
        for p in net.parameters():
            if p.ndim == 2:
                p.normal_(0, 0.5)
    return net


def test_each_condition_entry_meets_the_style_in_its_own_slots():
    net = _styled_unet(m=2, k=3)
    cond = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    style = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    want = torch.tensor([[1, 0, 1, 2, 3, 0, 0, 0], [0, 1, 0, 0, 0, 4, 5, 6]], dtype=torch.float32)
    assert torch.equal(net.modulation(cond, style, 2), want)
    assert net.film_dim == 8
    alone = _styled_unet(m=1, k=3)
    assert alone.film_dim == 3 and torch.equal(alone.modulation(None, style, 2), style)
    plain = UNet(in_channels=2, out_channels=1, base_channels=4, depth=2, condition_dim=2, condition_at="decoder")
    assert plain.film_dim == 2 and torch.equal(plain.modulation(cond, None, 2), cond)
    with pytest.raises(ValueError, match="no style input"):
        plain(torch.zeros(2, 2, 8, 8), cond, style)
    with pytest.raises(ValueError, match=r"expected style \(B, 3\)"):
        net(torch.zeros(2, 2, 8, 8), cond)


@pytest.mark.parametrize("condition_at", ["decoder", "bottleneck"])
def test_a_modality_follows_its_own_code_and_no_other(condition_at):
    G = _styled_unet(m=2, k=3, condition_at=condition_at)
    G.style_prior = StylePrior(2, 3)
    x = torch.rand(2, 2, 16, 16, generator=torch.Generator().manual_seed(1))
    style = torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = generate_modalities(G, x, 2, style=style)
        other = style.clone()
        other[:, 1] += 1.0  # only the second modality's code changes
        moved = generate_modalities(G, x, 2, style=other)
    assert torch.equal(moved[:, 0], out[:, 0])
    assert (moved[:, 1] - out[:, 1]).abs().max() > 1e-3


def test_codes_are_drawn_from_the_prior_reproducibly_when_not_given():
    G = NoisyGenerator(_styled_unet(m=2, k=3), kernel=1)
    G.style_prior = StylePrior(2, 3)
    assert style_prior_of(G) is G.style_prior and G.style_dim == 3
    x = torch.rand(3, 2, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = generate_modalities(G, x, 2, generator=torch.Generator().manual_seed(7))
        b = generate_modalities(G, x, 2, generator=torch.Generator().manual_seed(7))
        c = generate_modalities(G, x, 2, generator=torch.Generator().manual_seed(8))
        # by hand: the noise fields first, then the codes, from the same generator
        g = torch.Generator().manual_seed(7)
        noise = torch.randn((3, 2, 16, 16), generator=g)
        style = G.style_prior.sample(3, generator=g)
        d = generate_modalities(G, x, 2, noise=noise, style=style)
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(a, d)
    with pytest.raises(ValueError, match=r"expected style \(3, 2, 3\)"):
        generate_modalities(G, x, 2, style=torch.zeros(3, 2, 2))
    plain = UNet(in_channels=2, out_channels=1, base_channels=4, depth=2, condition_dim=2, condition_at="decoder")
    with pytest.raises(ValueError, match="takes no style code"):
        generate_modalities(plain, x, 2, style=torch.zeros(3, 2, 3))
    assert style_prior_of(plain) is None
