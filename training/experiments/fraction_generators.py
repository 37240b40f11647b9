"""Generators trained on one real fraction only: the synthetic data of a no-leak usability row.

For a real fraction ``f < 1`` of experiment ``E`` (names from :func:`fraction_names`):

1. dataset ``E.f<f>``: the fraction's real training slices and the validation split of the
   experiment's dataset (:func:`synth_core.dataset_subset.write_subset`; never the test split);
2. runs ``E.f<f>.structure``, ``.segmenter``, ``.translator``, ``.multimodal``: the stages of
   ``python -m training demo``, in its order, trained on that dataset with the experiment's
   ``generator_preset`` (step counts times ``generator_scale``); the image generator's frozen
   helpers are the three runs before it, so nothing in the chain saw another slice;
3. set ``E.f<f>``: ``n`` samples of that image generator (``synthesize``, seed 0), whose lesions
   come from the bank of that dataset's training split, so from the fraction's slices too.

Every step is resumable: a dataset that holds exactly those slices is reused (another one under the
name is refused), a finished run is reused and an interrupted one resumed from its last checkpoint,
both only when they were trained on that dataset as it is now (fingerprint and content sha256: a
run left from another fraction dataset under the name is refused, it saw other slices), and a set
that already has ``n`` samples made by the current checkpoint of that image generator from that
dataset is reused (a set made by an earlier generator under the name is refused).
"""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from synth_core.dataset import Dataset
from synth_core.dataset_subset import subset_matches, write_subset
from synth_core.errors import ConfigError
from synth_core.runs.config import build_config, config_to_dict, saved_with_defaults
from synth_core.runs.folder import RunDir
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace, validate_name
from training.demo import ORDER
from training.loop import Trainer
from training.stages import get_stage

#: The stages a fraction's image generator needs, in training order (pix2pix is not used here).
STAGES = tuple(s for s in ORDER if s != "pix2pix")
#: Step-count fields scaled by ``generator_scale``.
STEP_FIELDS = ("steps", "pretrain_steps", "mask_steps")


@dataclass(frozen=True)
class FractionNames:
    dataset: str
    runs: dict[str, str]
    set: str


def fraction_names(experiment: str, fraction: float) -> FractionNames:
    base = validate_name(f"{experiment}.f{fraction:g}", "fraction dataset name")
    return FractionNames(dataset=base, runs={s: f"{base}.{s}" for s in STAGES}, set=base)


def scaled_config(stage: str, preset: str, scale: float, extra: dict[str, Any]) -> Any:
    """The stage's config from ``preset`` and ``extra``, its step counts times ``scale`` (at least
    1; a count of 0, e.g. no pre-training, stays 0)."""
    cls = get_stage(stage).config_cls
    names = {f.name for f in fields(cls)}
    cfg = build_config(cls, stage, preset, {k: v for k, v in extra.items() if k in names})
    changes = {f: max(1, int(math.floor(getattr(cfg, f) * scale + 0.5)))
               for f in STEP_FIELDS if f in names and getattr(cfg, f) > 0}
    return replace(cfg, **changes)


def _train(ws: Workspace, stage: str, run_id: str, cfg: Any, progress: bool, dataset: Dataset) -> str:
    stage_cls = get_stage(stage)
    path = ws.runs / run_id
    if path.exists() and (path / "config.json").is_file():
        run = RunDir.open(ws, run_id)
        meta = run.read_config()
        # the same name and settings are not enough: a run left from an earlier fraction dataset under
        # this name (deleted and written again with other slices) saw slices this fraction does not have
        if (meta.get("fingerprint"), meta.get("content_sha256")) != (dataset.fingerprint, dataset.content_sha256):
            raise ConfigError(f"run {run_id!r} was trained on another version of dataset {dataset.name!r} (other "
                              f"slices); delete {path} (and the runs and set made after it) and rerun")
        saved = saved_with_defaults(type(cfg), meta.get("config", {}))  # a setting added since: its default
        mine = config_to_dict(cfg)
        diff = sorted(k for k in mine if k not in ("threads", "device") and saved.get(k) != mine[k])
        if diff:
            raise ConfigError(f"run {run_id!r} exists with other settings ({', '.join(diff[:4])}); delete "
                              f"{path} to retrain it, or choose another experiment --name")
        if run.read_status().get("state") == "finished":
            return run_id
        if run.checkpoint_path("last").is_file():
            done = Trainer(stage_cls, cfg, ws, resume=run_id, progress=progress).run()
        else:
            done = _start_again(ws, stage_cls, cfg, run_id, progress)
    elif path.exists():  # killed before its config.json was written
        done = _start_again(ws, stage_cls, cfg, run_id, progress)
    else:
        done = Trainer(stage_cls, cfg, ws, run_id=run_id, progress=progress).run()
    state = done.read_status().get("state") if done is not None else None
    if state != "finished":
        raise ConfigError(f"run {run_id!r} ended {state or 'without a status'}; rerun the experiment to resume it")
    return run_id


