"""Place bank lesions onto organ masks, with the containment filter of METHOD.md §8.

A candidate is one bank lesion, one :class:`~synth_core.lesions.augment.AugmentParams` and one
target mask ``(H, W)`` (1 = inside the organ). It is accepted when, in this order of checks,

1. its area after the transform is at least ``min_area`` (else ``"too_small"``);
2. all its pixels fall inside the frame (else ``"out_of_frame"``);
3. at least a fraction ``containment`` of its pixels lie inside the mask (else
   ``"outside_organ"``; with the default 1.0 the lesion lies entirely in the organ);
4. it touches no lesion pixel of an ``existing`` label map, if one is given (else ``"overlap"``).

The transform is computed once on the small patch; the checks slice the mask around it, so a
candidate costs about the size of the lesion, not of the image. Every accepted label is recorded
as a params dict (lesion id + transform parameters) from which :func:`replay` rebuilds it bit for
bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synth_core.errors import ConfigError
from synth_core.lesions.augment import (
    N_UNIFORMS,
    AugmentParams,
    AugmentRanges,
    Placed,
    apply_transform,
    params_from_uniforms,
    paste,
    transform_lesion,
)
from synth_core.lesions.bank import LesionBank, LesionEntry

REASONS = ("outside_organ", "out_of_frame", "too_small", "overlap")  # why a candidate is rejected
POSITIONS = ("uniform", "near_source")  # how a candidate's centre is chosen
_NO_PIXELS = np.zeros(0, np.intp)


@dataclass(frozen=True, eq=False)
class Placement:
    """The outcome of one candidate. ``label (H, W)`` uint8 when accepted, else None; ``reason``
    is None when accepted, else one of :data:`REASONS`; ``params`` (lesion id + transform) is
    filled in either way; ``inside_fraction`` is the fraction of lesion pixels inside the mask
    (NaN when the candidate was rejected before that was measured)."""

    accepted: bool
    reason: str | None
    label: np.ndarray | None
    params: dict[str, Any]
    inside_fraction: float = float("nan")


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Accepted labels ``(K, H, W)`` uint8 with their params dicts and target mask indices
    ``(K,)``; ``rejected`` counts every reason of :data:`REASONS`; ``tries = K + sum(rejected)``;
    ``seed`` is the integer seed the batch was drawn with (None when given a Generator)."""

    labels: np.ndarray
    params: list[dict[str, Any]]
    mask_index: np.ndarray
    rejected: dict[str, int]
    tries: int
    seed: Any = field(default=None)

    @property
    def n_accepted(self) -> int:
        return len(self.params)

    @property
    def acceptance_rate(self) -> float:
        return self.n_accepted / self.tries if self.tries else 0.0

    def summary(self) -> dict[str, Any]:
        return {"accepted": self.n_accepted, "tries": self.tries, "acceptance_rate": self.acceptance_rate,
                **{f"rejected_{r}": n for r, n in self.rejected.items()}}


def _check(
    placed: Placed,
    mask: np.ndarray,
    existing: np.ndarray | None,
    containment: float,
    min_area: int,
) -> tuple[str | None, float]:
    """(reason or None, inside fraction) of a transformed lesion at its position."""
    tile, r0, c0 = placed
    lesion = tile != 0
    area = int(np.count_nonzero(lesion))
    if area < min_area:
        return "too_small", float("nan")
    h, w = mask.shape
    r1, c1 = r0 + tile.shape[0], c0 + tile.shape[1]
    if r0 < 0 or c0 < 0 or r1 > h or c1 > w:
        ra, ca, rb, cb = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
        kept = np.count_nonzero(lesion[ra - r0 : rb - r0, ca - c0 : cb - c0]) if ra < rb and ca < cb else 0
        if kept < area:
            return "out_of_frame", float("nan")
        lesion = lesion[ra - r0 : rb - r0, ca - c0 : cb - c0]  # only zero pixels were cut off
        r0, c0, r1, c1 = ra, ca, rb, cb
    inside = int(np.count_nonzero(mask[r0:r1, c0:c1][lesion]))
    frac = inside / area
    if inside < math.ceil(containment * area - 1e-9):
        return "outside_organ", frac
    if existing is not None and np.any(existing[r0:r1, c0:c1][lesion]):
        return "overlap", frac
    return None, frac


