"""The ablation study (thesis Table 1, METHOD.md §12): what does each part of the image stage add?

Six configurations of the multimodal stage, each one switch off (``MultimodalConfig.ablation``):

====  =====================================================================================
A     no structure map: ``G`` sees uniform noise instead of the fused structure map
B     no mask filtering: lesions are placed anywhere in the frame, not only inside the organ
C     no noise fusion (eq. 12): ``s' = s``
D     no registration loss (eq. 16; no frozen translator)
E     no lesion guidance (eq. 15; no frozen segmenters)
F     the full model
====  =====================================================================================

For every row (and every training seed, ``seeds``; see below) :func:`run_ablation`

1. trains a multimodal run ``<experiment>-<row>`` with ``ablation=<row>`` and the SAME settings,
   seed and frozen helper runs (structure, segmenter, translator: given with ``--set
   structure_run=...`` etc., else the newest finished ones on the dataset when the experiment
   starts; recorded in ``config.json`` and reused when it continues);
2. makes a set ``<experiment>-<row>`` of ``n`` samples from its ``checkpoint`` (default ``last``:
   the runs pick their ``best`` by different scores, since row E has no segmenter) with the same
   seed, so every row starts from the same latents and structure maps;
3. scores the set with :func:`synth_core.evaluation.evaluate.evaluate_set` (FRD, FID/KID in the
   segmenter encoder's feature space, MS-SSIM diversity, lesion validity, reconstruction).

Seeds. With ``seeds=k`` every row is trained ``k`` times, with seeds ``seed, seed+1, ...``; the
runs and sets of the first seed are ``<experiment>-<row>``, those of seed ``s`` are
``<experiment>-<row>-s<s>``, and each seed's set is made with that seed (so the spread covers the
whole chain: training, latents, lesions, noise). Real reference slices for the evaluation are drawn
with ``seed`` for every run. ``seeds`` is not part of the experiment's identity: rerunning a
finished experiment with more seeds adds them. :func:`~synth_core.experiments.ablation.aggregate_ablation` gives
mean and sd per row.

Judges. Rows A-D and F train against the frozen helper segmenter, and A-C, E and F against the
helper translator; scoring them with those networks would partly measure the loss they optimised.
So before the first row the experiment trains (or reuses) two JUDGES through the ordinary training
code: runs ``<experiment>-judge-segmenter`` and ``<experiment>-judge-translator`` on the dataset's
training split, with the preset's settings but another seed (``judge_seed``), another width
(``judge_width``) and ``judge_steps`` (``--set judge.KEY=VALUE`` sets anything else). A judge run
that already exists is reused only when its saved settings and dataset fingerprint are the ones
asked for (else a one-line refusal), and it is refused when its checkpoint's sha256 equals a
helper's. Their run names and sha256s go into ``config.json`` (``judges``). The judges make every
set's per-sample figures (``dice_<m>``, ``reg_err_<m>``) and score every set in the evaluation
(:mod:`synth_core.evaluation.judges`): ``lesion_dice`` and ``registration_error`` are the judges';
``lesion_dice_helper`` and ``registration_error_helper`` the same measures scored by the helpers,
kept as a secondary, circular column.

``summary.parquet`` / ``summary.csv`` (one row per finished configuration and seed, A..F order; columns
and directions in :data:`SUMMARY_COLUMNS`): lesion Dice (the evaluation's ``seg_dice_synthetic``
of the judge, and of the helper, mean over modalities), registration error (the evaluation's
``reg_err`` of the judge translator, and of the helper), the share of samples with a lesion, the share of
lesion pixels outside the generated organ mask (what mask filtering prevents), the
memorisation distance, and the set-level metrics averaged over modalities.

Resume: a row's run is kept when it finished (continued from its checkpoint when it was
interrupted), its set when it was made from that run's checkpoint, its evaluation when the set
holds one (with FRD unless ``frd`` is off) scored by both judges with their current checkpoints
(``config.json`` ``evaluated_with``: set -> stage -> the judge sha256s of its last evaluation; a set
evaluated before a judge changed, or before this was recorded, is evaluated again). Rerunning the same command therefore only does what
is missing. Settings that change what the numbers mean (:data:`IDENTITY_FIELDS`, the multimodal
settings, the helper runs, the dataset fingerprint) must agree with the saved ``config.json``; a
multimodal field added since whose default is what the saved runs did
(:data:`~synth_core.runs.stage_configs.MULTIMODAL_ADDED_AS_BEFORE`) reads as that default.

Default sizes (the demo: 128 px, four modalities, cpu-demo preset, 2 CPU cores): ``pretrain_steps=100``
+ ``steps=120`` adversarial steps, ``n=64`` samples, FRD on ``n_frd=16`` slices per side, the other
metrics on at most ``n_max=96`` slices per side. Measured on this machine with 2 threads (3 seeds of
``ablation-demo``, 2026-12-03, the recipe with the local texture discriminator and the reconstruction
anchor): 9-11 minutes per row on an otherwise idle machine (6-8 min training, under 1 min synthesis of
64 samples, ~2 min evaluation), about 1 hour for the six rows of a seed, plus ~20 minutes the first
time for the two judges; other jobs on the two cores make it several times slower; ``--seeds 3``
triples that. That is a smoke-scale ablation that shows the direction of large effects, not the
thesis's numbers; on a GPU use ``--preset paper`` and raise ``--steps``, ``--pretrain-steps`` and ``--n``.

This module runs the experiment (preparation, the three phases of a row, the summary rows, resume)
and imports torch only inside the functions that train, synthesise and evaluate. The settings,
``--rows``/``--set`` parsing and each row's multimodal configuration are
:mod:`training.experiments.ablation_config`. The summary's columns, ``load_ablation`` and mean ± sd
over seeds are the library's (:mod:`synth_core.experiments.ablation`), so pages and the report read
results without training.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import sys
import time
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from synth_core.errors import ConfigError, NotFoundError
from synth_core.workspace import Workspace, validate_name
from synth_core.runs.config import config_to_dict
from synth_core.experiments.ablation import KIND, ROW_OFF, ROWS, SUMMARY_COLUMNS, summary_frame
from synth_core.experiments.results import ExperimentStore
from synth_core.runs.stage_configs import MULTIMODAL_ADDED_AS_BEFORE, MultimodalConfig
from training.experiments.ablation_config import (IDENTITY_FIELDS, JUDGE_STAGES, NOT_IDENTITY, SWITCHES,
                                                  AblationConfig, judge_config, multimodal_overrides, row_config)

#: set-level metrics taken from the evaluation table: summary column -> (metric, region)
EVAL_METRICS = {"fid": ("fid", "image"), "kid": ("kid", "image"), "frd": ("frd", "image"),
                "frd_lesion": ("frd", "lesion"), "diversity_ms_ssim": ("diversity_ms_ssim", "image"),
                "diversity_ms_ssim_real": ("diversity_ms_ssim_real", "image"),
                "rec_psnr": ("rec_psnr", "image")}
#: summary columns scored by a judge or a helper: column -> (metric, region, stage, "judge" | "helper")
SCORED = {"lesion_dice": ("seg_dice_synthetic", "lesion", "segmenter", "judge"),
          "lesion_dice_helper": ("seg_dice_synthetic", "lesion", "segmenter", "helper"),
          "seg_dice_real": ("seg_dice_real", "lesion", "segmenter", "judge"),
          "seg_dice_real_helper": ("seg_dice_real", "lesion", "segmenter", "helper"),
          "registration_error": ("reg_err", "image", "translator", "judge"),
          "registration_error_helper": ("reg_err", "image", "translator", "helper")}


# ---- preparation ----------------------------------------------------------------------------------
@dataclass
class Prepared:
    """Everything checked before the first row trains."""

    ds: Any  # synth_core.dataset.Dataset
    helpers: dict[str, str]
    configs: dict[tuple[str, int], Any]  # (row, seed) -> MultimodalConfig
    judge_configs: dict[str, Any]  # stage -> SegmenterConfig / TranslatorConfig of the judge


def _resolve_helper(ws: Workspace, stage: str, given: str, dataset: str, purpose: str) -> str:
    from synth_core.runs.loading import resolve_run

    try:
        return resolve_run(ws, stage, given, dataset)
    except NotFoundError as err:
        if given:
            raise
        raise NotFoundError(f"the ablation needs a finished {stage} run on dataset {dataset!r} ({purpose}); train "
                            f"one first with `python -m training {stage} --dataset {dataset}`") from err


def prepare(ws: Workspace, cfg: AblationConfig, recorded: dict[str, str] | None = None) -> Prepared:
    """Check the dataset, find the helper runs, build every row's configuration (one-line errors).

    ``recorded``: the helper runs of an existing experiment folder, reused unless given anew."""
    from synth_core.dataset import Dataset
    from training.stages.multimodal import MultimodalStage

    validate_name(cfg.dataset, "dataset name")
    validate_name(cfg.experiment_name, "experiment name")
    for row in cfg.rows:
        for seed in cfg.seed_list:
            validate_name(cfg.run_id(row, seed), "run name")
    ds = Dataset(ws.existing("datasets", cfg.dataset))
    train = ds.split_indices("train")
    if len(ds.label_names) < 2 or not (ds.index["lesion_pixels"].to_numpy()[train] > 0).any():
        raise ConfigError(f"dataset {ds.name!r} has no lesion labels in its training split; the ablation compares "
                          "lesion placement and lesion guidance (rows B and E), so it needs a dataset with lesions")
    given = multimodal_overrides(cfg.multimodal)
    unknown = sorted(set(given) - {f.name for f in fields(MultimodalConfig)})
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}: neither an ablation setting (`python -m training "
                          "ablation --list-settings`) nor a multimodal one (`python -m training config multimodal`)")
    row_config(cfg, cfg.rows[0], {})  # bad values fail here, before the helper runs are looked for
    purposes = {"structure": "generated structure maps and organ masks",
                "segmenter": "lesion guidance (independent judges score the rows)",
                "translator": "the registration loss (independent judges score the rows)"}
    stages = ["structure", "segmenter"] + (["translator"] if len(ds.modalities) > 1 else [])
    helpers = {}
    for stage in stages:
        ref = given.get(f"{stage}_run") or (recorded or {}).get(stage, "")
        helpers[stage] = _resolve_helper(ws, stage, ref, ds.name, purposes[stage])
    configs = {(row, seed): row_config(cfg, row, helpers, seed) for seed in cfg.seed_list for row in cfg.rows}
    for mc in configs.values():
        MultimodalStage.check_dataset(mc, ds)
    judge_configs = {stage: judge_config(cfg, stage) for stage in JUDGE_STAGES if stage in helpers}
    validate_name(cfg.judge_run_id("segmenter"), "run name")
    return Prepared(ds=ds, helpers=helpers, configs=configs, judge_configs=judge_configs)


def _identity(cfg: AblationConfig, prep: Prepared) -> dict[str, Any]:
    """What must agree for a folder to be continued: settings, multimodal config (less the row's
    switches), helpers and the dataset fingerprint."""
    base = config_to_dict(next(iter(prep.configs.values())))
    base["seed"] = cfg.seed  # the first seed; further seeds may be added
    for k in ("ablation", *SWITCHES, *NOT_IDENTITY):
        base.pop(k, None)
    return {"settings": {k: getattr(cfg, k) for k in IDENTITY_FIELDS}, "multimodal": base,
            "helpers": prep.helpers, "dataset_fingerprint": prep.ds.fingerprint,
            "dataset_sha256": prep.ds.content_sha256}


def _check_resumable(old: dict[str, Any], new: dict[str, Any], name: str) -> None:
    if old.get("kind", "usability") != KIND:
        raise ConfigError(f"experiment {name!r} exists and is a {old.get('kind', 'usability')} experiment; choose "
                          "another --name")
    diff = []
    for part in ("settings", "multimodal"):
        a, b = old.get("identity", {}).get(part, {}), new[part]
        if part == "multimodal":  # a field added since, whose default is what the experiment's runs did
            a = {**MULTIMODAL_ADDED_AS_BEFORE, **a}
        diff += [f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if _norm(a.get(k)) != _norm(b.get(k))]
    if old.get("identity", {}).get("helpers") != new["helpers"]:
        diff.append(f"helper runs {old.get('identity', {}).get('helpers')} -> {new['helpers']}")
    # before dataset format 2 the fingerprint was the byte hash: the same bytes are the same dataset;
    # the byte hash itself is informative (a dataset rebuilt on another CPU differs in the last bits)
    if old.get("identity", {}).get("dataset_fingerprint") not in (new["dataset_fingerprint"], new["dataset_sha256"]):
        diff.append("dataset fingerprint changed")
    if diff:
        raise ConfigError(f"experiment {name!r} exists with other settings ({'; '.join(diff)}); choose another "
                          "--name, or delete the folder (and its runs and sets) to start over")


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


# ---- one row --------------------------------------------------------------------------------------
class _Context:
    """Loaded once per experiment: the judges and the real reference for the synthesis figures."""

    def __init__(self, ws: Workspace, cfg: AblationConfig, prep: Prepared, device: Any):
        self.ws, self.cfg, self.prep, self.device = ws, cfg, prep, device
        self._judges: tuple[dict, Any, dict] | None = None
        self._real = None

    def judges(self) -> tuple[dict[str, Any], Any, dict[str, dict[str, Any]]]:
        """The judge runs' (segmenters by modality, translator or None, their provenance records)."""
        if self._judges is None:
            from synth_core.runs.loading import load_run

            mods = list(self.prep.ds.modalities)
            seg = load_run(self.ws, self.cfg.judge_run_id("segmenter"), which="last",
                           names=[f"seg_{m}" for m in mods], device=self.device)
            records = {"segmenter": _record(seg)}
            tr = None
            if "translator" in self.prep.judge_configs:
                tr_run = load_run(self.ws, self.cfg.judge_run_id("translator"), which="last", names=["G_t"],
                                  device=self.device)
                tr, records["translator"] = tr_run.nets["G_t"], _record(tr_run)
            self._judges = ({m: seg.nets[f"seg_{m}"] for m in mods}, tr, records)
        return self._judges

    def real(self):
        if self._real is None:
            from synth_core.synthesis.figures import RealReference

            self._real = RealReference.from_dataset(self.prep.ds, "train")
        return self._real


