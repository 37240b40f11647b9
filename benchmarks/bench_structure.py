"""Structure maps (Algorithm 1) and organ masks (Algorithm 2): batched images/s against the same
functions called one image at a time (ratio = batch / loop)."""

from __future__ import annotations

import numpy as np

from benchmarks.common import Row, best_time


def run(quick: bool) -> list[Row]:
    from synth_core.structure import organ_mask, structure_map, structure_preset

    n, size = (16, 128) if quick else (128, 128)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    disc = (np.hypot(yy - size / 2, xx - size / 2) < size * 0.4).astype(np.float32)
    imgs = np.clip(disc[None] * (0.5 + 0.3 * rng.random((n, size, size))), 0, 1).astype(np.float32)
    rows = []
    for kind in ("mri", "ct"):
        p = structure_preset(kind)
        t_batch = best_time(lambda: structure_map(imgs, p), repeat=3)
        t_loop = best_time(lambda: [structure_map(im, p) for im in imgs], repeat=3)
        rows.append(Row("structure", f"Algorithm 1 ({kind} preset) {n} x {size}px", n / t_batch, "img/s",
                        n / t_loop, t_loop / t_batch, note="reference: same function, one image per call"))
    t_batch = best_time(lambda: organ_mask(imgs), repeat=3)
    t_loop = best_time(lambda: [organ_mask(im) for im in imgs], repeat=3)
    rows.append(Row("structure", f"Algorithm 2 {n} x {size}px", n / t_batch, "img/s", n / t_loop, t_loop / t_batch,
                    note="reference: same function, one image per call"))
    return rows
