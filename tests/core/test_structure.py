"""Algorithm 1 (structure map), Algorithm 2 (organ mask) and eq. (12) (noise fusion)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.structure import (
    MaskParams,
    drop_small_regions,
    StructureParams,
    fuse_noise,
    organ_mask,
    scaled_kernel,
    structure_map,
    structure_preset,
)


def disc_image(size: int = 64, radius: int = 20, inner: int = 8) -> np.ndarray:
    """A bright disc (0.8) with a darker inner disc (0.4) on a black background."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    img = np.zeros((size, size), np.float32)
    img[r < radius] = 0.8
    img[r < inner] = 0.4
    return img


def test_scaled_kernel_is_odd_and_scales():
    assert scaled_kernel(5, 256) == 5
    assert scaled_kernel(5, 128) == 3
    assert scaled_kernel(5, 512) == 11
    assert scaled_kernel(1, 512) == 1
    assert all(scaled_kernel(k, s) % 2 == 1 for k in (3, 5, 7) for s in (32, 64, 100, 128, 300))


def test_structure_map_finds_the_two_circles_and_nothing_else():
    img = disc_image()
    s = structure_map(img, StructureParams(median=1))
    assert s.dtype == np.uint8 and set(np.unique(s)) <= {0, 1}
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 31.5, xx - 31.5)
    on = s.astype(bool)
    # every contour pixel lies near one of the two edges (r = 20 or r = 8) ...
    assert np.all((np.abs(r[on] - 20) <= 2) | (np.abs(r[on] - 8) <= 2))
    # ... both edges are found, and flat regions stay empty
    assert on[np.abs(r - 8) <= 1.5].mean() > 0.3
    assert on[(np.abs(r - 20) <= 1.5) & (r < 20)].mean() > 0.3
    assert not on[r < 5].any() and not on[(r > 11) & (r < 17)].any()


def test_structure_map_background_threshold_and_mask_and_lesion_erase():
    img = disc_image()
    base = structure_map(img, StructureParams(median=1, gamma=0.0))
    assert base.sum() > 0
    # gamma above the disc intensity removes everything
    assert structure_map(img, StructureParams(median=1, gamma=0.9)).sum() == 0
    half = np.zeros_like(base)
    half[:, :32] = 1
    masked = structure_map(img, StructureParams(median=1, gamma=0.0), mask=half)
    assert masked[:, 32:].sum() == 0 and masked[:, :32].sum() == base[:, :32].sum()
    lesion = np.zeros((64, 64), np.uint8)
    lesion[20:44, 20:44] = 2
    erased = structure_map(img, StructureParams(median=1, gamma=0.0), lesion=lesion)
    # the lesion and a 2-px margin around it (its boundary edge lies just outside the label) are cleared
    assert erased[18:46, 18:46].sum() == 0
    far = np.ones_like(lesion, bool)
    far[17:47, 17:47] = False
    assert np.array_equal(erased[far], base[far]) and base[far].sum() > 0


def test_structure_map_batch_equals_single():
    rng = np.random.default_rng(0)
    imgs = np.stack([disc_image(64, 18 + i, 6 + i) for i in range(3)])
    imgs = np.clip(imgs + rng.normal(0, 0.01, imgs.shape), 0, 1).astype(np.float32)
    p = structure_preset("ct")
    batch = structure_map(imgs, p)
    assert batch.shape == (3, 64, 64)
    for i in range(3):
        assert np.array_equal(batch[i], structure_map(imgs[i], p))


def test_structure_map_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        structure_map(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="shape"):
        structure_map(np.zeros((2, 2, 8, 8)))
    with pytest.raises(ValueError, match="alpha"):
        StructureParams(alpha=-1)


