"""What the report shows, read from the workspace: which sets and datasets, sample pictures,
evaluation rows, experiments, reader studies and training curves.

Only tables and arrays are read here (no networks are run). Privacy: nothing that names a
patient leaves this module — no case id, slice reference or source path (the dataset index and
the reader-study key hold them); reader names are replaced by "Reader 1, 2, ..."; free text from
stored tables (evaluation notes) passes :func:`scrub`, which removes file paths.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.errors import ConfigError, InputError, SynthCoreError
from synth_core.render import DisplayWindow, grid, overlay, png_bytes, to_uint8, upscale
from synth_core.workspace import Workspace, validate_name

#: tiles per sample grid
SAMPLES = 6
#: small images are enlarged (nearest neighbour) to at least this many pixels per tile
MIN_TILE = 96
#: losses drawn per stage (the first ones present in the run's metrics log are used)
MAIN_LOSSES = {
    "structure": ("mask", "rec_mse", "g_total", "d_s"),
    "segmenter": ("loss",),
    "translator": ("cycle", "g_total", "d_total"),
    "multimodal": ("pre_total", "g_total", "d_total", "les"),
    "pix2pix": ("g_l1", "g_total", "d_total"),
}
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/(),;]+){2,}[\\/]?")


def scrub(text: Any, ws: Workspace | None = None) -> str:
    """``text`` without file paths (a workspace path becomes ``workspace/...``, any other path
    ``[path]``): stored notes may hold folder names that identify users or patients."""
    s = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    if ws is not None:
        s = s.replace(str(ws.root), "workspace")
    return _PATH.sub("[path]", s)


# ---- selection --------------------------------------------------------------------------------
@dataclass
class SetInfo:
    """One synthetic set as the report needs it (no arrays kept open)."""

    name: str
    dataset: str
    fingerprint: str
    modalities: tuple[str, ...]
    n: int
    meta: dict[str, Any]

    @property
    def on_real_slices(self) -> bool:
        """Samples are real training slices with a painted lesion (pix2pix): patient images."""
        from synth_core.synthesis.setstore import on_real_slices

        return on_real_slices(self.meta)


@dataclass
class Selection:
    sets: list[SetInfo]
    datasets: list[str]
    problems: list[str] = field(default_factory=list)  # sets that could not be read


def select(ws: Workspace, sets: list[str] | None, dataset: str | None) -> Selection:
    """The sets and datasets the report covers.

    ``sets`` (names; each must exist) or every readable set of the workspace; with ``dataset``
    (must exist) only the sets made from it. Datasets: ``dataset``, else those of the sets, else
    every dataset of the workspace."""
    from synth_core.synthesis.setstore import SyntheticSet

    if dataset:
        ws.existing("datasets", validate_name(dataset, "dataset name"))
    names = list(dict.fromkeys(sets)) if sets else ws.list("synthetic")
    out: list[SetInfo] = []
    problems: list[str] = []
    for name in names:
        if sets:
            path = ws.existing("synthetic", name)
        else:
            path = ws.synthetic / name
        try:
            s = SyntheticSet(path)
            info = SetInfo(s.name, s.dataset, s.fingerprint, s.modalities, len(s), s.meta)
        except SynthCoreError as err:
            if sets:
                raise
            problems.append(f"set {name}: {scrub(err, ws)}")
            continue
        if dataset and info.dataset != dataset:
            if sets:
                raise ConfigError(f"set {name!r} was made from dataset {info.dataset!r}, not {dataset!r}")
            continue
        out.append(info)
    if dataset:
        datasets = [dataset]
    elif out:
        datasets = list(dict.fromkeys(s.dataset for s in out))
    else:
        datasets = ws.list("datasets")
    return Selection(out, datasets, problems)


# ---- pictures ---------------------------------------------------------------------------------
def _pick(candidates: np.ndarray, preferred: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` of ``candidates`` (seeded), taken from ``preferred`` first; sorted."""
    rng = np.random.default_rng(seed)
    pref = np.asarray(preferred, dtype=np.int64)
    rest = np.setdiff1d(np.asarray(candidates, dtype=np.int64), pref)
    take = rng.permutation(pref)[:k]
    if len(take) < k:
        take = np.concatenate([take, rng.permutation(rest)[: k - len(take)]])
    return np.sort(take.astype(np.int64))


def sample_sheet(images: np.ndarray, labels: np.ndarray, masks: np.ndarray | None,
                 window: DisplayWindow | None = None) -> bytes:
    """PNG of a contact sheet: one row per modality of ``images (K, M, H, W)``, then a row with the
    lesion label (coloured) and organ outline on the first modality; one column per sample."""
    k, m, h, _ = images.shape
    factor = max(1, math.ceil(MIN_TILE / h))
    tiles = [upscale(to_uint8(images[i, c], window), factor) for c in range(m) for i in range(k)]
    tiles += [upscale(overlay(images[i, 0], labels[i], mask=None if masks is None else masks[i], window=window),
                      factor) for i in range(k)]
    return png_bytes(grid(tiles, columns=k, pad=3, fill=255))


