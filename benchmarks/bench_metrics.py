"""Batched SSIM / MS-SSIM (``synth_core.metrics``) against per-image reference loops.

- SSIM: one batched call against a loop of ``skimage.metrics.structural_similarity`` (gaussian
  weights, sigma 1.5, population covariance, data_range 1) over the images.
- MS-SSIM: one batched call against a loop of ``pytorch_msssim.ms_ssim`` over the images, called
  with the parameters ``ms_ssim_params`` picks for the size (128 px: 7-tap window, the 5 standard
  weights), i.e. the same computation image by image. The loop is timed on float32 tensors (the
  usual way, and its faster dtype); the difference is taken against the same loop in float64.

Both sides run single-threaded (scikit-image is; torch is set to 1 thread for the run and
restored; the numba kernel is serial), so the ratio compares algorithms, not core counts.
Values: images per second.

Timing: the machine is shared, so one-off timings swing by 2x. The candidates of a row (ours,
the reference loop, and our torch path for comparison) are timed *interleaved*, one call of each
per round, and each keeps its best round; the ratio is best reference / best ours.

Our functions pick their path by themselves: for CPU inputs with numba installed, the fused kernel
of ``synth_core.metrics._ssim_kernel`` (moments filtered row by row in one pass, no full-size
intermediates); the note also gives the ratio of the torch path (``image._USE_KERNEL = False``,
the GPU / no-numba path, which was the only one before the kernel: about 2x with 16 images and
3-8x with 64 here, memory-bound in its full-size intermediate maps).

Measured on the shared 2-core dev machine (interleaved, best of 5 / 7; ranges over several runs):
kernel SSIM 15-23x (quick) / 13-22x (full), MS-SSIM 24-38x / 20-29x; torch path alone 2-5x / 3-8x.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import Row

SIZE = 128
TARGET = 10.0
MAX_DIFF = 1e-6


def _pair(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, SIZE, SIZE))
    return x, np.clip(x + 0.1 * rng.standard_normal(x.shape), 0.0, 1.0)


def _interleaved_best(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Best wall time of each function over ``repeat`` rounds, one call of each per round."""
    for fn in fns:
        fn()  # warm-up (and compilation)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _torch_path(fn: Callable[[], object]) -> Callable[[], object]:
    from synth_core.metrics import image

    def call() -> object:
        image._USE_KERNEL = False
        try:
            return fn()
        finally:
            image._USE_KERNEL = True

    return call


def run(quick: bool) -> list[Row]:
    import pytorch_msssim
    from skimage.metrics import structural_similarity

    from synth_core.metrics import image, ms_ssim, ms_ssim_params, ssim

    n = 16 if quick else 64
    repeat = 5 if quick else 7
    x, y = _pair(n)
    case = f"{n} x {SIZE}x{SIZE}"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        def sk_loop() -> np.ndarray:
            return np.array([
                structural_similarity(x[i, 0], y[i, 0], gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0)
                for i in range(n)
            ])

        win, weights = ms_ssim_params(SIZE, SIZE)

        def pm_loop(dtype: torch.dtype = torch.float32) -> np.ndarray:
            xt, yt = torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype)
            return np.array([
                float(pytorch_msssim.ms_ssim(xt[i : i + 1], yt[i : i + 1], data_range=1.0, win_size=win,
                                             weights=list(weights)))
                for i in range(n)
            ])

        path = "fused numba kernel" if image._cpu_kernel(torch.zeros(1)) is not None else "torch (numba missing)"
        rows = []
        for name, ours, ref, exact, ref_name in (
            ("ssim", lambda: ssim(x, y), sk_loop, sk_loop, "skimage loop (float64)"),
            ("ms_ssim", lambda: ms_ssim(x, y), pm_loop, lambda: pm_loop(torch.float64),
             f"pytorch-msssim loop (win {win}, {len(weights)} scales; timed float32, diff vs float64)"),
        ):
            want = exact()
            diff = float(np.max(np.abs(np.asarray(ours()) - want)))
            diff_torch = float(np.max(np.abs(np.asarray(_torch_path(ours)()) - want)))
            t_ours, t_ref, t_torch = _interleaved_best([ours, ref, _torch_path(ours)], repeat)
            ratio = t_ref / t_ours
            rows.append(Row(
                benchmark="metrics", case=f"{name} {case}", value=n / t_ours, unit="img/s",
                reference=n / t_ref, ratio=ratio, target=f">= {TARGET:g}x, |diff| <= {MAX_DIFF:g}",
                ok=ratio >= TARGET and diff <= MAX_DIFF,
                note=(f"ref: {ref_name}; max |diff| {diff:.1e}; path: {path}; torch path {t_ref / t_torch:.1f}x "
                      f"(|diff| {diff_torch:.1e}); 1 thread, interleaved best of {repeat}"),
            ))
        return rows
    finally:
        torch.set_num_threads(threads)
