"""Read-only summaries of run folders for the dashboard and the report (no torch)."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

import pandas as pd

from synth_core.workspace import Workspace
from synth_core.runs.folder import RunDir

STALE_SECONDS = 60.0  # a "running" run whose heartbeat is older than this is probably dead


def heartbeat_age(status: dict[str, Any]) -> float | None:
    hb = status.get("heartbeat")
    if not hb:
        return None
    try:
        return max(0.0, time.time() - datetime.fromisoformat(hb).timestamp())
    except ValueError:
        return None


def eta_seconds(rows: list[dict[str, Any]], total: int | None, window: int = 20) -> float | None:
    """Remaining time from the median seconds/step of the last ``window`` steps."""
    if not rows or not total:
        return None
    recent = sorted(r["sec_per_step"] for r in rows[-window:] if "sec_per_step" in r)
    if not recent:
        return None
    remaining = max(0, int(total) - int(rows[-1]["step"]))
    return remaining * recent[len(recent) // 2]


def runs_table(ws: Workspace) -> pd.DataFrame:
    """One row per run: id, stage, dataset, state (``running?`` when the heartbeat is stale), step,
    total, heartbeat age, last checkpoint step, best score."""
    out = []
    for rid in ws.list("runs"):
        run = RunDir(ws.runs / rid)
        try:
            cfg = run.read_config()
        except (OSError, ValueError):
            cfg = {}
        status = run.read_status()
        age = heartbeat_age(status)
        state = status.get("state", "starting" if run.log_path.exists() else "?")
        if state == "running" and age is not None and age > STALE_SECONDS:
            state = "running? (no heartbeat)"
        out.append({
            "run": rid, "stage": cfg.get("stage", status.get("stage", "?")), "dataset": cfg.get("dataset", "?"),
            "state": state, "step": status.get("step"), "total": status.get("total_steps", cfg.get("total_steps")),
            "heartbeat_s": None if age is None else round(age),
            "checkpoint_step": status.get("last_checkpoint_step"),
            "best_score": status.get("best_score") if isinstance(status.get("best_score"), (int, float)) and math.isfinite(status.get("best_score")) else None,
            "message": status.get("message", ""),
        })
    return pd.DataFrame(out, columns=["run", "stage", "dataset", "state", "step", "total", "heartbeat_s",
                                      "checkpoint_step", "best_score", "message"])


def metrics_frame(run: RunDir) -> pd.DataFrame:
    return pd.DataFrame(run.read_metrics())


def validation_frame(run: RunDir) -> pd.DataFrame:
    return pd.DataFrame(run.read_validation())


def checkpoints_table(run: RunDir) -> pd.DataFrame:
    status = run.read_status()
    rows = []
    for which in ("last", "best"):
        p = run.checkpoint_path(which)
        if p.exists():
            s = p.stat()
            rows.append({"checkpoint": which, "step": status.get("last_checkpoint_step" if which == "last" else "best_step"),
                         "size_MB": round(s.st_size / 1e6, 2),
                         "written": datetime.fromtimestamp(s.st_mtime).strftime("%Y-%m-%d %H:%M:%S"), "path": str(p)})
    return pd.DataFrame(rows)
