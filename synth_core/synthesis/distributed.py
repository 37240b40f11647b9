"""Synthesis under ``torchrun``: the batches are split across ranks, one catalog results.

Rank ``r`` of ``W`` makes batches ``r, r + W, ...`` (:func:`~.pipeline.batch_indices`) into its
own part folder ``rank-r`` of a staging folder beside the set; after a barrier rank 0 merges the
parts in batch order into the final set (atomically, like a one-process run) and removes the parts.
Each sample depends only on ``(seed, index)`` and its batch, so the merged set equals the one a
single process makes. A failure on any rank stops every rank and leaves no set behind.

The staging folder is a temporary named after rank 0 (``synthetic/.tmp-NAME.p<pid>s<start>.<hex>``,
:func:`synth_core.atomic.temp_dir_name`), which makes, merges and removes it: after a ``kill -9``
the next workspace open removes it (:func:`synth_core.atomic.clean_stale`), and two runs writing the
same name never share or delete each other's parts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synth_core.atomic import pause_point, temp_dir_name
from synth_core.errors import SynthCoreError
from synth_core.synthesis.figures import RealReference
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.models import SynthesisModels
from synth_core.synthesis.pipeline import make_batches, set_meta
from synth_core.synthesis.setstore import SetWriter, SyntheticSet


class RankFailed(SynthCoreError):
    pass


def merge_parts(staging: Path, dest: Path, *, world: int, n: int, batch_size: int, meta: dict[str, Any],
                lesions: LesionSource) -> Path:
    """Interleave the ranks' part sets back into batch order as the set ``dest``."""
    parts = {r: SyntheticSet(staging / f"rank-{r}") for r in range(world) if (staging / f"rank-{r}").exists()}
    with SetWriter(dest, meta) as w:
        lesions.bank.save(w.tmp / "bank")
        for k, start in enumerate(range(0, n, batch_size)):
            part = parts[k % world]
            local = (k // world) * batch_size
            sl = slice(local, local + min(batch_size, n - start))
            rows = part.stored_catalog.iloc[sl].drop(columns=["sample_id", "index"]).to_dict("records")
            w.add(part.images[sl], part.masks[sl], part.labels[sl], part.structure[sl], rows)
    return dest


def synthesize_distributed(models: SynthesisModels, lesions: LesionSource, dest: str | Path, *, info: Any,
                           dataset: str, fingerprint: str, n: int, seed: int = 0, batch_size: int = 16,
                           real: RealReference | None = None, progress: Callable[[int], None] | None = None,
                           extra_meta: dict[str, Any] | None = None,
                           dataset_content: dict[str, Any] | None = None) -> Path:
    """:func:`~.pipeline.synthesize` across the ranks of ``info`` (a ``synth_core.distributed.DistInfo``)."""
    from synth_core.distributed import barrier, broadcast_flag, broadcast_object

    dest = Path(dest)
    meta = set_meta(models, lesions, dataset=dataset, fingerprint=fingerprint, n=n, seed=seed, batch_size=batch_size,
                    extra={**(extra_meta or {}), "world_size": info.world}, dataset_content=dataset_content)
    # named after rank 0, which removes it (or, after a kill -9, the next workspace open)
    made = temp_dir_name(dest) if info.is_main else None
    if made is not None:
        made.mkdir(parents=True)
    staging = Path(broadcast_object(str(made) if made is not None else "", info))
    barrier(info)
    error: BaseException | None = None
    try:
        batches = make_batches(models, lesions, n=n, seed=seed, batch_size=batch_size, real=real, rank=info.rank,
                               world=info.world)
        first = next(batches, None)
        if first is not None:
            with SetWriter(staging / f"rank-{info.rank}", meta) as w:
                for batch, rows in _chain(first, batches):
                    w.add(batch.images, batch.masks, batch.labels, batch.structure, rows)
                    if progress:
                        progress(len(rows))
    except Exception as err:  # reported to the other ranks below, then re-raised here
        error = err
    if broadcast_flag(error is not None, info):
        barrier(info)
        if info.is_main:
            shutil.rmtree(staging, ignore_errors=True)
        if error is not None:
            raise error
        raise RankFailed(f"another rank failed while synthesizing {dest.name!r}; nothing was written")
    try:
        if info.is_main:
            pause_point("synthesize_distributed:parts-written")
            merge_parts(staging, dest, world=info.world, n=n, batch_size=batch_size, meta=meta, lesions=lesions)
    finally:
        if info.is_main:
            shutil.rmtree(staging, ignore_errors=True)
        barrier(info)
    return dest


def _chain(first, rest):
    yield first
    yield from rest
