"""Precision, recall, density and coverage (Naeem et al. 2020) with the ``prdc`` package.

Both sets are feature vectors in one space (here the FID feature space). Around every real sample
a ball reaches its ``k``-th nearest real neighbour; together the balls estimate where real data
lie (the "real manifold"), and the same is done for the synthetic samples.

- **precision**: fraction of synthetic samples inside the real manifold (are they realistic?);
- **recall**: fraction of real samples inside the synthetic manifold (is the real variety covered?);
- **density**: how many real balls contain a synthetic sample, on average, divided by ``k``
  (about 1 when both come from the same distribution; above 1 = crowded where real data are dense,
  below = sparse);
- **coverage**: fraction of real samples whose ball holds at least one synthetic sample (a recall
  that outliers cannot inflate).

All four are 1 (density about 1) for a set compared with itself and fall as the sets part.
``k = 5`` is the authors' default. Each side needs more than ``k + 1`` samples.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from synth_core.errors import SynthCoreError

__all__ = ["NEAREST_K", "PRDC_KEYS", "prdc"]

NEAREST_K = 5
PRDC_KEYS = ("precision", "recall", "density", "coverage")


def prdc(real: np.ndarray, synthetic: np.ndarray, *, k: int = NEAREST_K) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of ``synthetic (N2, D)`` against
    ``real (N1, D)`` (``prdc.compute_prdc``, its progress line silenced). Raises
    :class:`~synth_core.errors.SynthCoreError` when a side has ``<= k + 1`` samples."""
    from prdc import compute_prdc

    r = np.asarray(real, np.float32)
    s = np.asarray(synthetic, np.float32)
    if r.ndim != 2 or s.ndim != 2 or r.shape[1] != s.shape[1]:
        raise ValueError(f"need two (N, D) feature arrays of the same D, got {r.shape} and {s.shape}")
    if not (np.isfinite(r).all() and np.isfinite(s).all()):
        raise ValueError("features hold NaN or infinite values")
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    if min(len(r), len(s)) <= k + 1:
        raise SynthCoreError(f"precision/recall/density/coverage with k = {k} need more than {k + 1} samples per "
                             f"side, got {len(r)} real and {len(s)} synthetic")
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the sample counts
        out = compute_prdc(real_features=r, fake_features=s, nearest_k=int(k))
    return {key: float(out[key]) for key in PRDC_KEYS}
