"""Evaluate a synthetic set against the real dataset it was made from (METHOD.md §12, thesis ch. 5).

:func:`evaluate_set` computes, per modality, every metric it can and returns one long table (one
row per ``(modality, metric, region)``); it also merges the table into
``workspace/synthetic/<SET>/evaluation.parquet`` (written atomically). The table's columns, the
plain-words :data:`METRIC_HELP` and its storage (:func:`load_evaluations`, used by the Quality page
and the report) live in the torch-free :mod:`synth_core.evaluation.table`; they are re-exported
here.

Modalities. A set may hold some of the dataset's modalities (a pix2pix set holds the ones its runs
fill, :mod:`synth_core.synthesis.inpaint`); every metric compares each of the set's modalities
with the dataset's channel of the same name.

Samples. Real slices come from one split of the dataset (default ``test``: held out from every
training stage); at most ``n_max`` real and ``n_max`` synthetic slices are used (seeded sample),
FRD uses at most ``n_frd`` per side, diversity ``n_pairs`` random pairs. Fine texture and grain
(``texture``, ``grain`` beside ``texture_real``, ``grain_real``: :mod:`synth_core.evaluation.texture`)
are medians over the same slices. The ``n`` column gives the
count behind each value (synthetic slices, pairs, or real slices for real-only metrics); ``note``
gives the other side's count or why a metric was skipped.

Realism (:mod:`synth_core.evaluation.realism`, ``realism=True``). The classifier two-sample test
(``c2st_auc``, extractor ``handmade`` and the FID extractor; modality ``structure`` for the
structure maps; the mean over five fold splits, their spread in ``c2st_auc_sd``) and
precision/recall/density/coverage (``prd_*``, FID extractor, ``k = 5``) compare the same
synthetic samples with real slices of the held-out subjects (``val`` + ``test``, at most ``n_max``,
whatever ``split`` says), each beside its real-vs-real control (``*_control``: real
slices of training subjects against the same held-out slices). The hand-made view's per-sample
probability of "real" is written to ``SET/realness.parquet`` (:mod:`synth_core.synthesis.realness`),
which the catalog joins as ``realness``, ``realness_<modality>`` and ``realness_structure``.

Which networks. Features for FID/KID are ``features="own"`` (the encoder of the segmenter run, per
modality; :class:`~synth_core.evaluation.features.EncoderFeatures`) or the path of a local FID
Inception weight file (:func:`~synth_core.evaluation.features.load_inception`). The segmenter run
is the one given, else the set's ``runs["segmenter"]``, else the multimodal run's lesion-guidance
helper, else the newest finished segmenter run on the dataset. The multimodal run is the set's
``runs["multimodal"]``. The pix2pix runs are the one given, else the set's (one per modality it
was filled in, :func:`~synth_core.synthesis.setstore.pix2pix_records`), else the newest finished
pix2pix run on the dataset; each scores the fill of its own modality. A run that is missing, fails to load or was
trained on another dataset fingerprint skips its metrics: those rows have ``value = NaN`` and the
reason in ``note``.

The pix2pix fill of real held-out lesions (``fill_*``) is scored twice: the usual way (peak 1,
:func:`~synth_core.evaluation.paired.paired_scores`) and as the liver paper reports it
(``fill_psnr_paper``, ``fill_ssim_paper``: peak 255 on [0, 1] images,
:func:`~synth_core.evaluation.paired.paper_scores`, whose docstring says why).

Judges (:mod:`synth_core.evaluation.judges`). Lesion validity (``seg_*``) and registration
(``reg_err``: per modality the mean over synthetic slices of the translator's registration error,
as the catalog's ``reg_err_<m>``) are scored by the segmenter run above and by a translator run (the
one given, else the multimodal run's registration helper), and, when the user names them, also by
independent judge runs (``judge_segmenter``, ``judge_translator``): runs trained separately, never
one of the generator's training helpers (refused in one line). Each such row's ``note`` opens with
who scored it: "scored by the training helper (circular)" or "scored by the independent judge".

Table columns: ``set, dataset, run`` (the set's multimodal run id; a pix2pix set's pix2pix run ids joined by ``+``), ``modality, metric, region``
(``"image"`` or ``"lesion"``), ``value, n`` (samples used), ``set_n`` (the set's size when
computed: a set grown since shows these rows as stale), ``extractor`` (the feature space or network behind the
value: ``own:<segmenter run>``, ``inception:<sha256 prefix>``, ``radiomics``, ``ms-ssim``, ``handmade``,
``segmenter:<run>``, ``translator:<run>``, ``multimodal:<run>``, ``pix2pix:<run>``), ``metric_version, created`` (UTC ISO
time) and ``note``. Saving replaces earlier rows with the same ``(dataset, extractor, metric,
modality, region)`` and earlier skipped rows (NaN) of a metric now computed; other rows are kept,
so FID in two feature spaces lives side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.dataset import SPLITS, Dataset
from synth_core.errors import ConfigError, InputError, SynthCoreError
from synth_core.evaluation.c2st import HAND_VIEW
from synth_core.evaluation.diversity import pairwise_ms_ssim
from synth_core.evaluation.distances import fid_from_features, kid_from_features
from synth_core.evaluation.features import EncoderFeatures, FeatureExtractor, load_inception
from synth_core.evaluation.judges import JUDGE, check_judge, role, role_note, training_helpers
from synth_core.evaluation.lesion_validity import segmenter_scores
from synth_core.evaluation.paired import fill_real_lesions, paired_scores, paper_scores, reconstruct_multimodal
from synth_core.evaluation.realism import (
    C2ST_METRICS,
    CONTROL_SPLIT,
    HELD_OUT_SPLITS,
    ViewFeatures,
    c2st_rows,
    prdc_rows,
    real_slices,
    realness_frame,
)
from synth_core.evaluation.table import (
    COLUMNS,
    EVALUATION_FILE,
    KEY,
    METRIC_HELP,
    METRIC_VERSIONS,
    load_evaluations,
    merge_evaluations,
    save_evaluation,
)
from synth_core.evaluation.texture import coherence, texture
from synth_core.synthesis.realness import write_realness
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["COLUMNS", "EVALUATION_FILE", "KEY", "METRIC_HELP", "METRIC_VERSIONS", "evaluate_set", "load_evaluations",
           "merge_evaluations", "save_evaluation"]

Progress = Callable[[float, str], None]


# ---- helpers -------------------------------------------------------------------------------------
def _workspace(ws: Workspace | str | Path) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws, create=False)


def _sample(idx: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64)
    if len(idx) > n:
        idx = np.sort(rng.choice(idx, n, replace=False))
    return idx


def _run_id(runs: dict[str, Any], stage: str) -> str:
    entry = runs.get(stage)
    if isinstance(entry, dict):
        return str(entry.get("run_id") or "")
    return str(entry or "")


def _which(entry: Any) -> str:
    """The checkpoint a provenance entry names (``best.pt`` -> ``best``), else ``last``."""
    name = str(entry.get("checkpoint", "")) if isinstance(entry, dict) else ""
    return "best" if name.startswith("best") else "last"


def _load(ws: Workspace, run_id: str, names: list[str] | None, stage: str, ds: Dataset, device: Any,
          which: str = "last"):
    """``(LoadedRun, "")`` or ``(None, why)`` — never raises for a user-level problem."""
    from synth_core.runs.loading import load_run

    try:
        run = load_run(ws, run_id, which=which, names=names, device=device)
    except SynthCoreError as err:
        return None, f"{stage} run {run_id!r} not usable: {err}"
    if run.stage != stage:
        return None, f"run {run_id!r} is a {run.stage!r} run, not a {stage!r} run"
    from synth_core.datalink import check_link, run_content

    try:
        check_link(ds, fingerprint=run.fingerprint, content=run_content(run.meta), what=f"{stage} run {run_id!r}",
                   dataset=str(getattr(run.config, "dataset", "") or ""))
    except SynthCoreError as err:
        return None, str(err)
    return run, ""


def _newest(ws: Workspace, stage: str, dataset: str) -> str:
    from synth_core.runs.loading import find_runs

    found = find_runs(ws, stage, dataset)
    return found[0] if found else ""


Row = dict[str, Any]


def metric_row(metric: str, modality: str, region: str, value: float, n: int, extractor: str, note: str = "") -> Row:
    """One row of a metric family (the table adds set, dataset, run, version and time)."""
    return {"metric": metric, "modality": modality, "region": region, "value": float(value), "n": int(n),
            "extractor": extractor, "note": note}


def skip_rows(metrics: list[str], modalities: list[str], region: str, extractor: str, why: str) -> list[Row]:
    """``NaN`` rows, with the reason in ``note``, for metrics that cannot be computed."""
    return [metric_row(metric, m, region, float("nan"), 0, extractor, why) for m in modalities for metric in metrics]


class _Table:
    def __init__(self, set_name: str, dataset: str, run: str, created: str, set_n: int):
        self.base = {"set": set_name, "dataset": dataset, "run": run, "created": created, "set_n": int(set_n)}
        self.rows: list[dict[str, Any]] = []

    def add(self, metric: str, modality: str, region: str, value: float, n: int, extractor: str, note: str = "") -> None:
        self.rows.append({**self.base, "modality": modality, "metric": metric, "region": region,
                          "value": float(value), "n": int(n), "extractor": extractor,
                          "metric_version": METRIC_VERSIONS[metric], "note": note})

    def skip(self, metrics: list[str], modalities: list[str], region: str, extractor: str, why: str) -> None:
        self.add_rows(skip_rows(metrics, modalities, region, extractor, why))

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Rows made by a metric family (``metric, modality, region, value, n, extractor, note``)."""
        for r in rows:
            self.add(r["metric"], r["modality"], r["region"], r["value"], r["n"], r["extractor"], r["note"])

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        return df.astype({"value": "float64", "n": "int64", "set_n": "Int64"})  # as stored