def _as_2d(name: str, arr: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (H, W), got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} shape {arr.shape} does not match the mask {tuple(shape)}")
    return arr


def _lesion_parts(lesion: LesionEntry | np.ndarray) -> tuple[np.ndarray, str | None]:
    if isinstance(lesion, LesionEntry):
        return lesion.patch, lesion.id
    return np.asarray(lesion), None


def place_lesion(
    lesion: LesionEntry | np.ndarray,
    mask: np.ndarray,
    params: AugmentParams,
    *,
    containment: float = 1.0,
    min_area: int = 1,
    existing: np.ndarray | None = None,
) -> Placement:
    """Transform ``lesion`` (a bank entry or a bare patch) by ``params`` into the frame of
    ``mask (H, W)`` and apply the checks of the module docstring."""
    mask = _as_2d("mask", mask)
    existing = None if existing is None else _as_2d("existing", existing, mask.shape)
    if not 0 < containment <= 1:
        raise ConfigError(f"containment must be in (0, 1], not {containment!r}")
    patch, lesion_id = _lesion_parts(lesion)
    placed = transform_lesion(patch, params, mask.shape)
    reason, frac = _check(placed, mask != 0, existing, containment, min_area)
    record = {"lesion_id": lesion_id, **params.to_dict()}
    if reason is not None:
        return Placement(False, reason, None, record, frac)
    return Placement(True, None, paste(placed, mask.shape, np.uint8), record, frac)


def _source_center(entry: LesionEntry, shape: tuple[int, int]) -> tuple[float, float]:
    """The lesion's bounding-box centre in the source slice, rescaled to a frame of ``shape``."""
    (cr, cc), (sh, sw) = entry.center, entry.image_shape
    return ((cr + 0.5) * shape[0] / sh - 0.5, (cc + 0.5) * shape[1] / sw - 0.5)


def _position(
    lesion: LesionEntry | np.ndarray, shape: tuple[int, int], pixels: np.ndarray, u: float, position: str
) -> tuple[tuple[float, float], tuple[int, int] | None] | None:
    """(centre, translate override) of a candidate: for "uniform" a mask pixel picked by ``u`` in
    [0, 1) and translate 0, for "near_source" the lesion's source location and the drawn
    translate (None). None when "uniform" has an empty mask."""
    if position == "uniform":
        if pixels.size == 0:
            return None
        r, c = divmod(int(pixels[min(int(u * pixels.size), pixels.size - 1)]), shape[1])
        return (float(r), float(c)), (0, 0)
    if not isinstance(lesion, LesionEntry):
        raise ConfigError('position "near_source" needs a bank lesion (it uses the lesion\'s source location)')
    return _source_center(lesion, shape), None


def _check_position(position: str) -> None:
    if position not in POSITIONS:
        raise ConfigError(f"position must be one of {POSITIONS}, not {position!r}")


def sample_placement(
    lesion: LesionEntry | np.ndarray,
    mask: np.ndarray,
    ranges: AugmentRanges | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    position: str = "uniform",
    existing: np.ndarray | None = None,
) -> Placement:
    """Draw parameters from ``ranges`` and a position, then :func:`place_lesion`.

    ``position="uniform"``: the lesion centre goes to a mask pixel chosen uniformly (translate
    0); ``"near_source"``: to the lesion's own source location (rescaled to the mask's size) plus
    the sampled translate. An empty mask gives ``"outside_organ"`` under "uniform"."""
    _check_position(position)
    ranges = ranges or AugmentRanges()
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    mask = _as_2d("mask", mask)
    u = rng.random(N_UNIFORMS + 1)
    pixels = np.flatnonzero(mask) if position == "uniform" else np.zeros(0, np.intp)
    where = _position(lesion, mask.shape, pixels, float(u[N_UNIFORMS]), position)
    if where is None:
        params = params_from_uniforms(ranges, u)
        return Placement(False, "outside_organ", None, {"lesion_id": _lesion_parts(lesion)[1], **params.to_dict()}, 0.0)
    params = params_from_uniforms(ranges, u, center=where[0], translate=where[1])
    return place_lesion(lesion, mask, params, containment=ranges.containment, min_area=ranges.min_area,
                        existing=existing)


