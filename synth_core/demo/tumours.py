"""Procedural brain tumours: necrotic core, enhancing rim, oedema, optional mass effect.

A tumour is a deformed ellipsoid. With ``rho(p)`` the ellipsoidal radius of point ``p`` (1 on the
ellipsoid's surface; random semi-axes and orientation) and ``n1, n2, n3`` smooth noise fields
(zero mean, unit std, correlation length ``noise_length_mm``):

* tumour core (necrosis + enhancing):  ``rho * (1 + shape_noise * n1) < 1``
* necrotic / non-enhancing core:       ``rho * (1 + shape_noise * n1 + 0.1 * n3) < necrosis_fraction``,
  kept at least one voxel inside the core, so the enhancing rim surrounds it
* oedema: ``rho * (1 + oedema_noise * n2) < oedema_factor`` inside the brain, spreading along
  white matter (not into cortex far from the tumour nor into CSF), connected to the core, always
  at least one voxel around it

(each factor ``1 + a * n`` is clipped below at 0.6, which bounds how far a tumour reaches). A
fourth noise field makes the tumour's signal patchy (:mod:`synth_core.demo.contrasts`).

Labels follow the project's BraTS convention: 1 necrotic/non-enhancing core, 2 oedema, 3 enhancing
tumour. Centres are drawn in deformed white matter (``white_matter_preference`` of the time, else
anywhere in the brain parenchyma), far enough from the brain surface for the core, within the
supratentorial slab. Mass effect pushes surrounding tissue away from the centre with a smooth
radial displacement (:func:`mass_effect_displacement`).

:func:`sample_tumour` draws a :class:`Tumour` (replayable parameters); :func:`tumour_shape` samples
its outline and :func:`tumour_labels` fits it to the subject's anatomy, deterministically.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from synth_core.demo.anatomy import WorkGrid, apply_matrix
from synth_core.demo.contrasts import smooth_noise

NECROSIS, OEDEMA, ENHANCING = 1, 2, 3
#: Template slices (1 mm, from the inferior edge of the MNI152 volume) tumour centres may lie in:
#: MNI z from -10 mm to +48 mm: the supratentorial brain, below the vertex.
SUPRATENTORIAL_SLICES: tuple[int, int] = (62, 120)
#: Noise factors ``1 + a * n`` are clipped below at this value, which bounds a tumour's reach.
_MIN_FACTOR = 0.6
#: 26-neighbourhood: nesting in 3-D with it implies 8-connected nesting in every axial slice.
_CUBE = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class TumourParams:
    """Ranges of the random tumour."""

    radius_mm: tuple[float, float] = (8.0, 20.0)  # mean semi-axis of the tumour core, uniform
    axis_spread: float = 0.2  # semi-axes = radius * exp(N(0, x)), clipped to [0.6, 1.6] x radius
    necrosis_fraction: tuple[float, float] = (0.5, 0.85)  # necrotic core radius / core radius
    min_rim_mm: float = 2.0  # the enhancing rim is at least this thick (necrosis shrinks if not)
    oedema_factor: tuple[float, float] = (1.3, 2.1)  # oedema radius / core radius
    shape_noise: float = 0.22  # relative perturbation of the core radius (lobulated outline)
    oedema_noise: float = 0.3  # relative perturbation of the oedema radius (finger-like spread)
    noise_length_mm: float = 6.0  # correlation length of the shape noise
    white_matter_preference: float = 0.85  # probability of a centre in white matter
    surface_margin_mm: float = 4.0  # core edge kept this far from the brain surface
    mass_effect: tuple[float, float] = (0.0, 0.35)  # strength (0 = none), uniform in range

    def __post_init__(self) -> None:
        for name in ("radius_mm", "necrosis_fraction", "oedema_factor", "mass_effect"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi) or not math.isfinite(hi):
                raise ValueError(f"TumourParams.{name} must be a range 0 <= low <= high, not {(lo, hi)!r}")
        if self.radius_mm[0] <= 0:
            raise ValueError(f"TumourParams.radius_mm must be positive, not {self.radius_mm!r}")
        if self.necrosis_fraction[1] >= 1:
            raise ValueError(f"TumourParams.necrosis_fraction must stay below 1, not {self.necrosis_fraction!r}")
        if self.oedema_factor[0] < 1:
            raise ValueError(f"TumourParams.oedema_factor must be >= 1 (oedema surrounds the core), not {self.oedema_factor!r}")
        if self.mass_effect[1] >= 1:
            raise ValueError(f"TumourParams.mass_effect must stay below 1 (no folding), not {self.mass_effect!r}")
        if not (0 <= self.white_matter_preference <= 1):
            raise ValueError(f"TumourParams.white_matter_preference must be in [0, 1], not {self.white_matter_preference!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tumour:
    """One tumour's parameters; ``centre_mm`` is a working-grid offset (mm from the grid centre,
    after deformation), ``rotation`` a 3x3 matrix whose columns are the ellipsoid's axes."""

    centre_mm: tuple[float, float, float]
    radii_mm: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]
    necrosis_fraction: float
    oedema_factor: float
    mass_effect: float
    noise_seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def sample_tumour(
    rng: np.random.Generator,
    wm: np.ndarray,
    gm: np.ndarray,
    brain: np.ndarray,
    template_slice: np.ndarray,
    offsets: np.ndarray,
    spacing_mm: float,
    params: TumourParams,
) -> Tumour:
    """Draw a tumour for one subject from (possibly subsampled) deformed maps.

    ``wm``, ``gm``, ``brain``: ``(Z, H, W)`` white/grey-matter probabilities and brain fraction;
    ``template_slice``:
    the template slice each voxel was sampled from; ``offsets``: ``(3, Z, H, W)`` working-grid
    offsets (mm) of the voxels; ``spacing_mm``: voxel size of these arrays.
    """
    radius = rng.uniform(*params.radius_mm)
    radii = radius * np.clip(np.exp(rng.normal(0.0, params.axis_spread, size=3)), 0.6, 1.6)
    rotation = _random_rotation(rng)
    in_white = rng.uniform() < params.white_matter_preference
    u = rng.uniform(-0.5, 0.5, size=3) * spacing_mm
    inside = brain > 0.5
    depth = ndimage.distance_transform_edt(inside) * spacing_mm
    zlo, zhi = SUPRATENTORIAL_SLICES
    slab = (template_slice >= zlo) & (template_slice <= zhi)
    tissue = wm > 0.6 if in_white else (wm + gm > 0.7)
    candidates = np.zeros(0, dtype=np.int64)
    for _ in range(6):  # relax: smaller tumour, then any depth
        need = float(radii.max()) + params.surface_margin_mm
        candidates = np.flatnonzero(tissue & slab & (depth >= need))
        if candidates.size:
            break
        radii = radii * 0.85
    if not candidates.size:
        candidates = np.array([int(np.argmax(depth))])
    flat = int(candidates[rng.integers(candidates.size)])
    centre = offsets.reshape(3, -1)[:, flat] + u
    nf = rng.uniform(*params.necrosis_fraction)
    nf = float(min(nf, max(0.0, 1.0 - params.min_rim_mm / float(radii.min()))))
    return Tumour(
        centre_mm=tuple(float(c) for c in centre),  # type: ignore[arg-type]
        radii_mm=tuple(float(r) for r in radii),  # type: ignore[arg-type]
        rotation=tuple(tuple(float(v) for v in row) for row in rotation),
        necrosis_fraction=nf,
        oedema_factor=float(rng.uniform(*params.oedema_factor)),
        mass_effect=float(rng.uniform(*params.mass_effect)),
        noise_seed=int(rng.integers(0, 2**31 - 1)),
    )


