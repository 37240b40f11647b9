"""Full-reference image quality metrics: MSE, MAE, PSNR, SSIM and MS-SSIM.

Inputs (both arguments the same shape, numpy arrays or torch tensors, any real dtype):

- ``(H,W)``: one grey image -> a Python ``float``;
- ``(N,H,W)``: a batch of N grey images (the project's batch convention) -> ``np.ndarray (N,)``;
- ``(N,C,H,W)``: a batch of C-channel images -> ``np.ndarray (N,)``, one value per image.
  A single multi-channel image is passed as ``(1,C,H,W)``.

``reduction="mean"`` turns a batch result into the float mean over images. Values are
metrics, not losses: inputs are detached and the results carry no gradient. Images are expected
in ``[0, data_range]`` (default 1.0); NaN or infinite values raise ``InputError``.

Channels: MSE/MAE average the error over channels and pixels, and PSNR is computed from that
per-image MSE (as ``skimage.metrics.peak_signal_noise_ratio`` does for a multi-channel image);
SSIM and MS-SSIM are computed per channel and averaged over channels (as scikit-image's
``channel_axis`` and pytorch-msssim's ``size_average=False``).

SSIM convention (Wang et al. 2004): 11-tap Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
population (co)variances, and the mean is taken over the *valid* region only, i.e. the positions
where the whole window fits inside the image. This is exactly scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1)`` (it filters with reflection and then crops ``(win_size - 1) // 2`` pixels per side,
which leaves the same valid positions) and pytorch-msssim's ``ssim`` (valid convolution).
MS-SSIM follows pytorch-msssim's ``ms_ssim`` exactly (see :func:`ms_ssim`).

Computation (SSIM and MS-SSIM), two interchangeable paths chosen automatically:

- CPU tensors / numpy arrays, with numba installed: a fused compiled kernel
  (:mod:`synth_core.metrics._ssim_kernel`) that filters the five moments of each image plane row
  by row through a small ring buffer and reduces the SSIM / cs maps to their means in the same
  pass, with no full-size intermediate (3-8x faster than the torch path on 128 px images,
  single-threaded; see ``benchmarks/bench_metrics.py``); it runs on one thread, is compiled on
  first use (a few seconds) and cached on disk by numba;
- otherwise (tensors on a GPU, or no numba): torch, one depthwise convolution per axis filtering
  all images, channels and moment maps of a group of images together (groups of up to 2**18
  pixels per map, e.g. 16 images of 128 px, to stay cache-sized).

Both run in float32 on second moments taken about the per-image mean, which removes the
cancellation of ``E[x^2] - E[x]^2``; both agree with float64 scikit-image / pytorch-msssim to
better than 1e-6 (measured at 128 px: SSIM about 1e-8 by the kernel and 1e-7 by torch, MS-SSIM
about 4e-7 by both; the tests require 1e-6). The results are metric values without gradient
either way. MSE, MAE and PSNR run in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from synth_core.errors import ConfigError, InputError
from synth_core.metrics._arrays import check_positive, check_reduction, finish, image_pair

#: The five MS-SSIM scale weights of Wang, Simoncelli & Bovik (2003), finest scale first.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

# SSIM is evaluated on groups of whole images of at most this many pixels (per map) at a time: it
# bounds the memory of the four filtered maps and keeps them cache-sized (measured: 2**18, i.e. 16
# images of 128 px, is fastest on CPU; one group of 2**20 px is ~2x slower).
_CHUNK_PIXELS = 1 << 18

# Whether SSIM / MS-SSIM may use the fused numba kernel for CPU inputs (tests switch it off to
# compare the two paths). The kernel module is imported on first use; None = not tried yet.
_USE_KERNEL = True
_kernel: Any = None


def mse(x: Any, y: Any, *, reduction: str = "none") -> float | np.ndarray:
    """Mean squared error per image, averaged over channels and pixels.

    ``x``, ``y``: ``(H,W)``, ``(N,H,W)`` or ``(N,C,H,W)``. Returns a float for one image, else
    ``np.ndarray (N,)`` (or its mean with ``reduction="mean"``).
    """
    check_reduction(reduction)
    tx, ty, single = image_pair(x, y)
    err = (tx - ty).square().mean(dim=(1, 2, 3))
    return finish(err.cpu().numpy(), single, reduction)


def mae(x: Any, y: Any, *, reduction: str = "none") -> float | np.ndarray:
    """Mean absolute error per image, averaged over channels and pixels (shapes as :func:`mse`)."""
    check_reduction(reduction)
    tx, ty, single = image_pair(x, y)
    err = (tx - ty).abs().mean(dim=(1, 2, 3))
    return finish(err.cpu().numpy(), single, reduction)


def psnr(x: Any, y: Any, *, data_range: float = 1.0, reduction: str = "none") -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / MSE)`` per image.

    The MSE is taken over all channels and pixels of each image (as scikit-image's
    ``peak_signal_noise_ratio``). Identical images give ``inf`` (no warning). Shapes as
    :func:`mse`; ``reduction="mean"`` averages the per-image dB values (``inf`` if any is ``inf``).
    """
    check_reduction(reduction)
    data_range = check_positive(data_range, "data_range")
    tx, ty, single = image_pair(x, y)
    err = (tx - ty).square().mean(dim=(1, 2, 3))
    db = torch.where(
        err > 0, 10.0 * torch.log10(data_range**2 / err.clamp_min(1e-300)), torch.full_like(err, math.inf)
    )
    return finish(db.cpu().numpy(), single, reduction)


