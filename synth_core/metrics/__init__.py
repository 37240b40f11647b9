"""Evaluation metrics: image quality (PSNR, SSIM, MS-SSIM, MSE, MAE) and segmentation overlap and
distance (Dice, IoU, Hausdorff / HD95).

Every function takes numpy arrays or torch tensors, one image ``(H,W)`` or a batch (``(N,H,W)``;
images also ``(N,C,H,W)``, label maps also ``(N,1,H,W)``), returns a float for one image and a
per-image ``np.ndarray`` for a batch (``reduction="mean"`` averages over images). Conventions and
reference implementations are documented in :mod:`synth_core.metrics.image` and
:mod:`synth_core.metrics.segmentation`.
"""

from synth_core.metrics.image import MS_SSIM_WEIGHTS, mae, ms_ssim, ms_ssim_params, mse, psnr, ssim
from synth_core.metrics.segmentation import dice, hausdorff, iou

__all__ = [
    "MS_SSIM_WEIGHTS",
    "dice",
    "hausdorff",
    "iou",
    "mae",
    "ms_ssim",
    "ms_ssim_params",
    "mse",
    "psnr",
    "ssim",
]
