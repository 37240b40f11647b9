"""Shared helpers for benchmark modules: one result row type and a best-of-N timer."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


@contextmanager
def scratch_workspace(workspace: Path | None, prefix: str) -> Iterator[Path]:
    """``workspace`` as given (kept), or a temporary ``.../ws`` removed afterwards."""
    if workspace is not None:
        yield Path(workspace)
        return
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp / "ws"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_cli(main: Any, argv: list[Any]) -> None:
    rc = main([str(a) for a in argv])
    if rc:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited with {rc}")


def install_demo(ws_root: Path, runs: Path | None, *, dataset_from: Path | None = None) -> None:
    """The demo dataset in ``ws_root`` (copied from ``dataset_from``'s workspace when given, so both
    hold the same slices; else built when missing) and, with ``runs``, those runs installed."""
    from synth_core.cli import main as synth_main
    from training.cli import main as training_main

    if dataset_from is not None and not (ws_root / "datasets" / "demo").exists():
        (ws_root / "datasets").mkdir(parents=True, exist_ok=True)
        shutil.copytree(dataset_from / "datasets" / "demo", ws_root / "datasets" / "demo")
    run_cli(synth_main, ["--workspace", ws_root, "demo-data", "--if-missing", "--no-progress"])
    if runs is not None:
        run_cli(training_main, ["--workspace", ws_root, "install-demo-runs", "--source", runs])
