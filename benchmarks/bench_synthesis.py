"""End-to-end synthesis throughput against the bare generator forward in the same run.

Networks: the shipped demo checkpoints (128 px, four modalities), loaded from
``demo_assets/runs`` into a temporary workspace. Reference: ``G`` alone on ready-made inputs
(all modalities of a batch in one call), the floor no pipeline can beat. Measured: the whole
``synthesize`` (latents, ``G_s``, ``G_m``, lesion placement, noise fusion, ``G``, catalog and
array writes) without figures — target at least 80 % of the reference — and, for information,
with every per-sample figure (segmenters, translator, nearest real slice), which costs extra
network calls by design.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import Row

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool) -> list[Row]:
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.lesions.bank import LesionBank
    from synth_core.multimodal_model import generate_modalities
    from synth_core.synthesis.figures import RealReference, memorisation_features
    from synth_core.synthesis.lesions import LesionSource
    from synth_core.synthesis.loading import load_models
    from synth_core.synthesis.pipeline import synthesize
    from synth_core.workspace import Workspace
    from training.demo import install_demo_runs

    n, batch = (16, 8) if quick else (96, 16)
    tmp = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    ws = Workspace.open(tmp / "ws")
    install_demo_runs(ws, ROOT / "demo_assets" / "runs")
    full = load_models(ws, "demo-multimodal", which="best", figures=True)
    size, m = full.size, len(full.modalities)
    yy, xx = np.mgrid[:size, :size]
    lab = np.zeros((3, size, size), np.uint8)
    for k, r in enumerate((4, 6, 8)):
        lab[k][np.hypot(yy - size / 2, xx - size / 2) < r] = 1
    bank = LesionBank.from_arrays(lab, case_ids=["a", "b", "c"], label_names=full.label_names)
    lesions = LesionSource("augmented", bank, AugmentRanges(scale=(0.7, 1.3)))
    rng = np.random.default_rng(0)
    real = RealReference(memorisation_features(rng.random((480, m, size, size), dtype=np.float32)), np.arange(480))

    # reference: G alone, inputs prepared in advance
    inputs = torch.rand(batch, 1 + full.n_classes - 1, size, size)

    @torch.no_grad()
    def bare_rate() -> float:
        t0 = time.perf_counter()
        for _ in range(n // batch):
            generate_modalities(full.G, inputs, m)
        return (n // batch) * batch / (time.perf_counter() - t0)

    def timed(models, name, real_ref):
        t0 = time.perf_counter()
        synthesize(models, lesions, tmp / name, dataset="bench", fingerprint="0" * 64, n=n, seed=0,
                   batch_size=batch, real=real_ref)
        return n / (time.perf_counter() - t0)

    from dataclasses import replace

    lean = replace(full, segmenters={}, translator=None)
    timed(lean, "warm", None)
    # interleaved, best of two each: the machine's other load hits both sides alike
    bare = max(bare_rate(), 0.0)
    e2e = timed(lean, "lean1", None)
    bare = max(bare, bare_rate())
    e2e = max(e2e, timed(lean, "lean2", None))
    with_figs = timed(full, "full", real)
    note = f"{n} samples, batch {batch}, {size} px, {m} modalities, {torch.get_num_threads()} threads"
    return [
        Row("synthesis", "end to end, no figures", e2e, "samples/s", bare, e2e / bare, ">= 0.8 of bare G",
            e2e / bare >= 0.8, note + "; reference: G forward alone"),
        Row("synthesis", "end to end, all figures", with_figs, "samples/s", bare, with_figs / bare, "",
            None, "adds segmenters (M calls), translator (M calls of M-1), nearest-neighbour search"),
    ]
