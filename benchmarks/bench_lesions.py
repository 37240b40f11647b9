"""Lesion augmentation throughput: candidates per second (sample + transform + containment check).

Ours: :func:`synth_core.lesions.augment_batch` on a bank built from synthetic 2-D label maps
(one multi-class lesion per slice, elliptical organ masks); every try counts as a candidate.
Reference, in the same run: TorchIO ``RandomAffine`` + ``RandomFlip`` applied to the same label
maps (``tio.LabelMap`` with a singleton depth axis inside a ``tio.Subject``; nearest neighbour,
the same scale / rotation / translation / flip ranges), followed by the same containment test on
the whole slice. Target: ours >= 5x TorchIO.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import Row, best_time

TARGET = 5.0


def _data(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label maps ``(n, size, size)`` with one lesion each (class 2 rim, class 1 core, a class 3
    spot) and organ masks (ellipses) that contain them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((n, size, size), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        ay, ax = rng.uniform(0.33, 0.42, 2) * size
        masks[i][((yy - size / 2) / ay) ** 2 + ((xx - size / 2) / ax) ** 2 < 1] = 1
        r = rng.uniform(0.03, 0.09) * size
        cy, cx = size / 2 + rng.uniform(-0.15, 0.15, 2) * size
        d = ((yy - cy) / r) ** 2 + ((xx - cx) / (0.7 * r)) ** 2
        labels[i][d < 1] = 2
        labels[i][d < 0.3] = 1
        labels[i][(d < 0.5) & (yy > cy) & (xx > cx)] = 3
    return labels, masks


def run(quick: bool = False) -> list[Row]:
    import torch
    import torchio as tio

    from synth_core.lesions import AugmentRanges, LesionBank, augment_batch

    size = 64 if quick else 128
    n_ours = 300 if quick else 3000
    n_tio = 10 if quick else 60
    repeat = 2 if quick else 3
    labels, masks = _data(16, size)
    bank = LesionBank.from_arrays(labels)
    ranges = AugmentRanges(scale=(0.7, 1.3), rotation_deg=(-180, 180), p_flip_lr=0.5, p_flip_ud=0.5,
                           translate=(-5, 5), containment=1.0)

    # TorchIO: one Subject per slice, built once (ours likewise builds its bank once)
    transform = tio.Compose([
        tio.RandomAffine(scales=ranges.scale, degrees=(0, 0, 0, 0, *ranges.rotation_deg),
                         translation=(*ranges.translate, *ranges.translate, 0, 0), isotropic=True,
                         label_interpolation="nearest"),
        tio.RandomFlip(axes=(0, 1), flip_probability=ranges.p_flip_lr),
    ])
    subjects = [tio.Subject(label=tio.LabelMap(tensor=torch.from_numpy(lab.copy())[None, ..., None]))
                for lab in labels]
    outside = masks == 0
    torch.manual_seed(0)
    pick = np.random.default_rng(0)

    def torchio_candidates() -> None:
        for _ in range(n_tio):
            i = int(pick.integers(len(subjects)))
            out = transform(subjects[i])["label"].data[0, :, :, 0].numpy()
            lesion = out > 0
            _ = lesion.any() and not (lesion & outside[i]).any()

    t_tio = best_time(torchio_candidates, repeat=repeat)
    ref = n_tio / t_tio
    rows = []
    for position in ("near_source", "uniform"):
        def ours(position: str = position) -> None:
            res = augment_batch(bank, masks, n_ours, ranges, 0, max_tries=n_ours, position=position)
            assert res.tries == n_ours

        value = n_ours / best_time(ours, repeat=repeat)
        ratio = value / ref
        rows.append(Row(
            "lesions", f"augment {size}px, {position}", value, "candidates/s", reference=ref, ratio=ratio,
            target=f">= {TARGET:g}x", ok=ratio >= TARGET,
            note="vs tio RandomAffine+RandomFlip on the label map + containment",
        ))
    return rows
