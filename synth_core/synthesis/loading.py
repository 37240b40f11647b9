"""Rebuild :class:`SynthesisModels` from run folders (through :mod:`synth_core.runs.loading`).

A multimodal run records the structure, segmenter and translator runs it was trained with
(``meta["helpers"]``, with each checkpoint's sha256); synthesis uses exactly those runs and warns
when one's checkpoint is no longer the one recorded (:func:`check_helper`). The sha256 of every
checkpoint actually loaded goes into the set's provenance; ``regenerate`` refuses when one has
changed since. The
multimodal run's record of its dataset (name, fingerprint, content) travels with the bundle so the
dataset can be found and compared (:mod:`synth_core.datalink`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from synth_core.datalink import run_content, same_dataset
from synth_core.errors import ConfigError, warn_user
from synth_core.runs.loading import load_run, resolve_run
from synth_core.synthesis.models import GenerationSettings, SynthesisModels
from synth_core.workspace import Workspace


def _record(run: Any) -> dict[str, Any]:
    content = run_content(run.meta) or {}
    return {"run_id": run.run_id, "stage": run.stage, "checkpoint": run.checkpoint.name, "sha256": run.sha256(),
            "step": run.step, "fingerprint": run.fingerprint, "dataset_sha256": content.get("sha256")}


def check_helper(multimodal_run: str, stage: str, recorded: dict[str, Any], loaded: Any) -> bool:
    """Warn when helper run ``loaded`` is not the checkpoint the multimodal run trained with (its
    recorded ``sha256``): e.g. the structure run was resumed and trained on since, so its maps are
    not the ones ``G`` learned from. A slim copy of the same step (float16 weights, other bytes)
    counts as the same. Returns True when it matches."""
    want, have = recorded.get("sha256"), loaded.sha256()
    if not want or want == have:
        return True
    if loaded.meta.get("slim") and int(recorded.get("step", -1)) == loaded.step:
        return True
    warn_user(f"{stage} run {loaded.run_id!r} has changed since multimodal run {multimodal_run!r} was trained with "
              f"it (then step {recorded.get('step')}, sha256 {want[:12]}; now step {loaded.step}, sha256 {have[:12]}): "
              "the set uses its current weights, which the generator never saw; the set's provenance records them",
              key=("helper-changed", multimodal_run, stage, have))
    return False


def settings_from_config(cfg: Any) -> GenerationSettings:
    return GenerationSettings(noise_low=float(cfg.noise_low), noise_high=float(cfg.noise_high),
                              noise_blur=float(getattr(cfg, "noise_blur", 0.0)),
                              structure_threshold=float(cfg.structure_threshold),
                              use_structure=bool(cfg.use_structure), noise_fusion=bool(cfg.noise_fusion),
                              mask_filter=bool(cfg.mask_filter), lesion_tries=int(cfg.lesion_tries),
                              structure_min_realness=float(getattr(cfg, "structure_min_realness", 0.0)),
                              structure_tries=int(getattr(cfg, "structure_tries", 50)),
                              mask_min_area=float(getattr(cfg, "mask_min_area", 0.0)))


def zero_background(ws: Workspace, setting: str, dataset: str) -> bool:
    """The multimodal config's ``zero_background`` resolved: ``"auto"`` is on when the run's dataset is in
    the workspace and its real images are 0 outside their organ masks (off when it is not there)."""
    if setting in ("on", "off"):
        return setting == "on"
    from synth_core.dataset import Dataset

    path = ws.path("datasets", dataset) if dataset else None
    if path is None or not (path / "dataset.json").is_file():
        return False
    return Dataset(path).zero_outside_masks()


def as_set_made(models: SynthesisModels, set_meta: dict[str, Any]) -> SynthesisModels:
    """``models`` with the synthesis-time settings a set recorded in its ``set.json`` —
    ``zero_background`` and ``mask_min_area``, each off (0) for a set made before the setting
    existed — so that regenerating or appending makes samples as the set's were."""
    made = set_meta["options"].get("settings") or {}
    return replace(models, settings=replace(models.settings, zero_background=bool(made.get("zero_background", False)),
                                            mask_min_area=float(made.get("mask_min_area", 0.0))))


def load_models(ws: Workspace, run_id: str, *, which: str = "best", figures: bool = True,
                device: torch.device | str = "cpu") -> SynthesisModels:
    """The multimodal run ``run_id`` (its ``which`` checkpoint, falling back to last) with its
    structure run and, when ``figures``, its segmenter and translator runs."""
    if which not in ("best", "last"):
        raise ConfigError(f"checkpoint must be best or last, not {which!r}")
    try:
        resolve_run(ws, "multimodal", run_id, None)
    except ConfigError as err:
        raise ConfigError(f"{err}; synthesis needs a multimodal run") from None
    mm = load_run(ws, run_id, which=which, names=["G"], device=device)
    helpers = mm.meta.get("helpers", {})
    if "structure" not in helpers:
        raise ConfigError(f"multimodal run {run_id!r} records no structure run; it cannot make new structure maps")
    settings = replace(settings_from_config(mm.config),
                       zero_background=zero_background(ws, mm.config.zero_background, mm.config.dataset))
    wanted = ["G_s", "G_m"] + (["D_s"] if settings.structure_min_realness > 0 else [])
    structure = load_run(ws, helpers["structure"]["run_id"], which="last", names=wanted, device=device)
    if not same_dataset(structure.fingerprint, run_content(structure.meta), mm.fingerprint, run_content(mm.meta)):
        raise ConfigError(f"structure run {structure.run_id!r} was trained on another dataset than multimodal run {run_id!r}")
    check_helper(run_id, "structure", helpers["structure"], structure)
    runs = {"multimodal": _record(mm), "structure": _record(structure)}
    modalities = tuple(mm.meta["modalities"])
    segmenters: dict[str, torch.nn.Module] = {}
    translator = None
    if figures and "segmenter" in helpers:
        seg = load_run(ws, helpers["segmenter"]["run_id"], which="last", device=device,
                       names=[f"seg_{m}" for m in modalities])
        segmenters = {m: seg.nets[f"seg_{m}"] for m in modalities}
        check_helper(run_id, "segmenter", helpers["segmenter"], seg)
        runs["segmenter"] = _record(seg)
    if figures and "translator" in helpers and len(modalities) > 1:
        tr = load_run(ws, helpers["translator"]["run_id"], which="last", names=["G_t"], device=device)
        translator = tr.nets["G_t"]
        check_helper(run_id, "translator", helpers["translator"], tr)
        runs["translator"] = _record(tr)
    label_names = {int(k): str(v) for k, v in mm.meta["label_names"].items()}
    return SynthesisModels(G_s=structure.nets["G_s"], G_m=structure.nets["G_m"], G=mm.nets["G"], modalities=modalities,
                           label_names=label_names, size=int(mm.meta["image_size"]),
                           settings=settings, segmenters=segmenters, translator=translator, D_s=structure.nets.get("D_s"),
                           runs=runs, lesion_ranges=(mm.meta.get("lesion_bank") or {}).get("ranges"),
                           dataset=str(getattr(mm.config, "dataset", "") or ""), dataset_content=run_content(mm.meta))
