"""Export memory: peak memory of exporting a synthetic set of n samples against one of 10 n.

An export streams case by case from memory-mapped arrays, so its memory should not grow with the
number of images; only the manifest (a few hundred bytes per file) does. Each export runs in a
fresh child process (so one run's allocations cannot hide another's) that reports:

- ``heap``: the tracemalloc peak during ``export()`` (Python objects and numpy buffers);
- ``rss``: how much the process's peak resident size (``ru_maxrss``) rose during ``export()``;
  this also counts the pages of the memory-mapped arrays it read (file cache the kernel can drop).

The same real dataset (64 px, 2 modalities) is exported with both sets, in the nnU-Net layout
(gzip-compressed NIfTI, the most expensive). Target: the 10 n export needs < 200 MB more than the
n export by either measure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import Row

SIZE = 64
TARGET_MB = 200.0
_CHILD = "import sys, json; from benchmarks.bench_export import _child; print(json.dumps(_child(*sys.argv[1:])))"


def _make_workspace(root: Path, sizes: tuple[int, ...]) -> None:
    """A 10-case real dataset and one random synthetic set per size (named ``s<n>``)."""
    from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter
    from synth_core.structure import StructureParams
    from synth_core.synthesis.setstore import SetWriter
    from synth_core.workspace import Workspace

    ws = Workspace.open(root)
    rng = np.random.default_rng(0)
    spec = DatasetSpec(name="real", layout="demo", kind="mri", modalities=("t1", "t2"),
                       label_names={0: "background", 1: "lesion"}, size=SIZE, structure=StructureParams(median=1))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (np.hypot(yy - SIZE / 2, xx - SIZE / 2) < SIZE * 0.4).astype(np.uint8)
    with DatasetWriter(ws.path("datasets", "real"), spec) as w:
        for c in range(10):
            imgs = (rng.random((4, 2, SIZE, SIZE)) * disc).astype(np.float32)
            labels = np.zeros((4, SIZE, SIZE), np.uint8)
            labels[:, 20:28, 20:28] = 1
            w.add_case(f"c{c}", imgs, np.repeat(disc[None], 4, 0), labels, range(4), (1.0, 1.0, 3.0), f"c{c}")
    ds = Dataset(ws.path("datasets", "real"))
    meta = {"dataset": ds.name, "fingerprint": ds.fingerprint, "modalities": list(ds.modalities),
            "label_names": {str(k): v for k, v in ds.label_names.items()}, "size": SIZE,
            "runs": {"multimodal": {"run_id": "bench", "sha256": "0" * 64, "step": 0}}}
    for n in sizes:
        with SetWriter(ws.path("synthetic", f"s{n}"), meta) as w:
            for start in range(0, n, 50):
                b = min(50, n - start)
                labels = np.zeros((b, SIZE, SIZE), np.uint8)
                labels[:, 30:40, 30:40] = 1
                rows = [{"seed": 0, "latent_index": start + j, "noise_seed": start + j, "lesion_id": "L0",
                         "has_lesion": True, "dice_t1": float(rng.random()), "nn_dist": float(rng.random())}
                        for j in range(b)]
                w.add(rng.random((b, 2, SIZE, SIZE), dtype=np.float32), np.repeat(disc[None], b, 0), labels,
                      np.zeros((b, SIZE, SIZE), np.uint8), rows)


def _child(root: str, set_name: str) -> dict[str, float]:
    """Run one export in this process; return its heap peak, RSS rise (MB) and seconds."""
    import resource
    import time
    import tracemalloc

    from synth_core.export import export
    from synth_core.workspace import Workspace

    ws = Workspace.open(root)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    t0 = time.perf_counter()
    r = export(ws, "real", set_name, f"e-{set_name}", fmt="nnunet")
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"heap_mb": peak / 2**20, "rss_mb": (rss1 - rss0) / 1024, "seconds": seconds,
            "cases": r.n_real_train + r.n_real_test + r.n_synthetic}


def run(quick: bool) -> list[Row]:
    n = 20 if quick else 100
    sizes = (n, 10 * n)
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        _make_workspace(Path(tmp), sizes)
        got = {}
        for k in sizes:
            out = subprocess.run([sys.executable, "-c", _CHILD, tmp, f"s{k}"], cwd=repo, check=True,
                                 capture_output=True, text=True)
            got[k] = json.loads(out.stdout.strip().splitlines()[-1])
    rows = []
    for k in sizes:
        g = got[k]
        rows.append(Row("export", f"{k} synthetic + 40 real, {SIZE} px, nnunet", g["heap_mb"], "MB heap",
                        note=f"peak RSS rise {g['rss_mb']:.1f} MB; {g['cases'] / g['seconds']:.0f} cases/s under tracemalloc"))
    for what, key in (("heap", "heap_mb"), ("rss", "rss_mb")):
        growth = got[sizes[1]][key] - got[sizes[0]][key]
        rows.append(Row("export", f"{what} growth {sizes[0]} -> {sizes[1]} samples", growth, "MB",
                        target=f"< {TARGET_MB:g} MB", ok=growth < TARGET_MB,
                        note="rss includes memory-mapped pages read" if what == "rss" else ""))
    return rows
