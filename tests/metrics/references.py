"""Seeded test images and the reference implementations the metrics are checked against."""

from __future__ import annotations

import importlib
import inspect
import types

import numpy as np
import pytorch_msssim
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def random_pair(shape: tuple[int, ...], seed: int, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Uniform noise in [0,1] and a noisy copy clipped to [0,1] (float64)."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    return x, np.clip(x + noise * rng.standard_normal(shape), 0.0, 1.0)


def smooth_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth images (blurred noise rescaled to [0,1]) and a blurred, slightly noisy, dimmer copy."""
    rng = np.random.default_rng(seed)
    sigma = [0.0] * (len(shape) - 2) + [4.0, 4.0]
    x = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    x = (x - x.min()) / (x.max() - x.min())
    y = 0.9 * ndimage.gaussian_filter(x, [0.0] * (len(shape) - 2) + [1.0, 1.0]) + 0.02 * rng.standard_normal(shape)
    return x, np.clip(y, 0.0, 1.0)


def sk_ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0, channel_axis: int | None = None) -> float:
    """scikit-image SSIM with the Wang et al. convention the project follows."""
    return float(
        structural_similarity(
            x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range,
            channel_axis=channel_axis,
        )
    )


def sk_psnr(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    return float(peak_signal_noise_ratio(x, y, data_range=data_range))


_pm_module = importlib.import_module("pytorch_msssim.ssim")  # the module; the package attribute is the function


def _unchecked_pytorch_msssim() -> types.ModuleType:
    """pytorch-msssim's own module, compiled with asserts stripped (as under ``python -O``).

    Its ``ms_ssim`` asserts ``min(H, W) > (win_size - 1) * 16`` whatever the number of weights, so
    it refuses 64 px images even with 4 scales and a 7-tap window, which do fit. The code is
    otherwise unchanged, so this is the library's algorithm run on the same adapted parameters.
    """
    source = inspect.getsource(_pm_module)
    module = types.ModuleType("pytorch_msssim_unchecked")
    exec(compile(source, _pm_module.__file__, "exec", optimize=1), module.__dict__)  # noqa: S102
    return module


_PM_UNCHECKED = _unchecked_pytorch_msssim()


def pm_ms_ssim(
    x: np.ndarray, y: np.ndarray, win_size: int, weights: tuple[float, ...], unchecked: bool = False
) -> np.ndarray:
    """Per-image MS-SSIM of ``(N,C,H,W)`` float64 arrays by pytorch-msssim."""
    fn = _PM_UNCHECKED.ms_ssim if unchecked else pytorch_msssim.ms_ssim
    out = fn(
        torch.from_numpy(x), torch.from_numpy(y), data_range=1.0, size_average=False,
        win_size=win_size, weights=list(weights),
    )
    return out.numpy()
