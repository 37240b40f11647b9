"""The fused numba SSIM / MS-SSIM kernel (``synth_core.metrics._ssim_kernel``): it is the path CPU
inputs take, it agrees with the torch path and the references to 1e-6, and the torch path is
still used where the kernel cannot be (numba missing, kernel switched off)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synth_core.metrics import image, ms_ssim, ms_ssim_params, ssim
from tests.metrics.references import pm_ms_ssim, random_pair, sk_ssim, smooth_pair

pytest.importorskip("numba")

TOL = 1e-6


def _torch_path(monkeypatch: pytest.MonkeyPatch, fn, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(image, "_USE_KERNEL", False)
        return fn(*args, **kwargs)


def test_cpu_inputs_take_the_kernel_and_it_is_called(monkeypatch):
    kernel = image._cpu_kernel(torch.zeros(1))
    assert kernel is not None
    calls = []
    original = kernel.ssim_planes

    def spy(*args):
        calls.append(args[0].shape)
        return original(*args)

    monkeypatch.setattr(kernel, "ssim_planes", spy)
    x, y = random_pair((3, 2, 40, 40), seed=0)
    ssim(x, y)
    assert calls == [(6, 40, 40)]  # one call for all images and channels, as (N*C, H, W) planes
    calls.clear()
    ms_ssim(x, y)
    assert calls == [(6, 40, 40), (6, 20, 20), (6, 10, 10)]  # the 3 scales of 40 px


@pytest.mark.parametrize(
    ("shape", "win"),
    [((4, 1, 64, 64), 11), ((2, 3, 45, 70), 11), ((3, 21, 11), 11), ((2, 11, 30), 11), ((2, 17, 23), 3),
     ((2, 1, 50, 37), 7), ((1, 2, 33, 40), 13), ((2, 9, 9), 9)],
)
@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_kernel_ssim_equals_the_torch_path(monkeypatch, shape, win, kind):
    x, y = {"random": random_pair, "smooth": smooth_pair}[kind](shape, seed=sum(shape) + win)
    got = ssim(x, y, win_size=win)
    want = _torch_path(monkeypatch, ssim, x, y, win_size=win)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_kernel_ssim_with_other_constants_and_ranges(monkeypatch):
    x, y = smooth_pair((3, 48, 52), seed=5)
    for kwargs in ({"k1": 0.05, "k2": 0.1, "win_sigma": 2.5}, {"data_range": 2.0}):
        np.testing.assert_allclose(ssim(x, y, **kwargs), _torch_path(monkeypatch, ssim, x, y, **kwargs), atol=TOL)
    xi, yi = (255 * x).round().astype(np.uint8), (255 * y).round().astype(np.uint8)
    want = [sk_ssim(xi[i].astype(float), yi[i].astype(float), 255) for i in range(3)]
    np.testing.assert_allclose(ssim(xi, yi, data_range=255), want, atol=TOL)


def test_kernel_ssim_matches_scikit_image_on_a_large_offset():
    # bright, low-contrast images: the moments about the plane mean keep float32 accurate
    x, y = smooth_pair((2, 96, 96), seed=6)
    x, y = 200.0 + x, 200.0 + 0.98 * y
    got = ssim(x, y, data_range=255.0)
    np.testing.assert_allclose(got, [sk_ssim(x[i], y[i], 255.0) for i in range(2)], atol=TOL)


@pytest.mark.parametrize("shape", [(128, 128), (97, 131), (64, 64), (40, 33), (13, 20), (7, 9)])
def test_kernel_ms_ssim_equals_the_torch_path_and_pytorch_msssim(monkeypatch, shape):
    x, y = random_pair((2, 1, *shape), seed=shape[0] * shape[1])
    got = ms_ssim(x, y)
    np.testing.assert_allclose(got, _torch_path(monkeypatch, ms_ssim, x, y), rtol=0, atol=TOL)
    if min(shape) >= 13:  # pytorch-msssim needs >= 2 scales
        win, weights = ms_ssim_params(*shape)
        np.testing.assert_allclose(got, pm_ms_ssim(x, y, win, weights, unchecked=True), atol=TOL)


@pytest.mark.parametrize(
    "shape", [(6, 128, 128), (2, 127, 64), (2, 64, 127), (3, 33, 45), (1, 7, 7), (1, 1, 1), (2, 2, 3)]
)
def test_kernel_halving_is_avg_pool2d_with_pytorch_msssim_padding(shape):
    x = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    got = image._cpu_kernel(torch.zeros(1)).halve_planes(x)
    t = torch.from_numpy(x)[:, None]
    want = F.avg_pool2d(t, kernel_size=2, padding=(shape[1] % 2, shape[2] % 2))[:, 0].numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-7)


def test_torch_inputs_and_non_contiguous_views_take_the_kernel_with_the_same_values(monkeypatch):
    x, y = smooth_pair((3, 2, 50, 60), seed=8)
    tx = torch.from_numpy(x).transpose(-1, -2)  # non-contiguous (N,C,W,H)
    ty = torch.from_numpy(y).transpose(-1, -2)
    got = ssim(tx, ty), ms_ssim(tx, ty)
    want = _torch_path(monkeypatch, ssim, tx, ty), _torch_path(monkeypatch, ms_ssim, tx, ty)
    np.testing.assert_allclose(got[0], want[0], atol=TOL)
    np.testing.assert_allclose(got[1], want[1], atol=TOL)
    grad = ssim(tx.float().requires_grad_(), ty.float())  # a metric value, no gradient either way
    assert isinstance(grad, np.ndarray)


def test_without_numba_the_torch_path_is_used(monkeypatch):
    x, y = random_pair((2, 40, 40), seed=9)
    want = ssim(x, y), ms_ssim(x, y)
    monkeypatch.setattr(image, "_kernel", False)  # what a failed `import numba` leaves
    assert image._cpu_kernel(torch.zeros(1)) is None
    np.testing.assert_allclose(ssim(x, y), want[0], atol=TOL)
    np.testing.assert_allclose(ms_ssim(x, y), want[1], atol=TOL)