def test_organ_mask_is_one_inside_and_fills_holes():
    img = disc_image(64, 20, 8)
    img[disc_image(64, 8, 0) > 0] = 0.0  # a black hole in the middle (like a ventricle)
    m = organ_mask(img, MaskParams(threshold=0.1, grow=0, median=1))
    yy, xx = np.mgrid[:64, :64]
    r = np.hypot(yy - 31.5, xx - 31.5)
    assert np.all(m[r < 19] == 1)  # hole filled
    assert np.all(m[r > 21] == 0)
    nofill = organ_mask(img, MaskParams(threshold=0.1, grow=0, median=1, fill_holes=False))
    assert np.all(nofill[r < 7] == 0)


def test_organ_mask_grow_enlarges_a_centred_organ():
    img = disc_image(64, 20, 0)
    small = organ_mask(img, MaskParams(grow=0, median=1))
    big = organ_mask(img, MaskParams(grow=10, median=1))
    assert big.sum() > small.sum()
    assert np.all(big[small == 1] == 1)  # zooming about the centre keeps the organ inside


def test_fuse_noise_keeps_structure_and_background():
    s = np.zeros((16, 16), np.uint8)
    s[8, :] = 1
    m = np.zeros((16, 16), np.uint8)
    m[4:12, 4:12] = 1
    out = fuse_noise(s, m, np.random.default_rng(0))
    assert out.dtype == np.float32
    assert np.all(out[s == 1] == 1.0)
    assert np.all(out[(m == 0) & (s == 0)] == 0.0)
    interior = (m == 1) & (s == 0)
    assert np.all((out[interior] >= 0.5) & (out[interior] < 0.6))
    # deterministic from the generator's seed
    assert np.array_equal(out, fuse_noise(s, m, np.random.default_rng(0)))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.5), st.floats(0.0, 0.5))
def test_fuse_noise_range_property(seed, low, width):
    rng = np.random.default_rng(seed)
    s = (rng.random((2, 12, 12)) > 0.7).astype(np.uint8)
    m = (rng.random((2, 12, 12)) > 0.3).astype(np.uint8)
    high = min(1.0, low + width)
    out = fuse_noise(s, m, rng, low, high)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.all(out[s == 1] == 1.0)


def test_drop_small_regions_keeps_big_regions_and_drops_specks():
    m = np.zeros((2, 20, 20), np.uint8)
    m[0, 2:12, 2:12] = 1  # 100 px
    m[0, 15:17, 15:17] = 1  # 4 px speck
    m[0, 18, 2:6] = 1  # 4 px line
    m[1, 0:4, 0:5] = 1  # 20 px: exactly 5 % of 400
    m[1, 10, 10] = m[1, 11, 11] = 1  # two diagonal pixels: one 8-connected region of 2
    out = drop_small_regions(m, 0.05)  # regions below 20 px go
    assert out.dtype == np.uint8 and out.shape == m.shape
    assert out[0].sum() == 100 and out[0, 2:12, 2:12].all()
    assert out[1].sum() == 20 and out[1, 0:4, 0:5].all()
    assert drop_small_regions(m, 0.005)[1, 10, 10] == 1  # 2 px: kept below 2 px
    assert np.array_equal(drop_small_regions(m, 0.0), m)
    assert np.array_equal(drop_small_regions(m[0], 0.05), out[0])  # (H, W) as one image
    with pytest.raises(ValueError, match="min_area must be a fraction"):
        drop_small_regions(m, 1.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), area=st.floats(0.0, 0.2))
def test_drop_small_regions_only_removes_whole_small_regions(seed, area):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    m = (rng.random((2, 24, 24)) < 0.45).astype(np.uint8)
    out = drop_small_regions(m, area)
    assert np.all(out <= m)  # never adds
    need = area * 24 * 24
    for a, b in zip(m, out):
        lab, n = ndimage.label(a, structure=np.ones((3, 3)))
        for k in range(1, n + 1):
            region = lab == k
            kept = b[region]
            assert kept.all() or not kept.any()  # a region stays whole or goes whole
            assert kept.all() == (region.sum() >= need)
