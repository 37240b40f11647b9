"""Realism of the demo models, every figure beside its real-vs-real control, in one run (issue 12).

Workspace: a temporary one (or ``--workspace DIR``, reused) with the demo dataset
(``python -m synth_core demo-data``) and the demo runs installed from ``demo_assets/runs`` (or
``--runs DIR``, e.g. the ``--copy-to`` folder of ``python -m training demo``) with
``python -m training install-demo-runs``. It synthesises ``--n`` samples (default 256; ``--quick``
64) with the newest multimodal run (best checkpoint, augmented lesions, no per-sample figures) and
evaluates them with the product's own ``evaluate_set`` (FRD off there, ``n_max = n``), which gives
the classifier two-sample test (hand-made view and FID view, per modality and for the structure
maps) and precision/recall/density/coverage, each with its control. FID (in the evaluation's FID
feature space) and FRD (whole image, ``--n-frd`` slices per side) are computed here against the
same real slices of held-out subjects, and again for real slices of training subjects (the control);
so is the fine texture (:mod:`synth_core.evaluation.texture`: Laplacian spread over the head, as a
multiple of the held-out real slices') and its grain (orientation coherence of that detail, as a
multiple of real: above 1 = detail running in lines, edges or a ripple, where scans have noise).

Rows: ``value`` = synthetic vs real, ``reference`` = real vs real (training vs held-out subjects,
same counts), no ratio. Targets (issue 12): C2ST AUC <= 0.85 for every modality and <= 0.80 for
the structure maps. A later change that makes images worse shows up as a larger gap to the control.

Time: with ``--n 64 --n-frd 8`` on runs from ``python -m training demo --set steps=6 ...`` it took
55 min of wall time (under 2 min of CPU time: a niced run beside two training processes on the
2-core machine); FRD (radiomics, ~0.5 s per slice on a quiet core) and the synthesis dominate.

``--baseline DIR`` (e.g. the runs of an older commit, ``git archive d972ad6 demo_assets/runs | tar -x
-C /tmp/old``) also synthesises ``--n`` samples with those runs, in a workspace of their own with a
copy of the same dataset, and prints FID and FRD of both against the same held-out real slices in
one feature space — FID with the *candidate's* segmenter as the common extractor for both sets (each
run's own extractor would make the numbers incomparable), FRD on radiomics features that no model
shaped, and the fine texture and grain of both sets — with ``ratio = candidate / baseline`` (issue 12's target: at most 0.5), and the baseline's
hand-made C2ST beside the candidate's.

    python -m benchmarks quality [--quick]
    python -m benchmarks.bench_quality [--n 256] [--runs DIR] [--workspace DIR] [--n-frd 32] [--seed 0]
                                       [--baseline DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Row, install_demo, run_cli, scratch_workspace

ROOT = Path(__file__).resolve().parents[1]
SET = "bench-quality"
TARGETS = {"image": 0.85, "structure": 0.80}

_T0 = time.perf_counter()


def _log(msg: str) -> None:
    print(f"[quality {time.perf_counter() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def prepare(ws_root: Path, runs: Path, n: int, seed: int, *, dataset_from: Path | None = None) -> str:
    """Demo dataset + runs in ``ws_root`` and a fresh set of ``n`` samples; returns the multimodal run.
    ``dataset_from``: copy that workspace's demo dataset instead of building it (the same slices)."""
    from synth_core.cli import main as synth_main
    from synth_core.runs.loading import find_runs
    from synth_core.workspace import Workspace

    _log("demo dataset")
    install_demo(ws_root, runs, dataset_from=dataset_from)
    ws = Workspace.open(ws_root)
    found = find_runs(ws, "multimodal", "demo")
    if not found:
        raise RuntimeError(f"no finished multimodal run on dataset 'demo' in {runs} (or it was refused)")
    if (ws.synthetic / SET).exists():
        shutil.rmtree(ws.synthetic / SET)
    _log(f"synthesising {n} samples with {found[0]}")
    run_cli(synth_main, ["--workspace", ws_root, "synthesize", "--run", found[0], "--n", n, "--name", SET,
                      "--seed", seed, "--no-figures"])
    return found[0]