def ssim(
    x: Any,
    y: Any,
    *,
    data_range: float = 1.0,
    win_size: int = 11,
    win_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "none",
) -> float | np.ndarray:
    """Structural similarity (mean SSIM over the valid window positions), per image.

    ``x``, ``y``: ``(H,W)``, ``(N,H,W)`` or ``(N,C,H,W)`` with ``H, W >= win_size``. Returns a float
    for one image, else ``np.ndarray (N,)`` averaged over channels (or its mean with
    ``reduction="mean"``). Values lie in [-1, 1]; identical images give 1.

    Window: ``win_size`` taps (odd) of a Gaussian with ``win_sigma``, normalised to sum 1, applied
    separably; the SSIM map is kept only where the window fits entirely inside the image. The
    defaults equal scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)`` and ``pytorch_msssim.ssim(data_range=1)``.
    """
    check_reduction(reduction)
    data_range, win_size, win_sigma, k1, k2 = _check_ssim_params(data_range, win_size, win_sigma, k1, k2)
    tx, ty, single = image_pair(x, y, dtype=torch.float32)
    _check_fits(tx.shape, win_size, levels=1)
    g = _gaussian_window(win_size, win_sigma, tx.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    kernel = _cpu_kernel(tx)
    if kernel is not None:
        s, _ = _kernel_ssim_and_cs(kernel, tx, ty, g, c1, c2)
        return finish(s.mean(axis=1), single, reduction)
    values = []
    for lo, hi in _chunks(tx.shape):
        s, _ = _ssim_and_cs(tx[lo:hi], ty[lo:hi], g, c1, c2)
        values.append(s.mean(dim=1))
    return finish(torch.cat(values).cpu().numpy(), single, reduction)


def ms_ssim_params(height: int, width: int) -> tuple[int, tuple[float, ...]]:
    """The window size and scale weights that :func:`ms_ssim` uses by default for this image size.

    MS-SSIM filters every scale with a valid (unpadded) window, and each of the ``K - 1``
    down-samplings (2x2 average, odd sides padded as in pytorch-msssim) halves the sides rounding
    up, so scale ``k`` (0-based) has ``ceil(s / 2**k)`` pixels on the smaller side ``s``. A
    configuration fits when the coarsest scale still holds one full window:
    ``ceil(s / 2**(K-1)) >= win_size``, i.e. ``s > (win_size - 1) * 2**(K-1)``.

    Rule, first that fits:

    1. ``s > 160``: window 11 and the 5 standard weights :data:`MS_SSIM_WEIGHTS` (exactly
       pytorch-msssim's defaults, which require this);
    2. ``s > 96``: window 7 and the 5 standard weights (e.g. 128 px);
    3. ``s >= 7``: window 7 and the first ``K`` standard weights renormalised to sum 1, with ``K``
       the largest number of scales that fits (``K = 4`` for 49-96 px, 3 for 25-48 px, 2 for
       13-24 px, 1 for 7-12 px, where MS-SSIM reduces to SSIM clipped at 0).

    Smaller images raise ``InputError``.
    """
    s = min(int(height), int(width))
    for win in (11, 7):
        if _fits(s, win, len(MS_SSIM_WEIGHTS)):
            return win, MS_SSIM_WEIGHTS
    levels = max((k for k in range(1, len(MS_SSIM_WEIGHTS) + 1) if _fits(s, 7, k)), default=0)
    if levels == 0:
        raise InputError(None, f"MS-SSIM needs images of at least 7x7 px, got {height}x{width}")
    w = MS_SSIM_WEIGHTS[:levels]
    total = sum(w)
    return 7, tuple(v / total for v in w)


def ms_ssim(
    x: Any,
    y: Any,
    *,
    data_range: float = 1.0,
    win_size: int | None = None,
    weights: Sequence[float] | None = None,
    win_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "none",
) -> float | np.ndarray:
    """Multi-scale SSIM (Wang et al. 2003) as computed by ``pytorch_msssim.ms_ssim``, per image.

    For ``K = len(weights)`` scales: at scales ``0 .. K-2`` the mean contrast-structure term
    ``cs`` is taken (clipped at 0), then both images are 2x2 average-pooled (an odd side is
    zero-padded by one pixel, padding counted in the average, as pytorch-msssim does); at the last
    scale the mean SSIM is taken (clipped at 0). Result: ``prod(cs_k ** w_k) * ssim ** w_last``
    per channel, averaged over channels. Values lie in [0, 1]; identical images give 1.

    ``win_size`` / ``weights``: both ``None`` (default) chooses them from the image size with the
    rule of :func:`ms_ssim_params` (standard pytorch-msssim parameters from 161 px up; a 7-tap
    window at 97-160 px; fewer scales, weights renormalised, below). Passing either overrides the
    rule; the other then takes pytorch-msssim's default (11, or the 5 standard weights, used as
    given) and the pair must fit (``min(H, W) > (win_size - 1) * 2**(K-1)``), else ``InputError``.

    Note: TensorFlow's ``tf.image.ssim_multiscale`` (used by the thesis code after a per-image
    min-max) differs in its pooling and needs >= 176 px; min-max the images yourself if you want
    that preprocessing.
    """
    check_reduction(reduction)
    tx, ty, single = image_pair(x, y, dtype=torch.float32)
    h, w = tx.shape[-2:]
    if win_size is None and weights is None:
        win_size, weights = ms_ssim_params(h, w)
    else:
        win_size = 11 if win_size is None else win_size
        weights = MS_SSIM_WEIGHTS if weights is None else tuple(weights)
    data_range, win_size, win_sigma, k1, k2 = _check_ssim_params(data_range, win_size, win_sigma, k1, k2)
    weights = _check_weights(weights)
    _check_fits(tx.shape, win_size, levels=len(weights))
    g = _gaussian_window(win_size, win_sigma, tx.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    kernel = _cpu_kernel(tx)
    if kernel is not None:
        a, b = tx, ty
        terms = []
        for _ in range(len(weights) - 1):
            _, cs = _kernel_ssim_and_cs(kernel, a, b, g, c1, c2, with_ssim=False)
            terms.append(np.maximum(cs, 0.0))
            a, b = _kernel_halve(kernel, a), _kernel_halve(kernel, b)
        s, _ = _kernel_ssim_and_cs(kernel, a, b, g, c1, c2)
        terms.append(np.maximum(s, 0.0))
        per_channel = np.prod(np.stack(terms) ** np.asarray(weights).reshape(-1, 1, 1), axis=0)  # (N, C)
        return finish(per_channel.mean(axis=1), single, reduction)
    wt = torch.tensor(weights, dtype=torch.float64, device=tx.device).view(-1, 1, 1)
    values = []
    for lo, hi in _chunks(tx.shape):
        a, b = tx[lo:hi], ty[lo:hi]
        terms = []
        for _ in range(len(weights) - 1):
            _, cs = _ssim_and_cs(a, b, g, c1, c2, with_ssim=False)
            terms.append(cs.clamp_min(0))
            a, b = _halve(a), _halve(b)
        s, _ = _ssim_and_cs(a, b, g, c1, c2)
        terms.append(s.clamp_min(0))
        per_channel = torch.prod(torch.stack(terms) ** wt, dim=0)  # (n, C)
        values.append(per_channel.mean(dim=1))
    return finish(torch.cat(values).cpu().numpy(), single, reduction)


# ----------------------------------------------------------------------------------------------
# helpers


def _check_ssim_params(
    data_range: float, win_size: int, win_sigma: float, k1: float, k2: float
) -> tuple[float, int, float, float, float]:
    data_range = check_positive(data_range, "data_range")
    win_sigma = check_positive(win_sigma, "win_sigma")
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
        raise ConfigError(f"win_size must be an odd integer >= 3, not {win_size!r}")
    for name, k in (("k1", k1), ("k2", k2)):
        if not (isinstance(k, (int, float)) and math.isfinite(k) and k > 0):
            raise ConfigError(f"{name} must be a positive finite number, not {k!r}")
    return data_range, win_size, win_sigma, float(k1), float(k2)


def _check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    try:
        w = tuple(float(v) for v in weights)
    except (TypeError, ValueError):
        raise ConfigError(f"weights must be a sequence of positive numbers, not {weights!r}") from None
    if not w or not all(math.isfinite(v) and v > 0 for v in w):
        raise ConfigError(f"weights must be a non-empty sequence of positive numbers, not {weights!r}")
    return w


def _fits(side: int, win_size: int, levels: int) -> bool:
    """Whether ``levels`` scales of a ``side`` px image each hold a full ``win_size`` window."""
    return side >= win_size and side > (win_size - 1) * 2 ** (levels - 1)


def _check_fits(shape: torch.Size, win_size: int, levels: int) -> None:
    h, w = int(shape[-2]), int(shape[-1])
    if _fits(min(h, w), win_size, levels):
        return
    if levels == 1:
        raise InputError(None, f"images of {h}x{w} px are smaller than the {win_size}x{win_size} SSIM window")
    need = max(win_size, (win_size - 1) * 2 ** (levels - 1) + 1)
    raise InputError(
        None,
        f"images of {h}x{w} px are too small for MS-SSIM with {levels} scales and a {win_size}-tap window "
        f"(the smaller side must be >= {need}); leave win_size and weights unset to adapt them",
    )


def _gaussian_window(win_size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """1-D Gaussian of ``win_size`` taps centred on the middle one, normalised to sum 1 (float32)."""
    coords = torch.arange(win_size, dtype=torch.float64) - win_size // 2
    g = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return (g / g.sum()).to(device=device, dtype=torch.float32)


def _chunks(shape: torch.Size) -> list[tuple[int, int]]:
    n = int(shape[0])
    per_image = int(shape[1]) * int(shape[2]) * int(shape[3])
    step = max(1, _CHUNK_PIXELS // per_image)
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def _halve(a: torch.Tensor) -> torch.Tensor:
    """MS-SSIM down-sampling: 2x2 average, an odd side zero-padded (as pytorch-msssim does)."""
    return F.avg_pool2d(a, kernel_size=2, padding=(a.shape[-2] % 2, a.shape[-1] % 2))


def _cpu_kernel(t: torch.Tensor) -> Any:
    """The fused kernel's module for a CPU tensor ``t``, or None (GPU tensor, kernel off, no numba)."""
    global _kernel
    if not _USE_KERNEL or t.device.type != "cpu":
        return None
    if _kernel is None:
        try:
            from synth_core.metrics import _ssim_kernel
        except ImportError:  # numba missing or unusable: the torch path
            _kernel = False
        else:
            _kernel = _ssim_kernel
    return _kernel or None


def _kernel_halve(kernel: Any, a: torch.Tensor) -> torch.Tensor:
    """:func:`_halve` by the compiled kernel (CPU float32 tensors)."""
    n, c, h, w = a.shape
    out = kernel.halve_planes(a.reshape(n * c, h, w).contiguous().numpy())
    return torch.from_numpy(out).view(n, c, *out.shape[-2:])


def _kernel_ssim_and_cs(
    kernel: Any, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, c1: float, c2: float, *,
    with_ssim: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`_ssim_and_cs` by the fused kernel: ``(N,C)`` float64 numpy arrays (CPU tensors only)."""
    n, c, h, w = x.shape
    xp = x.reshape(n * c, h, w).contiguous().numpy()
    yp = y.reshape(n * c, h, w).contiguous().numpy()
    cs = np.empty(n * c, np.float64)
    s = np.empty(n * c, np.float64) if with_ssim else cs  # (not written without with_ssim)
    kernel.ssim_planes(xp, yp, g.contiguous().numpy(), float(c1), float(c2), with_ssim, s, cs)
    return (s.reshape(n, c) if with_ssim else None), cs.reshape(n, c)


def _filter_valid(maps: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' correlation of every ``(H,W)`` plane of ``maps`` with the window ``g``.

    Output planes are ``(H - k + 1, W - k + 1)``: only positions where the window fits. All planes
    are treated as channels of one depthwise convolution per axis.
    """
    k = g.numel()
    *lead, h, w = maps.shape
    planes = maps.reshape(1, -1, h, w)
    c = planes.shape[1]
    out = F.conv2d(planes, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    out = F.conv2d(out, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return out.view(*lead, h - k + 1, w - k + 1)


def _ssim_and_cs(
    x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, c1: float, c2: float, *, with_ssim: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per image and channel, ``(N,C)`` float64.

    ``with_ssim=False`` skips the luminance term and returns ``(None, cs)``.

    ``x``, ``y``: float32 ``(N,C,H,W)``. Second moments are filtered about the per-plane mean
    (variance and covariance do not change with a constant shift), which keeps float32 accurate.
    SSIM needs only ``var_x + var_y`` and ``cov``, so four maps are filtered, not five.
    """
    mx = x.mean(dim=(-2, -1), keepdim=True)
    my = y.mean(dim=(-2, -1), keepdim=True)
    xc, yc = x - mx, y - my
    maps = torch.empty((4, *x.shape), dtype=x.dtype, device=x.device)
    maps[0] = x
    maps[1] = y
    torch.mul(xc, xc, out=maps[2]).addcmul_(yc, yc)
    torch.mul(xc, yc, out=maps[3])
    mu_x, mu_y, sum_sq, cross = _filter_valid(maps, g)
    dx, dy = mu_x - mx, mu_y - my  # local means of the centred images
    # cs = (2 cov + C2) / (var_x + var_y + C2), with cov = E[xc yc] - dx dy, var = E[xc^2] - dx^2
    cs_map = cross.addcmul_(dx, dy, value=-1.0).mul_(2.0).add_(c2)
    cs_map.div_(sum_sq.addcmul_(dx, dx, value=-1.0).addcmul_(dy, dy, value=-1.0).add_(c2))
    cs = cs_map.mean(dim=(-2, -1)).double()
    if not with_ssim:
        return None, cs
    # luminance = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    lum = torch.mul(mu_x, mu_y).mul_(2.0).add_(c1)
    lum.div_(mu_x.square_().addcmul_(mu_y, mu_y).add_(c1))
    ssim_map = lum.mul_(cs_map)
    return ssim_map.mean(dim=(-2, -1)).double(), cs