def _record(run: Any) -> dict[str, Any]:
    return {"run_id": run.run_id, "stage": run.stage, "checkpoint": run.checkpoint.name, "sha256": run.sha256(),
            "step": run.step, "fingerprint": run.fingerprint}


def run_finished(ws: Workspace, run_id: str) -> bool:
    from synth_core.runs.folder import RunDir

    run = RunDir(ws.runs / run_id)
    if not run.has_config():
        return False
    return run.read_status().get("state") == "finished" and run.checkpoint_path("last").is_file()


def train_row(ws: Workspace, mc: Any, run_id: str, *, progress: bool) -> None:
    """Train (or continue) the multimodal run ``run_id`` with configuration ``mc``."""
    def ours(saved: dict[str, Any]) -> str:
        if saved.get("stage") != "multimodal" or saved.get("config", {}).get("ablation") != mc.ablation:
            return f"is not ablation row {mc.ablation} of this experiment"
        return ""

    _train(ws, "multimodal", mc, run_id, ours, progress=progress)


def _same_settings(saved: dict[str, Any], jc: Any, fingerprint: str) -> str:
    """Why a saved judge run is not the one asked for (``""`` when it is): its stage, settings (less
    where it ran and how often it logged) or dataset fingerprint differ."""
    if saved.get("fingerprint") != fingerprint:
        return "was trained on another dataset fingerprint"
    want, have = config_to_dict(jc), saved.get("config", {})
    diff = sorted(k for k in set(want) | set(have) if k not in NOT_IDENTITY and _norm(want.get(k)) != _norm(have.get(k)))
    return f"has other settings ({', '.join(diff)})" if diff else ""


