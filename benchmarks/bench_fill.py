"""How well a pix2pix run fills a whitened lesion (issue 14), measured on held-out real lesions.

The candidate runs (``--runs DIR``, default ``demo_assets/runs``; or ``--workspace DIR`` whose runs
are used as they are) and, with ``--baseline DIR`` (e.g. ``git archive <commit> demo_assets/runs |
tar -x -C /tmp/old``), an older set of runs in a workspace of their own with a copy of the same
dataset. The newest finished pix2pix run of each fills the whitened lesions of the same ``--n``
real slices with a lesion of the held-out ``--split`` (default test: subjects no run trained on),
in its own modality, and is scored against the original slices:

- the paper's view: PSNR and SSIM of the raw output (``composite=False``) over the whole slice and
  within the lesion's bounding box (:func:`synth_core.whitening.lesion_box`), and the mean absolute
  error over the lesion pixels;
- what a reader sees: per lesion class (necrotic core, oedema, enhancing rim on BraTS-like labels),
  the **contrast** of the fill — its mean over that class's pixels minus the mean of the organ
  within 3 px around the whole lesion — beside the same contrast of the real slices (the
  ``reference`` column), and the mean absolute error of that class's mean intensity. A fill that
  blends in as tissue has contrasts near 0 whatever the real lesion looks like.

Rows: ``value`` = the candidate; ``reference`` = the real slices (contrasts) or the baseline run
(with ``--baseline``); no ratio, no target. Time: about a minute on the demo (128 px, 120 slices).

    python -m benchmarks fill [--quick]
    python -m benchmarks.bench_fill [--n 120] [--split test] [--runs DIR] [--workspace DIR] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import Row, install_demo, scratch_workspace

ROOT = Path(__file__).resolve().parents[1]
RING = 3  # px of organ around the lesion that a fill's contrast is measured against


def prepare(ws_root: Path, runs: Path | None, *, dataset_from: Path | None = None) -> str:
    """The demo dataset (copied from ``dataset_from`` when given) and ``runs`` installed in
    ``ws_root``; returns the newest finished pix2pix run there."""
    from synth_core.runs.loading import find_runs
    from synth_core.workspace import Workspace

    install_demo(ws_root, runs, dataset_from=dataset_from)
    found = find_runs(Workspace.open(ws_root), "pix2pix", "demo")
    if not found:
        raise RuntimeError(f"no finished pix2pix run on dataset 'demo' in {ws_root}")
    return found[0]


def held_out_lesions(ws_root: Path, split: str, n: int, seed: int) -> tuple[Any, np.ndarray]:
    """The dataset and up to ``n`` rows of ``split`` with a lesion (evenly chosen by ``seed``, sorted)."""
    from synth_core.dataset import Dataset
    from synth_core.workspace import Workspace

    ds = Dataset(Workspace.open(ws_root).existing("datasets", "demo"))
    rows = ds.split_indices(split)
    rows = rows[ds.index["lesion_pixels"].to_numpy()[rows] > 0]
    if len(rows) == 0:
        raise RuntimeError(f"no {split} slice with a lesion in the demo dataset")
    if len(rows) > n:
        rows = np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))
    return ds, rows


def fill_scores(ws_root: Path, run_id: str, ds: Any, rows: np.ndarray) -> tuple[str, dict[str, float], dict[str, float]]:
    """(modality, scores of the run's fill, the same contrasts of the real slices) on ``rows``."""
    from scipy import ndimage

    from synth_core.evaluation.paired import fill_real_lesions
    from synth_core.metrics import psnr, ssim
    from synth_core.runs.loading import load_run
    from synth_core.whitening import lesion_box
    from synth_core.workspace import Workspace

    run = load_run(Workspace.open(ws_root), run_id, names=["G"])
    modality = str(getattr(run.config, "modality", "") or "") or ds.modalities[0]
    c = list(ds.modalities).index(modality)
    real = np.stack([np.asarray(ds.images[r], dtype=np.float32)[c] for r in rows])
    labels = np.stack([np.asarray(ds.labels[r]) for r in rows]).astype(np.int64)
    organs = np.stack([np.asarray(ds.masks[r]) for r in rows]) > 0
    filled = fill_real_lesions(run.nets["G"], real, labels)
    acc: dict[str, list[float]] = {}
    ref: dict[str, list[float]] = {}
    for g, o, lab, organ in zip(filled, real, labels, organs):
        lesion = lab > 0
        box = lesion_box(lab)
        acc.setdefault("PSNR whole slice (dB)", []).append(min(float(psnr(g, o)), 100.0))
        acc.setdefault("SSIM whole slice", []).append(float(ssim(g, o)))
        acc.setdefault("PSNR lesion box (dB)", []).append(min(float(psnr(g[box], o[box])), 100.0))
        acc.setdefault("SSIM lesion box", []).append(float(ssim(g[box], o[box])))
        acc.setdefault("L1 over lesion pixels", []).append(float(np.abs(g - o)[lesion].mean()))
        ring = ndimage.binary_dilation(lesion, iterations=RING) & ~lesion & organ
        if not ring.any():
            continue
        for k in sorted(set(np.unique(lab)) - {0}):
            name = ds.spec.label_names.get(int(k), str(k))
            sel = lab == k
            acc.setdefault(f"contrast {name}", []).append(float(g[sel].mean() - g[ring].mean()))
            ref.setdefault(f"contrast {name}", []).append(float(o[sel].mean() - o[ring].mean()))
            acc.setdefault(f"|mean error| {name}", []).append(abs(float(g[sel].mean() - o[sel].mean())))
    return modality, {k: float(np.mean(v)) for k, v in acc.items()}, {k: float(np.mean(v)) for k, v in ref.items()}


def run(quick: bool, *, n: int | None = None, split: str = "test", runs: Path | None = None,
        workspace: Path | None = None, baseline: Path | None = None, seed: int = 0) -> list[Row]:
    n = n or (32 if quick else 120)
    if workspace is None:
        runs = Path(runs) if runs else ROOT / "demo_assets" / "runs"
    with scratch_workspace(workspace, "bench-fill-") as ws_root:
        cand = prepare(ws_root, runs)
        ds, rows = held_out_lesions(ws_root, split, n, seed)
        mod, score, real = fill_scores(ws_root, cand, ds, rows)
        base: dict[str, float] = {}
        if baseline is not None:
            base_ws = ws_root.parent / f"{ws_root.name}-fill-baseline"
            base_run = prepare(base_ws, Path(baseline), dataset_from=ws_root)
            base_mod, base, _ = fill_scores(base_ws, base_run, ds, rows)
            if base_mod != mod:
                raise RuntimeError(f"the baseline run fills {base_mod}, the candidate {mod}: not comparable")
    note = f"run {cand}, {mod}, {len(rows)} {split} lesion slices"
    out = []
    for case, v in score.items():
        if case.startswith("contrast"):
            out.append(Row("fill", f"{case} ({mod})", v, "", real.get(case), None, "", None,
                           f"{note}; reference: the real slices" + (f"; baseline {base[case]:.3f}" if case in base else "")))
        else:
            out.append(Row("fill", f"{case} ({mod})", v, "", base.get(case), None, "", None,
                           note + ("; reference: baseline run" if case in base else "")))
    return out


def main(argv: list[str] | None = None) -> int:
    from benchmarks.__main__ import print_table

    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_fill", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=120, help="held-out real lesion slices (default 120)")
    ap.add_argument("--split", default="test", help="split the slices come from (default test)")
    ap.add_argument("--runs", type=Path, default=None, help="folder of runs to install (default demo_assets/runs)")
    ap.add_argument("--workspace", type=Path, default=None, help="use this workspace and its newest pix2pix run "
                                                                 "(with --runs: install those there first)")
    ap.add_argument("--baseline", type=Path, default=None, help="folder of older runs to score beside the candidate")
    ap.add_argument("--seed", type=int, default=0, help="which slices when there are more than --n (default 0)")
    args = ap.parse_args(argv)
    print_table(run(False, n=args.n, split=args.split, runs=args.runs, workspace=args.workspace,
                    baseline=args.baseline, seed=args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
