"""Ingest throughput (slices/s) of a BraTS-like folder, against reading the same NIfTI files with
nibabel alone (the I/O floor: ratio = our slices/s over nibabel's, so 1.0 would mean ingest costs
nothing beyond reading)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from benchmarks.common import Row


def _write_brats(root: Path, cases: int, shape: tuple[int, int, int], seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    zz, yy, xx = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    c = np.array(shape) / 2
    brain = ((zz - c[0]) / (0.45 * shape[0])) ** 2 + ((yy - c[1]) / (0.4 * shape[1])) ** 2 + ((xx - c[2]) / (0.45 * shape[2])) ** 2 < 1
    tumour = ((zz - c[0]) ** 2 + (yy - c[1] * 0.8) ** 2 + (xx - c[2] * 1.2) ** 2) < (0.12 * shape[0]) ** 2
    for k in range(cases):
        d = root / f"case{k:03d}"
        d.mkdir(parents=True)
        for m in ("t1", "t1ce", "t2", "flair"):
            vol = (brain * (0.5 + 0.1 * rng.random()) + tumour * 0.3 + rng.normal(0, 0.02, shape)) * brain
            nib.save(nib.Nifti1Image(vol.astype(np.float32), aff), d / f"case{k:03d}_{m}.nii.gz")
        seg = np.where(tumour & brain, 4, 0).astype(np.uint8)
        nib.save(nib.Nifti1Image(seg, aff), d / f"case{k:03d}_seg.nii.gz")
    return int(np.sum(brain.reshape(brain.shape[0], -1).any(axis=1)))


def run(quick: bool) -> list[Row]:
    from synth_core.ingest.options import IngestOptions
    from synth_core.ingest.pipeline import ingest

    cases, shape = (3, (64, 96, 96)) if quick else (8, (120, 200, 200))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "brats"
        _write_brats(src, cases, shape)
        t0 = time.perf_counter()
        for f in sorted(src.rglob("*.nii.gz")):
            np.asarray(nib.load(f).dataobj)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = ingest("brats", src, Path(tmp) / "ds", IngestOptions(size=128), progress=False)
        t_ingest = time.perf_counter() - t0
        from synth_core.dataset import Dataset

        n = len(Dataset(out))
    ours, ref = n / t_ingest, n / t_read
    rows.append(Row("ingest", f"brats {cases} cases {shape} -> 128 px", ours, "slices/s", ref, ours / ref,
                    note=f"{n} slices kept; reference = nibabel read of the same files only"))
    return rows