def mass_effect_displacement(tumour: Tumour, offsets: np.ndarray) -> np.ndarray:
    """Backward displacement (mm) ``v(p) = -(p - c) * a * exp(-(r / L)^2)``, ``L`` = 1.5 x the
    mean core radius: sampling the anatomy at ``p + v(p)`` pushes tissue away from the centre
    (by at most ~0.43 a L mm) without folding for ``a < 1``. Returns float32 like ``offsets``."""
    if tumour.mass_effect <= 0:
        return np.zeros_like(offsets, dtype=np.float32)
    c = np.array(tumour.centre_mm, dtype=np.float32).reshape(3, *([1] * (offsets.ndim - 1)))
    d = offsets - c
    length = 1.5 * float(np.mean(tumour.radii_mm))
    w = np.float32(tumour.mass_effect) * np.exp(-(d**2).sum(axis=0) / np.float32(length**2))
    return (-d * w).astype(np.float32)


def tumour_reach(tumour: Tumour) -> float:
    """Largest distance (mm) from the centre any label of ``tumour`` can reach."""
    return max(tumour.radii_mm) * tumour.oedema_factor / _MIN_FACTOR


def _box(tumour: Tumour, grid: WorkGrid) -> tuple[slice, slice, slice]:
    centre_idx = grid.index_of(tumour.centre_mm)
    half = tumour_reach(tumour) / grid.spacing_mm + 2
    lo = np.clip(np.floor(centre_idx - half).astype(int), 0, np.array(grid.shape))
    hi = np.clip(np.ceil(centre_idx + half).astype(int) + 1, 0, np.array(grid.shape))
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]