def measure(ws_root: Path, n: int, n_frd: int, seed: int) -> list[Row]:
    from synth_core.dataset import Dataset
    from synth_core.evaluation.distances import fid_from_features
    from synth_core.evaluation.evaluate import _run_id, _which, evaluate_set
    from synth_core.evaluation.features import EncoderFeatures
    from synth_core.evaluation.frd import frd
    from synth_core.evaluation.realism import CONTROL_SPLIT, HELD_OUT_SPLITS, real_slices
    from synth_core.evaluation.texture import coherence_ratio, texture_ratio
    from synth_core.synthesis.setstore import SyntheticSet
    from synth_core.workspace import Workspace
    from synth_core.runs.loading import load_run

    ws = Workspace.open(ws_root)
    _log("evaluate_set (C2ST, PRDC and the rest; FRD here below)")
    ev = evaluate_set(ws, SET, "demo", n_max=n, frd=False, n_pairs=16, seed=seed,
                      progress=lambda f, msg: _log(f"  evaluate {f * 100:5.1f} % {msg}"))
    ds = Dataset(ws.existing("datasets", "demo"))
    syn = SyntheticSet(ws.existing("synthetic", SET))
    mods = list(ds.modalities)
    rows: list[Row] = []

    def pair(metric: str, modality: str, extractor: str) -> tuple[float, float, int, str]:
        """(synthetic value, control value, synthetic count, note: why missing, else the control's sample)."""
        get = lambda m: ev[(ev.metric == m) & (ev.modality == modality) & (ev.extractor == extractor)]  # noqa: E731
        a, b = get(metric), get(f"{metric}_control")
        if a.empty or b.empty:
            return float("nan"), float("nan"), 0, "not computed"
        v, ref = float(a.value.iloc[0]), float(b.value.iloc[0])
        note = str(a.note.iloc[0]) if not np.isfinite(v) else str(b.note.iloc[0]).split(" vs ")[-1]
        return v, ref, int(a.n.iloc[0]), note

    views = ["handmade"] + sorted({e for e in ev[ev.metric == "c2st_auc"].extractor if e != "handmade"})
    for view in views:
        for m in [*mods, "structure"] if view == "handmade" else mods:
            v, ref, k, note = pair("c2st_auc", m, view)
            sd, ref_sd, _, _ = pair("c2st_auc_sd", m, view)
            limit = TARGETS["structure" if m == "structure" else "image"]
            ok = bool(v <= limit) if np.isfinite(v) else None
            rows.append(Row("quality", f"C2ST AUC {m} [{view}]", v, "AUC", ref, None, f"<= {limit:.2f}", ok,
                            f"{k} synthetic, sd {sd:.3f} over fold splits (control {ref_sd:.3f}); control: {note}"
                            if np.isfinite(v) else note))

    # FID and FRD, synthetic and control against the same held-out real slices
    held = real_slices(ds, HELD_OUT_SPLITS, n, seed, stream=1)
    train = real_slices(ds, (CONTROL_SPLIT,), min(n, len(syn)), seed, stream=2)
    syn_img = np.array(syn.images[: min(n, len(syn))], dtype=np.float32)  # a writable copy (torch wants one)
    own = [e for e in views if e.startswith("own:")]
    if own:  # the segmenter checkpoint evaluate_set used: the one the set's provenance names, else last
        runs = syn.meta.get("runs") or {}
        entry = runs.get("segmenter")
        if entry is None and runs.get("multimodal"):
            mm = load_run(ws, _run_id(runs, "multimodal"), which=_which(runs["multimodal"]), names=["G"])
            entry = (mm.meta.get("helpers") or {}).get("segmenter")
        run = load_run(ws, own[0].split(":", 1)[1], which=_which(entry), names=[f"seg_{m}" for m in mods])
    for c, m in enumerate(mods):
        if own:
            ext = EncoderFeatures(run.nets[f"seg_{m}"], name=own[0])
            fh = ext(held.images[:, c : c + 1])
            fid = fid_from_features(fh, ext(syn_img[:, c : c + 1]))
            ctl = fid_from_features(fh, ext(train.images[:, c : c + 1]))
            rows.append(Row("quality", f"FID {m} [{own[0]}]", fid, "", ctl, None, "", None,
                            f"{held.describe()} vs {len(syn_img)} synthetic / {train.describe()}"))
        _log(f"FRD {m} ({n_frd} slices per side, twice)")
        a = frd(held.images[:, c], syn_img[:, c], n=n_frd, seed=seed)
        b = frd(held.images[:, c], train.images[:, c], n=n_frd, seed=seed)
        rows.append(Row("quality", f"FRD {m} [radiomics]", a.value, "", b.value, None, "", None,
                        f"{a.n_real} held-out real vs {a.n_synthetic} synthetic / {b.n_synthetic} train real"))
    for c, m in enumerate(mods):  # fine texture (Laplacian), 1 = as much as the held-out real slices
        rows.append(Row("quality", f"texture {m} [laplacian]", texture_ratio(syn_img[:, c], held.images[:, c]),
                        "x real", texture_ratio(train.images[:, c], held.images[:, c]), None, "", None,
                        f"median over {len(syn_img)} synthetic / {len(train)} train real, / {held.describe()}"))
    for c, m in enumerate(mods):  # is that detail noise-like, as in scans? 1 = as real
        rows.append(Row("quality", f"grain {m} [coherence]", coherence_ratio(syn_img[:, c], held.images[:, c]),
                        "x real", coherence_ratio(train.images[:, c], held.images[:, c]), None, "", None,
                        f"median over {len(syn_img)} synthetic / {len(train)} train real, / {held.describe()}"))
    for m in mods:
        for k in ("precision", "recall", "density", "coverage"):
            view = own[0] if own else "own"
            v, ref, cnt, note = pair(f"prd_{k}", m, view)
            rows.append(Row("quality", f"PRDC {k} {m} [{view}]", v, "", ref, None, "", None,
                            f"{cnt} synthetic; control: {note}" if np.isfinite(v) else note))
    return rows


