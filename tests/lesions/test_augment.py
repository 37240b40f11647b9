"""The deterministic twin (apply_transform) and the sampler: known answers and serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth_core.errors import ConfigError
from synth_core.lesions import AugmentParams, AugmentRanges, apply_transform, sample_params, transform_lesion

# an asymmetric patch: no flip or rotation maps it onto itself
P = np.array([[1, 2, 0],
              [0, 3, 0],
              [0, 3, 3],
              [0, 0, 1]], dtype=np.uint8)


def test_identity_gives_the_original():
    assert np.array_equal(apply_transform(P, AugmentParams()), P)
    label = np.zeros((9, 10), np.uint8)
    label[2:6, 3:6] = P
    out = apply_transform(label, AugmentParams(), label.shape)
    assert np.array_equal(out, label) and out.dtype == label.dtype


def test_flip_twice_is_identity_and_flips_are_exact():
    lr = AugmentParams(flip_lr=True)
    ud = AugmentParams(flip_ud=True)
    assert np.array_equal(apply_transform(P, lr), P[:, ::-1])
    assert np.array_equal(apply_transform(P, ud), P[::-1])
    assert np.array_equal(apply_transform(apply_transform(P, lr), lr), P)
    assert np.array_equal(apply_transform(apply_transform(P, ud), ud), P)
    # flipping both axes is a 180 degree rotation
    both = AugmentParams(flip_lr=True, flip_ud=True)
    assert np.array_equal(apply_transform(P, both), apply_transform(P, AugmentParams(rotation_deg=180)))


def test_rotation_90_known_result():
    expected = np.array([[0, 0, 3, 1],
                         [2, 3, 3, 0],
                         [1, 0, 0, 0]], dtype=np.uint8)  # counter-clockwise as displayed
    assert np.array_equal(apply_transform(P, AugmentParams(rotation_deg=90), (3, 4)), expected)
    assert np.array_equal(apply_transform(P, AugmentParams(rotation_deg=-270), (3, 4)), expected)
    assert np.array_equal(apply_transform(P, AugmentParams(rotation_deg=-90), (3, 4)), np.rot90(P, -1))
    # a hair off 90 degrees goes through the general resampler and lands on the same pixels
    assert np.array_equal(apply_transform(P, AugmentParams(rotation_deg=90 + 1e-7), (3, 4)), expected)


def test_scale_two_doubles_each_side():
    out = apply_transform(P, AugmentParams(scale=2.0), (8, 6))
    assert np.array_equal(out, np.kron(P, np.ones((2, 2), np.uint8)))  # area x4 exactly
    blob = np.zeros((20, 20), np.uint8)
    yy, xx = np.mgrid[:20, :20]
    blob[(yy - 9.5) ** 2 + (xx - 9.5) ** 2 < 36] = 1
    area = int(blob.sum())
    for s in (0.5, 1.5, 2.0):
        placed = transform_lesion(blob, AugmentParams(scale=s, rotation_deg=33.0), (100, 100))
        assert np.count_nonzero(placed.tile) == pytest.approx(area * s * s, rel=0.15)


def test_values_stay_integer_with_no_new_values():
    rng = np.random.default_rng(1)
    ranges = AugmentRanges(scale=(0.5, 2.0))
    for _ in range(20):
        out = apply_transform(P.astype(np.int16), sample_params(ranges, rng), (12, 12))
        assert out.dtype == np.int16
        assert set(np.unique(out).tolist()) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match="integer"):
        apply_transform(P.astype(np.float32), AugmentParams())


def test_translate_and_center_place_exactly():
    out = apply_transform(P, AugmentParams(center=(1.5, 1.0), translate=(3, 5)), (10, 10))
    assert np.array_equal(out[3:7, 5:8], P) and out.sum() == P.sum()
    placed = transform_lesion(P, AugmentParams(center=(0.0, 0.0)), (10, 10))
    assert (placed.r0, placed.c0) == (-1, -1)  # centre (1.5, 1) on (0, 0); the half row rounds up
    assert np.array_equal(apply_transform(P, AugmentParams(center=(0.0, 0.0)), (10, 10))[:3, :2], P[1:, 1:])


def test_params_dict_round_trip_is_json_safe_and_bit_exact():
    rng = np.random.default_rng(7)
    ranges = AugmentRanges()
    for _ in range(10):
        p = sample_params(ranges, rng)
        p = AugmentParams(**{**p.__dict__, "center": (5.0, 6.0)})
        d = json.loads(json.dumps(p.to_dict()))
        back = AugmentParams.from_dict(d)
        assert back == p
        assert np.array_equal(apply_transform(P, back, (16, 16)), apply_transform(P, p, (16, 16)))
    with pytest.raises(ConfigError, match="shear"):
        AugmentParams.from_dict({"scale": 1.0, "shear": 3})


def test_sampling_is_seeded_and_within_ranges():
    r = AugmentRanges(scale=(0.8, 1.2), rotation_deg=(-30, 30), p_flip_lr=0.0, p_flip_ud=1.0, translate=(2, 5))
    a = [sample_params(r, 3) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = sample_params(r, rng)
        assert 0.8 <= p.scale <= 1.2 and -30 <= p.rotation_deg <= 30
        assert p.flip_lr is False and p.flip_ud is True
        assert all(isinstance(t, int) and 2 <= t <= 5 for t in p.translate)
        assert p.center is None
    seen = {sample_params(r, rng).translate[0] for _ in range(300)}
    assert seen == {2, 3, 4, 5}


@pytest.mark.parametrize("kw, word", [
    ({"scale": (0.0, 1.0)}, "scale"),
    ({"scale": (1.3, 0.7)}, "scale"),
    ({"rotation_deg": (-400, 0)}, "rotation_deg"),
    ({"p_flip_lr": 1.5}, "p_flip_lr"),
    ({"translate": (0.5, 2)}, "translate"),
    ({"containment": 0.0}, "containment"),
    ({"min_area": 0}, "min_area"),
])
def test_ranges_validation_names_the_field(kw, word):
    with pytest.raises(ConfigError, match=word):
        AugmentRanges(**kw)


def test_ranges_dict_round_trip_and_bad_params():
    r = AugmentRanges(scale=(0.9, 1.1), containment=0.8)
    assert AugmentRanges.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    with pytest.raises(ConfigError, match="zoom"):
        AugmentRanges.from_dict({"zoom": 1})
    with pytest.raises(ConfigError, match="scale"):
        AugmentParams(scale=-1)
    with pytest.raises(ConfigError, match="flip_lr"):
        AugmentParams(flip_lr="yes")
