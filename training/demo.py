"""``python -m training demo``: train every stage on the demo dataset with the ``cpu-demo`` preset.

Order matters (METHOD.md): structure -> segmenter -> translator -> multimodal (uses the three
frozen) -> pix2pix. Each stage gets its own run folder; the multimodal stage is pointed at the
runs just trained. ``--copy-to DIR`` also writes slim copies (weights only, no optimizer state,
a few sample grids) that the repository ships in ``demo_assets/runs`` so a fresh clone's
dashboard has trained models at once.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from synth_core.workspace import Workspace
from synth_core.runs.checkpoint import load_checkpoint
from synth_core.runs.config import build_config
from synth_core.runs.checkpoint import ema_name
from training.loop import Trainer
from synth_core.runs.folder import RunDir
from training.stages import get_stage

ORDER = ("structure", "segmenter", "translator", "multimodal", "pix2pix")


def run_demo(ws: Workspace, *, dataset: str = "demo", preset: str = "cpu-demo", overrides: dict[str, Any] | None = None,
             progress: bool = True, copy_to: str | None = None, stages: tuple[str, ...] = ORDER,
             run_prefix: str = "demo") -> int:
    ws.existing("datasets", dataset)
    done: dict[str, str] = {}
    t_all = time.time()
    for name in stages:
        stage_cls = get_stage(name)
        extra: dict[str, Any] = {"dataset": dataset}
        if name == "multimodal":
            extra.update({f"{s}_run": done[s] for s in ("structure", "segmenter", "translator") if s in done})
        valid = {f.name for f in __import__("dataclasses").fields(stage_cls.config_cls)}
        extra.update({k: v for k, v in (overrides or {}).items() if k in valid})
        cfg = build_config(stage_cls.config_cls, name, preset, extra)
        run_id = _free_run_id(ws, f"{run_prefix}-{name}")
        t0 = time.time()
        run = Trainer(stage_cls, cfg, ws, run_id=run_id, progress=progress).run()
        state = run.read_status().get("state")
        if state != "finished":  # stopped by SIGTERM (or a failure the loop recorded): stop the demo too
            print(f"demo: {name} run {run.run_id} is {state}; not training the remaining stages")
            return 1
        done[name] = run.run_id
        print(f"demo: {name:<10} -> run {run.run_id} ({time.time() - t0:.0f} s)")
    print(f"demo: all stages trained in {time.time() - t_all:.0f} s")
    if copy_to:
        for rid in done.values():
            slim_copy(RunDir.open(ws, rid), Path(copy_to) / rid)
        print(f"demo: slim copies written to {copy_to}")
    return 0


def _free_run_id(ws: Workspace, base: str) -> str:
    if not (ws.runs / base).exists():
        return base
    k = 2
    while (ws.runs / f"{base}-{k}").exists():
        k += 1
    return f"{base}-{k}"


def slim_copy(run: RunDir, dest: Path) -> Path:
    """Copy a run with float16 weights only (no optimizer state; of a network with averaged weights
    only the average), ``best.pt`` only where it differs from ``last.pt``, and at most three sample grids."""
    import io

    import torch

    from synth_core.atomic import atomic_dir, atomic_write_bytes

    with atomic_dir(dest, overwrite=True) as tmp:
        for path in run.record_files():
            shutil.copy2(path, tmp / path.name)
        copy = RunDir(tmp)
        copy.samples_dir.mkdir()
        samples = run.sample_files()
        for p in {samples[0], samples[len(samples) // 2], samples[-1]} if samples else set():
            shutil.copy2(p, copy.samples_dir / p.name)
        copy.checkpoints_dir.mkdir()
        steps = {}
        for which in ("last", "best"):
            src = run.checkpoint_path(which)
            if not src.exists():
                continue
            ck = load_checkpoint(src)
            if which == "best" and steps.get("last") == ck["step"]:
                continue  # same weights as last.pt: readers fall back to last
            steps[which] = ck["step"]
            ck["optimizers"] = {}
            # float16 weights halve the size; loading copies them into float32 parameters
            # readers use a network's averaged weights when it has them (training.ema), so the live ones stay behind
            ck["models"] = {k: {n: t.half() if t.is_floating_point() else t for n, t in sd.items()}
                            for k, sd in ck["models"].items() if ema_name(k) not in ck["models"]}
            ck["meta"] = {**ck.get("meta", {}), "slim": True}
            buf = io.BytesIO()
            torch.save(ck, buf)
            atomic_write_bytes(copy.checkpoint_path(which), buf.getvalue())
    return dest


def install_demo_runs(ws: Workspace, source: Path) -> list[str]:
    """Copy the shipped demo runs into the workspace (those not there yet). Returns the names copied."""
    copied = []
    if not source.is_dir():
        return copied
    for run_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        dest = ws.runs / run_dir.name
        if dest.exists():
            continue
        shutil.copytree(run_dir, dest)
        copied.append(run_dir.name)
    return copied
