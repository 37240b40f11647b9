"""Shared helpers for benchmark modules: one result row type and a best-of-N timer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One measured line of the table.

    ``value`` is the project's figure in ``unit``; ``reference`` the same figure for the reference
    implementation in the same run (None when there is none); ``ratio`` = value / reference for
    throughputs (higher is better) unless the module sets it otherwise; ``target`` states the goal
    in words (e.g. ">= 5x"); ``ok`` says whether the target was met (None when there is no target).
    """

    benchmark: str
    case: str
    value: float
    unit: str
    reference: float | None = None
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""


def best_time(fn: Callable[[], object], repeat: int = 3, number: int = 1) -> float:
    """Best wall time in seconds of ``number`` calls of ``fn`` over ``repeat`` rounds."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best