PRDC_METRICS = [f"prd_{k}{s}" for s in ("", "_control") for k in ("precision", "recall", "density", "coverage")]


def _realism(table: _Table, syn: SyntheticSet, ds: Dataset, syn_idx: np.ndarray, syn_img: np.ndarray, mods: list[str],
             fid_views: dict[str, tuple[FeatureExtractor, np.ndarray]], fid_skips: dict[str, tuple[str, str]], *,
             n_max: int, seed: int, created: str, say: Callable[[str], None], chans: list[int] | None = None) -> None:
    """The realism family (module docstring): C2ST and PRDC rows, and the realness side table.
    ``chans``: the dataset channels of the set's modalities (default all)."""
    from dataclasses import replace

    held = real_slices(ds, HELD_OUT_SPLITS, n_max, seed, stream=1)
    train = real_slices(ds, (CONTROL_SPLIT,), len(syn_idx), seed, stream=2)
    if chans is not None:
        held, train = replace(held, images=held.images[:, chans]), replace(train, images=train.images[:, chans])
    network: dict[str, ViewFeatures] = {}
    for c, m in enumerate(mods):
        if m in fid_views:
            ext, fs = fid_views[m]
            say(f"FID-view features of real held-out and training slices, {m}")
            network[m] = ViewFeatures(ext.name, ext(held.images[:, c : c + 1]), ext(train.images[:, c : c + 1]), fs)
    rows, tests = c2st_rows(held, train, syn_img, np.asarray(syn.structure[syn_idx]), mods, network=network,
                            seed=seed, progress=say)
    table.add_rows(rows)
    for m in mods:
        if m in network:
            table.add_rows(prdc_rows(network[m], m, held, train))
        else:
            ext_name, why = fid_skips.get(m, ("own", "no FID features"))
            table.skip([*C2ST_METRICS, *PRDC_METRICS], [m], "image", ext_name, why)
    if tests:
        say("per-sample realness")
        frame = realness_frame(syn, syn_idx, tests, mods)
        write_realness(syn.path, frame, {
            "view": HAND_VIEW, "classifier": "logistic regression (C2ST), out-of-fold probability of real",
            "seed": int(seed), "tested": int(len(syn_idx)), "samples": int(len(syn)), "real": held.describe(),
            "created": created})