def train_judge(ws: Workspace, stage: str, jc: Any, run_id: str, fingerprint: str, *, progress: bool) -> None:
    """Train (continue, or reuse when finished with the same settings and dataset) the judge run
    ``run_id`` of ``stage`` with settings ``jc``."""
    def ours(saved: dict[str, Any]) -> str:
        if saved.get("stage") != stage:
            return f"is a {saved.get('stage')!r} run, not the experiment's judge {stage}"
        return _same_settings(saved, jc, fingerprint) if "fingerprint" in saved else ""

    _train(ws, stage, jc, run_id, ours, progress=progress)


def _train(ws: Workspace, stage: str, mc: Any, run_id: str, ours: Any, *, progress: bool) -> None:
    """Train (or continue) run ``run_id`` of ``stage`` with settings ``mc``; ``ours(saved config)``
    says why an existing run of that name is not this experiment's (``""`` when it is)."""
    from training.loop import Trainer
    from synth_core.runs.folder import RunDir
    from training.stages import get_stage

    path = ws.runs / run_id
    resume = None
    if path.exists():
        run = RunDir(path)
        saved = run.read_config() if run.has_config() else {}
        why = ours(saved) if saved else ""
        if why:
            raise ConfigError(f"run {run_id!r} exists but {why}; choose another --name or delete that run")
        if run.checkpoint_path("last").is_file():
            resume = run_id
        else:  # stopped before its first checkpoint: nothing to continue from, unless it is just starting
            run.hold()  # BusyError when another process is training it right now: never delete that
            try:
                shutil.rmtree(path)
            finally:
                run.release()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        run = Trainer(get_stage(stage), mc, ws, run_id=None if resume else run_id, resume=resume,
                      progress=progress).run()
    finally:  # the trainer turns SIGTERM into "stop at the next step"; afterwards it must end us again
        with contextlib.suppress(ValueError, TypeError):  # not the main thread / a handler set outside Python
            signal.signal(signal.SIGTERM, previous)
    state = run.read_status().get("state") if run is not None else None
    if state != "finished":
        raise ConfigError(f"run {run_id!r} ended as {state!r}; rerun the same command to continue")


