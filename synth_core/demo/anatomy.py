"""New subjects from one template: smooth random deformations and intensity variation.

A subject's anatomy is the MNI152 template resampled through a random spatial transform

    template_point = centre + A @ p + t + u(p)

where ``p`` is a point of the working grid (mm, relative to its centre), ``A`` a random affine
(per-axis scale, rotation mostly in the axial plane, small tilts), ``t`` a small shift and ``u`` a
smooth random displacement field (Gaussian noise on a control grid, Gaussian-smoothed, scaled to a
chosen standard deviation in mm, interpolated trilinearly). As in torchio's ``RandomAffine`` ->
``Affine`` pair, :func:`sample_deformation` draws the parameters and :class:`Deformation` applies
them deterministically, so a subject can be replayed from its recorded parameters.

Everything is done once, at a reduced working resolution (:class:`WorkGrid`, about ``size``
pixels across the padded axial field of view), straight from the 1 mm template (pre-blurred to
avoid aliasing): one interpolation per volume.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from synth_core.demo.templates import Templates


@dataclass(frozen=True)
class WorkGrid:
    """The grid a subject is simulated on: isotropic voxels of ``spacing_mm``, display orientation.

    ``shape`` = (Z, H, W); ``centre`` = the template voxel (1 mm) all offsets are measured from;
    ``first_mm`` = offset (mm) of voxel (0, 0, 0) from it. A :meth:`slab` shares the centre, so
    offsets, deformations and tumours mean the same on the full grid and on its slabs.
    """

    shape: tuple[int, int, int]
    spacing_mm: float
    centre: tuple[float, float, float]
    first_mm: tuple[float, float, float]

    def axis(self, k: int, step: int = 1) -> np.ndarray:
        """Offsets (mm) of the voxels along axis ``k`` (every ``step``-th), float32."""
        return (self.first_mm[k] + np.arange(0, self.shape[k], step) * self.spacing_mm).astype(np.float32)

    def offsets(self, step: int = 1) -> np.ndarray:
        """Points of the grid as ``(3, Z, H, W)`` float32 mm offsets from ``centre``
        (every ``step``-th voxel along each axis)."""
        return np.stack(np.meshgrid(*(self.axis(k, step) for k in range(3)), indexing="ij"))

    def index_of(self, offset_mm: tuple[float, float, float] | np.ndarray) -> np.ndarray:
        """Fractional voxel index of an offset (mm)."""
        return (np.asarray(offset_mm, dtype=float) - np.array(self.first_mm)) / self.spacing_mm

    def slab(self, z0: int, z1: int) -> "WorkGrid":
        """The sub-grid of slices ``z0 <= z < z1``."""
        z0, z1 = max(0, int(z0)), min(self.shape[0], int(z1))
        if z1 <= z0:
            raise ValueError(f"empty slab {z0}:{z1} of a grid with {self.shape[0]} slices")
        first = (self.first_mm[0] + z0 * self.spacing_mm, self.first_mm[1], self.first_mm[2])
        return replace(self, shape=(z1 - z0, self.shape[1], self.shape[2]), first_mm=first)


def work_grid(templates: Templates, size: int, *, margin_mm: float = 10.0) -> WorkGrid:
    """A grid covering the template brain plus ``margin_mm``, with the larger in-plane side
    (anterior-posterior) sampled by about ``size`` voxels, never finer than 1 mm."""
    idx = np.argwhere(templates.brain > 0)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    extent = (hi - lo + 1).astype(float) + 2 * margin_mm
    spacing = max(1.0, float(max(extent[1], extent[2])) / size)
    shape = tuple(int(math.ceil(e / spacing - 1e-6)) for e in extent)
    centre = tuple(float(c) for c in (lo + hi) / 2.0)
    first = tuple(-(n - 1) / 2.0 * spacing for n in shape)
    return WorkGrid(shape=shape, spacing_mm=spacing, centre=centre, first_mm=first)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SourceVolumes:
    """Template volumes cropped around the brain and pre-blurred for sampling at ``spacing_mm``.

    ``origin`` is the template voxel of element (0, 0, 0), so template voxel ``v`` is at array
    index ``v - origin``.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    origin: np.ndarray


