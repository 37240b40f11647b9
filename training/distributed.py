"""DistributedDataParallel for the networks a stage trains (the process group itself:
:mod:`synth_core.distributed`)."""

from __future__ import annotations

from torch import nn

from synth_core.distributed import DistInfo


def wrap(module: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around a trainable module under torchrun; the module otherwise."""
    module = module.to(info.device)
    if not info.distributed:
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