def set_is_current(ws: Workspace, set_name: str, run_id: str, checkpoint: str) -> bool:
    """True when set ``set_name`` exists and was made from the current ``checkpoint`` of ``run_id``."""
    from synth_core.synthesis.setstore import SyntheticSet
    from synth_core.runs.checkpoint import file_sha256
    from synth_core.runs.folder import RunDir

    path = ws.synthetic / set_name
    if not path.exists():
        return False
    s = SyntheticSet(path)
    mm = (s.meta.get("runs") or {}).get("multimodal") or {}
    ck = RunDir(ws.runs / run_id).checkpoint_path(checkpoint)
    if checkpoint == "best" and not ck.exists():
        ck = RunDir(ws.runs / run_id).checkpoint_path("last")
    if mm.get("run_id") != run_id or not ck.is_file() or mm.get("sha256") != file_sha256(ck):
        raise ConfigError(f"set {set_name!r} exists but was not made from the current checkpoint of run {run_id!r}; "
                          "delete the set (and its evaluation) to remake it")
    return True


def synthesize_row(ctx: _Context, run_id: str, set_name: str, *, seed: int | None = None, row: str = "") -> None:
    """Make the row's set (with ``seed``, default the experiment's) with the experiment's judges for
    the per-sample figures."""
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.lesions.bank import LesionBank
    from synth_core.synthesis.lesions import LesionSource
    from synth_core.synthesis.loading import load_models
    from synth_core.synthesis.pipeline import synthesize

    cfg, ds = ctx.cfg, ctx.prep.ds
    models = load_models(ctx.ws, run_id, which=cfg.checkpoint, figures=False, device=ctx.device)
    segs, translator, records = ctx.judges()
    models.segmenters, models.translator = segs, translator
    models.runs.update(records)
    bank = LesionBank.from_dataset(ds, ("train",))
    ranges = AugmentRanges.from_dict(models.lesion_ranges) if models.lesion_ranges else AugmentRanges()
    lesions = LesionSource(cfg.lesions, bank, ranges, tries=models.settings.lesion_tries,
                           mask_filter=models.settings.mask_filter)
    from synth_core.datalink import check_link, provenance

    match = check_link(ds, fingerprint=models.runs["multimodal"]["fingerprint"], content=models.dataset_content,
                       what=f"run {run_id!r}", dataset=models.dataset)
    synthesize(models, lesions, ctx.ws.path("synthetic", set_name), dataset=ds.name, fingerprint=ds.fingerprint,
               dataset_content=provenance(ds, match, models.dataset_content), n=cfg.n,
               seed=cfg.seed if seed is None else seed, batch_size=cfg.synth_batch, real=ctx.real(),
               extra_meta={"checkpoint": cfg.checkpoint, "experiment": cfg.experiment_name,
                           "ablation": row or run_id.rsplit("-", 1)[-1],
                           "judges": "the experiment's judge runs (trained separately), not the training helpers"})


