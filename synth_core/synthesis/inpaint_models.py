"""The networks behind a pix2pix inpainting set: one pix2pix generator per modality it fills.

A pix2pix run fills the one modality it was trained on (its config's ``modality``). A set may be
made from several runs of the same dataset, one per modality: each fills its own modality of the
same placed lesion on the same source slice (:func:`synth_core.synthesis.inpaint.fill_batch`). The
set then holds exactly those modalities, in the dataset's order; a modality without a run is left
out of the set, never kept as the real slice's pixels under a label that says "lesion" there
(that sample would claim a lesion its image does not show). :func:`load_inpaint_models` checks
that the runs share one dataset and fill distinct modalities, and records each run's checkpoint
sha256 (``set.json`` ``runs``, keyed by :func:`~synth_core.synthesis.setstore.pix2pix_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from synth_core.errors import ConfigError
from synth_core.synthesis.setstore import pix2pix_key

GENERATOR = "pix2pix"


@dataclass(frozen=True)
class ModalityFill:
    """One pix2pix generator ``G``, the modality it fills, that modality's dataset channel and the
    run's provenance record (run id, checkpoint, sha256, step, ``modality``)."""

    modality: str
    channel: int
    G: nn.Module
    run: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.modality or self.channel < 0:
            raise ConfigError(f"a pix2pix fill needs a modality and its dataset channel, not "
                              f"{self.modality!r} / {self.channel}")


@dataclass
class InpaintModels:
    """The generators of a set (``fills``, sorted by dataset channel, distinct modalities) plus
    optional frozen segmenters (modality -> network) for the catalog's Dice figures.
    ``helper_runs``: stage -> provenance record of the other runs (the segmenter)."""

    fills: tuple[ModalityFill, ...]
    size: int
    label_names: dict[int, str]
    segmenters: dict[str, nn.Module] = field(default_factory=dict)
    helper_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset: str = ""
    fingerprint: str = ""
    dataset_content: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        fills = tuple(sorted(self.fills, key=lambda f: f.channel))
        if not fills:
            raise ConfigError("pix2pix inpainting needs at least one pix2pix run")
        seen: dict[str, str] = {}
        for f in fills:
            if f.modality in seen:
                raise ConfigError(f"pix2pix runs {seen[f.modality]!r} and {f.run.get('run_id', '?')!r} both fill "
                                  f"modality {f.modality!r}; give one run per modality")
            seen[f.modality] = str(f.run.get("run_id", "?"))
        self.fills = fills

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(f.modality for f in self.fills)

    @property
    def channels(self) -> list[int]:
        return [f.channel for f in self.fills]

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        """``set.json`` ``runs``: each pix2pix run under its key, then the helpers."""
        out = {pix2pix_key(f.modality, len(self.fills)): f.run for f in self.fills}
        return {**out, **self.helper_runs}

    def describe(self) -> str:
        """``"t1 by run 'a' (best.pt), flair by run 'b' (last.pt)"``."""
        return ", ".join(f"{f.modality} by run {f.run.get('run_id', '?')!r} ({f.run.get('checkpoint', '?')})"
                         for f in self.fills)


def _load_fill(ws: Any, run_id: str, which: str, device: torch.device | str) -> tuple[ModalityFill, Any]:
    from synth_core.runs.loading import load_run, resolve_run
    from synth_core.synthesis.loading import _record

    if which not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last, not {which!r}")
    run_id = resolve_run(ws, GENERATOR, run_id, None)
    run = load_run(ws, run_id, which=which, names=["G"], device=device)
    modalities = list(run.meta["modalities"])
    modality = str(getattr(run.config, "modality", "") or "") or modalities[0]
    if modality not in modalities:
        raise ConfigError(f"pix2pix run {run_id!r} fills modality {modality!r}, which its dataset lacks "
                          f"({', '.join(modalities)})")
    return ModalityFill(modality, modalities.index(modality), run.nets["G"], {**_record(run), "modality": modality}), run


def load_inpaint_models(ws: Any, run_ids: str | Sequence[str], *, which: str | Sequence[str] = "best",
                        segmenter_run: str = "", figures: bool = True,
                        device: torch.device | str = "cpu") -> InpaintModels:
    """The pix2pix runs ``run_ids`` (one per modality; each at its ``which`` checkpoint, "best"
    falling back to "last") and, when ``figures``, a segmenter run of the same dataset
    (``segmenter_run``, else the newest finished one; none found = no Dice figure). Refuses runs
    of different datasets or image sizes, and two runs filling one modality."""
    from synth_core.datalink import run_content, same_dataset
    from synth_core.runs.loading import find_runs, load_run, resolve_run
    from synth_core.synthesis.loading import _record

    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    whiches = [which] * len(ids) if isinstance(which, str) else list(which)
    if not ids or len(whiches) != len(ids):
        raise ConfigError("give one or more pix2pix runs (one per modality), each with its checkpoint")
    fills, loaded = [], []
    for rid, w in zip(ids, whiches):
        fill, run = _load_fill(ws, rid, w, device)
        if loaded:
            first = loaded[0]
            if not same_dataset(run.fingerprint, run_content(run.meta), first.fingerprint, run_content(first.meta)):
                raise ConfigError(f"pix2pix runs {first.run_id!r} and {run.run_id!r} were trained on different "
                                  "datasets; one set is made from runs of one dataset")
            if int(run.meta["image_size"]) != int(first.meta["image_size"]):
                raise ConfigError(f"pix2pix runs {first.run_id!r} and {run.run_id!r} work at different sizes "
                                  f"({first.meta['image_size']} and {run.meta['image_size']} px)")
        fills.append(fill)
        loaded.append(run)
    first = loaded[0]
    dataset = str(getattr(first.config, "dataset", "") or "")
    segs: dict[str, nn.Module] = {}
    helpers: dict[str, dict[str, Any]] = {}
    if figures:
        seg_id = segmenter_run or next(iter(find_runs(ws, "segmenter", dataset or None)), "")
        if seg_id:
            names = [f"seg_{f.modality}" for f in fills]
            sr = load_run(ws, resolve_run(ws, "segmenter", seg_id, None), which="last", names=names, device=device)
            if not same_dataset(sr.fingerprint, run_content(sr.meta), first.fingerprint, run_content(first.meta)):
                raise ConfigError(f"segmenter run {seg_id!r} was trained on another dataset than pix2pix run "
                                  f"{first.run_id!r}")
            segs = {f.modality: sr.nets[f"seg_{f.modality}"] for f in fills}
            helpers["segmenter"] = _record(sr)
    return InpaintModels(fills=tuple(fills), size=int(first.meta["image_size"]),
                         label_names={int(k): str(v) for k, v in first.meta["label_names"].items()},
                         segmenters=segs, helper_runs=helpers, dataset=dataset, fingerprint=first.fingerprint,
                         dataset_content=run_content(first.meta))
