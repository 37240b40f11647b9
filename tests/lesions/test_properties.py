"""Hypothesis properties of the lesion transforms and the containment filter."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from synth_core.lesions import (
    AugmentParams,
    AugmentRanges,
    LesionBank,
    apply_transform,
    augment_batch,
    place_lesion,
    replay,
)

from .conftest import case_labels, disk_mask

SETTINGS = settings(max_examples=50, deadline=None)

patches = arrays(np.uint8, st.tuples(st.integers(1, 7), st.integers(1, 7)), elements=st.integers(0, 4))
params = st.builds(
    AugmentParams,
    scale=st.floats(0.3, 2.5),
    rotation_deg=st.floats(-360, 360),
    flip_lr=st.booleans(),
    flip_ud=st.booleans(),
    translate=st.tuples(st.integers(-6, 6), st.integers(-6, 6)),
    center=st.none() | st.tuples(st.integers(0, 23).map(float), st.integers(0, 23).map(float)),
)


def _lesion_label(patch: np.ndarray) -> np.ndarray:
    """The patch inside a 12 x 12 label, so a bank built from it holds the patch's lesions."""
    lab = np.zeros((1, 12, 12), np.uint8)
    lab[0, 2 : 2 + patch.shape[0], 3 : 3 + patch.shape[1]] = patch
    return lab


@SETTINGS
@given(patch=patches, lr=st.booleans(), ud=st.booleans())
def test_flip_twice_is_identity(patch, lr, ud):
    p = AugmentParams(flip_lr=lr, flip_ud=ud)
    assert np.array_equal(apply_transform(apply_transform(patch, p), p), patch)


@SETTINGS
@given(patch=patches, p=params)
def test_values_are_a_subset_plus_zero(patch, p):
    out = apply_transform(patch, p, (24, 24))
    assert out.dtype == patch.dtype and out.shape == (24, 24)
    assert set(np.unique(out).tolist()) <= set(np.unique(patch).tolist()) | {0}


@SETTINGS
@given(
    patch=patches.filter(lambda a: a.any()),
    p=params,
    mask=arrays(np.uint8, (24, 24), elements=st.integers(0, 1)) | st.just(np.ones((24, 24), np.uint8)),
    containment=st.sampled_from([1.0, 0.75, 0.5]),
)
def test_accepted_lesions_meet_the_threshold_and_replay(patch, p, mask, containment):
    bank = LesionBank.from_arrays(_lesion_label(patch))
    for entry in bank:
        res = place_lesion(entry, mask, p, containment=containment)
        if not res.accepted:
            assert res.reason in ("outside_organ", "out_of_frame", "too_small")
            continue
        lesion = res.label > 0
        inside = np.count_nonzero(mask[lesion])
        if containment == 1.0:
            assert np.all(mask[lesion] == 1)
        assert inside >= containment * np.count_nonzero(lesion) - 1e-9
        assert set(np.unique(res.label).tolist()) <= set(np.unique(entry.patch).tolist()) | {0}
        again = replay(bank, json.loads(json.dumps(res.params)), mask.shape)
        assert np.array_equal(again, res.label)


@SETTINGS
@given(patch=patches, p=params)
def test_replay_from_dict_is_bit_exact(patch, p):
    d = json.loads(json.dumps(p.to_dict()))
    assert np.array_equal(apply_transform(patch, AugmentParams.from_dict(d), (24, 24)),
                          apply_transform(patch, p, (24, 24)))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), c=st.sampled_from([1.0, 0.6]))
def test_batch_labels_respect_the_mask(seed, c):
    bank = LesionBank.from_arrays(case_labels(2)[:2])
    mask = disk_mask(radius=9)
    res = augment_batch(bank, mask, 5, AugmentRanges(containment=c), seed, max_tries=40)
    assert res.n_accepted + sum(res.rejected.values()) == res.tries
    for lab in res.labels:
        lesion = lab > 0
        assert np.count_nonzero(mask[lesion]) >= c * np.count_nonzero(lesion) - 1e-9