def real_sheet(ws: Workspace, dataset: str, k: int = SAMPLES, seed: int = 0) -> tuple[bytes | None, str]:
    """Sheet of ``k`` real slices from the test split (val if the test split is empty), lesion
    slices first; ``(png, which split)`` or ``(None, why)``. No identifiers are returned."""
    from synth_core.dataset import Dataset

    try:
        ds = Dataset(ws.existing("datasets", dataset))
    except SynthCoreError as err:
        return None, scrub(err, ws)
    for split in ("test", "val"):
        rows = ds.split_indices(split)
        if len(rows):
            break
    else:
        return None, f"dataset {dataset} has no test or validation slices"
    lesion = rows[ds.index["lesion_pixels"].to_numpy()[rows] > 0]
    pick = _pick(rows, lesion, k, seed)
    return sample_sheet(np.asarray(ds.images[pick]), np.asarray(ds.labels[pick]), np.asarray(ds.masks[pick])), split


def set_sheet(ws: Workspace, name: str, k: int = SAMPLES, seed: int = 0) -> tuple[bytes | None, int]:
    """Sheet of ``k`` samples of set ``name``, samples with a lesion first, never a sample whose
    latest review decision is ``rejected`` (the catalog's ``review`` column, as for export).
    ``(png, how many rejected samples were left out)``; png is None when the set cannot be read
    (0 left out) or when every sample was rejected."""
    from synth_core.synthesis.setstore import SyntheticSet

    try:
        s = SyntheticSet(ws.existing("synthetic", name))
        cat = s.catalog
    except SynthCoreError:
        return None, 0
    idx = np.arange(len(s))
    has = cat["has_lesion"].astype(bool).to_numpy() if "has_lesion" in cat else np.asarray(s.labels).reshape(len(s), -1).any(1)
    ok = (cat["review"].astype(str) != "rejected").to_numpy() if "review" in cat else np.ones(len(s), bool)
    if not ok.any():
        return None, len(s)
    pick = _pick(idx[ok], idx[ok & has], k, seed)
    return (sample_sheet(np.asarray(s.images[pick]), np.asarray(s.labels[pick]), np.asarray(s.masks[pick])),
            int((~ok).sum()))