def _judge_runs(ws: Workspace, runs: dict[str, Any], ds: Dataset, mods: list[str], *, segmenter_run: str | None,
                pix2pix_run: str | None, device: Any) -> tuple[tuple[Any, str], tuple[Any, str], list[tuple[Any, str]]]:
    """The multimodal and segmenter runs behind the metrics, each ``(LoadedRun, "")`` or ``(None,
    why)``, and the pix2pix runs as a list of such pairs (a set made by several pix2pix runs, one
    per modality, has them all; the module docstring says which runs are chosen). ``runs``: the
    set's provenance; checkpoints: the one it names (synthesis uses "best"), else "last"."""
    mm_id = _run_id(runs, "multimodal")
    mm_run, mm_note = None, "the set records no multimodal run"
    if mm_id:
        mm_run, mm_note = _load(ws, mm_id, ["G"], "multimodal", ds, device, _which(runs.get("multimodal")))
    seg_id, seg_entry = segmenter_run or "", None
    if not seg_id and _run_id(runs, "segmenter"):
        seg_id, seg_entry = _run_id(runs, "segmenter"), runs.get("segmenter")
    if not seg_id and mm_run is not None:
        helpers = mm_run.meta.get("helpers") or {}
        seg_id, seg_entry = _run_id(helpers, "segmenter"), helpers.get("segmenter")
    seg_id = seg_id or _newest(ws, "segmenter", ds.name)
    seg_run, seg_note = None, f"no segmenter run on dataset {ds.name!r} (train one, or pass a segmenter run)"
    if seg_id:
        seg_run, seg_note = _load(ws, seg_id, [f"seg_{m}" for m in mods], "segmenter", ds, device, _which(seg_entry))
    from synth_core.synthesis.setstore import pix2pix_records

    recorded = [(str(e.get("run_id") or ""), e) for e in pix2pix_records({"runs": runs, "modalities": mods}).values()]
    wanted = [(pix2pix_run, None)] if pix2pix_run else [r for r in recorded if r[0]]
    wanted = wanted or [(_newest(ws, "pix2pix", ds.name), None)]
    p2p = []
    for p2p_id, p2p_entry in wanted:
        if not p2p_id:
            p2p.append((None, f"no pix2pix run on dataset {ds.name!r}"))
            continue
        p2p.append(_load(ws, p2p_id, ["G"], "pix2pix", ds, device, _which(p2p_entry)))
    return (mm_run, mm_note), (seg_run, seg_note), p2p


