"""What each change of the structure-map recipe buys (issue 12 §2), measured in one run.

For every structure run given (e.g. one trained with the thesis-like recipe and one with the
``cpu-demo`` recipe for the same number of steps), maps are generated from the same ``N(0, I)``
latents four ways — live or averaged (EMA) ``G_s`` weights, unscreened or screened by ``D_s``
(synth_core.synthesis.acceptance) — and compared with real structure maps of held-out subjects
(val + test) by the product's classifier two-sample test (hand-made view, subject-grouped folds)
and by contour density. The real-vs-real control (training vs held-out subjects) is printed first.

    python -m benchmarks.bench_recipes --workspace WS --runs before after [--n 256] [--min-realness 0.9]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _maps(G_s, D_s, n: int, seed: int, threshold: float, min_realness: float) -> tuple[np.ndarray, float]:
    from synth_core.structure_model import decode_structures
    from synth_core.synthesis.acceptance import accepted_latents

    idx = np.arange(n)
    z, _, tries = accepted_latents(G_s, D_s, seed, idx, int(G_s.latent_dim), threshold=threshold,
                                   min_realness=min_realness if D_s is not None else 0.0, tries=50)
    return (decode_structures(G_s, z) > threshold).astype(np.float32), float(tries.mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", required=True)
    p.add_argument("--dataset", default="demo")
    p.add_argument("--runs", nargs="+", required=True, help="structure run ids")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-realness", type=float, default=0.9)
    a = p.parse_args(argv)

    import torch

    from synth_core.dataset import Dataset
    from synth_core.evaluation.c2st import HAND_VIEW_GROUPS, c2st, handmade_features
    from synth_core.evaluation.realism import real_slices
    from synth_core.workspace import Workspace
    from synth_core.runs.checkpoint import load_checkpoint
    from synth_core.runs.checkpoint import ema_name
    from synth_core.runs.loading import load_run

    torch.set_num_threads(max(1, torch.get_num_threads()))
    ws = Workspace.open(a.workspace, create=False)
    ds = Dataset(ws.existing("datasets", a.dataset))
    held = real_slices(ds, ("val", "test"), a.n, a.seed, 0)
    train = real_slices(ds, ("train",), len(held), a.seed, 1)
    f_held = handmade_features(held.structure.astype(np.float32))
    control = c2st(f_held, handmade_features(train.structure.astype(np.float32)), held.groups, train.groups,
                   seed=a.seed, feature_groups=HAND_VIEW_GROUPS).auc
    density = float(held.structure.mean())
    print(f"real held-out maps: {held.describe()}; contour density {density:.4f}")
    print(f"{'run':<14} {'weights':<8} {'D_s screen':<11} {'C2ST AUC':>9} {'control':>8} {'density':>8} "
          f"{'vs real':>8} {'tries':>6}")
    for rid in a.runs:
        ck = load_checkpoint(ws.runs / rid / "checkpoints" / "last.pt")
        # live and averaged weights, as present (a slim demo copy keeps only the averaged ones)
        for use_ema in [e for e, key in ((False, "G_s"), (True, ema_name("G_s"))) if key in ck["models"]]:
            run = load_run(ws, rid, names=["G_s", "D_s"], use_ema=use_ema)
            thr = float(run.config.threshold)
            for screen in (False, True):
                maps, tries = _maps(run.nets["G_s"], run.nets["D_s"] if screen else None, a.n, a.seed, thr,
                                    a.min_realness)
                res = c2st(f_held, handmade_features(maps), held.groups, None, seed=a.seed, feature_groups=HAND_VIEW_GROUPS)
                d = float(maps.mean())
                print(f"{rid:<14} {'EMA' if use_ema else 'live':<8} {('>= %.2f' % a.min_realness) if screen else 'none':<11} "
                      f"{res.auc:>9.3f} {control:>8.3f} {d:>8.4f} {d / density:>8.2f} {tries:>6.1f}  "
                      f"(AUC sd {res.auc_sd:.3f} over fold splits)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