def label_legend(ws: Workspace, dataset: str) -> list[tuple[str, tuple[int, int, int]]]:
    """(class name, overlay colour) of the dataset's lesion classes."""
    from synth_core.render import LABEL_COLOURS

    try:
        info = json.loads((ws.datasets / dataset / "dataset.json").read_text())
        names = {int(k): str(v) for k, v in info["spec"]["label_names"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [(n, tuple(int(c) for c in LABEL_COLOURS[min(v, len(LABEL_COLOURS) - 1)]))
            for v, n in sorted(names.items()) if v > 0]


# ---- tables -----------------------------------------------------------------------------------
def evaluations(ws: Workspace, sets: list[str]) -> pd.DataFrame:
    """The saved evaluation rows of ``sets`` (``synth_core.evaluation.table.load_evaluations``)."""
    from synth_core.evaluation.table import load_evaluations

    ev = load_evaluations(ws)
    return ev[ev["set"].isin(sets)].reset_index(drop=True)


def metric_help() -> dict[str, str]:
    from synth_core.evaluation.table import METRIC_HELP

    return dict(METRIC_HELP)


def usability(ws: Workspace, datasets: list[str],
              sets: list[str] | None) -> list[tuple[str, dict, pd.DataFrame, pd.DataFrame]]:
    """``(name, config, summary, per_seed)`` of the usability experiments on ``datasets`` (and ``sets``)."""
    from synth_core.experiments.results import list_experiments, load_experiment

    out = []
    for name in list_experiments(ws):
        try:
            config, summary, per_seed = load_experiment(ws, name)
        except SynthCoreError:
            continue
        if config.get("dataset") in datasets and (sets is None or config.get("set") in sets):
            out.append((name, config, summary, per_seed))
    return out


def ablations(ws: Workspace, datasets: list[str]) -> list[tuple[str, dict, pd.DataFrame]]:
    """``(name, config, summary)`` of the ablation experiments on ``datasets``."""
    from synth_core.experiments.ablation import load_ablation
    from synth_core.experiments.results import list_experiments

    out = []
    for name in list_experiments(ws, "ablation"):
        try:
            config, summary = load_ablation(ws, name)
        except SynthCoreError:
            continue
        if config.get("dataset") in datasets:
            out.append((name, config, summary))
    return out


@dataclass
class StudySummary:
    name: str
    meta: dict[str, Any]  # dataset, set, modality, split, counts (no item list, no key)
    overall: dict[str, Any]
    readers: pd.DataFrame  # reader ("Reader 1", ...), n_answered, accuracy, sensitivity, specificity, auc
    kappa: pd.DataFrame  # reader_a, reader_b, n_common, kappa


def reader_studies(ws: Workspace, datasets: list[str], sets: list[str] | None) -> list[StudySummary]:
    """Scored reader studies on ``datasets`` (and ``sets``), readers anonymised."""
    from synth_core.readerstudy import list_studies, results

    out = []
    for name in list_studies(ws):
        try:
            res = results(ws, name)
        except SynthCoreError:
            continue
        meta = {k: res.study.get(k) for k in ("dataset", "set", "modality", "split", "n_real", "n_synthetic",
                                              "created")}
        if meta["dataset"] not in datasets or (sets is not None and meta["set"] not in sets):
            continue
        alias = {r: f"Reader {i + 1}" for i, r in enumerate(res.raters["rater"])}
        readers = res.raters.assign(rater=res.raters["rater"].map(alias)).rename(columns={"rater": "reader"})
        kappa = res.kappa.assign(rater_a=res.kappa["rater_a"].map(alias), rater_b=res.kappa["rater_b"].map(alias))
        kappa = kappa.rename(columns={"rater_a": "reader_a", "rater_b": "reader_b"})
        out.append(StudySummary(name, meta, dict(res.overall), readers, kappa))
    return out


@dataclass
class RunCurves:
    run: str
    stage: str
    steps: int
    state: str
    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # loss -> (steps, values)


def run_ids_of(sets: list[SetInfo]) -> list[str]:
    """The runs the sets were made with (multimodal, structure, then the helpers), unique."""
    order = ("multimodal", "structure", "segmenter", "translator", "pix2pix")
    out: list[str] = []
    for s in sets:
        runs = s.meta.get("runs") or {}
        painted = sorted(k for k in runs if k.startswith("pix2pix:"))  # a set filled by one pix2pix run per modality
        for stage in (*order, *painted):
            entry = runs.get(stage)
            rid = entry.get("run_id") if isinstance(entry, dict) else entry
            if rid and rid not in out:
                out.append(str(rid))
    return out


def run_curves(ws: Workspace, run_ids: list[str]) -> tuple[list[RunCurves], list[str]]:
    """Main losses of each run (from ``metrics.jsonl``); ``(curves, run ids not found)``."""
    from synth_core.runs.folder import RunDir

    found, missing = [], []
    for rid in run_ids:
        run = RunDir(ws.runs / rid)
        try:
            config = run.read_config()
        except (OSError, ValueError):
            missing.append(rid)
            continue
        status = run.read_status()
        stage = str(config.get("stage", "?"))
        rows = run.read_metrics()
        df = pd.DataFrame(rows)
        names = [n for n in MAIN_LOSSES.get(stage, ()) if n in df]
        if not names:
            names = [n for n in config.get("loss_names", []) if n in df][:3]
        curves = {}
        for n in names:
            sub = df[["step", n]].dropna() if "step" in df else pd.DataFrame(columns=["step", n])
            curves[n] = (sub["step"].to_numpy(dtype=float), sub[n].to_numpy(dtype=float))
        found.append(RunCurves(rid, stage, int(status.get("step") or (df["step"].max() if "step" in df else 0) or 0),
                               str(status.get("state", "?")), curves))
    return found, missing


def set_provenance(s: SetInfo) -> list[tuple[str, str]]:
    """``(what, value)`` lines describing how a set was made (run ids, checkpoints, options)."""
    lines = []
    for stage, entry in (s.meta.get("runs") or {}).items():
        if isinstance(entry, dict):
            sha = str(entry.get("sha256", ""))[:12]
            lines.append((f"{stage} run", f"{entry.get('run_id')} ({entry.get('checkpoint', '?')}, step "
                                          f"{entry.get('step', '?')}{', sha256 ' + sha if sha else ''})"))
    opts = s.meta.get("options") or {}
    les = opts.get("lesions")
    lines.append(("samples / seed", f"{s.n} / {opts.get('seed', '?')}"))
    if isinstance(les, dict):
        lines.append(("lesions", f"{les.get('mode', '?')} (mask filter {'on' if les.get('mask_filter', True) else 'off'})"))
    elif les:
        lines.append(("lesions", str(les)))
    return lines


def dataset_facts(ws: Workspace, dataset: str) -> dict[str, Any]:
    """Counts and settings of a dataset (no identifiers)."""
    try:
        info = json.loads((ws.datasets / dataset / "dataset.json").read_text())
    except (OSError, ValueError):
        return {}
    spec = info.get("spec", {})
    return {"kind": spec.get("kind"), "modalities": list(spec.get("modalities", [])), "size": spec.get("size"),
            "cases": info.get("n_cases"), "slices": info.get("n_slices")}


def ensure_dir_for(out: Path) -> None:
    """Refuse an output path whose folder does not exist or that is a folder itself."""
    if out.is_dir():
        raise InputError(out, "is a folder; give a file name such as report.html")
    if not out.parent.is_dir():
        raise InputError(out.parent, "folder does not exist; create it first or choose another --out")

