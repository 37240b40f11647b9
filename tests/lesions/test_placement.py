"""Placement with the containment filter, the batch API and replay: known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth_core.errors import ConfigError
from synth_core.lesions import (
    REASONS,
    AugmentParams,
    AugmentRanges,
    LesionBank,
    augment_batch,
    place_lesion,
    replay,
    sample_placement,
)

from .conftest import SIZE, case_labels, disk_mask

STILL = AugmentRanges(scale=(1, 1), rotation_deg=(0, 0), p_flip_lr=0, p_flip_ud=0, translate=(0, 0))


@pytest.fixture(scope="module")
def bank() -> LesionBank:
    return LesionBank.from_arrays(case_labels(0)[:2])  # 3 lesions: 42, 6 and 12 pixels


def test_accepted_lesion_lies_in_the_mask_and_replays(bank):
    mask = disk_mask()
    p = place_lesion(bank[0], mask, AugmentParams(rotation_deg=30, center=(15.0, 16.0)))
    assert p.accepted and p.reason is None and p.inside_fraction == 1.0
    assert p.label.shape == (SIZE, SIZE) and p.label.dtype == np.uint8
    assert np.all(mask[p.label > 0] == 1)
    assert p.params["lesion_id"] == bank[0].id
    assert np.array_equal(replay(bank, json.loads(json.dumps(p.params)), (SIZE, SIZE)), p.label)


def test_outside_organ(bank):
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, :16] = 1
    p = place_lesion(bank[0], mask, AugmentParams(center=(16.0, 24.0)))
    assert not p.accepted and p.reason == "outside_organ" and p.label is None and p.inside_fraction == 0.0
    # half in, half out: rejected at 1.0, accepted at 0.4
    half = place_lesion(bank[0], mask, AugmentParams(center=(16.0, 16.0)))
    assert half.reason == "outside_organ" and 0.3 < half.inside_fraction < 0.7
    ok = place_lesion(bank[0], mask, AugmentParams(center=(16.0, 16.0)), containment=0.3)
    assert ok.accepted and np.count_nonzero(mask[ok.label > 0]) >= 0.3 * np.count_nonzero(ok.label)


def test_out_of_frame_too_small_and_overlap(bank):
    mask = np.ones((SIZE, SIZE), np.uint8)
    assert place_lesion(bank[0], mask, AugmentParams(center=(1.0, 1.0))).reason == "out_of_frame"
    assert place_lesion(bank[0], mask, AugmentParams(center=(16.0, 30.0))).reason == "out_of_frame"
    small = place_lesion(bank[1], mask, AugmentParams(scale=0.5, center=(16.0, 16.0)), min_area=4)
    assert small.reason == "too_small"
    existing = np.zeros((SIZE, SIZE), np.uint8)
    existing[16, 16] = 2
    assert place_lesion(bank[0], mask, AugmentParams(center=(16.0, 16.0)), existing=existing).reason == "overlap"
    assert place_lesion(bank[0], mask, AugmentParams(center=(5.0, 5.0)), existing=existing).accepted


def test_near_source_with_no_change_gives_back_the_source_label(bank):
    mask = np.ones((SIZE, SIZE), np.uint8)
    src = case_labels(0)[0]
    got = np.zeros_like(src)
    for e in bank.entries[:2]:  # both lesions of slice 0
        p = sample_placement(e, mask, STILL, 0, position="near_source")
        assert p.accepted
        got |= p.label
    assert np.array_equal(got, src)
    # on a mask twice the size the lesion moves with the slice
    big = sample_placement(bank[1], np.ones((64, 64), np.uint8), STILL, 0, position="near_source")
    assert np.argwhere(big.label).mean(axis=0) == pytest.approx([2 * 21 + 0.5, 2 * 20.5 + 0.5], abs=0.5)


def test_batch_counts_add_up_and_labels_are_inside(bank):
    mask = disk_mask(radius=10)
    res = augment_batch(bank, mask, 30, AugmentRanges(), 0, max_tries=400)
    assert res.n_accepted == 30 and res.labels.shape == (30, SIZE, SIZE) and res.labels.dtype == np.uint8
    assert set(res.rejected) == set(REASONS)
    assert res.n_accepted + sum(res.rejected.values()) == res.tries
    assert res.rejected["outside_organ"] > 0  # a 42 px lesion anywhere in a r=10 disk often sticks out
    assert not np.any(res.labels[:, mask == 0])
    for lab, prm in zip(res.labels, res.params):
        assert np.array_equal(replay(bank, prm, mask.shape), lab)
    again = augment_batch(bank, mask, 30, AugmentRanges(), 0, max_tries=400)
    assert np.array_equal(again.labels, res.labels) and again.params == res.params


def test_batch_many_masks_max_tries_and_empty_mask(bank):
    masks = np.stack([disk_mask(radius=r) for r in (6, 9, 12)])
    res = augment_batch(bank, masks, 1000, AugmentRanges(min_area=8), 1, max_tries=200, position="near_source")
    assert res.tries == 200 and res.n_accepted + sum(res.rejected.values()) == 200
    assert res.n_accepted < 1000 and set(res.mask_index.tolist()) <= {0, 1, 2}
    assert res.rejected["too_small"] > 0  # the 6 px lesion unless scaled up past 8 px
    for lab, k in zip(res.labels, res.mask_index):
        assert not np.any(lab[masks[k] == 0])
    empty = augment_batch(bank, np.zeros((SIZE, SIZE), np.uint8), 5, AugmentRanges(), 0, max_tries=20)
    assert empty.n_accepted == 0 and empty.rejected["outside_organ"] == 20 and empty.labels.shape == (0, SIZE, SIZE)


def test_batch_overlap_with_existing_labels(bank):
    mask = np.ones((SIZE, SIZE), np.uint8)
    existing = np.zeros((SIZE, SIZE), np.uint8)
    existing[4:28, 4:28] = 1
    res = augment_batch(bank, mask, 10, AugmentRanges(), 2, max_tries=100, existing=existing)
    assert res.rejected["overlap"] > 0
    assert not np.any(res.labels[:, existing > 0])


def test_bad_arguments(bank):
    with pytest.raises(ConfigError, match="position"):
        augment_batch(bank, disk_mask(), 1, position="anywhere")
    with pytest.raises(ConfigError, match="empty"):
        augment_batch(LesionBank([]), disk_mask(), 1)
    with pytest.raises(ConfigError, match="lesion_id"):
        replay(bank, {"scale": 1.0}, (SIZE, SIZE))
    with pytest.raises(ValueError, match="existing"):
        augment_batch(bank, disk_mask(), 1, existing=np.zeros((3, 3)))