#: config.json key: set name -> stage -> sha256 of the judge checkpoint its evaluation was scored with
EVALUATED = "evaluated_with"


def evaluation_done(ws: Workspace, set_name: str, frd: bool, judges: dict[str, dict[str, Any]] | None = None,
                    scored: dict[str, str] | None = None) -> bool:
    """True when the set holds an evaluation; with ``frd``, one that tried FRD (a value, or the reason
    it could not be computed — not merely "switched off"); with ``judges`` (stage -> record with
    ``run_id`` and ``sha256``, :func:`prepare_judges`), one holding every judge's rows
    (``<stage>:<run_id>``) and made with those very checkpoints: ``scored`` (stage -> sha256 recorded
    when the set was evaluated, :func:`evaluated_with`) names each judge's current sha256, so a set
    scored before a judge was retrained or changed is evaluated again."""
    path = ws.synthetic / set_name / "evaluation.parquet"
    if not path.is_file():
        return False
    df = pd.read_parquet(path)
    if not (df["metric"] == "fid").any():
        return False
    for stage, judge in (judges or {}).items():
        if not (df["extractor"] == f"{stage}:{judge['run_id']}").any() or (scored or {}).get(stage) != judge["sha256"]:
            return False
    tried = df[(df["metric"] == "frd") & (df["value"].notna() | (df["note"] != "FRD switched off"))]
    return not frd or not tried.empty