# ---- the metric families (each on arrays; evaluate_set picks the inputs) ---------------------------
def frd_rows(real_img: np.ndarray, syn_img: np.ndarray, real_lab: np.ndarray, syn_lab: np.ndarray, mods: list[str],
             *, n_frd: int, seed: int, workers: int = 1,
             progress: Callable[[float, str], None] | None = None) -> list[Row]:
    """FRD (radiomics) per modality on whole slices (region ``image``) and on the lesion labels
    (``lesion``). ``real_img``/``syn_img (N, M, H, W)`` with channels in ``mods`` order, labels ``(N, H,
    W)``; at most ``n_frd`` slices per side. A side FRD refuses gives a NaN row with its message.
    ``progress(fraction, message)`` within the family."""
    from synth_core.evaluation.frd import frd as frd_fn

    rows = []
    for c, m in enumerate(mods):
        for r, region in enumerate(("image", "lesion")):
            if progress is not None:
                progress((2 * c + r) / (2 * len(mods)), f"FRD {m} {region}")
            masks = (real_lab, syn_lab) if region == "lesion" else (None, None)
            try:
                res = frd_fn(real_img[:, c], syn_img[:, c], real_masks=masks[0], synthetic_masks=masks[1],
                             n=n_frd, seed=seed, workers=workers)
            except SynthCoreError as err:
                rows.append(metric_row("frd", m, region, float("nan"), 0, "radiomics", str(err)))
                continue
            note = f"{res.n_real} real vs {res.n_synthetic} synthetic slices, {res.n_features} features"
            if res.dropped:
                note += f", {res.dropped} slice(s) refused by PyRadiomics"
            rows.append(metric_row("frd", m, region, res.value, res.n_synthetic, "radiomics", note))
    return rows


def fid_kid_rows(ext: FeatureExtractor, real: np.ndarray, syn: np.ndarray, modality: str, *, seed: int,
                 counts: str) -> tuple[list[Row], np.ndarray]:
    """FID, KID and KID's sd of one modality in the feature space of ``ext``: ``real``/``syn (N, 1,
    H, W)``. Returns the rows and the synthetic features (the realism family reuses them).
    ``counts`` opens each note."""
    fr, fs = ext(real), ext(syn)
    n_syn = len(syn)
    note = f"{counts}, {ext.dim}-d features"
    rows = []
    try:
        rows.append(metric_row("fid", modality, "image", fid_from_features(fr, fs), n_syn, ext.name, note))
    except (SynthCoreError, ValueError) as err:
        rows.append(metric_row("fid", modality, "image", float("nan"), 0, ext.name, str(err)))
    try:
        kid, kid_std, sub = kid_from_features(fr, fs, seed=seed)
        rows.append(metric_row("kid", modality, "image", kid, n_syn, ext.name, f"{note}, subsets of {sub}"))
        rows.append(metric_row("kid_std", modality, "image", kid_std, n_syn, ext.name, f"{note}, subsets of {sub}"))
    except ValueError as err:
        rows += skip_rows(["kid", "kid_std"], [modality], "image", ext.name, str(err))
    return rows, fs


def diversity_rows(real_img: np.ndarray, syn_img: np.ndarray, mods: list[str], *, n_pairs: int, seed: int,
                   split: str) -> list[Row]:
    """Mean pairwise MS-SSIM of ``n_pairs`` random pairs per modality, of the synthetic slices
    (``diversity_ms_ssim``) and of the real ones (``diversity_ms_ssim_real``); ``(N, M, H, W)``."""
    rows = []
    for c, m in enumerate(mods):
        for metric, imgs, what in (("diversity_ms_ssim", syn_img, f"{len(syn_img)} synthetic slices"),
                                   ("diversity_ms_ssim_real", real_img, f"{len(real_img)} real ({split}) slices")):
            try:
                v, k = pairwise_ms_ssim(imgs[:, c], n_pairs=n_pairs, seed=seed)
            except SynthCoreError as err:  # e.g. slices too small for MS-SSIM
                rows.append(metric_row(metric, m, "image", float("nan"), 0, "ms-ssim", str(err)))
                continue
            rows.append(metric_row(metric, m, "image", v, k, "ms-ssim",
                                   f"{k} pairs of {what}" if k else f"fewer than 2 {what}"))
    return rows


