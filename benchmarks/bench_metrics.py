"""Batched SSIM / MS-SSIM (``synth_core.metrics``) against per-image reference loops.

- SSIM: one batched call against a loop of ``skimage.metrics.structural_similarity`` (gaussian
  weights, sigma 1.5, population covariance, data_range 1) over the images.
- MS-SSIM: one batched call against a loop of ``pytorch_msssim.ms_ssim`` over the images, called
  with the parameters ``ms_ssim_params`` picks for the size (128 px: 7-tap window, the 5 standard
  weights), i.e. the same computation image by image. The loop is timed on float32 tensors (the
  usual way, and its faster dtype); the difference is taken against the same loop in float64.

Both sides run single-threaded (scikit-image is; torch is set to 1 thread for the run and
restored), so the ratio compares algorithms, not core counts. Values: images per second.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import Row, best_time

SIZE = 128
TARGET = 10.0


def _pair(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, SIZE, SIZE))
    return x, np.clip(x + 0.1 * rng.standard_normal(x.shape), 0.0, 1.0)


def run(quick: bool) -> list[Row]:
    import pytorch_msssim
    from skimage.metrics import structural_similarity

    from synth_core.metrics import ms_ssim, ms_ssim_params, ssim

    n = 16 if quick else 64
    repeat = 3 if quick else 5
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

        rows = []
        for name, ours, ref, exact, ref_name in (
            ("ssim", lambda: ssim(x, y), sk_loop, sk_loop, "skimage loop (float64)"),
            ("ms_ssim", lambda: ms_ssim(x, y), pm_loop, lambda: pm_loop(torch.float64),
             f"pytorch-msssim loop (win {win}, {len(weights)} scales; timed float32, diff vs float64)"),
        ):
            diff = float(np.max(np.abs(np.asarray(ours()) - exact())))
            t_ours, t_ref = best_time(ours, repeat=repeat), best_time(ref, repeat=repeat)
            ratio = t_ref / t_ours
            rows.append(Row(
                benchmark="metrics", case=f"{name} {case}", value=n / t_ours, unit="img/s",
                reference=n / t_ref, ratio=ratio, target=f">= {TARGET:g}x, |diff| <= 1e-4",
                ok=ratio >= TARGET and diff <= 1e-4,
                note=f"ref: {ref_name}; max |diff| {diff:.1e}; 1 thread",
            ))
        return rows
    finally:
        torch.set_num_threads(threads)