def evaluated_with(store: ExperimentStore, set_name: str) -> dict[str, str]:
    """Stage -> sha256 of the judges set ``set_name`` was last evaluated with (empty when unrecorded)."""
    return dict((store.read_config().get(EVALUATED) or {}).get(set_name) or {})


def record_evaluation(store: ExperimentStore, set_name: str, judges: dict[str, dict[str, Any]]) -> None:
    """Record in ``config.json`` the judges' sha256s set ``set_name`` has just been evaluated with."""
    config = store.read_config()
    config.setdefault(EVALUATED, {})[set_name] = {stage: str(j["sha256"]) for stage, j in judges.items()}
    store.write_config(config)


def evaluate_recorded(ctx: _Context, store: ExperimentStore, set_name: str, judges: dict[str, dict[str, Any]]) -> None:
    """:func:`evaluate_row`, then :func:`record_evaluation` (a kill in between only re-evaluates)."""
    evaluate_row(ctx, set_name)
    record_evaluation(store, set_name, judges)


def evaluate_row(ctx: _Context, set_name: str) -> None:
    from synth_core.evaluation.evaluate import evaluate_set

    cfg = ctx.cfg
    helpers, judges = ctx.prep.helpers, ctx.prep.judge_configs
    evaluate_set(ctx.ws, set_name, ctx.prep.ds.name, features="own", n_frd=cfg.n_frd, n_pairs=cfg.n_pairs,
                 n_max=cfg.n_max, seed=cfg.seed, segmenter_run=helpers["segmenter"],
                 translator_run=helpers.get("translator"), judge_segmenter=cfg.judge_run_id("segmenter"),
                 judge_translator=cfg.judge_run_id("translator") if "translator" in judges else None,
                 frd=cfg.frd, device=str(ctx.device))


# ---- the summary ----------------------------------------------------------------------------------
def _nanmean(values: Any) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else math.nan