def texture_rows(real_img: np.ndarray, syn_img: np.ndarray, mods: list[str], *, split: str) -> list[Row]:
    """Per modality, the median fine texture and grain (:mod:`synth_core.evaluation.texture`) of the
    synthetic slices (``texture``, ``grain``) and of the real ones (``texture_real``, ``grain_real``);
    ``(N, M, H, W)``. NaN with the reason when no slice has a head to measure."""
    rows = []
    for c, m in enumerate(mods):
        for metric, fn, extractor in (("texture", texture, "laplacian"), ("grain", coherence, "coherence")):
            for name, imgs, what in ((metric, syn_img, "synthetic"), (f"{metric}_real", real_img, f"real ({split})")):
                v = fn(imgs[:, c])
                k = int(np.isfinite(v).sum())
                rows.append(metric_row(name, m, "image", float(np.nanmedian(v)) if k else float("nan"), k, extractor,
                                       f"median over {k} of {len(v)} {what} slices" if k else
                                       f"none of {len(v)} {what} slices has a head with fine detail to measure"))
    return rows


def lesion_validity_rows(nets: dict[str, Any], real_img: np.ndarray, real_lab: np.ndarray, syn_img: np.ndarray,
                         syn_lab: np.ndarray, mods: list[str], extractor: str) -> list[Row]:
    """Thesis Table 4: Dice and lesion-probability MSE of the frozen segmenter of each modality
    (``nets[m]``) on real and on synthetic slices with a lesion; ``(N, M, H, W)`` images."""
    rows = []
    for c, m in enumerate(mods):
        for side, imgs, labs in (("real", real_img[:, c], real_lab), ("synthetic", syn_img[:, c], syn_lab)):
            s = segmenter_scores(nets[m], imgs, labs)
            note = "" if s["n"] else f"no {side} slice with a lesion"
            rows.append(metric_row(f"seg_dice_{side}", m, "lesion", s["dice"], s["n"], extractor, note))
            rows.append(metric_row(f"seg_mse_{side}", m, "lesion", s["mse"], s["n"], extractor, note))
    return rows


def registration_rows(translator: Any, syn_img: np.ndarray, mods: list[str], extractor: str) -> list[Row]:
    """Registration consistency of the synthetic slices ``syn_img (N, M, H, W)`` (all the
    translator's modalities, in its order): per modality the mean over slices of the catalog's
    ``reg_err`` (:func:`~synth_core.synthesis.figures.registration_errors`; lower is better)."""
    from synth_core.synthesis.figures import registration_errors

    err = np.concatenate([registration_errors(translator, syn_img[s : s + 32]).numpy()
                          for s in range(0, len(syn_img), 32)]) if len(syn_img) else np.zeros((0, len(mods)))
    return [metric_row("reg_err", m, "image", float(err[:, c].mean()) if len(err) else float("nan"), len(err),
                       extractor, "" if len(err) else "no synthetic slice") for c, m in enumerate(mods)]


def labelled(rows: list[Row], who: str) -> list[Row]:
    """``rows`` with their notes opened by who scored them (:func:`~synth_core.evaluation.judges.role_note`)."""
    return [{**r, "note": role_note(who, r["note"])} for r in rows]


def _judges(ws: Workspace, ds: Dataset, mods: list[str], helpers: dict[str, dict[str, str]], set_name: str,
            given: dict[str, str | None], device: Any) -> dict[str, Any]:
    """The judge runs the user named (``stage -> run id``), loaded and checked: a run that cannot be
    used, or that is one of the set's training helpers, is refused in one line (before any slow work)."""
    names = {"segmenter": [f"seg_{m}" for m in mods], "translator": ["G_t"]}
    out = {}
    for stage, run_id in given.items():
        if not run_id:
            continue
        run, why = _load(ws, run_id, names[stage], stage, ds, device)
        if run is None:
            raise ConfigError(f"judge {stage}: {why}")
        check_judge(stage, run.run_id, run.sha256(), helpers, set_name)
        out[stage] = run
    return out


REC_METRICS = ["rec_psnr", "rec_ssim", "rec_ms_ssim", "rec_mse"]
FILL_METRICS = ["fill_psnr", "fill_ssim", "fill_ms_ssim", "fill_mse"]


