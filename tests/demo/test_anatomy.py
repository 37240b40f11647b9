"""Working grid, deformations and sampling: known answers on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.demo.anatomy import (
    DeformationParams,
    IntensityParams,
    SourceVolumes,
    WorkGrid,
    sample_deformation,
    sample_volume,
    vary_intensity,
)

GRID = WorkGrid(shape=(6, 8, 7), spacing_mm=2.0, centre=(10.0, 12.0, 11.0), first_mm=(-5.0, -7.0, -6.0))
IDENTITY = DeformationParams(max_scale=0, anisotropy=0, max_rotation_deg=0, max_tilt_deg=0, max_shift_mm=0, elastic_mm=0)


def test_offsets_and_slab() -> None:
    off = GRID.offsets()
    assert off.shape == (3, 6, 8, 7)
    assert tuple(off[:, 0, 0, 0]) == GRID.first_mm
    assert off[2, 0, 0, 1] - off[2, 0, 0, 0] == 2.0
    slab = GRID.slab(2, 5)
    np.testing.assert_array_equal(slab.offsets(), off[:, 2:5])
    np.testing.assert_allclose(GRID.index_of(off[:, 3, 4, 5]), [3, 4, 5])
    with pytest.raises(ValueError, match="empty slab"):
        GRID.slab(4, 4)


def test_identity_deformation() -> None:
    d = sample_deformation(np.random.default_rng(0), GRID, IDENTITY)
    off = GRID.offsets()
    np.testing.assert_allclose(d.on_grid(GRID), off, atol=1e-5)
    np.testing.assert_allclose(d.apply(off), off, atol=1e-5)


def test_on_grid_matches_apply() -> None:
    """The separable evaluation equals the general one (same trilinear control grid)."""
    d = sample_deformation(np.random.default_rng(1), GRID, DeformationParams(elastic_mm=3.0, control_spacing_mm=3.0, elastic_length_mm=6.0))
    np.testing.assert_allclose(d.on_grid(GRID), d.apply(GRID.offsets()), atol=1e-4)
    np.testing.assert_allclose(d.on_grid(GRID, step=2), d.apply(GRID.offsets(step=2)), atol=1e-4)
    assert np.abs(d.on_grid(GRID) - GRID.offsets()).max() > 0.1  # it does deform


def test_deformation_is_deterministic() -> None:
    a = sample_deformation(np.random.default_rng(5), GRID, DeformationParams())
    b = sample_deformation(np.random.default_rng(5), GRID, DeformationParams())
    np.testing.assert_array_equal(a.on_grid(GRID), b.on_grid(GRID))


def test_sample_volume_linear_ramp() -> None:
    """Trilinear sampling reproduces a linear function exactly; zero outside the source."""
    z, y, x = np.meshgrid(np.arange(20), np.arange(24), np.arange(22), indexing="ij")
    ramp = (0.5 * z + 0.25 * y + 0.125 * x).astype(np.float32)
    src = SourceVolumes(t1=ramp, gm=ramp, wm=ramp, brain=ramp, origin=np.array([2.0, 1.0, 3.0], np.float32))
    pts = np.array([[0.3, -1.7], [2.25, 0.0], [-3.5, 1.0]], np.float32)  # two points, mm from the centre
    idx = pts + (np.array(GRID.centre) - src.origin)[:, None]
    expected = 0.5 * idx[0] + 0.25 * idx[1] + 0.125 * idx[2]
    np.testing.assert_allclose(sample_volume(ramp, pts, GRID, src), expected, rtol=1e-5)
    where = np.array([True, False])
    np.testing.assert_allclose(sample_volume(ramp, pts, GRID, src, where=where), [expected[0], 0.0], rtol=1e-5)
    far = np.full((3, 1), 500.0, np.float32)
    assert sample_volume(ramp, far, GRID, src)[0] == 0.0


def test_vary_intensity_keeps_order() -> None:
    t1 = np.array([0.9, 0.65, 0.28], np.float32)  # WM, GM, CSF
    gm = np.array([0.0, 1.0, 0.0], np.float32)
    rng = np.random.default_rng(0)
    for _ in range(100):
        out = vary_intensity(t1, gm, rng, IntensityParams())
        assert out[0] > out[1] > out[2] > 0
