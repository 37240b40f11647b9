"""Where each synthetic sample's lesion label comes from (METHOD.md §8-9): the ONE placement
policy of the project. Multimodal synthesis (:mod:`synth_core.synthesis.pipeline`), the
multimodal training stage (its generated-structure phase, ``training.stages.multimodal``) and
pix2pix inpainting (:mod:`synth_core.synthesis.inpaint`) all place lesions through
:meth:`LesionSource.choose`, so a label accepted in one is accepted in the others from the same
mask, ranges and random stream.

- ``augmented``: a bank lesion with a random scale / rotation / flip, centred on a random pixel of
  the generated organ mask, kept only when it lies inside that mask (the containment filter);
  up to ``tries`` candidates, else the sample gets no lesion.
- ``bank``: a real lesion shape as it is (no transform), at its own location rescaled to the
  image, kept only when inside the generated mask.
- ``none``: no lesion (healthy-looking samples).

With ``mask_filter=False`` (ablation B) the target is the whole frame instead of the organ.
Each choice is recorded as ``(lesion_index, params)``: the lesion's index in the bank saved with
the set, and the :class:`~synth_core.lesions.augment.AugmentParams` dict, which
:func:`label_from_record` replays bit-exactly. Lesion ids (which carry case ids) stay in the
set's bank folder; the catalog only holds the index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synth_core.errors import ConfigError
from synth_core.lesions.augment import AugmentParams, AugmentRanges, apply_transform
from synth_core.lesions.bank import LesionBank
from synth_core.lesions.placement import augment_batch

MODES = ("augmented", "bank", "none")
_IDENTITY = AugmentRanges(scale=(1.0, 1.0), rotation_deg=(0.0, 0.0), p_flip_lr=0.0, p_flip_ud=0.0, translate=(0, 0))


@dataclass
class LesionSource:
    mode: str
    bank: LesionBank
    ranges: AugmentRanges = field(default_factory=AugmentRanges)
    tries: int = 50
    mask_filter: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"lesions must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode != "none" and len(self.bank) == 0:
            raise ConfigError(f"--lesions {self.mode} needs lesions, but the lesion bank is empty "
                              "(the dataset has no lesion labels); use --lesions none")
        self._index = {e.id: i for i, e in enumerate(self.bank.entries)}

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "bank_lesions": len(self.bank), "tries": self.tries,
                "mask_filter": self.mask_filter,
                "ranges": (_IDENTITY if self.mode == "bank" else self.ranges).to_dict()}

    def choose(self, mask: np.ndarray, rng: np.random.Generator, *,
               existing: np.ndarray | None = None) -> tuple[np.ndarray, int, str]:
        """``(label (H, W) uint8, lesion_index or -1, params JSON or "")`` for one organ mask.

        ``existing (H, W)``: lesion labels already in the slice (a real slice that has lesions);
        an accepted label touches none of their pixels. It changes no random draw."""
        shape = mask.shape
        empty = (np.zeros(shape, np.uint8), -1, "")
        if self.mode == "none":
            return empty
        target = mask if self.mask_filter else np.ones_like(mask)
        if self.mode == "augmented":
            res = augment_batch(self.bank, target, 1, self.ranges, rng, max_tries=self.tries, existing=existing)
        else:
            res = augment_batch(self.bank, target, 1, _IDENTITY, rng, max_tries=self.tries, position="near_source",
                                existing=existing)
        if not res.n_accepted:
            return empty
        params = dict(res.params[0])
        index = self._index[str(params.pop("lesion_id"))]
        return res.labels[0], index, json.dumps(params, sort_keys=True)


def label_from_record(bank: LesionBank, lesion_index: int, params: str, shape: tuple[int, int]) -> np.ndarray:
    """Rebuild a sample's label from its catalog record (all zeros when it has no lesion)."""
    if int(lesion_index) < 0 or not params:
        return np.zeros(shape, np.uint8)
    entry = bank.entries[int(lesion_index)]
    return apply_transform(entry.patch, AugmentParams.from_dict(json.loads(params)), shape).astype(np.uint8)