@dataclass
class TumourShape:
    """The tissue-independent part of a tumour, sampled on a box of a grid.

    ``first_mm``: offset of the box's voxel (0, 0, 0) (same reference as :class:`WorkGrid`);
    ``core``, ``necrosis``, ``oedema``: bool ``(z, h, w)`` before the anatomy constrains them
    (inside the brain; oedema along white matter, not in CSF); ``rho``: ellipsoidal radius;
    ``texture``: smooth zero-mean noise (std ~1) for patchy signal.
    """

    first_mm: tuple[float, float, float]
    core: np.ndarray
    necrosis: np.ndarray
    oedema: np.ndarray
    rho: np.ndarray
    texture: np.ndarray

    def extent(self) -> np.ndarray:
        """Bool ``(z, h, w)``: everywhere a label may end up (the constraints only remove)."""
        return self.core | self.oedema | ndimage.binary_dilation(self.core, _CUBE)


def tumour_shape(tumour: Tumour, grid: WorkGrid, params: TumourParams) -> TumourShape:
    """Sample ``tumour``'s outline on ``grid`` (inside a box around it)."""
    box = _box(tumour, grid)
    shape = tuple(s.stop - s.start for s in box)
    first = tuple(float(grid.axis(k)[box[k].start]) if shape[k] > 0 else 0.0 for k in range(3))
    if min(shape) <= 0:
        empty = np.zeros((0, 0, 0), dtype=bool)
        return TumourShape(first, empty, empty, empty, empty.astype(np.float32), empty.astype(np.float32))  # type: ignore[arg-type]
    axes = [grid.axis(k)[box[k]] - np.float32(tumour.centre_mm[k]) for k in range(3)]
    d = np.stack(np.meshgrid(*axes, indexing="ij"))
    local = apply_matrix(np.array(tumour.rotation, dtype=np.float32).T, d)  # into the ellipsoid's axes
    rho = np.sqrt(sum((local[k] / np.float32(tumour.radii_mm[k])) ** 2 for k in range(3))).astype(np.float32)

    rng = np.random.default_rng(tumour.noise_seed)
    sigma = params.noise_length_mm / grid.spacing_mm
    n1, n2, n3, n4 = (np.clip(smooth_noise(rng, shape, sigma), -2.5, 2.5) for _ in range(4))
    core = rho * np.maximum(1.0 + params.shape_noise * n1, _MIN_FACTOR) < 1.0
    if not core.any():  # a tumour smaller than a voxel: keep its centre voxel
        core[np.unravel_index(int(np.argmin(rho)), shape)] = True
    necrosis = rho * np.maximum(1.0 + params.shape_noise * n1 + 0.1 * n3, _MIN_FACTOR) < tumour.necrosis_fraction
    oedema = rho * np.maximum(1.0 + params.oedema_noise * n2, _MIN_FACTOR) < tumour.oedema_factor
    return TumourShape(first, core, necrosis, oedema, rho, n4)  # type: ignore[arg-type]


