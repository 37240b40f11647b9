"""Lesion label augmentation: random parameters, and a deterministic twin that applies them.

As in torchio (``RandomAffine`` -> ``Affine``), randomness and geometry are kept apart:
:func:`sample_params` draws an :class:`AugmentParams` from :class:`AugmentRanges` with a seeded
generator, and :func:`apply_transform` applies given parameters. Parameters serialise to a plain
JSON-safe dict (:meth:`AugmentParams.to_dict`), and applying the parameters read back from that
dict gives the identical label, bit for bit.

Geometry (all in pixels, ``(row, col)``; a patch of ``h x w`` pixels has its centre at
``((h-1)/2, (w-1)/2)``):

1. flip: ``flip_lr`` mirrors the columns, ``flip_ud`` the rows;
2. zoom by ``scale`` (a linear factor on both axes: scale 2 doubles height and width, so the
   area grows about 4 times) and rotate by ``rotation_deg`` counter-clockwise as displayed (row 0
   at the top; +90 equals ``np.rot90``), both about the patch centre;
3. put the patch centre at ``center + translate`` of the output frame (``center`` defaults to the
   frame centre), snapped to whole pixels.

Resampling is nearest neighbour by an exact index mapping, so a label keeps its integer classes
and gains no new values; pixels that map outside the patch are 0. Rotations by multiples of 90°
and flips are exact (no pixel moves by rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from synth_core.errors import ConfigError


def _finite(name: str, v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {v!r}") from None
    if not math.isfinite(f):
        raise ConfigError(f"{name} must be finite, not {v!r}")
    return f


def _pair(name: str, v: Any) -> tuple[float, float]:
    try:
        a, b = v
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a pair of numbers, not {v!r}") from None
    return _finite(name, a), _finite(name, b)


def _num(x: float) -> int | float:
    """A whole float as int (tidier in JSON), anything else unchanged."""
    return int(x) if float(x).is_integer() else float(x)


@dataclass(frozen=True)
class AugmentParams:
    """One lesion transform; the deterministic twin's input. Values are plain Python numbers."""

    scale: float = 1.0  # linear zoom about the patch centre (both axes)
    rotation_deg: float = 0.0  # counter-clockwise as displayed, about the patch centre
    flip_lr: bool = False  # mirror columns (applied first)
    flip_ud: bool = False  # mirror rows (applied first)
    translate: tuple[float, float] = (0, 0)  # (dy, dx) pixels added to the centre
    center: tuple[float, float] | None = None  # (row, col) of the patch centre in the output; None = frame centre

    def __post_init__(self) -> None:
        scale = _finite("AugmentParams.scale", self.scale)
        if scale <= 0:
            raise ConfigError(f"AugmentParams.scale must be > 0, not {self.scale!r}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "rotation_deg", _finite("AugmentParams.rotation_deg", self.rotation_deg))
        for name in ("flip_lr", "flip_ud"):
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                raise ConfigError(f"AugmentParams.{name} must be true or false, not {v!r}")
            object.__setattr__(self, name, bool(v))
        dy, dx = _pair("AugmentParams.translate", self.translate)
        object.__setattr__(self, "translate", (_num(dy), _num(dx)))
        if self.center is not None:
            object.__setattr__(self, "center", _pair("AugmentParams.center", self.center))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (lists for pairs) that :meth:`from_dict` reads back exactly."""
        return {
            "scale": self.scale,
            "rotation_deg": self.rotation_deg,
            "flip_lr": self.flip_lr,
            "flip_ud": self.flip_ud,
            "translate": list(self.translate),
            "center": None if self.center is None else list(self.center),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AugmentParams":
        """Parameters from :meth:`to_dict` output; an unknown key is an error that names it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown lesion transform parameter(s) {unknown}; expected some of {sorted(known)}")
        kw = dict(d)
        if "translate" in kw:
            kw["translate"] = tuple(kw["translate"])
        if kw.get("center") is not None:
            kw["center"] = tuple(kw["center"])
        return cls(**kw)


@dataclass(frozen=True)
class AugmentRanges:
    """Where :func:`sample_params` draws from, and the acceptance rules of placement."""

    scale: tuple[float, float] = (0.7, 1.3)  # linear zoom, uniform
    rotation_deg: tuple[float, float] = (-180.0, 180.0)  # uniform, degrees
    p_flip_lr: float = 0.5  # probability of mirroring the columns
    p_flip_ud: float = 0.5  # probability of mirroring the rows
    translate: tuple[int, int] = (-5, 5)  # whole pixels per axis, uniform, both ends included
    containment: float = 1.0  # minimum fraction of lesion pixels inside the organ mask
    min_area: int = 1  # minimum lesion pixels after the transform

    def __post_init__(self) -> None:
        lo, hi = _pair("AugmentRanges.scale", self.scale)
        if not (0 < lo <= hi):
            raise ConfigError(f"AugmentRanges.scale must be (low, high) with 0 < low <= high, not {self.scale!r}")
        object.__setattr__(self, "scale", (lo, hi))
        lo, hi = _pair("AugmentRanges.rotation_deg", self.rotation_deg)
        if not (-360 <= lo <= hi <= 360):
            raise ConfigError(
                "AugmentRanges.rotation_deg must be (low, high) with -360 <= low <= high <= 360, "
                f"not {self.rotation_deg!r}")
        object.__setattr__(self, "rotation_deg", (lo, hi))
        for name in ("p_flip_lr", "p_flip_ud"):
            p = _finite(f"AugmentRanges.{name}", getattr(self, name))
            if not 0 <= p <= 1:
                raise ConfigError(f"AugmentRanges.{name} must be a probability in [0, 1], not {getattr(self, name)!r}")
            object.__setattr__(self, name, p)
        lo, hi = _pair("AugmentRanges.translate", self.translate)
        if not (lo.is_integer() and hi.is_integer() and lo <= hi):
            raise ConfigError(
                f"AugmentRanges.translate must be whole pixels (low, high) with low <= high, not {self.translate!r}")
        object.__setattr__(self, "translate", (int(lo), int(hi)))
        c = _finite("AugmentRanges.containment", self.containment)
        if not 0 < c <= 1:
            raise ConfigError(f"AugmentRanges.containment must be in (0, 1], not {self.containment!r}")
        object.__setattr__(self, "containment", c)
        m = _finite("AugmentRanges.min_area", self.min_area)
        if not (m.is_integer() and m >= 1):
            raise ConfigError(f"AugmentRanges.min_area must be a whole number >= 1, not {self.min_area!r}")
        object.__setattr__(self, "min_area", int(m))

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("scale", "rotation_deg", "translate"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AugmentRanges":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown lesion augmentation setting(s) {unknown}; expected some of {sorted(known)}")
        kw = {k: (tuple(v) if k in ("scale", "rotation_deg", "translate") else v) for k, v in d.items()}
        return cls(**kw)


N_UNIFORMS = 6  # uniforms one draw of sample_params consumes


def params_from_uniforms(
    ranges: AugmentRanges,
    u: Any,
    center: tuple[float, float] | None = None,
    translate: tuple[float, float] | None = None,
) -> AugmentParams:
    """Map 6 numbers in [0, 1) to parameters (scale, rotation, flip lr, flip ud, dy, dx);
    ``center`` is passed through and ``translate``, when given, replaces the drawn one."""
    s0, s1 = ranges.scale
    r0, r1 = ranges.rotation_deg
    if translate is None:
        t0, t1 = ranges.translate
        n = t1 - t0 + 1
        translate = (t0 + min(int(float(u[4]) * n), n - 1), t0 + min(int(float(u[5]) * n), n - 1))
    return AugmentParams(
        scale=s0 + float(u[0]) * (s1 - s0),
        rotation_deg=r0 + float(u[1]) * (r1 - r0),
        flip_lr=float(u[2]) < ranges.p_flip_lr,
        flip_ud=float(u[3]) < ranges.p_flip_ud,
        translate=translate,
        center=center,
    )


def sample_params(ranges: AugmentRanges, rng: np.random.Generator | int | None = None) -> AugmentParams:
    """Draw one :class:`AugmentParams` from ``ranges`` (``center`` left None); seeded by ``rng``
    (a Generator, or a seed for ``np.random.default_rng``)."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return params_from_uniforms(ranges, rng.random(N_UNIFORMS))


# -- the deterministic twin -----------------------------------------------------------------------


def _cos_sin(deg: float) -> tuple[float, float]:
    q, rem = divmod(deg, 90.0)
    if rem == 0.0:  # exact for multiples of 90 degrees
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(q) % 4]
    rad = math.radians(deg)
    return math.cos(rad), math.sin(rad)


def warp(patch: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Flip, zoom and rotate ``patch (h, w)`` about its centre (steps 1-2 of the module docstring).

    Returns ``(h', w')`` of the input dtype, just large enough to hold the transformed pixel
    extents, whose centre ``((h'-1)/2, (w'-1)/2)`` is the image of the patch centre.
    """
    src = patch
    if params.flip_lr:
        src = src[:, ::-1]
    if params.flip_ud:
        src = src[::-1, :]
    h, w = src.shape
    if params.scale == 1.0 and params.rotation_deg % 90.0 == 0.0:  # exact fast path, same result
        return np.ascontiguousarray(np.rot90(src, int(params.rotation_deg // 90.0) % 4))
    cs, sn = _cos_sin(params.rotation_deg)
    s = params.scale
    half_r = s * (abs(cs) * h + abs(sn) * w) / 2.0
    half_c = s * (abs(sn) * h + abs(cs) * w) / 2.0
    oh = max(1, math.ceil(2.0 * half_r - 1e-6))
    ow = max(1, math.ceil(2.0 * half_c - 1e-6))
    qr = np.arange(oh, dtype=np.float64) - (oh - 1) / 2.0
    qc = np.arange(ow, dtype=np.float64) - (ow - 1) / 2.0
    # inverse map: source = R(-theta) q / s + patch centre, nearest neighbour by floor(x + 0.5);
    # indices are shifted by +1 into a zero-padded copy so anything outside the patch reads 0
    sr = np.add.outer(qr * (cs / s) + ((h - 1) / 2.0 + 1.5), qc * (sn / s))
    sc = np.add.outer(qr * (-sn / s), qc * (cs / s) + ((w - 1) / 2.0 + 1.5))
    np.floor(sr, out=sr)
    np.floor(sc, out=sc)
    np.maximum(sr, 0.0, out=sr)
    np.minimum(sr, h + 1.0, out=sr)
    np.maximum(sc, 0.0, out=sc)
    np.minimum(sc, w + 1.0, out=sc)
    sr *= w + 2
    sr += sc
    padded = np.zeros((h + 2, w + 2), dtype=src.dtype)
    padded[1:-1, 1:-1] = src
    return padded.ravel()[sr.astype(np.intp)]


class Placed(NamedTuple):
    """A transformed lesion trimmed to its non-zero pixels, and where its top-left pixel falls
    in the output frame (``r0``, ``c0`` may be negative or past the frame)."""

    tile: np.ndarray
    r0: int
    c0: int


def transform_lesion(patch: np.ndarray, params: AugmentParams, out_shape: tuple[int, int]) -> Placed:
    """Steps 1-3 of the module docstring without building the full frame: the transformed patch
    trimmed to its non-zero bounding box and its integer position in an ``out_shape`` frame."""
    tile = warp(patch, params)
    oh, ow = tile.shape
    if params.center is None:
        cr, cc = (out_shape[0] - 1) / 2.0, (out_shape[1] - 1) / 2.0
    else:
        cr, cc = params.center
    r0 = math.floor(cr + params.translate[0] - (oh - 1) / 2.0 + 0.5)
    c0 = math.floor(cc + params.translate[1] - (ow - 1) / 2.0 + 0.5)
    nz = tile != 0
    rows = np.flatnonzero(nz.any(axis=1))
    if rows.size == 0:
        return Placed(tile[:0, :0], r0, c0)
    cols = np.flatnonzero(nz.any(axis=0))
    a, b, c, d = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (a, b, c, d) != (0, oh, 0, ow):
        tile = tile[a:b, c:d]
    return Placed(tile, r0 + a, c0 + c)


def paste(placed: Placed, out_shape: tuple[int, int], dtype: Any = None) -> np.ndarray:
    """An ``out_shape`` frame of zeros with the tile written at its position (clipped to the frame)."""
    tile, r0, c0 = placed
    out = np.zeros(out_shape, dtype=tile.dtype if dtype is None else dtype)
    h, w = out_shape
    ra, ca = max(r0, 0), max(c0, 0)
    rb, cb = min(r0 + tile.shape[0], h), min(c0 + tile.shape[1], w)
    if ra < rb and ca < cb:
        out[ra:rb, ca:cb] = tile[ra - r0 : rb - r0, ca - c0 : cb - c0]
    return out


def apply_transform(
    patch: np.ndarray, params: AugmentParams | dict[str, Any], out_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """The deterministic twin: ``patch (h, w)`` integer label (a bank patch or a whole label map)
    transformed by ``params`` into a new ``out_shape`` label (default: the patch's shape) of the
    same dtype. Pixels falling outside the frame are dropped; values are a subset of the input's
    values plus 0. With default parameters and ``out_shape == patch.shape`` it returns a copy of
    ``patch``."""
    patch = np.asarray(patch)
    if patch.ndim != 2:
        raise ValueError(f"patch must be (H, W), got shape {patch.shape}")
    if not (np.issubdtype(patch.dtype, np.integer) or patch.dtype == bool):
        raise ValueError(f"patch must be an integer label, not {patch.dtype} (labels are resampled by nearest neighbour)")
    if isinstance(params, dict):
        params = AugmentParams.from_dict(params)
    out_shape = patch.shape if out_shape is None else (int(out_shape[0]), int(out_shape[1]))
    return paste(transform_lesion(patch, params, out_shape), out_shape)