def _start_again(ws: Workspace, stage_cls: Any, cfg: Any, run_id: str, progress: bool) -> Any:
    """A run killed before its first checkpoint has nothing to resume from: delete it and train it
    anew, holding its lock meanwhile (``BusyError`` when another process is training it right now)."""
    run = RunDir(ws.runs / run_id).hold()
    try:
        shutil.rmtree(run.path)
    finally:
        run.release()
    return Trainer(stage_cls, cfg, ws, run_id=run_id, progress=progress).run()


def _synthesize(ws: Workspace, run_id: str, name: str, n: int, device: str) -> SyntheticSet:
    from synth_core.synthesis.command import add_synthesize_arguments, run_synthesize_command

    parser = argparse.ArgumentParser(prog="synthesize")
    add_synthesize_arguments(parser)
    args = parser.parse_args(["--run", run_id, "--n", str(n), "--seed", "0", "--name", name, "--device", device])
    code = run_synthesize_command(args, ws)
    if code != 0:
        raise ConfigError(f"synthesizing set {name!r} from run {run_id!r} failed (exit code {code})")
    return SyntheticSet(ws.path("synthetic", name))


def _made_by(syn: SyntheticSet, ws: Workspace, run_id: str, dataset: Dataset) -> bool:
    """Whether ``syn`` was made from ``dataset`` by the current checkpoint of multimodal run ``run_id``
    (the checkpoint file its ``set.json`` names, ``best.pt`` or ``last.pt``, has the sha256 recorded)."""
    from synth_core.runs.checkpoint import file_sha256

    mm = (syn.meta.get("runs") or {}).get("multimodal") or {}
    name = Path(str(mm.get("checkpoint") or "")).name
    ck = RunDir(ws.runs / run_id).checkpoints_dir / name if name else None
    return (syn.meta.get("fingerprint") == dataset.fingerprint and mm.get("run_id") == run_id
            and ck is not None and ck.is_file() and mm.get("sha256") == file_sha256(ck))


def ensure_fraction_set(ws: Workspace, parent: Dataset, rows: np.ndarray, *, experiment: str, fraction: float,
                        n: int, preset: str, scale: float, threads: int = 0, device: str = "cpu",
                        progress: bool = True) -> tuple[SyntheticSet, dict[str, Any]]:
    """The set of ``n`` samples from a generator trained on ``rows`` of ``parent`` only (see the
    module docstring) and what to record about it."""
    names = fraction_names(experiment, fraction)
    if parent.has_lesions and not (parent.index["lesion_pixels"].to_numpy()[rows] > 0).any():
        raise ConfigError(f"real fraction {fraction:g} of dataset {parent.name!r} ({len(rows)} slices) holds no slice "
                          "with a lesion, so its generator cannot learn lesions; use a larger fraction or another "
                          "--set subset_seed=N")
    dpath = ws.path("datasets", names.dataset)
    if dpath.exists():
        sub = Dataset(dpath)
        if not subset_matches(sub, parent, rows):
            raise ConfigError(f"dataset {names.dataset!r} exists but does not hold exactly fraction {fraction:g}'s "
                              f"slices of {parent.name!r}; delete {dpath} (and its runs and set) or choose another "
                              "experiment --name")
    else:
        sub = write_subset(parent, rows, dpath, names.dataset,
                           purpose=f"usability experiment {experiment!r}: generator of real fraction {fraction:g}")
    done: dict[str, str] = {}
    for stage in STAGES:
        extra: dict[str, Any] = {"dataset": names.dataset}
        if threads:
            extra["threads"] = threads
        if stage == "multimodal":
            extra.update({f"{s}_run": done[s] for s in ("structure", "segmenter", "translator")})
        cfg = scaled_config(stage, preset, scale, extra)
        done[stage] = _train(ws, stage, names.runs[stage], cfg, progress, sub)
    spath = ws.path("synthetic", names.set)
    syn = SyntheticSet(spath) if spath.exists() else None
    if syn is not None and (len(syn) < n or syn.dataset != names.dataset):
        raise ConfigError(f"set {names.set!r} exists with {len(syn)} samples of dataset {syn.dataset!r}, but "
                          f"{n} of {names.dataset!r} are needed; delete {spath} and rerun")
    if syn is not None and not _made_by(syn, ws, done["multimodal"], sub):
        raise ConfigError(f"set {names.set!r} exists but was not made by the current checkpoint of run "
                          f"{done['multimodal']!r} from dataset {names.dataset!r}; delete {spath} and rerun")
    if syn is None:
        syn = _synthesize(ws, done["multimodal"], names.set, n, device)
    record = {"fraction": float(fraction), "dataset": names.dataset, "runs": done, "set": names.set,
              "set_samples": len(syn), "n_real": int(len(rows)), "preset": preset, "scale": float(scale),
              "cases": sorted(set(parent.index["case_id"].to_numpy().astype(str)[rows].tolist()))}
    return syn, record