def augment_batch(
    bank: LesionBank,
    masks: np.ndarray,
    n_wanted: int,
    ranges: AugmentRanges | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    max_tries: int | None = None,
    position: str = "uniform",
    existing: np.ndarray | None = None,
) -> BatchResult:
    """Up to ``n_wanted`` accepted lesion labels on ``masks (N, H, W)`` (or one mask ``(H, W)``).

    Each try picks a target mask and a bank lesion uniformly, samples parameters and a position
    (see :func:`sample_placement`) and applies the checks; it stops after ``n_wanted`` accepted
    labels or ``max_tries`` tries (default ``50 * n_wanted``, the thesis's redraw limit), so fewer
    than ``n_wanted`` may come back — read ``n_accepted``. ``existing`` (same shape as ``masks``)
    holds lesion labels that accepted ones must not overlap. ``rng`` is a Generator or a seed.
    """
    _check_position(position)
    ranges = ranges or AugmentRanges()
    if len(bank) == 0:
        raise ConfigError("the lesion bank is empty; build it from a dataset with lesions")
    if n_wanted < 0:
        raise ConfigError(f"n_wanted must be >= 0, not {n_wanted!r}")
    max_tries = 50 * n_wanted if max_tries is None else int(max_tries)
    if max_tries < 0:
        raise ConfigError(f"max_tries must be >= 0, not {max_tries!r}")
    seed = rng if isinstance(rng, (int, np.integer)) else None
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ValueError(f"masks must be (N, H, W) or (H, W), got shape {masks.shape}")
    if existing is not None:
        existing = np.asarray(existing)
        if existing.ndim == 2:
            existing = existing[None]
        if existing.shape != masks.shape:
            raise ValueError(f"existing shape {existing.shape} does not match masks {masks.shape}")
    n_masks, shape = masks.shape[0], masks.shape[1:]
    bool_masks: dict[int, np.ndarray] = {}
    mask_pixels: dict[int, np.ndarray] = {}
    entries = bank.entries
    n_lesions = len(entries)
    rejected = dict.fromkeys(REASONS, 0)
    tiles: list[Placed] = []
    params_out: list[dict[str, Any]] = []
    index_out: list[int] = []
    tries = 0
    block = np.empty((0, N_UNIFORMS + 3))
    while tries < max_tries and len(tiles) < n_wanted:
        if tries % 256 == 0:  # draw uniforms in blocks: far cheaper than one generator call per number
            block = rng.random((256, N_UNIFORMS + 3)).tolist()
        u = block[tries % 256]
        tries += 1
        k = min(int(u[0] * n_masks), n_masks - 1)
        entry = entries[min(int(u[1] * n_lesions), n_lesions - 1)]
        mask = bool_masks.get(k)
        if mask is None:
            mask = bool_masks[k] = masks[k] != 0
            if position == "uniform":
                mask_pixels[k] = np.flatnonzero(mask)
        where = _position(entry, shape, mask_pixels.get(k, _NO_PIXELS), u[N_UNIFORMS + 2], position)
        if where is None:
            rejected["outside_organ"] += 1
            continue
        params = params_from_uniforms(ranges, u[2:], center=where[0], translate=where[1])
        placed = transform_lesion(entry.patch, params, shape)
        reason, _ = _check(placed, mask, None if existing is None else existing[k], ranges.containment,
                           ranges.min_area)
        if reason is not None:
            rejected[reason] += 1
            continue
        tiles.append(placed)  # the full labels are written once at the end
        params_out.append({"lesion_id": entry.id, **params.to_dict()})
        index_out.append(k)
    out = np.zeros((len(tiles), *shape), np.uint8)
    for i, (tile, r0, c0) in enumerate(tiles):  # accepted tiles lie inside the frame
        out[i, r0 : r0 + tile.shape[0], c0 : c0 + tile.shape[1]] = tile
    return BatchResult(out, params_out, np.asarray(index_out, dtype=np.int64), rejected, tries, seed)


def replay(bank: LesionBank, params: dict[str, Any], mask_shape: tuple[int, int]) -> np.ndarray:
    """Rebuild an accepted label ``(H, W)`` uint8 from its params dict (``lesion_id`` + the
    :class:`AugmentParams` fields); bit-exact with the label the dict was recorded with."""
    d = dict(params)
    if "lesion_id" not in d:
        raise ConfigError("lesion params need a 'lesion_id' to replay")
    entry = bank[str(d.pop("lesion_id"))]
    return apply_transform(entry.patch, AugmentParams.from_dict(d), mask_shape).astype(np.uint8, copy=False)
