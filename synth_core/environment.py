"""Where a computation ran, in the terms that decide its last float bits.

Floating point results can differ in the last bits from one CPU (or GPU) to another and with
another thread count or library version, never on the same machine with the same settings. A set
records :func:`describe` as ``made_on``; ``regenerate`` compares it with the machine it runs on to
tell "last bits differ because the machine differs" from "something is not reproducible".
"""

from __future__ import annotations

import platform
from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def describe(device: Any = "cpu") -> dict[str, Any]:
    """CPU model, architecture, library versions, torch threads and the compute device (GPU name
    for CUDA). JSON-safe; no host name or user name."""
    import torch

    dev = str(device)
    gpu = torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") and torch.cuda.is_available() else ""
    return {"cpu": cpu_model(), "machine": platform.machine(), "system": platform.system(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "threads": int(torch.get_num_threads()), "device": dev.split(":")[0], "gpu": gpu}


def differences(then: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """What differs between two :func:`describe` records (``["no record"]`` when ``then`` is missing)."""
    if not then:
        return ["no record"]
    return [f"{k} {then.get(k)!r} -> {now.get(k)!r}" for k in sorted(now) if then.get(k) != now.get(k)]
