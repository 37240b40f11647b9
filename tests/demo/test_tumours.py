"""Procedural tumours: nesting, placement and mass effect on small phantoms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from synth_core.demo.anatomy import WorkGrid
from synth_core.demo.tumours import (
    ENHANCING,
    NECROSIS,
    OEDEMA,
    Tumour,
    TumourParams,
    lesion_fractions,
    mass_effect_displacement,
    nest_labels,
    sample_tumour,
    tumour_labels,
    tumour_shape,
)

SQUARE = np.ones((3, 3), bool)
GRID = WorkGrid(shape=(40, 40, 40), spacing_mm=2.0, centre=(0.0, 0.0, 0.0), first_mm=(-39.0, -39.0, -39.0))


def _phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ball of white matter (radius 34 mm) with a CSF-filled 'ventricle' off-centre."""
    off = GRID.offsets()
    r = np.sqrt((off**2).sum(axis=0))
    brain = (r < 34).astype(np.float32)
    csf = (np.sqrt(((off - np.array([0, 0, 20.0]).reshape(3, 1, 1, 1)) ** 2).sum(axis=0)) < 6).astype(np.float32) * brain
    wm = brain - csf
    return wm, csf, brain


def _tumour(**kw) -> Tumour:
    base = dict(
        centre_mm=(0.0, 0.0, -4.0), radii_mm=(12.0, 9.0, 10.0), rotation=tuple(map(tuple, np.eye(3))),
        necrosis_fraction=0.5, oedema_factor=1.8, mass_effect=0.0, noise_seed=7,
    )
    base.update(kw)
    return Tumour(**base)


def assert_nested_3d(lab: np.ndarray, brain: np.ndarray) -> None:
    core = (lab == NECROSIS) | (lab == ENHANCING)
    assert np.all(lab[brain == 0] == 0)
    assert not np.any(ndimage.binary_dilation(lab == NECROSIS) & ~core)  # rim surrounds necrosis
    assert not np.any(ndimage.binary_dilation(core) & (lab == 0) & (brain > 0))  # oedema surrounds the core


def test_labels_are_nested_and_inside_the_brain() -> None:
    wm, csf, brain = _phantom()
    lab, texture = tumour_labels(tumour_shape(_tumour(), GRID, TumourParams()), GRID, wm, csf, brain)
    counts = np.bincount(lab.ravel(), minlength=4)
    assert counts[NECROSIS] > 0 and counts[ENHANCING] > 0 and counts[OEDEMA] > counts[ENHANCING]
    assert_nested_3d(lab, brain)
    assert not np.any((lab == OEDEMA) & (csf > 0.5))  # no oedema in CSF
    assert texture[lab > 0].std() > 0.1  # patchy signal inside the tumour
    # the whole tumour is one connected object
    assert ndimage.label(lab > 0)[1] == 1


def test_labels_on_a_slab_equal_the_full_grid() -> None:
    wm, csf, brain = _phantom()
    shape = tumour_shape(_tumour(), GRID, TumourParams())
    full, _ = tumour_labels(shape, GRID, wm, csf, brain)
    zs = np.flatnonzero(full.any(axis=(1, 2)))
    z0, z1 = zs.min() - 1, zs.max() + 2
    part, _ = tumour_labels(shape, GRID.slab(z0, z1), wm[z0:z1], csf[z0:z1], brain[z0:z1])
    np.testing.assert_array_equal(part, full[z0:z1])


def test_sample_tumour_in_white_matter_away_from_the_surface() -> None:
    wm, csf, brain = _phantom()
    off = GRID.offsets()
    template_slice = np.full(GRID.shape, 100.0, np.float32)  # all supratentorial
    params = TumourParams(white_matter_preference=1.0)
    for seed in range(10):
        t = sample_tumour(np.random.default_rng(seed), wm, 0 * wm, brain, template_slice, off, GRID.spacing_mm, params)
        depth = 34 - np.linalg.norm(t.centre_mm)
        assert depth >= max(t.radii_mm) + params.surface_margin_mm - 2.0  # within a voxel of the rule
        assert 0 < t.necrosis_fraction <= 1 - params.min_rim_mm / min(t.radii_mm) + 1e-9


def test_mass_effect_pushes_outward_without_folding() -> None:
    off = GRID.offsets()
    t = _tumour(mass_effect=0.35)
    v = mass_effect_displacement(t, off)
    assert not mass_effect_displacement(_tumour(mass_effect=0.0), off).any()
    c = np.array(t.centre_mm).reshape(3, 1, 1, 1)
    radial = ((off - c) * v).sum(axis=0)
    assert radial.max() <= 1e-6  # samples from closer to the centre: tissue moves outward
    bound = 0.43 * 0.35 * 1.5 * np.mean(t.radii_mm)
    assert np.sqrt((v**2).sum(axis=0)).max() <= bound * 1.01
    # the sampling map p -> p + v(p) keeps a positive Jacobian (no folding)
    m = off + v
    jac = np.stack([np.stack(np.gradient(m[i], GRID.spacing_mm), 0) for i in range(3)], 0)  # (3, 3, Z, H, W)
    det = np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1)))
    assert det.min() > 0


def test_lesion_fractions_sum_to_at_most_one() -> None:
    lab = np.zeros((9, 9, 9), np.uint8)
    lab[2:7, 2:7, 2:7] = OEDEMA
    lab[3:6, 3:6, 3:6] = ENHANCING
    lab[4, 4, 4] = NECROSIS
    f = lesion_fractions(lab)
    total = sum(f.values())
    assert total.max() <= 1 + 1e-6 and total[4, 4, 4] > 0.9 and total[0, 0, 0] < 1e-3
    assert f["necrosis"][4, 4, 4] == max(f["necrosis"].ravel())


def _assert_nested_2d(lab: np.ndarray, mask: np.ndarray) -> None:
    for i in range(lab.shape[0]):
        core = (lab[i] == NECROSIS) | (lab[i] == ENHANCING)
        assert not np.any(ndimage.binary_dilation(lab[i] == NECROSIS, SQUARE) & ~core)
        assert not np.any(ndimage.binary_dilation(core, SQUARE) & (lab[i] == 0))
        assert not np.any((lab[i] > 0) & (mask[i] == 0))


@settings(max_examples=60, deadline=None)
@given(
    lab=arrays(np.uint8, (2, 12, 12), elements=st.sampled_from([0, 1, 2, 3])),
    mask=arrays(np.uint8, (2, 12, 12), elements=st.sampled_from([0, 1, 1, 1])),
)
def test_nest_labels_property(lab: np.ndarray, mask: np.ndarray) -> None:
    out = nest_labels(lab, mask)
    _assert_nested_2d(out, mask)
    np.testing.assert_array_equal(nest_labels(out, mask), out)  # idempotent


def test_nest_labels_keeps_an_already_nested_tumour() -> None:
    lab = np.zeros((1, 15, 15), np.uint8)
    lab[0, 2:13, 2:13] = OEDEMA
    lab[0, 4:11, 4:11] = ENHANCING
    lab[0, 6:9, 6:9] = NECROSIS
    np.testing.assert_array_equal(nest_labels(lab, np.ones_like(lab)), lab)


@pytest.mark.parametrize("bad", [dict(radius_mm=(0.0, 5.0)), dict(oedema_factor=(0.8, 2.0)), dict(mass_effect=(0.0, 1.0)), dict(necrosis_fraction=(0.2, 1.0))])
def test_params_validation(bad: dict) -> None:
    with pytest.raises(ValueError, match="TumourParams"):
        TumourParams(**bad)