def tumour_labels(
    shape: TumourShape,
    grid: WorkGrid,
    wm: np.ndarray,
    csf: np.ndarray,
    brain: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Label volume ``(Z, H, W)`` uint8 (0, 1 necrosis, 2 oedema, 3 enhancing) and a texture map
    (float32, 0 outside the tumour's box) on ``grid`` (the grid ``shape`` was sampled on, or a
    slab of it holding all of it), given the deformed white matter, CSF and brain.

    Constraints: everything inside the brain; necrosis at least one voxel inside the core;
    oedema only where white matter > 0.25 (or close to the core) and CSF < 0.5, connected to the
    core (in 3-D), and always one voxel around the core (26-neighbourhoods, so the nesting also
    holds, 8-connected, in every axial slice).
    """
    labels = np.zeros(grid.shape, dtype=np.uint8)
    texture = np.zeros(grid.shape, dtype=np.float32)
    start = np.round(grid.index_of(shape.first_mm)).astype(int)
    src, dst = [], []
    for k in range(3):
        a, b = max(0, start[k]), min(grid.shape[k], start[k] + shape.core.shape[k])
        if b <= a:
            return labels, texture
        src.append(slice(a - start[k], b - start[k]))
        dst.append(slice(a, b))
    src_t, dst_t = tuple(src), tuple(dst)
    inside = brain[dst_t] > 0.5
    core = shape.core[src_t] & inside
    necrosis = shape.necrosis[src_t] & ndimage.binary_erosion(core, _CUBE)
    oedema = shape.oedema[src_t] & inside & (csf[dst_t] < 0.5) & ((wm[dst_t] > 0.25) | (shape.rho[src_t] < 1.25))
    oedema |= ndimage.binary_dilation(core, _CUBE) & inside
    oedema &= ~core
    # drop oedema islands cut off from the core by the white-matter constraint
    parts, _ = ndimage.label(oedema | core)
    attached = np.unique(parts[core])
    oedema &= np.isin(parts, attached[attached > 0])
    lab = np.zeros(core.shape, dtype=np.uint8)
    lab[oedema] = OEDEMA
    lab[core] = ENHANCING
    lab[necrosis] = NECROSIS
    labels[dst_t] = lab
    texture[dst_t] = shape.texture[src_t]
    return labels, texture


def lesion_fractions(labels: np.ndarray, sigma: float = 0.6) -> dict[str, np.ndarray]:
    """Soft partial-volume fractions of the three compartments (blurred one-hot labels, summing
    to <= 1): ``{"necrosis", "enhancing", "oedema"}`` -> float32 arrays of ``labels.shape``."""
    out = {name: np.zeros(labels.shape, dtype=np.float32) for name in ("necrosis", "enhancing", "oedema")}
    idx = np.argwhere(labels > 0)
    if idx.size == 0:
        return out
    pad = int(math.ceil(3 * sigma)) + 1
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, labels.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    sub = labels[box]
    for name, value in (("necrosis", NECROSIS), ("enhancing", ENHANCING), ("oedema", OEDEMA)):
        f = (sub == value).astype(np.float32)
        out[name][box] = ndimage.gaussian_filter(f, sigma) if sigma > 0 else f
    return out


def nest_labels(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Make 2-D label slices ``(N, H, W)`` nested like BraTS sub-regions, per slice, with 3x3
    (8-connected) neighbourhoods: every neighbour of a necrosis pixel is tumour core (1 or 3), every
    neighbour of a core pixel is tumour (1, 2 or 3), and all tumour lies inside ``mask``.

    Core pixels on the tumour's outer edge become oedema (or the oedema grows around them), necrosis
    pixels touching non-core become enhancing; returns a new uint8 array.
    """
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, dtype=np.uint8)
    square = np.ones((3, 3), dtype=bool)
    for i in range(lab.shape[0]):
        m = np.asarray(mask[i]) > 0
        tc = (lab[i] == NECROSIS) | (lab[i] == ENHANCING)
        whole = ((lab[i] > 0) | ndimage.binary_dilation(tc, square)) & m
        tc &= ndimage.binary_erosion(whole, square)
        necrosis = (lab[i] == NECROSIS) & ndimage.binary_erosion(tc, square)
        out[i][whole] = OEDEMA
        out[i][tc] = ENHANCING
        out[i][necrosis] = NECROSIS
    return out
