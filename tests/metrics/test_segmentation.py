"""Dice, IoU, Hausdorff / HD95: known answers, empty cases, scipy references, batching, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from scipy.spatial.distance import directed_hausdorff

from synth_core.errors import ConfigError, InputError
from synth_core.metrics import dice, hausdorff, iou


def square(top: int, left: int, size: int, shape: tuple[int, int] = (40, 40), value: int = 1) -> np.ndarray:
    m = np.zeros(shape, np.int64)
    m[top : top + size, left : left + size] = value
    return m


def blobs(shape: tuple[int, ...], seed: int, level: float = 0.3) -> np.ndarray:
    """Random smooth blobs (thresholded blurred noise), per image."""
    rng = np.random.default_rng(seed)
    sigma = [0.0] * (len(shape) - 2) + [3.0, 3.0]
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return f > level * f.std()


def boundary_points(mask: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Coordinates (scaled by spacing) of mask pixels with a 4-neighbour outside (or off the image)."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return np.argwhere(mask & ~inner) * np.asarray(spacing)


def reference_hd(a: np.ndarray, b: np.ndarray, spacing=(1.0, 1.0), q: float = 100.0) -> float:
    """Point-set reference: scipy's directed Hausdorff (q = 100) or MONAI's max of directed percentiles."""
    pa, pb = boundary_points(a, spacing), boundary_points(b, spacing)
    if q == 100:
        return max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
    d_ab = np.sqrt(((pa[:, None] - pb[None]) ** 2).sum(-1)).min(1)
    d_ba = np.sqrt(((pb[:, None] - pa[None]) ** 2).sum(-1)).min(1)
    return max(np.percentile(d_ab, q), np.percentile(d_ba, q))


# ---------------------------------------------------------------------------------------------
# Dice / IoU


def test_dice_and_iou_of_two_known_squares():
    a = square(10, 10, 10)  # 100 px
    b = square(15, 10, 10)  # 100 px, overlapping 50
    assert dice(a, b) == pytest.approx(0.5)
    assert iou(a, b) == pytest.approx(50 / 150)
    assert dice(a, a) == 1.0 and iou(a, a) == 1.0
    assert dice(a, square(30, 30, 5)) == 0.0


def test_empty_masks():
    empty = np.zeros((20, 20), bool)
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert dice(empty, square(2, 2, 3, (20, 20))) == 0.0
    assert iou(square(2, 2, 3, (20, 20)), empty) == 0.0


def test_per_label_values():
    pred = square(0, 0, 10, value=1) + square(20, 20, 10, value=2)
    target = square(0, 0, 10, value=1) + square(25, 20, 10, value=2)
    got = dice(pred, target, labels=[1, 2, 3])
    np.testing.assert_allclose(got, [1.0, 0.5, 1.0])  # label 3 absent from both: 1.0
    np.testing.assert_allclose(iou(pred, target, labels=[2]), [50 / 150])
    # labels=None compares the foreground (any non-zero label)
    assert dice(pred, target) == pytest.approx(2 * 150 / 400)


def test_batches_torch_and_channel_axis():
    a, b = blobs((4, 48, 48), seed=1), blobs((4, 48, 48), seed=2)
    batch = dice(a, b)
    assert batch.shape == (4,)
    np.testing.assert_allclose(batch, [dice(a[i], b[i]) for i in range(4)])
    np.testing.assert_allclose(dice(torch.from_numpy(a), torch.from_numpy(b)), batch)
    np.testing.assert_allclose(dice(a[:, None].astype(np.float32), b[:, None]), batch)  # (N,1,H,W), 0./1.
    np.testing.assert_allclose(iou(a, b), [iou(a[i], b[i]) for i in range(4)])
    assert dice(a, b, reduction="mean") == pytest.approx(batch.mean())
    per_label = dice(a.astype(int), 2 * b.astype(int), labels=[1, 2])
    assert per_label.shape == (4, 2) and dice(a, b, labels=[1, 2], reduction="mean").shape == (2,)


def test_dice_iou_relation():
    a, b = blobs((6, 40, 40), seed=3), blobs((6, 40, 40), seed=4)
    d, j = dice(a, b), iou(a, b)
    np.testing.assert_allclose(d, 2 * j / (1 + j))


# ---------------------------------------------------------------------------------------------
# Hausdorff


def test_hausdorff_of_two_points():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[1, 1] = True
    b[4, 5] = True
    assert hausdorff(a, b) == pytest.approx(5.0)
    assert hausdorff(a, b, percentile=95) == pytest.approx(5.0)
    assert hausdorff(a, b, spacing=(2.0, 0.5)) == pytest.approx(math.hypot(6.0, 2.0))
    assert hausdorff(a, a) == 0.0


def test_hausdorff_of_two_squares():
    a = square(10, 10, 10)  # rows/cols 10..19
    b = square(10, 10, 14)  # rows/cols 10..23: farthest boundary corner (23, 23) to a's (19, 19)
    assert hausdorff(a, b) == pytest.approx(math.hypot(4, 4))
    assert hausdorff(a, b, spacing=(1.0, 3.0)) == pytest.approx(math.hypot(4, 12))
    # a shifted copy: every boundary point moves by the shift
    assert hausdorff(a, square(13, 10, 10)) == pytest.approx(3.0)
    assert hausdorff(a, square(13, 10, 10), spacing=(0.5, 9.0)) == pytest.approx(1.5)
    # a nested square is measured between boundaries, not foreground sets
    assert hausdorff(square(5, 5, 30), square(15, 15, 10)) == pytest.approx(math.hypot(10, 10))


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 2.5)])
def test_hausdorff_matches_scipy_directed_hausdorff(spacing):
    a, b = blobs((5, 50, 60), seed=5), blobs((5, 50, 60), seed=6)
    got = hausdorff(a, b, spacing=spacing)
    for i in range(5):
        assert got[i] == pytest.approx(reference_hd(a[i], b[i], spacing), abs=1e-9)


@pytest.mark.parametrize("q", [95.0, 50.0, 0.0])
def test_hd_percentile_matches_point_set_reference(q):
    a, b = blobs((4, 40, 40), seed=7), blobs((4, 40, 40), seed=8)
    got = hausdorff(a, b, percentile=q, spacing=(1.0, 1.5))
    for i in range(4):
        assert got[i] == pytest.approx(reference_hd(a[i], b[i], (1.0, 1.5), q), abs=1e-9)
    assert np.all(got <= hausdorff(a, b, spacing=(1.0, 1.5)) + 1e-12)


def test_hausdorff_empty_cases_and_nan_aware_mean():
    empty = np.zeros((20, 20), bool)
    full = square(3, 3, 5, (20, 20)).astype(bool)
    assert hausdorff(empty, empty) == 0.0
    assert math.isnan(hausdorff(empty, full)) and math.isnan(hausdorff(full, empty, percentile=95))
    batch_a = np.stack([full, empty, empty])
    batch_b = np.stack([np.roll(full, 2, axis=0), full, empty])
    got = hausdorff(batch_a, batch_b)
    assert got[0] == pytest.approx(2.0) and math.isnan(got[1]) and got[2] == 0.0
    assert hausdorff(batch_a, batch_b, reduction="mean") == pytest.approx(1.0)  # NaN skipped
    assert math.isnan(hausdorff(batch_a[1:2], batch_b[1:2], reduction="mean"))


def test_hausdorff_batch_per_label_and_torch_equal_loops():
    rng = np.random.default_rng(9)
    pred = blobs((4, 36, 44), seed=10).astype(int) * rng.integers(1, 3, (4, 36, 44))
    target = blobs((4, 36, 44), seed=11).astype(int) * rng.integers(1, 3, (4, 36, 44))
    got = hausdorff(pred, target, labels=[1, 2], percentile=95, spacing=(1.2, 0.8))
    assert got.shape == (4, 2)
    for i in range(4):
        for j, lab in enumerate((1, 2)):
            one = hausdorff(pred[i] == lab, target[i] == lab, percentile=95, spacing=(1.2, 0.8))
            assert got[i, j] == pytest.approx(one, abs=1e-12)
    np.testing.assert_allclose(
        hausdorff(torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None], labels=[1, 2],
                  percentile=95, spacing=(1.2, 0.8)),
        got,
    )


# ---------------------------------------------------------------------------------------------
# properties


mask_pairs = st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.floats(-0.5, 1.5))


@settings(max_examples=15, deadline=None)
@given(mask_pairs)
def test_dice_iou_hausdorff_are_symmetric_and_bounded(args):
    s1, s2, level = args
    a, b = blobs((24, 30), seed=s1, level=level), blobs((24, 30), seed=s2, level=level)
    assert dice(a, b) == dice(b, a) and iou(a, b) == iou(b, a)
    assert 0.0 <= iou(a, b) <= dice(a, b) <= 1.0
    h, h95 = hausdorff(a, b, spacing=(1.0, 2.0)), hausdorff(a, b, percentile=95, spacing=(1.0, 2.0))
    if math.isnan(h):
        assert a.any() != b.any()
    else:
        assert h == hausdorff(b, a, spacing=(1.0, 2.0))
        assert 0.0 <= h95 <= h <= math.hypot(24.0, 60.0)


# ---------------------------------------------------------------------------------------------
# validation


def test_bad_inputs_are_rejected_with_clear_errors():
    a = np.zeros((10, 10))
    with pytest.raises(InputError, match=r"same shape, got \(10, 10\) and \(10, 11\)"):
        dice(a, np.zeros((10, 10 + 1)))
    with pytest.raises(InputError, match="threshold probabilities first"):
        dice(np.full((10, 10), 0.7), a)
    with pytest.raises(InputError, match="NaN"):
        hausdorff(np.full((10, 10), np.nan), a)
    with pytest.raises(InputError, match="label map"):
        iou(np.zeros((2, 3, 8, 8)), np.zeros((2, 3, 8, 8)))
    with pytest.raises(ConfigError, match="labels"):
        dice(a, a, labels=[])
    with pytest.raises(ConfigError, match="labels"):
        dice(a, a, labels=[1.5])
    with pytest.raises(ConfigError, match="spacing"):
        hausdorff(a, a, spacing=(1.0, 0.0))
    with pytest.raises(ConfigError, match="spacing"):
        hausdorff(a, a, spacing=(1.0, 2.0, 3.0))
    with pytest.raises(ConfigError, match="percentile"):
        hausdorff(a, a, percentile=101)
