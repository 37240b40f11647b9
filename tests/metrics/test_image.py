"""PSNR, SSIM, MS-SSIM, MSE, MAE: known answers, agreement with scikit-image / pytorch-msssim,
batch = loop, numpy = torch, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.errors import InputError
from synth_core.metrics import MS_SSIM_WEIGHTS, mae, ms_ssim, ms_ssim_params, mse, psnr, ssim
from tests.metrics.references import pm_ms_ssim, random_pair, sk_psnr, sk_ssim, smooth_pair

TOL = 1e-6
PAIRS = {"random": random_pair, "smooth": smooth_pair}


# ---------------------------------------------------------------------------------------------
# known answers


def test_identical_images():
    x, _ = smooth_pair((96, 80), seed=0)
    assert psnr(x, x) == math.inf
    assert mse(x, x) == 0.0 and mae(x, x) == 0.0
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(x, x) == pytest.approx(1.0, abs=1e-6)


def test_constant_offset_of_a_tenth():
    x = np.full((32, 32), 0.4)
    y = x + 0.1
    assert mse(x, y) == pytest.approx(0.01, rel=1e-12)
    assert mae(x, y) == pytest.approx(0.1, rel=1e-12)
    assert psnr(x, y) == pytest.approx(20.0, rel=1e-9)
    assert psnr(x * 255, y * 255, data_range=255) == pytest.approx(20.0, rel=1e-9)


def test_ssim_of_flat_images_is_the_luminance_term():
    # both constant: cs = 1, SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.4, 0.5, 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(np.full((20, 20), a), np.full((20, 20), b)) == pytest.approx(expected, abs=1e-6)


def test_results_are_floats_or_per_image_arrays():
    x, y = random_pair((3, 2, 40, 40), seed=1)
    assert isinstance(psnr(x[0, 0], y[0, 0]), float)
    for fn in (mse, mae, psnr, ssim, ms_ssim):
        per_image = fn(x, y)
        assert isinstance(per_image, np.ndarray) and per_image.shape == (3,)
        assert fn(x[:, 0], y[:, 0]).shape == (3,)  # (N,H,W) is a batch of grey images
        assert fn(x, y, reduction="mean") == pytest.approx(per_image.mean(), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# agreement with the references


@pytest.mark.parametrize("size", [64, 128, 192])
@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_ssim_and_psnr_match_scikit_image(size, kind):
    x, y = PAIRS[kind]((3, size, size), seed=size)
    got_ssim, got_psnr = ssim(x, y), psnr(x, y)
    for i in range(3):
        assert got_ssim[i] == pytest.approx(sk_ssim(x[i], y[i]), abs=TOL)
        assert got_psnr[i] == pytest.approx(sk_psnr(x[i], y[i]), abs=TOL)


def test_ssim_matches_scikit_image_on_multichannel_and_non_square_images():
    x, y = random_pair((2, 3, 45, 70), seed=7)
    got = ssim(x, y)
    for i in range(2):
        assert got[i] == pytest.approx(sk_ssim(x[i], y[i], channel_axis=0), abs=TOL)
        assert psnr(x[i : i + 1], y[i : i + 1]) == pytest.approx(sk_psnr(x[i], y[i]), abs=TOL)


def test_ssim_matches_scikit_image_for_other_data_ranges():
    x, y = smooth_pair((64, 64), seed=3)
    assert ssim(255 * x, 255 * y, data_range=255) == pytest.approx(sk_ssim(255 * x, 255 * y, 255), abs=TOL)
    assert ssim(255 * x, 255 * y, data_range=255) == pytest.approx(ssim(x, y), abs=TOL)


def test_ssim_matches_pytorch_msssim_ssim():
    import pytorch_msssim

    x, y = smooth_pair((2, 1, 64, 64), seed=4)
    ref = pytorch_msssim.ssim(torch.from_numpy(x), torch.from_numpy(y), data_range=1.0, size_average=False)
    np.testing.assert_allclose(ssim(x, y), ref.numpy(), atol=TOL)


@pytest.mark.parametrize("size", [128, 192])
@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_ms_ssim_matches_pytorch_msssim(size, kind):
    x, y = PAIRS[kind]((2, 1, size, size), seed=size + 1)
    win, weights = ms_ssim_params(size, size)
    ref = pm_ms_ssim(x, y, win, weights)
    np.testing.assert_allclose(ms_ssim(x, y), ref, atol=TOL)
    if size > 160:  # the standard configuration is pytorch-msssim's default call
        assert (win, weights) == (11, MS_SSIM_WEIGHTS)


@pytest.mark.parametrize("shape", [(64, 64), (97, 131), (40, 33)])
@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_ms_ssim_at_small_sizes_matches_pytorch_msssim_with_the_adapted_parameters(shape, kind):
    x, y = PAIRS[kind]((2, 1, *shape), seed=sum(shape))
    win, weights = ms_ssim_params(*shape)
    ref = pm_ms_ssim(x, y, win, weights, unchecked=True)
    np.testing.assert_allclose(ms_ssim(x, y), ref, atol=TOL)


def test_ms_ssim_with_explicit_parameters():
    x, y = smooth_pair((1, 1, 128, 128), seed=9)
    weights = (0.2, 0.3, 0.5)
    np.testing.assert_allclose(
        ms_ssim(x, y, win_size=11, weights=weights), pm_ms_ssim(x, y, 11, weights, unchecked=True), atol=TOL
    )
    with pytest.raises(InputError, match=r"128x128 px are too small for MS-SSIM with 5 scales and a 11-tap"):
        ms_ssim(x, y, win_size=11)


@pytest.mark.parametrize(
    ("side", "win", "levels"),
    [(512, 11, 5), (161, 11, 5), (160, 7, 5), (128, 7, 5), (97, 7, 5), (96, 7, 4), (64, 7, 4), (49, 7, 4),
     (48, 7, 3), (25, 7, 3), (24, 7, 2), (13, 7, 2), (12, 7, 1), (7, 7, 1)],
)
def test_ms_ssim_params_rule(side, win, levels):
    got_win, weights = ms_ssim_params(side, side + 50)
    assert got_win == win and len(weights) == levels
    if levels == 5:
        assert weights == MS_SSIM_WEIGHTS  # used as published (they sum to 1.0001)
    else:
        expected = np.array(MS_SSIM_WEIGHTS[:levels])
        np.testing.assert_allclose(weights, expected / expected.sum())
        assert sum(weights) == pytest.approx(1.0)
    # the coarsest scale holds a full window, one more scale would not
    assert math.ceil(side / 2 ** (levels - 1)) >= win
    if levels < 5:
        assert math.ceil(side / 2**levels) < win


def test_ms_ssim_params_rejects_tiny_images():
    with pytest.raises(InputError, match="at least 7x7"):
        ms_ssim_params(6, 100)


# ---------------------------------------------------------------------------------------------
# batching and input types


def test_batch_equals_per_image_loop():
    x, y = random_pair((5, 2, 70, 66), seed=11)
    for fn in (mse, mae, psnr, ssim, ms_ssim):
        batch = fn(x, y)
        loop = [fn(x[i : i + 1], y[i : i + 1])[0] for i in range(5)]
        np.testing.assert_allclose(batch, loop, rtol=0, atol=1e-6, err_msg=fn.__name__)
        grey = fn(x[:, 0], y[:, 0])
        np.testing.assert_allclose(grey, [fn(x[i, 0], y[i, 0]) for i in range(5)], atol=1e-6)


def test_large_batches_are_processed_in_groups_with_the_same_values(monkeypatch):
    from synth_core.metrics import image

    monkeypatch.setattr(image, "_USE_KERNEL", False)  # grouping is the torch path's (the kernel goes by plane)
    x, y = random_pair((7, 1, 32, 32), seed=12)
    whole = ssim(x, y), ms_ssim(x, y)
    monkeypatch.setattr(image, "_CHUNK_PIXELS", 3 * 32 * 32)  # groups of 3, 3, 1 images
    np.testing.assert_allclose(ssim(x, y), whole[0], atol=1e-7)
    np.testing.assert_allclose(ms_ssim(x, y), whole[1], atol=1e-7)


def test_numpy_and_torch_inputs_give_the_same_values():
    x, y = smooth_pair((3, 1, 64, 64), seed=13)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for fn in (mse, mae, psnr, ssim, ms_ssim):
        ref = fn(x, y)
        np.testing.assert_allclose(fn(tx, ty), ref, atol=1e-9, err_msg=fn.__name__)
        np.testing.assert_allclose(fn(tx, y), ref, atol=1e-9, err_msg=fn.__name__)  # mixed
        np.testing.assert_allclose(fn(tx.float(), ty.float()), ref, atol=1e-5, err_msg=fn.__name__)
    single = ssim(tx[0, 0].requires_grad_(), ty[0, 0])
    assert isinstance(single, float) and single == pytest.approx(ssim(x[0, 0], y[0, 0]), abs=1e-9)


def test_integer_images_are_accepted():
    x, y = random_pair((64, 64), seed=14)
    xi, yi = (x * 255).round().astype(np.uint8), (y * 255).round().astype(np.uint8)
    assert psnr(xi, yi, data_range=255) == pytest.approx(sk_psnr(xi, yi, 255), abs=TOL)
    assert ssim(xi, yi, data_range=255) == pytest.approx(sk_ssim(xi.astype(float), yi.astype(float), 255), abs=TOL)


# ---------------------------------------------------------------------------------------------
# properties


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), noise=st.floats(0.0, 0.5), size=st.integers(11, 40))
def test_ssim_is_symmetric_and_at_most_one(seed, noise, size):
    x, y = random_pair((size, size + 3), seed=seed, noise=noise)
    a, b = ssim(x, y), ssim(y, x)
    assert a == pytest.approx(b, abs=1e-6)
    assert -1.0 <= a <= 1.0 + 1e-6
    assert 0.0 <= ms_ssim(x, y) <= 1.0 + 1e-6


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), steps=st.lists(st.integers(1, 100), min_size=2, max_size=4, unique=True))
def test_psnr_falls_and_mse_rises_with_more_noise(seed, steps):
    # Levels on a 0.01 grid: distinct floats closer than float32 resolution would give equal
    # errors after the metrics' float32 conversion, which is a tie, not a failure of the metric.
    rng = np.random.default_rng(seed)
    x = rng.random((24, 24))
    pattern = rng.standard_normal((24, 24))
    levels = [k / 100 for k in sorted(steps)]
    db = [psnr(x, x + s * pattern) for s in levels]
    err = [mse(x, x + s * pattern) for s in levels]
    assert all(a > b for a, b in zip(db, db[1:]))
    assert all(a < b for a, b in zip(err, err[1:]))


# ---------------------------------------------------------------------------------------------
# validation


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(InputError, match=r"same shape, got \(2, 1, 32, 32\) and \(2, 1, 32, 31\)"):
        ssim(np.zeros((2, 1, 32, 32)), np.zeros((2, 1, 32, 31)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_rejected(bad):
    x = np.zeros((16, 16))
    y = x.copy()
    y[3, 4] = bad
    for fn in (mse, mae, psnr, ssim, ms_ssim):
        with pytest.raises(InputError, match="y contains NaN or infinite values"):
            fn(x, y)


def test_bad_shapes_and_parameters_are_rejected():
    from synth_core.errors import ConfigError

    with pytest.raises(InputError, match=r"\(H,W\), \(N,H,W\) or \(N,C,H,W\)"):
        mse(np.zeros(5), np.zeros(5))
    with pytest.raises(InputError, match="smaller than the 11x11 SSIM window"):
        ssim(np.zeros((8, 30)), np.zeros((8, 30)))
    assert ssim(np.zeros((8, 30)), np.zeros((8, 30)), win_size=7) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="reduction"):
        psnr(np.zeros((8, 8)), np.ones((8, 8)), reduction="sum")
    with pytest.raises(ConfigError, match="data_range"):
        psnr(np.zeros((8, 8)), np.ones((8, 8)), data_range=0)
    with pytest.raises(ConfigError, match="win_size"):
        ssim(np.zeros((16, 16)), np.zeros((16, 16)), win_size=8)
    with pytest.raises(ConfigError, match="weights"):
        ms_ssim(np.zeros((64, 64)), np.zeros((64, 64)), weights=[0.5, -0.5])