def reconstruction_rows(rec: np.ndarray, real_img: np.ndarray, real_lab: np.ndarray, mods: list[str],
                        extractor: str) -> list[Row]:
    """Paired scores (PSNR, SSIM, MS-SSIM, MSE; whole slice and lesion box) of the multimodal
    generator's reconstructions ``rec (N, M, H, W)`` of the real slices ``real_img (N, M, H, W)``
    (channels in ``mods`` order)."""
    rows = []
    for c, m in enumerate(mods):
        try:
            scores = paired_scores(rec[:, c], real_img[:, c], real_lab)
        except SynthCoreError as err:  # e.g. slices too small for SSIM's 11-px window
            for region in ("image", "lesion"):
                rows += skip_rows(REC_METRICS, [m], region, extractor, str(err))
            continue
        for (name, region), (v, k) in scores.items():
            rows.append(metric_row(f"rec_{name}", m, region, v, k, extractor, "" if k else "no real slice with a lesion"))
    return rows


def fill_rows(G: Any, modality: str, real: np.ndarray, real_lab: np.ndarray, *, split: str,
              extractor: str) -> list[Row]:
    """The pix2pix fill of real lesions: ``G`` fills the whitened lesions of the real slices of
    ``modality`` that have one (``real (N, H, W)``, ``real_lab (N, H, W)``); paired scores of its raw
    output, and PSNR/SSIM in the liver paper's convention (peak 255 on [0, 1] images)."""
    has = (real_lab > 0).reshape(len(real_lab), -1).any(axis=1)
    if not has.any():
        return [row for region in ("image", "lesion")
                for row in skip_rows(FILL_METRICS, [modality], region, extractor, f"no real {split} slice with a lesion")]
    filled = fill_real_lesions(G, real[has], real_lab[has])
    try:
        scores = paired_scores(filled, real[has], real_lab[has])
    except SynthCoreError as err:
        return [row for region in ("image", "lesion")
                for row in skip_rows(FILL_METRICS, [modality], region, extractor, str(err))]
    note = f"{int(has.sum())} real {split} lesion slices"
    rows = [metric_row(f"fill_{name}", modality, region, v, k, extractor, note)
            for (name, region), (v, k) in scores.items()]
    for name, (v, k) in paper_scores(filled, real[has]).items():  # whole slices
        rows.append(metric_row(f"fill_{name}", modality, "image", v, k, extractor,
                               f"{note}; liver paper convention, = usual + 48.13 dB"))
    return rows


