"""Segmentation metrics: Dice, IoU (Jaccard) and the (percentile) Hausdorff distance.

Inputs (``pred`` and ``target`` the same shape, numpy arrays or torch tensors):

- ``(H,W)``: one label map; ``(N,H,W)`` or ``(N,1,H,W)``: a batch of N label maps.
- Values are binary masks or integer label maps (bool, integer dtypes, or floats holding whole
  numbers; fractional values such as probabilities raise ``InputError``: threshold them first).

Classes: with ``labels=None`` the metric compares the foreground, i.e. every non-zero pixel
(a binary mask, or "any lesion" of a label map). With ``labels=[1, 2, 3]`` it compares
``pred == label`` with ``target == label`` for each label and returns one value per label.

Results: one map -> ``float`` (``labels=None``) or ``np.ndarray (K,)``; a batch -> ``(N,)`` or
``(N, K)``. ``reduction="mean"`` averages over the images (per label); for :func:`hausdorff` this
mean skips NaN entries (images where exactly one of the two masks is empty), like MONAI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from synth_core.errors import ConfigError
from synth_core.metrics._arrays import check_labels, check_reduction, finish, label_pair


def dice(pred: Any, target: Any, *, labels: Sequence[int] | None = None, reduction: str = "none") -> float | np.ndarray:
    """Dice coefficient ``2 |A & B| / (|A| + |B|)`` per image (and per label).

    Two empty masks (the class is absent from both) score **1.0**: nothing to find, nothing found.
    Shapes and ``labels`` as in the module docstring.
    """
    check_reduction(reduction)
    a, b, single = _masks(pred, target, labels)
    inter = np.count_nonzero(a & b, axis=(2, 3))
    total = np.count_nonzero(a, axis=(2, 3)) + np.count_nonzero(b, axis=(2, 3))
    values = np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)
    return finish(values if labels is not None else values[:, 0], single, reduction)


def iou(pred: Any, target: Any, *, labels: Sequence[int] | None = None, reduction: str = "none") -> float | np.ndarray:
    """Intersection over union (Jaccard index) ``|A & B| / |A | B|`` per image (and per label).

    Two empty masks score **1.0**, as for :func:`dice`. Shapes and ``labels`` as in the module
    docstring.
    """
    check_reduction(reduction)
    a, b, single = _masks(pred, target, labels)
    inter = np.count_nonzero(a & b, axis=(2, 3))
    union = np.count_nonzero(a | b, axis=(2, 3))
    values = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return finish(values if labels is not None else values[:, 0], single, reduction)


def hausdorff(
    pred: Any,
    target: Any,
    *,
    percentile: float = 100.0,
    spacing: float | Sequence[float] = 1.0,
    labels: Sequence[int] | None = None,
    reduction: str = "none",
) -> float | np.ndarray:
    """Symmetric Hausdorff distance between the boundaries of two masks, in units of ``spacing``.

    Boundary (as MONAI and medpy): the mask pixels that have at least one 4-connected neighbour
    outside the mask (pixels on the image border count as boundary). For each boundary pixel of
    ``A``, ``d(a, B)`` is the Euclidean distance to the nearest boundary pixel of ``B``, with pixel
    centres ``spacing = (row, column)`` apart (a scalar means square pixels). Distances come from
    exact Euclidean distance transforms (``scipy.ndimage.distance_transform_edt``) of each boundary
    over the bounding box of both boundaries (exact, since every boundary point lies inside it),
    not from point pairs; boundaries are found for the whole batch at once.

    ``percentile=100`` (default): ``max(max_a d(a, B), max_b d(b, A))``, the classic Hausdorff
    distance (equals ``scipy.spatial.distance.directed_hausdorff`` on the boundary points, both
    ways). ``percentile=95`` gives HD95 with MONAI's definition: the larger of the two directed
    95th percentiles, ``max(P95_a d(a, B), P95_b d(b, A))`` (numpy's linear interpolation; medpy
    instead pools both directions before taking the percentile).

    Empty masks: both empty -> **0.0**; exactly one empty -> **NaN** (the distance is undefined;
    ``reduction="mean"`` skips these entries).
    """
    check_reduction(reduction)
    q = _check_percentile(percentile)
    a, b, single = _masks(pred, target, labels)
    n, k, h, w = a.shape
    sy, sx = _check_spacing(spacing)
    ea, eb = _boundary(a.reshape(n * k, h, w)), _boundary(b.reshape(n * k, h, w))
    values = np.array([_symmetric(ea[i], eb[i], (sy, sx), q) for i in range(n * k)], dtype=np.float64)
    values = values.reshape(n, k)
    return finish(values if labels is not None else values[:, 0], single, reduction, nan_mean=True)


# ----------------------------------------------------------------------------------------------
# helpers


def _masks(pred: Any, target: Any, labels: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Boolean masks ``(N, K, H, W)``: the foreground (K = 1) or one mask per label."""
    lab = check_labels(labels)
    p, t, single = label_pair(pred, target)
    if lab is None:
        return (p != 0)[:, None], (t != 0)[:, None], single
    sel = lab[None, :, None, None]
    return p[:, None] == sel, t[:, None] == sel, single


def _check_percentile(percentile: float) -> float:
    try:
        q = float(percentile)
    except (TypeError, ValueError):
        raise ConfigError(f"percentile must be a number in [0, 100], not {percentile!r}") from None
    if not 0.0 <= q <= 100.0:
        raise ConfigError(f"percentile must be in [0, 100], not {percentile!r}")
    return q


def _check_spacing(spacing: float | Sequence[float]) -> tuple[float, float]:
    try:
        arr = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (2,))
    except (TypeError, ValueError):
        raise ConfigError(f"spacing must be a positive number or a (row, column) pair, not {spacing!r}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"spacing must be positive and finite, not {spacing!r}")
    return float(arr[0]), float(arr[1])


_CROSS = ndimage.generate_binary_structure(2, 1)


def _boundary(masks: np.ndarray) -> np.ndarray:
    """Pixels of each mask ``(M,H,W)`` with a 4-neighbour outside it (image border = outside)."""
    if masks.size == 0:
        return masks.copy()
    inner = ndimage.binary_erosion(masks, structure=_CROSS, border_value=0, axes=(1, 2))
    return masks & ~inner


def _symmetric(edge_a: np.ndarray, edge_b: np.ndarray, spacing: tuple[float, float], q: float) -> float:
    """``max(P_q d(a, B), P_q d(b, A))`` for two boundary masks ``(H,W)``; 0 / NaN for empty ones.

    One image at a time: a single 3-D transform of the batch (batch axis given a spacing wider than
    any in-image distance) gives the same values but was measured ~2.5x slower per image.
    """
    has_a, has_b = edge_a.any(), edge_b.any()
    if not (has_a and has_b):
        return 0.0 if has_a == has_b else float("nan")
    rows = np.flatnonzero((edge_a | edge_b).any(axis=1))
    cols = np.flatnonzero((edge_a | edge_b).any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    a, b = edge_a[box], edge_b[box]
    d_ab = ndimage.distance_transform_edt(~b, sampling=spacing)[a]
    d_ba = ndimage.distance_transform_edt(~a, sampling=spacing)[b]
    return float(max(np.percentile(d_ab, q), np.percentile(d_ba, q)))
