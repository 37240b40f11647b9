"""Recreate one sample of a set from its catalog record, and compare it with the stored one.

The set records the sha256 of every checkpoint it was made with; regeneration refuses when one has
changed since (a retrained run cannot give back the same sample). Sample ``i`` is recomputed in its
original batch ``[batch_start, batch_start + batch_size)`` so every network call sees exactly the
inputs it saw then (:mod:`synth_core.synthesis.pipeline`). A pix2pix set (``generator: "pix2pix"``)
is recomputed from its catalog's source rows and lesion records instead
(:func:`synth_core.synthesis.inpaint.regenerate_inpaint`), under the same rules.

On the machine that made the set (same CPU, device, thread count and library versions, recorded as
``made_on``) the result is bit-exact. Elsewhere the networks' float arithmetic may round differently
in the last bits; the result then says so honestly: ``identical`` is false, ``max_abs_diff`` is the
measured largest pixel difference, and ``within_tolerance`` is true when it is at most
:data:`FLOAT_TOLERANCE` with masks, labels and structure maps equal and the set was made on another
(or an unrecorded) machine. ``ok`` = identical or within tolerance (the command's exit status 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synth_core.errors import ConfigError
from synth_core.runs.folder import checkpoint_file
from synth_core.workspace import Workspace


#: largest image difference (images in [0, 1]) accepted as last-bit float differences between machines
FLOAT_TOLERANCE = 1e-4


@dataclass
class Regenerated:
    sample_id: str
    images: np.ndarray
    mask: np.ndarray
    label: np.ndarray
    structure: np.ndarray
    identical: bool
    max_abs_diff: float
    within_tolerance: bool = False  # not identical, but last-bit differences of another machine
    note: str = ""  # one line: how the result compares, and why
    machine_differences: list[str] = field(default_factory=list)  # made_on vs here ([] = same machine)

    @property
    def ok(self) -> bool:
        return self.identical or self.within_tolerance


def _index(s, sample: str | int) -> int:
    cat = s.catalog
    text = str(sample)
    hit = cat.index[cat["sample_id"] == text]
    if len(hit):
        return int(cat.loc[hit[0], "index"])
    if text.isdigit() and int(text) < len(s):
        return int(text)
    raise ConfigError(f"set {s.name!r} has no sample {text!r} (ids syn-000000 .. {cat['sample_id'].iloc[-1]})")


def regenerate(ws: Workspace, set_name: str, sample: str | int, *, device: str = "cpu") -> Regenerated:
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.lesions.bank import LesionBank
    from synth_core.synthesis.lesions import LesionSource
    from synth_core.synthesis.loading import as_set_made, load_models
    from synth_core.synthesis.pipeline import generate_batch
    from synth_core.synthesis.setstore import SyntheticSet

    s = SyntheticSet(ws.existing("synthetic", set_name))
    i = _index(s, sample)
    if s.meta.get("generator") == "pix2pix":  # a lesion painted into a real slice (synth_core.synthesis.inpaint)
        from synth_core.synthesis.inpaint import regenerate_inpaint

        return regenerate_inpaint(ws, s, i, device=device)
    row = s.catalog.iloc[i]
    runs = s.meta["runs"]
    which = "best" if runs["multimodal"]["checkpoint"] == checkpoint_file("best") else "last"
    models = load_models(ws, runs["multimodal"]["run_id"], which=which, figures=False, device=device)
    for stage in ("multimodal", "structure"):
        now, then = models.runs[stage], runs[stage]
        if now["sha256"] != then["sha256"] or now["checkpoint"] != then["checkpoint"]:
            raise ConfigError(f"{stage} run {then['run_id']!r}: checkpoint {then['checkpoint']} changed since set "
                              f"{set_name!r} was made (sha256 {then['sha256'][:12]} -> {now['sha256'][:12]}); "
                              "the sample cannot be regenerated bit-exactly")
    models = as_set_made(models, s.meta)
    opts = s.meta["options"]["lesions"]
    bank = LesionBank.load(s.path / "bank")
    lesions = LesionSource(opts["mode"], bank, AugmentRanges.from_dict(opts["ranges"]), tries=int(opts["tries"]),
                           mask_filter=bool(opts["mask_filter"]))
    start, size = int(row["batch_start"]), int(row["batch_size"])
    idx = np.arange(start, min(start + size, len(s)))
    z = None
    if "latent_source" in row and row["latent_source"] == "explicit":  # chosen on the Latent space page
        from synth_core.synthesis.pipeline import decode_latent

        rows = s.catalog.iloc[idx]
        z = np.stack([decode_latent(t) for t in rows["latent"]])
    batch = generate_batch(models, lesions, int(row["seed"]), idx, z=z)
    return compare_with_stored(s, i, batch, i - start, device)


def compare_with_stored(s: Any, i: int, batch: Any, r: int, device: str) -> Regenerated:
    """Sample ``i`` of set ``s`` against row ``r`` of a freshly generated ``batch`` (images, masks,
    labels, structure): bit-exact or not, the largest image difference, and the verdict."""
    from synth_core.environment import describe, differences

    stored = (np.asarray(s.images[i]), np.asarray(s.masks[i]), np.asarray(s.labels[i]), np.asarray(s.structure[i]))
    fresh = (batch.images[r], batch.masks[r], batch.labels[r], batch.structure[r])
    identical = all(np.array_equal(a, b) for a, b in zip(stored, fresh))
    diff = float(np.abs(stored[0].astype(np.float64) - fresh[0]).max())
    maps_equal = all(np.array_equal(a, b) for a, b in zip(stored[1:], fresh[1:]))
    machine = differences(s.meta.get("made_on"), describe(device))
    within, note = _verdict(identical, diff, maps_equal, machine)
    return Regenerated(str(s.catalog.iloc[i]["sample_id"]), *fresh, identical=identical, max_abs_diff=diff,
                       within_tolerance=within, note=note, machine_differences=machine)


def _verdict(identical: bool, diff: float, maps_equal: bool, machine: list[str]) -> tuple[bool, str]:
    """(within tolerance, one-line note) for a regenerated sample."""
    if identical:
        return False, "bit-exact"
    if not machine:
        return False, (f"not bit-exact on the machine (and settings) that made the set: max_abs_diff {diff:.3g}"
                       f"{'' if maps_equal else ', masks/labels/structure differ'}; the stored sample or the "
                       "computation changed")
    where = ("on an unrecorded machine (set made before machines were recorded)" if machine == ["no record"]
             else f"on another machine ({'; '.join(machine)})")
    if maps_equal and diff <= FLOAT_TOLERANCE:
        return True, (f"not bit-exact: the set was made {where}; max_abs_diff {diff:.3g} is within the float "
                      f"tolerance {FLOAT_TOLERANCE:g} (last-bit differences)")
    return False, (f"differs beyond last-bit float differences: max_abs_diff {diff:.3g} (tolerance "
                   f"{FLOAT_TOLERANCE:g}){'' if maps_equal else ', masks/labels/structure differ'}; the set was made "
                   f"{where}")