# ---- the evaluation -----------------------------------------------------------------------------
def evaluate_set(
    ws: Workspace | str | Path,
    set_name: str,
    real_dataset: str,
    *,
    features: str = "own",
    split: str = "test",
    n_frd: int = 64,
    n_pairs: int = 256,
    n_max: int = 500,
    seed: int = 0,
    segmenter_run: str | None = None,
    pix2pix_run: str | None = None,
    translator_run: str | None = None,
    judge_segmenter: str | None = None,
    judge_translator: str | None = None,
    frd: bool = True,
    frd_workers: int = 1,
    realism: bool = True,
    device: str = "cpu",
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Evaluate synthetic set ``set_name`` against dataset ``real_dataset`` (its ``split`` slices).

    Returns this evaluation's rows (columns :data:`COLUMNS`; skipped metrics have ``NaN`` and a
    ``note``) and merges them into the set's ``evaluation.parquet``. ``features``: ``"own"`` or
    the path of a local FID Inception weight file. ``n_frd``: slices per side for FRD (radiomics is
    slow: ~0.5 s per slice and region at 128 px); ``n_pairs``: random pairs for diversity;
    ``n_max``: cap on real and synthetic slices for everything else; ``seed`` fixes every sample,
    pair and noise draw. ``frd=False`` skips FRD (noted). ``realism=False`` skips the classifier
    two-sample test, PRDC and the realness side table (noted; an earlier realness table is kept).
    ``progress(fraction, message)`` is called as work proceeds.

    Judges (module docstring): ``judge_segmenter`` / ``judge_translator`` name segmenter and
    translator runs trained separately from the set's generator; lesion validity and registration
    are then scored by them as well as by the usual runs (``segmenter_run``, ``translator_run``:
    default the generator's helpers), each row's note saying which ("scored by the independent
    judge" or "scored by the training helper (circular)"). A judge that is one of the set's
    training helpers is refused.

    Raises (one-line messages): :class:`NotFoundError` for an unknown set or dataset,
    :class:`ConfigError` for a set made from another dataset (fingerprint mismatch), a bad split
    or bad counts, :class:`InputError` for a missing or invalid Inception file.
    """
    ws = _workspace(ws)
    syn = SyntheticSet(ws.existing("synthetic", set_name))
    ds = Dataset(ws.existing("datasets", real_dataset))
    from synth_core.datalink import check_set

    check_set(ds, syn.meta, f"set {set_name!r}")  # one line if it was made from another dataset
    if not syn.modalities or any(m not in ds.modalities for m in syn.modalities):
        raise ConfigError(f"set {set_name!r} has modalities {list(syn.modalities)} but dataset {ds.name!r} has "
                          f"{list(ds.modalities)}")
    # a set may hold some of the dataset's modalities (a pix2pix set: those its runs filled): compare channel by name
    chans = [ds.modalities.index(m) for m in syn.modalities]
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    for name, v, low in (("n_frd", n_frd, 2), ("n_pairs", n_pairs, 1), ("n_max", n_max, 2)):
        if int(v) < low:
            raise ConfigError(f"{name} must be >= {low}, not {v}")
    real_all = ds.split_indices(split)
    if len(real_all) == 0:
        raise ConfigError(f"dataset {ds.name!r} has no slices in the {split!r} split")
    extractor_in: FeatureExtractor | None = None
    if features != "own":
        extractor_in = load_inception(features, device=device)  # fails early, before any slow work

    report = progress or (lambda fraction, message: None)
    mods = list(syn.modalities)
    rng = np.random.default_rng(seed)
    real_idx = _sample(real_all, n_max, rng)
    syn_idx = _sample(np.arange(len(syn)), n_max, rng)
    real_img = np.asarray(ds.images[real_idx], dtype=np.float32)[:, chans]
    real_lab = np.asarray(ds.labels[real_idx])
    syn_img = np.asarray(syn.images[syn_idx], dtype=np.float32)
    syn_lab = np.asarray(syn.labels[syn_idx])
    n_real, n_syn = len(real_idx), len(syn_idx)
    counts = f"{n_real} real ({split}) vs {n_syn} synthetic slices"

    runs = syn.meta.get("runs") or {}
    mm_id = _run_id(runs, "multimodal")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    from synth_core.synthesis.setstore import pix2pix_records

    p2p_ids = "+".join(str(e.get("run_id") or "") for e in pix2pix_records(syn.meta).values())
    table = _Table(syn.name, ds.name, mm_id or p2p_ids, created, len(syn))
    steps = 8
    done = 0

    def step(message: str) -> None:
        nonlocal done
        report(min(done / steps, 1.0), message)
        done += 1

    # -- runs (module docstring: which networks) --------------------------------------------------
    (mm_run, mm_note), (seg_run, seg_note), p2p_runs = _judge_runs(
        ws, runs, ds, mods, segmenter_run=segmenter_run, pix2pix_run=pix2pix_run, device=device)
    # the generator's helpers; when its run cannot be read, the set's own segmenter/translator records
    # (plain synthesis scores its figures with the helpers), so an unknown network never passes as a judge
    helpers = training_helpers(mm_run.meta if mm_run is not None else {"helpers": runs} if mm_id else None)
    judges = _judges(ws, ds, mods, helpers, syn.name,
                     {"segmenter": judge_segmenter, "translator": judge_translator}, device)
    registered = len(mods) >= 2 and mods == list(ds.modalities)  # the translator renders dataset channels
    tr_run, tr_note = None, "the set's generator trained without a translator (pass a translator run)"
    tr_id = translator_run or helpers.get("translator", {}).get("run_id", "")
    if registered and tr_id:
        tr_run, tr_note = _load(ws, tr_id, ["G_t"], "translator", ds, device)

    # -- FRD --------------------------------------------------------------------------------------
    step("FRD (radiomics)")
    if not frd:
        for region in ("image", "lesion"):
            table.skip(["frd"], mods, region, "radiomics", "FRD switched off")
    else:
        table.add_rows(frd_rows(real_img, syn_img, real_lab, syn_lab, mods, n_frd=n_frd, seed=seed,
                                workers=frd_workers,
                                progress=lambda f, message: report((done - 1 + f) / steps, message)))

    # -- FID / KID --------------------------------------------------------------------------------
    step("FID and KID")
    fid_views: dict[str, tuple[FeatureExtractor, np.ndarray]] = {}  # per modality: extractor, synthetic features
    fid_skips: dict[str, tuple[str, str]] = {}  # per modality: extractor name, why there are no features
    for c, m in enumerate(mods):
        if extractor_in is not None:
            ext: FeatureExtractor | None = extractor_in
        elif seg_run is not None:
            ext = EncoderFeatures(seg_run.nets[f"seg_{m}"], name=f"own:{seg_run.run_id}")
        else:
            ext = None
        if ext is None:
            table.skip(["fid", "kid", "kid_std"], [m], "image", "own", f"own features need a segmenter run: {seg_note}")
            fid_skips[m] = ("own", f"own features need a segmenter run: {seg_note}")
            continue
        rows, fs = fid_kid_rows(ext, real_img[:, c : c + 1], syn_img[:, c : c + 1], m, seed=seed, counts=counts)
        table.add_rows(rows)
        fid_views[m] = (ext, fs)

    # -- realism: C2ST (two views) with control, PRDC with control, per-sample realness ------------
    step("realism (classifier two-sample test, PRDC)")
    if realism:
        _realism(table, syn, ds, syn_idx, syn_img, mods, fid_views, fid_skips, n_max=n_max, seed=seed,
                 created=created, say=lambda message: report((done - 1) / steps, message), chans=chans)
    else:
        why = "realism metrics switched off"
        table.skip(list(C2ST_METRICS), [*mods, "structure"], "image", "handmade", why)

    # -- diversity --------------------------------------------------------------------------------
    step("diversity (pairwise MS-SSIM), texture and grain")
    table.add_rows(diversity_rows(real_img, syn_img, mods, n_pairs=n_pairs, seed=seed, split=split))
    table.add_rows(texture_rows(real_img, syn_img, mods, split=split))

    # -- lesion validity (Table 4) ----------------------------------------------------------------
    step("lesion validity (frozen segmenters)")
    if seg_run is None:
        table.skip(["seg_dice_real", "seg_dice_synthetic", "seg_mse_real", "seg_mse_synthetic"], mods, "lesion",
                   "segmenter", seg_note)
    else:
        table.add_rows(labelled(lesion_validity_rows({m: seg_run.nets[f"seg_{m}"] for m in mods}, real_img, real_lab,
                                                     syn_img, syn_lab, mods, f"segmenter:{seg_run.run_id}"),
                                role(seg_run.run_id, seg_run.sha256(), helpers)))
    if "segmenter" in judges:
        judge = judges["segmenter"]
        table.add_rows(labelled(lesion_validity_rows({m: judge.nets[f"seg_{m}"] for m in mods}, real_img, real_lab,
                                                     syn_img, syn_lab, mods, f"segmenter:{judge.run_id}"), JUDGE))

    # -- registration (translators) ----------------------------------------------------------------
    step("registration (translators)")
    if not registered:
        table.skip(["reg_err"], mods, "image", "translator", "registration needs every modality of the dataset "
                                                             "(and at least two)")
    else:
        if tr_run is None:
            table.skip(["reg_err"], mods, "image", "translator", tr_note)
        else:
            table.add_rows(labelled(registration_rows(tr_run.nets["G_t"], syn_img, mods, f"translator:{tr_run.run_id}"),
                                    role(tr_run.run_id, tr_run.sha256(), helpers)))
        if "translator" in judges:
            judge = judges["translator"]
            table.add_rows(labelled(registration_rows(judge.nets["G_t"], syn_img, mods, f"translator:{judge.run_id}"),
                                    JUDGE))

    # -- paired reconstruction (a): multimodal G on real slices ----------------------------------
    step("multimodal reconstruction of real slices")
    if mm_run is None:
        for region in ("image", "lesion"):
            table.skip(REC_METRICS, mods, region, "multimodal", mm_note)
    else:
        cfg = mm_run.config
        rec = reconstruct_multimodal(
            mm_run.nets["G"], np.asarray(ds.structure[real_idx]), np.asarray(ds.masks[real_idx]), real_lab,
            n_modalities=len(ds.modalities), n_classes=max(ds.label_names) + 1,
            noise=(float(cfg.noise_low), float(cfg.noise_high)),
            noise_blur=float(getattr(cfg, "noise_blur", 0.0)), use_structure=bool(cfg.use_structure),
            noise_fusion=bool(cfg.noise_fusion), seed=seed)
        table.add_rows(reconstruction_rows(rec[:, chans], real_img, real_lab, mods, f"multimodal:{mm_run.run_id}"))

    # -- paired reconstruction (b): pix2pix fill of real lesions ---------------------------------
    step("pix2pix lesion fill of real slices")
    for p2p_run, p2p_note in p2p_runs:  # one per modality a pix2pix set was filled in
        if p2p_run is None:
            for region in ("image", "lesion"):
                table.skip(FILL_METRICS, [mods[0]], region, "pix2pix", p2p_note)
            continue
        pm = str(getattr(p2p_run.config, "modality", "") or mods[0])
        if pm not in mods:
            for region in ("image", "lesion"):
                table.skip(FILL_METRICS, [pm], region, f"pix2pix:{p2p_run.run_id}",
                           f"pix2pix modality {pm!r} is not in the set")
        else:
            table.add_rows(fill_rows(p2p_run.nets["G"], pm, real_img[:, mods.index(pm)], real_lab, split=split,
                                     extractor=f"pix2pix:{p2p_run.run_id}"))

    result = table.frame()
    report(1.0, "saving")
    save_evaluation(syn.path, result)
    return result
