"""Floored feature scaling of the C2ST: ordinary features standardised, near-constant ones kept small."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.evaluation.c2st import HAND_VIEW_DIM, HAND_VIEW_GROUPS, c2st, handmade_features
from synth_core.evaluation.scaling import FLOOR, FlooredScaler, group_floors


def test_group_floor_is_a_tenth_of_the_groups_rms_sd():
    sd = np.array([3.0, 4.0, 0.0, 0.0, 2.0])
    groups = np.array([0, 0, 0, 1, 2])
    # group 0: rms of (3, 4, 0) = sqrt(25 / 3); group 1 all constant -> 1; group 2: 2
    assert group_floors(sd, groups) == pytest.approx([FLOOR * np.sqrt(25 / 3)] * 3 + [1.0, FLOOR * 2])
    assert group_floors(sd, None) == pytest.approx([FLOOR * np.sqrt(29 / 5)] * 5)
    with pytest.raises(ValueError, match="4 feature groups for 5 features"):
        group_floors(sd, groups[:4])


def test_ordinary_features_are_standardised_exactly_and_a_near_constant_one_is_not_blown_up():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(5, 2, 500), rng.normal(-1, 3, 500), np.zeros(500)])
    x[:3, 2] = 1e-3  # three stray specks in an otherwise constant feature
    z = FlooredScaler(groups=np.zeros(3, int)).fit(x).transform(x)
    assert z[:, :2].mean(axis=0) == pytest.approx([0, 0], abs=1e-12)
    assert z[:, :2].std(axis=0) == pytest.approx([1, 1])
    # plain standardisation would make the specks ~13 sd; floored they stay ~0.004 of the group's scale
    assert np.abs(z[:, 2]).max() < 0.01


def test_the_hand_made_groups_cover_every_feature():
    assert HAND_VIEW_GROUPS.shape == (HAND_VIEW_DIM,)
    assert np.bincount(HAND_VIEW_GROUPS).tolist() == [256, 16, 16, 5]


def test_transform_checks_the_width_and_fit_checks_the_floor():
    s = FlooredScaler().fit(np.ones((4, 3)))
    assert np.array_equal(s.transform(np.ones((2, 3))), np.zeros((2, 3)))  # constant features -> 0
    with pytest.raises(ValueError, match=r"expected \(N, 3\) features"):
        s.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="floor must be in"):
        FlooredScaler(floor=0).fit(np.ones((4, 3)))


@settings(max_examples=30, deadline=None)
@given(shift=st.floats(-100, 100), scale=st.floats(0.01, 100), seed=st.integers(0, 10_000))
def test_scaling_is_invariant_to_shifting_and_rescaling_a_group(shift, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 6)) * rng.uniform(0.1, 2, 6)
    x[:, 5] = 0
    x[0, 5] = 1e-4
    groups = np.array([0, 0, 1, 1, 1, 1])
    y = x.copy()
    y[:, 2:] = y[:, 2:] * scale + shift  # one unit change of a whole group
    a = FlooredScaler(groups).fit(x).transform(x)
    b = FlooredScaler(groups).fit(y).transform(y)
    assert np.allclose(a, b, atol=1e-6)


def _stripped(rng: np.random.Generator, n: int, level: float, size: int = 32) -> np.ndarray:
    """Skull-stripped noisy discs: exactly 0 outside the disc, like the demo's scans."""
    yy, xx = np.mgrid[:size, :size]
    r = size * (0.25 + 0.1 * rng.random(n))
    disc = np.hypot(yy - size / 2, xx - size / 2)[None] < r[:, None, None]
    return np.where(disc, np.clip(level + rng.normal(0, 0.1, (n, size, size)), 0.05, 1), 0.0)


def _specked(rng: np.random.Generator, images: np.ndarray, every: int) -> np.ndarray:
    """Three 2 x 2 specks of 0.004 (invisible: 1/250 of full scale) in the empty corners of every
    ``every``-th image."""
    out = images.copy()
    size = images.shape[-1]
    for i in range(0, len(out), every):
        for _ in range(3):
            r = rng.integers(0, 5) if rng.random() < 0.5 else rng.integers(size - 5, size - 1)
            c = rng.integers(0, 5) if rng.random() < 0.5 else rng.integers(size - 5, size - 1)
            out[i, r : r + 2, c : c + 2] = 0.004
    return out


@pytest.mark.parametrize("every", [1, 2])
def test_invisible_specks_in_empty_corners_do_not_swing_the_auc(every):
    """The demo's failure in miniature: a synthetic side with a small intensity shift, and specks of
    near-black in corners that are exactly 0 in every real image. Plainly standardised, such a
    corner feature becomes as loud as the strongest cue: here the AUC went from 0.82 to 0.91 (specks
    on half the samples) or 1.00 (on all), and on the demo's models ~90 near-black pixels per
    sample moved it the other way, 0.98 to 0.91. Floored, the specks count at their real size."""
    rng = np.random.default_rng(7)
    subjects = np.repeat(np.arange(20), 10)
    real = _stripped(rng, 200, 0.5)
    syn = _stripped(rng, 200, 0.51)
    fr = handmade_features(real)
    clean = c2st(fr, handmade_features(syn), subjects, seed=0, repeats=2, feature_groups=HAND_VIEW_GROUPS).auc
    specked = c2st(fr, handmade_features(_specked(rng, syn, every)), subjects, seed=0, repeats=2,
                   feature_groups=HAND_VIEW_GROUPS).auc
    assert 0.7 < clean < 0.9
    assert abs(specked - clean) < 0.02, (clean, specked)
    control = c2st(fr, handmade_features(_stripped(rng, 200, 0.5)), subjects, seed=0, repeats=2,
                   feature_groups=HAND_VIEW_GROUPS).auc
    assert abs(control - 0.5) < 0.15, control