def summarise_row(ws: Workspace, cfg: AblationConfig, row: str, helpers: dict[str, str],
                  seconds: dict[str, float] | None = None, seed: int | None = None) -> dict[str, Any]:
    """One summary row (``row`` trained with ``seed``, default the first) from the set's catalog,
    arrays and evaluation table (no torch); ``helpers``: stage -> the experiment's helper run."""
    from synth_core.synthesis.setstore import SyntheticSet

    seed = cfg.seed if seed is None else seed
    name = cfg.run_id(row, seed)
    s = SyntheticSet(ws.existing("synthetic", name))
    cat = s.catalog
    out: dict[str, Any] = {"row": row, "switched_off": ROW_OFF[row], "seed": seed, "run": name, "set": name,
                           "n": len(s), "scored_by": "judge"}
    out["with_lesion"] = float(cat["has_lesion"].astype(bool).mean()) if "has_lesion" in cat else math.nan
    lesion_px = outside = 0
    for start in range(0, len(s), 256):
        lab = np.asarray(s.labels[start : start + 256]) > 0
        lesion_px += int(lab.sum())
        outside += int((lab & (np.asarray(s.masks[start : start + 256]) == 0)).sum())
    out["lesion_outside_organ"] = outside / lesion_px if lesion_px else math.nan
    out["nn_dist"] = _nanmean(cat["nn_dist"]) if "nn_dist" in cat else math.nan
    ev_path = s.path / "evaluation.parquet"
    ev = pd.read_parquet(ev_path) if ev_path.is_file() else pd.DataFrame(columns=["metric", "region", "value",
                                                                                  "extractor"])
    for col, (metric, region) in EVAL_METRICS.items():
        sel = ev[(ev["metric"] == metric) & (ev["region"] == region)]
        if metric in ("fid", "kid"):
            sel = sel[sel["extractor"] == f"own:{helpers['segmenter']}"]
        out[col] = _nanmean(sel["value"])
    for col, (metric, region, stage, who) in SCORED.items():
        run = cfg.judge_run_id(stage) if who == "judge" else helpers.get(stage, "")
        sel = ev[(ev["metric"] == metric) & (ev["region"] == region) & (ev["extractor"] == f"{stage}:{run}")]
        out[col] = _nanmean(sel["value"])
    for phase in ("train", "synthesis", "evaluation"):
        out[f"{phase}_seconds"] = float((seconds or {}).get(phase, math.nan))
    return out


def row_seconds(store: ExperimentStore, first_seed: int = 0) -> dict[tuple[str, int], dict[str, float]]:
    """(row, seed) -> phase -> wall-clock seconds, summed over the sessions in ``progress.jsonl``
    (entries written before seeds were recorded belong to ``first_seed``)."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for e in store.read_progress():
        if e.get("event") == "phase" and e.get("row") in ROWS:
            d = out.setdefault((e["row"], int(e.get("seed", first_seed))), {})
            d[e["phase"]] = d.get(e["phase"], 0.0) + float(e.get("seconds", 0.0))
    return out


# ---- the experiment -------------------------------------------------------------------------------
def run_ablation(ws: Workspace, cfg: AblationConfig, *, progress: bool = True) -> ExperimentStore:
    """Run (or continue) the ablation; returns its store (``summary.parquet`` is current after
    every finished row). See the module docstring."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    store = ExperimentStore.open(ws, validate_name(cfg.experiment_name, "experiment name"), must_exist=False)
    with store.running():  # a second run of the same experiment is refused at once
        return _run_ablation(ws, cfg, store, progress=progress)


