"""Self-describing checkpoints, written atomically and loaded without executing pickled code.

A checkpoint is a ``torch.save`` of plain containers: ``{"format", "stage", "step", "models":
{name: state_dict}, "optimizers": {name: state_dict}, "rng": {...}, "config": {...},
"fingerprint": str, "meta": {...}}``. :func:`load_checkpoint` uses ``torch.load(weights_only=True)``,
which refuses anything but tensors and primitive containers.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synth_core.atomic import atomic_write_bytes
from synth_core.errors import InputError

FORMAT = "medsynth-checkpoint/1"
#: a network's weight average is stored beside it as ``<name>_ema`` (``training.ema``)
EMA_SUFFIX = "_ema"


def ema_name(name: str) -> str:
    """The checkpoint name of network ``name``'s averaged weights."""
    return f"{name}{EMA_SUFFIX}"


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module inside DistributedDataParallel (or the module itself)."""
    return getattr(module, "module", module)


def rng_state(np_rng: np.random.Generator | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if np_rng is not None:
        state["numpy"] = json.dumps(np_rng.bit_generator.state)
    return state


def restore_rng(state: dict[str, Any], np_rng: np.random.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if np_rng is not None and "numpy" in state:
        np_rng.bit_generator.state = json.loads(state["numpy"])


def save_checkpoint(
    path: str | Path,
    *,
    stage: str,
    step: int,
    models: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    config: dict[str, Any],
    fingerprint: str,
    rng: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    payload = {
        "format": FORMAT,
        "stage": stage,
        "step": int(step),
        "models": {k: {n: t.detach().cpu() for n, t in unwrap(m).state_dict().items()} for k, m in models.items()},
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "rng": rng or rng_state(),
        "config": json.loads(json.dumps(config)),
        "fingerprint": fingerprint,
        "meta": json.loads(json.dumps(meta or {}, default=str)),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); a bad file is a one-line InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise InputError(path, f"refusing to load: not a plain-data checkpoint ({str(err).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise InputError(path, f"not a readable checkpoint ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, f"not a MedSynth checkpoint (expected format {FORMAT})")
    return payload


def load_weights(module: nn.Module, payload: dict[str, Any], name: str, path: str | Path = "checkpoint") -> None:
    """Load ``payload["models"][name]`` into ``module`` strictly; mismatches name the checkpoint."""
    states = payload.get("models", {})
    if name not in states:
        raise InputError(path, f"has no weights for {name!r} (has: {', '.join(states) or 'none'})")
    try:
        unwrap(module).load_state_dict(states[name], strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise InputError(path, f"weights of {name!r} do not match the configured network ({first})") from None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