def baseline_rows(ws_root: Path, base_root: Path, n: int, n_frd: int, seed: int) -> list[Row]:
    """The candidate (``ws_root``'s set) against the baseline (``base_root``'s set): FID in one feature
    space (the candidate's segmenter) and FRD, both against the same held-out real slices, ratio =
    candidate / baseline; and the baseline's hand-made C2ST beside the candidate's."""
    from synth_core.dataset import Dataset
    from synth_core.evaluation.c2st import HAND_VIEW_GROUPS, c2st, handmade_features
    from synth_core.evaluation.distances import fid_from_features
    from synth_core.evaluation.features import EncoderFeatures
    from synth_core.evaluation.frd import frd
    from synth_core.evaluation.realism import HELD_OUT_SPLITS, real_slices
    from synth_core.evaluation.texture import coherence_ratio, texture_ratio
    from synth_core.synthesis.setstore import SyntheticSet
    from synth_core.workspace import Workspace
    from synth_core.runs.loading import find_runs, load_run

    ws, base_ws = Workspace.open(ws_root), Workspace.open(base_root)
    ds = Dataset(ws.existing("datasets", "demo"))
    mods = list(ds.modalities)
    held = real_slices(ds, HELD_OUT_SPLITS, n, seed, stream=1)
    sets = {"candidate": SyntheticSet(ws.existing("synthetic", SET)), "baseline": SyntheticSet(base_ws.existing("synthetic", SET))}
    imgs = {k: np.array(v.images[: min(n, len(v))], dtype=np.float32) for k, v in sets.items()}
    seg = find_runs(ws, "segmenter", "demo")
    if not seg:
        raise RuntimeError(f"no finished segmenter run in {ws_root}: no common FID extractor")
    run = load_run(ws, seg[0], names=[f"seg_{m}" for m in mods])
    view = f"candidate:{seg[0]}"
    rows: list[Row] = []
    for c, m in enumerate(mods):
        ext = EncoderFeatures(run.nets[f"seg_{m}"], name=view)
        fh = ext(held.images[:, c : c + 1])
        fid = {k: fid_from_features(fh, ext(v[:, c : c + 1])) for k, v in imgs.items()}
        rows.append(Row("quality", f"FID {m} vs baseline [{view}]", fid["candidate"], "", fid["baseline"],
                        fid["candidate"] / fid["baseline"], "ratio <= 0.50", bool(fid["candidate"] <= 0.5 * fid["baseline"]),
                        f"{held.describe()} vs {len(imgs['candidate'])} candidate / {len(imgs['baseline'])} baseline"))
        _log(f"FRD {m} vs baseline ({n_frd} slices per side, twice)")
        a = frd(held.images[:, c], imgs["candidate"][:, c], n=n_frd, seed=seed)
        b = frd(held.images[:, c], imgs["baseline"][:, c], n=n_frd, seed=seed)
        rows.append(Row("quality", f"FRD {m} vs baseline [radiomics]", a.value, "", b.value, a.value / b.value,
                        "ratio <= 0.50", bool(a.value <= 0.5 * b.value),
                        f"{a.n_real} held-out real vs {a.n_synthetic} candidate / {b.n_synthetic} baseline"))
    for c, m in enumerate(mods):
        tex = {k: texture_ratio(v[:, c], held.images[:, c]) for k, v in imgs.items()}
        rows.append(Row("quality", f"texture {m} vs baseline [laplacian]", tex["candidate"], "x real",
                        tex["baseline"], None, "", None, "candidate beside baseline, / the same held-out real slices"))
        coh = {k: coherence_ratio(v[:, c], held.images[:, c]) for k, v in imgs.items()}
        rows.append(Row("quality", f"grain {m} vs baseline [coherence]", coh["candidate"], "x real",
                        coh["baseline"], None, "", None, "candidate beside baseline, / the same held-out real slices"))
    for c, m in enumerate(mods):
        fh = handmade_features(held.images[:, c])
        res = {k: c2st(fh, handmade_features(v[:, c]), held.groups, seed=seed, feature_groups=HAND_VIEW_GROUPS)
               for k, v in imgs.items()}
        rows.append(Row("quality", f"C2ST AUC {m} vs baseline [handmade]", res["candidate"].auc, "AUC",
                        res["baseline"].auc, None, "", None,
                        f"candidate beside baseline, same held-out real slices; sd over fold splits "
                        f"{res['candidate'].auc_sd:.3f} / {res['baseline'].auc_sd:.3f}"))
    return rows


