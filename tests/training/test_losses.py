"""Known answers for the shared loss helpers of ``training.losses``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from synth_core.nets.blur import gaussian_blur
from training.losses import class_mse, hard_dice, lsgan_fake, lsgan_real, mean_dice


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 2.3])
def test_gaussian_blur_matches_scipy(sigma):
    """Same kernel as scipy's ``gaussian_filter`` with torch's reflect padding (scipy's "mirror")."""
    rng = np.random.default_rng(0)
    img = rng.random((2, 3, 24, 20)).astype(np.float32)
    out = gaussian_blur(torch.from_numpy(img), sigma).numpy()
    radius = max(1, int(np.ceil(3 * sigma)))
    for b in range(2):
        for c in range(3):
            ref = ndimage.gaussian_filter(img[b, c].astype(np.float64), sigma, mode="mirror",
                                          truncate=(radius + 0.25) / sigma)
            ref_radius = int((radius + 0.25) / sigma * sigma + 0.5)
            assert ref_radius == radius
            np.testing.assert_allclose(out[b, c], ref, atol=1e-5)


def test_gaussian_blur_identities():
    x = torch.rand(1, 1, 16, 16)
    assert gaussian_blur(x, 0.0) is x
    const = torch.full((1, 2, 9, 9), 0.37)
    torch.testing.assert_close(gaussian_blur(const, 1.0), const)
    impulse = torch.zeros(1, 1, 15, 15)
    impulse[0, 0, 7, 7] = 1.0
    out = gaussian_blur(impulse, 1.0)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-6)  # mass kept away from the border
    assert out[0, 0, 7, 7] == out.max() and torch.allclose(out, out.flip(-1)) and torch.allclose(out, out.transpose(-1, -2))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(x, -1.0)
    with pytest.raises(ValueError, match="too large"):
        gaussian_blur(x, 6.0)
    with pytest.raises(ValueError, match="B, C, H, W"):
        gaussian_blur(torch.rand(16, 16), 1.0)


@settings(max_examples=25, deadline=None)
@given(sigma=st.floats(0.3, 2.0), seed=st.integers(0, 2**16))
def test_gaussian_blur_removes_pixel_noise_more_than_signal(sigma, seed):
    """Blurring never raises the total variation (a low-pass filter smooths)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, 20, 20, generator=g)
    y = gaussian_blur(x, sigma)
    tv = lambda t: (t.diff(dim=-1).abs().sum() + t.diff(dim=-2).abs().sum()).item()  # noqa: E731
    assert tv(y) <= tv(x) + 1e-5


def test_least_squares_gan_terms():
    pred = torch.tensor([0.0, 0.5, 1.0, 2.0])
    assert lsgan_real(pred).item() == pytest.approx((1 + 0.25 + 0 + 1) / 4)
    assert lsgan_fake(pred).item() == pytest.approx((0 + 0.25 + 1 + 4) / 4)


def test_class_mse_is_squared_error_to_one_hot():
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    target = torch.tensor([0, 2])
    # errors: row 0 all zero; row 1 (0.5, 0.5, -1) -> 0.25 + 0.25 + 1 = 1.5; mean over 6 entries
    assert class_mse(logits, target, 3).item() == pytest.approx(1.5 / 6)


def test_hard_dice_known_answer():
    pred = torch.tensor([[[1, 1, 0, 2]]])
    target = torch.tensor([[[1, 0, 0, 0]]])
    dice = hard_dice(pred, target, 4)
    # class 1: 2*1/(2+1); class 2: predicted, absent -> 0; class 3: absent from both -> NaN (not scored)
    assert dice[0].item() == pytest.approx(2 / 3) and dice[1].item() == 0.0 and dice[2].isnan()
    # the mean over present classes: an absent class no longer lifts it towards 1
    assert mean_dice(pred, target, 4) == pytest.approx((2 / 3 + 0.0) / 2)
    assert mean_dice(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), 3) == 1.0


def test_quantile_distance_known_answers():
    from training.losses import quantile_distance

    g = torch.Generator().manual_seed(0)
    a = torch.rand(5000, generator=g)
    assert float(quantile_distance(a, a)) == 0.0
    assert float(quantile_distance(a, a + 0.3)) == pytest.approx(0.3, abs=1e-5)  # a shift by c costs |c|
    # counts may differ; two large samples of one law are close, U(0,1) vs U(0.25,0.75) is W1 = 1/8
    b = torch.rand(3000, generator=g)
    assert float(quantile_distance(a, b)) < 0.02
    assert float(quantile_distance(a, 0.25 + 0.5 * b)) == pytest.approx(0.125, abs=0.01)
    # the gradient spreads a squeezed sample towards the target
    x = (0.5 + 0.1 * (torch.rand(2000, generator=g) - 0.5)).requires_grad_()
    quantile_distance(x, a).backward()
    assert float(x.grad[x.detach() > 0.53].sum()) < 0 < float(x.grad[x.detach() < 0.47].sum())
    with pytest.raises(ValueError, match="at least one value"):
        quantile_distance(a, a[:0])