def _run_ablation(ws: Workspace, cfg: AblationConfig, store: ExperimentStore, *, progress: bool) -> ExperimentStore:
    from synth_core.distributed import resolve_device

    old = store.read_config() if store.config_path.is_file() else None
    prep = prepare(ws, cfg, recorded=(old or {}).get("identity", {}).get("helpers"))
    identity = _identity(cfg, prep)
    if old is not None:
        _check_resumable(old, identity, store.path.name)
    device = resolve_device(cfg.device)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows_all = list(dict.fromkeys([*(old or {}).get("rows", []), *cfg.rows]))
    rows_all = [r for r in ROWS if r in rows_all]
    seeds_all = sorted({*(old or {}).get("seeds", [cfg.seed]), *cfg.seed_list})
    store.write_config({
        "kind": KIND, "config": config_to_dict(cfg), "identity": identity, "dataset": prep.ds.name,
        "modalities": list(prep.ds.modalities), "size": prep.ds.spec.size, "rows": rows_all,
        "seeds": seeds_all, "switched_off": {r: ROW_OFF[r] for r in ROWS},
        "runs": {r: [cfg.run_id(r, s) for s in seeds_all] for r in rows_all},
        "columns": {name: {"help": h, "better": d} for name, h, d in SUMMARY_COLUMNS},
        "device": str(device), "created": (old or {}).get("created", now), "updated": now,
        EVALUATED: (old or {}).get(EVALUATED, {}),
    })
    ctx = _Context(ws, cfg, prep, device)
    store.log("start", rows=list(cfg.rows), seeds=list(cfg.seed_list), device=str(device))
    t0 = time.perf_counter()
    judges = prepare_judges(ws, cfg, prep, progress=progress)
    store.log("phase", phase="judges", seconds=round(time.perf_counter() - t0, 3))
    config = store.read_config()
    config["judges"] = judges
    store.write_config(config)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cfg.rows) * cfg.seeds, desc="ablation", unit="row", file=sys.stderr, dynamic_ncols=True)
    try:
        for seed in cfg.seed_list:  # seed by seed: the first complete table comes first
            for row in cfg.rows:
                name = cfg.run_id(row, seed)
                steps = (
                    ("train", lambda: run_finished(ws, name),
                     lambda: train_row(ws, prep.configs[row, seed], name, progress=progress)),
                    ("synthesis", lambda: set_is_current(ws, name, name, cfg.checkpoint),
                     lambda: synthesize_row(ctx, name, name, seed=seed, row=row)),
                    ("evaluation", lambda: evaluation_done(ws, name, cfg.frd, judges, evaluated_with(store, name)),
                     lambda: evaluate_recorded(ctx, store, name, judges)),
                )
                for phase, done, do in steps:
                    if done():
                        continue
                    if bar is not None:
                        bar.set_postfix_str(f"{row}" + (f" seed {seed}" if cfg.seeds > 1 else "") + f": {phase}",
                                            refresh=True)
                    t0, c0 = time.perf_counter(), time.process_time()
                    do()
                    store.log("phase", row=row, seed=seed, phase=phase, seconds=round(time.perf_counter() - t0, 3),
                              cpu_seconds=round(time.process_time() - c0, 3))
                _write_summary(ws, cfg, store, rows_all, prep.helpers, seeds_all)
                store.log("row", row=row, seed=seed)
                if bar is not None:
                    bar.update(1)
    except KeyboardInterrupt:
        store.log("interrupted")
        raise
    finally:
        if bar is not None:
            bar.close()
    _write_summary(ws, cfg, store, rows_all, prep.helpers, seeds_all)
    store.log("finished")
    return store


def prepare_judges(ws: Workspace, cfg: AblationConfig, prep: Prepared, *, progress: bool) -> dict[str, dict[str, Any]]:
    """Train (or reuse) the judge runs; refuse one whose checkpoint is a helper's. Returns their
    records (stage -> run_id, sha256, step, and the helper's run and sha256 it is not)."""
    from synth_core.evaluation.judges import check_judge
    from synth_core.runs.checkpoint import file_sha256
    from synth_core.runs.folder import RunDir

    def last(run_id: str) -> Any:
        return RunDir(ws.runs / run_id).checkpoint_path("last")

    helpers = {stage: {"run_id": rid, "sha256": file_sha256(last(rid))} for stage, rid in prep.helpers.items()
               if stage in JUDGE_STAGES}
    out = {}
    for stage, jc in prep.judge_configs.items():
        run_id = cfg.judge_run_id(stage)
        if not run_finished(ws, run_id) or _same_settings(RunDir(ws.runs / run_id).read_config(), jc,
                                                          prep.ds.fingerprint):
            train_judge(ws, stage, jc, run_id, prep.ds.fingerprint, progress=progress)
        sha = file_sha256(last(run_id))
        check_judge(stage, run_id, sha, helpers, f"experiment {cfg.experiment_name}")
        out[stage] = {"run_id": run_id, "sha256": sha, "step": int(RunDir(ws.runs / run_id).read_status().get("step", 0)),
                      "seed": jc.seed, "base_channels": jc.base_channels, "steps": jc.steps,
                      "not_helper": helpers.get(stage, {})}
    return out


def _write_summary(ws: Workspace, cfg: AblationConfig, store: ExperimentStore, rows: list[str],
                   helpers: dict[str, str], seeds: list[int]) -> pd.DataFrame:
    seconds = row_seconds(store, cfg.seed)
    done = [summarise_row(ws, cfg, r, helpers, seconds.get((r, s)), s) for s in seeds for r in rows
            if run_finished(ws, cfg.run_id(r, s)) and evaluation_done(ws, cfg.run_id(r, s), False)]
    df = summary_frame(done)
    store.write_summary(df)
    return df