def run(quick: bool, *, n: int | None = None, runs: Path | None = None, workspace: Path | None = None,
        n_frd: int | None = None, seed: int = 0, baseline: Path | None = None) -> list[Row]:
    n = n or (64 if quick else 256)
    n_frd = n_frd or (16 if quick else 32)
    runs = Path(runs) if runs else ROOT / "demo_assets" / "runs"
    with scratch_workspace(workspace, "bench-quality-") as ws_root:
        prepare(ws_root, runs, n, seed)
        rows = measure(ws_root, n, n_frd, seed)
        if baseline is not None:
            base_ws = ws_root.parent / f"{ws_root.name}-baseline"
            prepare(base_ws, Path(baseline), n, seed, dataset_from=ws_root)
            rows += baseline_rows(ws_root, base_ws, n, n_frd, seed)
        return rows


def main(argv: list[str] | None = None) -> int:
    from benchmarks.__main__ import print_table

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256, help="synthetic samples (and at most this many real per side; "
                                                       "default 256)")
    ap.add_argument("--runs", type=Path, default=None, help="folder of runs to install (default demo_assets/runs)")
    ap.add_argument("--workspace", type=Path, default=None, help="use (and keep) this workspace instead of a "
                                                                 "temporary one; an existing demo dataset is reused")
    ap.add_argument("--n-frd", type=int, default=32, help="slices per side for FRD (default 32; ~0.5 s each)")
    ap.add_argument("--seed", type=int, default=0, help="synthesis and evaluation seed (default 0)")
    ap.add_argument("--baseline", type=Path, default=None, help="folder of older runs to compare with (FID in one "
                                                                "feature space, FRD, C2ST; ratio = candidate / baseline)")
    args = ap.parse_args(argv)
    print_table(run(False, n=args.n, runs=args.runs, workspace=args.workspace, n_frd=args.n_frd, seed=args.seed,
                    baseline=args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
