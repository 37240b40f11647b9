"""Process groups for ``torchrun`` (gloo on CPU, NCCL on GPU): set-up, barrier, a flag that stops
every rank together, rank 0's value of a small object on every rank, and teardown. Training and distributed synthesis use them.

Without torchrun (no ``WORLD_SIZE`` in the environment) everything runs in one process and the
collectives return at once. Only rank 0 writes. (Wrapping trainable modules in
DistributedDataParallel is training's part: ``training.distributed.wrap``.)
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from synth_core.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    if pref == "cpu":
        return torch.device("cpu")
    if pref == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no CUDA GPU is available (use --device cpu or auto)")
        return torch.device("cuda", local_rank)
    if pref == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    raise ConfigError(f'device must be "auto", "cpu" or "cuda", not "{pref}"')


def setup(device_pref: str = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun; return this process's place."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_pref, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world=world, local_rank=local_rank, device=device)


def cleanup(info: DistInfo | None = None, *, finished: bool = False) -> None:
    """Tear the process group down.

    Collectives of the run may still be in flight on another rank (rank 0 writes the last sample
    and status after the final barrier), and DDP reducers hold the group: the reducers are freed
    first, then, after a clean finish, the ranks meet once more, so no rank destroys its group
    while a peer still talks to it (gloo otherwise aborts a rank at exit). After a failure there
    is no meeting: a peer may be stuck in a collective, and torchrun stops the others."""
    if not dist.is_initialized():
        return
    gc.collect()
    if finished and info is not None and info.distributed:
        dist.barrier()
    dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """True on every rank if ``flag`` is true on any rank (used to stop all ranks together)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` (picklable, small: a name or a path) on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