def prepare_source(templates: Templates, grid: WorkGrid, *, slack_mm: float = 30.0) -> SourceVolumes:
    """Crop the template to the brain plus ``slack_mm`` (room for the deformations) and blur it
    with a Gaussian of ``0.4 * spacing`` mm (anti-aliasing) when the grid is coarser than 1 mm."""
    idx = np.argwhere(templates.brain > 0)
    lo = np.maximum(idx.min(axis=0) - int(slack_mm), 0)
    hi = np.minimum(idx.max(axis=0) + int(slack_mm) + 1, templates.brain.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    sigma = 0.4 * grid.spacing_mm if grid.spacing_mm > 1.2 else 0.0

    def prep(v: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(v[box], dtype=np.float32)
        return ndimage.gaussian_filter(v, sigma, truncate=2.0) if sigma > 0 else v

    return SourceVolumes(
        t1=prep(templates.t1), gm=prep(templates.gm), wm=prep(templates.wm), brain=prep(templates.brain), origin=lo.astype(np.float32)
    )


@dataclass(frozen=True)
class DeformationParams:
    """Ranges of the random spatial transform (all symmetric about the identity)."""

    max_scale: float = 0.08  # global scale drawn log-uniformly in [1/(1+s), 1+s]
    anisotropy: float = 0.04  # extra per-axis scale, log-normal with this standard deviation
    max_rotation_deg: float = 10.0  # rotation in the axial plane, uniform in [-r, r]
    max_tilt_deg: float = 4.0  # rotations about the two in-plane axes, uniform in [-t, t]
    max_shift_mm: float = 3.0  # translation per axis, uniform in [-t, t]
    elastic_mm: float = 2.5  # standard deviation of the smooth displacement field, per component
    elastic_length_mm: float = 18.0  # correlation length (Gaussian sigma) of the displacement field
    control_spacing_mm: float = 6.0  # spacing of the control grid the field is interpolated from

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"DeformationParams.{name} must be a finite number >= 0, not {v!r}")
        if self.control_spacing_mm <= 0:
            raise ValueError(f"DeformationParams.control_spacing_mm must be > 0, not {self.control_spacing_mm!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Deformation:
    """A spatial transform from working-grid offsets (mm) to template offsets (mm).

    ``matrix`` (3, 3) and ``shift_mm`` (3,) are the affine part; ``field`` (3, gz, gy, gx) holds
    the displacement (mm) at control points spaced ``control_spacing_mm`` and centred on 0.
    """

    matrix: np.ndarray
    shift_mm: np.ndarray
    field: np.ndarray
    control_spacing_mm: float

    def apply(self, offsets: np.ndarray) -> np.ndarray:
        """Map ``(3, ...)`` float32 working offsets (mm) to ``(3, ...)`` template offsets (mm)."""
        p = np.asarray(offsets, dtype=np.float32)
        flat = p.reshape(3, -1)
        out = apply_matrix(self.matrix, flat) + self.shift_mm.astype(np.float32)[:, None]
        half = (np.array(self.field.shape[1:], dtype=np.float32) - 1) / 2.0
        cidx = flat / np.float32(self.control_spacing_mm) + half[:, None]
        for k in range(3):
            out[k] += ndimage.map_coordinates(self.field[k], cidx, order=1, mode="nearest", prefilter=False)
        return out.reshape(p.shape)

    def on_grid(self, grid: WorkGrid, *, step: int = 1, displacement: np.ndarray | None = None) -> np.ndarray:
        """Template offsets ``(3, Z, H, W)`` (mm) of the points of ``grid`` (every ``step``-th
        voxel), optionally moved first by a small ``displacement`` ``(3, Z, H, W)`` mm.

        Same result as ``apply(grid.offsets(step) + displacement)`` except that the smooth field
        is read at the unmoved grid points (the displacement, a few mm, is far below its
        correlation length): the field is then a separable trilinear interpolation, several
        times faster than ``map_coordinates`` on a million points.
        """
        axes = [grid.axis(k, step) for k in range(3)]
        a = self.matrix.astype(np.float32)
        shape = tuple(len(ax) for ax in axes)
        out = np.empty((3, *shape), dtype=np.float32)
        for k in range(3):  # A @ p + t, separably
            out[k] = a[k, 0] * axes[0][:, None, None] + a[k, 1] * axes[1][None, :, None] + a[k, 2] * axes[2][None, None, :]
            out[k] += np.float32(self.shift_mm[k])
        if displacement is not None:
            out += apply_matrix(a, displacement.astype(np.float32))
        lerps = [_lerp_indices(grid, axis, step, self.control_spacing_mm, self.field.shape[1 + axis]) for axis in range(3)]
        for k in range(3):  # trilinear interpolation of the control grid, one axis at a time
            f = self.field[k]
            for axis, (i0, frac) in enumerate(lerps):
                f = _lerp(f, axis, i0, frac)
            out[k] += f
        return out


def apply_matrix(matrix: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``matrix @ p`` for a 3x3 matrix and ``(3, ...)`` points, written out element-wise.

    Not BLAS on purpose: a multi-threaded BLAS may round differently with a different number of
    threads, and the demo must be bit-for-bit reproducible from its seed.
    """
    m = np.asarray(matrix, dtype=np.float32)
    return np.stack([m[k, 0] * p[0] + m[k, 1] * p[1] + m[k, 2] * p[2] for k in range(3)])


def _lerp_indices(grid: WorkGrid, axis: int, step: int, spacing: float, n_ctrl: int) -> tuple[np.ndarray, np.ndarray]:
    """Left control-point index and fraction (float32) of each grid point along ``axis``."""
    pos = grid.axis(axis, step).astype(np.float64) / spacing + (n_ctrl - 1) / 2.0
    pos = np.clip(pos, 0, n_ctrl - 1)
    i0 = np.minimum(np.floor(pos).astype(np.intp), n_ctrl - 2)
    return i0, (pos - i0).astype(np.float32)


def _lerp(f: np.ndarray, axis: int, i0: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``f`` along ``axis`` at positions ``i0 + frac``."""
    shape = [1] * f.ndim
    shape[axis] = -1
    w = frac.reshape(shape)
    return np.take(f, i0, axis=axis) * (1 - w) + np.take(f, i0 + 1, axis=axis) * w


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation about the Z (axial-plane), H and W axes, in radians, composed Z @ H @ W."""
    cz, sz = math.cos(yaw), math.sin(yaw)
    ch, sh = math.cos(pitch), math.sin(pitch)
    cw, sw = math.cos(roll), math.sin(roll)
    rz = np.array([[1, 0, 0], [0, cz, -sz], [0, sz, cz]])  # rotates rows/columns: the axial plane
    rh = np.array([[ch, 0, -sh], [0, 1, 0], [sh, 0, ch]])
    rw = np.array([[cw, -sw, 0], [sw, cw, 0], [0, 0, 1]])
    return rz @ rh @ rw


def sample_deformation(rng: np.random.Generator, grid: WorkGrid, params: DeformationParams) -> Deformation:
    """Draw a random :class:`Deformation` covering ``grid`` (plus a margin)."""
    lim = math.log1p(params.max_scale)
    scale = math.exp(rng.uniform(-lim, lim)) * np.exp(rng.normal(0.0, params.anisotropy, size=3))
    deg = math.pi / 180.0
    rot = _rotation(
        rng.uniform(-1, 1) * params.max_rotation_deg * deg,
        rng.uniform(-1, 1) * params.max_tilt_deg * deg,
        rng.uniform(-1, 1) * params.max_tilt_deg * deg,
    )
    shift = rng.uniform(-1, 1, size=3) * params.max_shift_mm
    cs = params.control_spacing_mm
    extent = np.array(grid.shape) * grid.spacing_mm
    n = tuple(int(math.ceil(e / cs)) + 5 for e in extent)
    noise = rng.standard_normal((3, *n)).astype(np.float32)
    field = np.zeros_like(noise)
    if params.elastic_mm > 0:
        sigma = params.elastic_length_mm / cs
        for k in range(3):
            f = ndimage.gaussian_filter(noise[k], sigma, mode="reflect")
            field[k] = f / max(float(f.std()), 1e-6) * params.elastic_mm
    return Deformation(matrix=rot @ np.diag(scale), shift_mm=shift, field=field, control_spacing_mm=cs)


def sample_volume(
    volume: np.ndarray,
    points_mm: np.ndarray,
    grid: WorkGrid,
    source: SourceVolumes,
    where: np.ndarray | None = None,
) -> np.ndarray:
    """Trilinear sample of a source volume at template offsets ``points_mm`` ``(3, ...)`` (mm
    from the grid centre); zero outside the source, and outside ``where`` (bool, shape
    ``points_mm.shape[1:]``) when given. Returns float32 of shape ``points_mm.shape[1:]``."""
    shift = (np.array(grid.centre, dtype=np.float32) - source.origin)[:, None]
    flat = points_mm.reshape(3, -1)
    if where is None:
        idx = flat + shift
        out = ndimage.map_coordinates(volume, idx, order=1, mode="constant", cval=0.0, prefilter=False, output=np.float32)
        return out.reshape(points_mm.shape[1:])
    sel = np.asarray(where).reshape(-1)
    out = np.zeros(sel.shape, dtype=np.float32)
    out[sel] = ndimage.map_coordinates(volume, flat[:, sel] + shift, order=1, mode="constant", cval=0.0, prefilter=False, output=np.float32)
    return out.reshape(points_mm.shape[1:])


@dataclass(frozen=True)
class IntensityParams:
    """Per-subject variation of the template T1 intensities."""

    max_gamma: float = 0.15  # T1 -> T1 ** g, g log-uniform in [1/(1+x), 1+x]
    max_gm_shift: float = 0.05  # grey-matter intensity scaled by 1 + U(-x, x)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def vary_intensity(t1: np.ndarray, gm: np.ndarray, rng: np.random.Generator, params: IntensityParams) -> np.ndarray:
    """A subject's T1 from the deformed template T1 (values in [0, 1]): a random gamma (keeps the
    order of intensities, so WM > GM > CSF still holds) and a small grey-matter contrast change."""
    lim = math.log1p(params.max_gamma)
    gamma = math.exp(rng.uniform(-lim, lim))
    gm_gain = 1.0 + rng.uniform(-1, 1) * params.max_gm_shift
    out = np.power(np.clip(t1, 0.0, 1.0), gamma, dtype=np.float32)
    return out * (1.0 + (gm_gain - 1.0) * gm).astype(np.float32)
