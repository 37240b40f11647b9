"""``python -m training demo``: train every stage on the demo dataset with the ``cpu-demo`` preset.

Order matters (METHOD.md): the multimodal stage uses the structure, segmenter and translator runs
frozen, so it trains after them; pix2pix needs no other run. With ``--jobs N`` (default: one per
core, at most 4) the four stages that need no other run train at once, each in a process of its own
(``training.demo_worker``), at most N at a time; then the multimodal stage on every core. ``--jobs 1``
trains structure -> segmenter -> translator -> multimodal -> pix2pix one after another in this
process. Each stage gets its own run folder; the multimodal stage is pointed at the runs just
trained. ``--copy-to DIR`` also writes slim copies (weights only, no optimizer state, a few sample
grids) that the repository ships in ``demo_assets/runs`` so a fresh clone's dashboard has trained
models at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import fields
from pathlib import Path
from typing import Any

from synth_core.workspace import Workspace
from synth_core.runs.checkpoint import load_checkpoint
from synth_core.runs.config import ConfigError, build_config, config_to_dict
from synth_core.runs.checkpoint import ema_name
from training.launch import ROOT, child_env
from training.loop import Trainer
from synth_core.runs.folder import RunDir
from training.stages import get_stage

ORDER = ("structure", "segmenter", "translator", "multimodal", "pix2pix")
# stages that need no other run, in the order the workers take them: the longest first, so that two workers
# finish close together (timed on the demo with two one-thread workers: structure 39 min in one; pix2pix 14,
# segmenter 22 and translator 9 in the other)
INDEPENDENT = ("structure", "pix2pix", "segmenter", "translator")
HELPERS = ("structure", "segmenter", "translator")  # the frozen runs the multimodal stage is pointed at


def default_jobs() -> int:
    """Stages trained at once by ``demo``: one per CPU core, at most the four that need no other run."""
    return max(1, min(len(INDEPENDENT), _cores()))


def run_demo(ws: Workspace, *, dataset: str = "demo", preset: str = "cpu-demo", overrides: dict[str, Any] | None = None,
             progress: bool = True, copy_to: str | None = None, stages: tuple[str, ...] = ORDER,
             run_prefix: str = "demo", jobs: int = 1) -> int:
    """Train ``stages`` in their own runs. With ``jobs > 1`` the stages that need no other run train at
    once in ``jobs`` processes (each with ``cores // jobs`` torch threads unless ``threads`` is set), then
    the multimodal stage on every core; with ``jobs = 1`` one after another in ``ORDER``."""
    if jobs < 1:
        raise ConfigError(f"demo: jobs must be >= 1, not {jobs}")
    ws.existing("datasets", dataset)
    unknown = [s for s in stages if s not in ORDER]
    if unknown:
        raise ConfigError(f"demo: unknown stage(s) {', '.join(unknown)}; the stages are {', '.join(ORDER)}")
    stages = tuple(s for s in ORDER if s in stages)
    parallel = jobs > 1 and sum(s in INDEPENDENT for s in stages) > 1
    first = tuple(s for s in INDEPENDENT if s in stages) if parallel else ()
    threads = None if not parallel or "threads" in (overrides or {}) else max(1, _cores() // jobs)
    run_ids = {name: _free_run_id(ws, f"{run_prefix}-{name}") for name in stages}
    # every setting is checked before anything trains, so a typo fails at once and not an hour in
    configs = {}
    for name in stages:
        extra: dict[str, Any] = {"threads": threads} if name in first and threads is not None else {}
        if name == "multimodal":
            extra.update({f"{s}_run": run_ids[s] for s in HELPERS if s in run_ids})
        configs[name] = _stage_config(name, dataset, preset, overrides, extra)
    done: dict[str, str] = {}
    t_all = time.time()
    if first:
        per_worker = configs[first[0]].threads
        print(f"demo: training {', '.join(first)} at once in {min(jobs, len(first))} processes "
              f"({per_worker or 'the default number of'} torch thread{'' if per_worker == 1 else 's'} each)")
        failed = _train_at_once(ws, {n: configs[n] for n in first}, run_ids, jobs, done)
        if failed:
            return 1
    for name in stages:
        if name in done:
            continue
        t0 = time.time()
        run = Trainer(get_stage(name), configs[name], ws, run_id=run_ids[name], progress=progress).run()
        state = run.read_status().get("state")
        if state != "finished":  # stopped by SIGTERM (or a failure the loop recorded): stop the demo too
            print(f"demo: {name} run {run.run_id} is {state}; not training the remaining stages")
            return 1
        done[name] = run.run_id
        print(f"demo: {name:<10} -> run {run.run_id} ({time.time() - t0:.0f} s)")
    print(f"demo: all stages trained in {time.time() - t_all:.0f} s")
    if copy_to:
        for name in stages:
            slim_copy(RunDir.open(ws, done[name]), Path(copy_to) / done[name])
        print(f"demo: slim copies written to {copy_to}")
    return 0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _stage_config(name: str, dataset: str, preset: str, overrides: dict[str, Any] | None, extra: dict[str, Any]):
    """The stage's settings: the preset's, then those of ``overrides`` that the stage has, then ``extra``."""
    stage_cls = get_stage(name)
    valid = {f.name for f in fields(stage_cls.config_cls)}
    values = {"dataset": dataset, **{k: v for k, v in (overrides or {}).items() if k in valid}, **extra}
    return build_config(stage_cls.config_cls, name, preset, values)


def _train_at_once(ws: Workspace, configs: dict[str, Any], run_ids: dict[str, str], jobs: int,
                   done: dict[str, str]) -> bool:
    """Train ``configs`` in at most ``jobs`` worker processes at once, in their order; fills ``done``. True
    when one did not finish; then the stages not started yet are not started, and those under way finish
    (their runs stay usable)."""
    stop = threading.Event()

    def train(name: str) -> tuple[int, float]:
        if stop.is_set():
            return -1, 0.0
        t0 = time.time()
        # its own interpreter (python -m training.demo_worker), as the Training page starts runs: no fork of
        # this process, and none of this process's __main__ re-run in it as multiprocessing's spawn would
        proc = subprocess.run([sys.executable, "-m", "training.demo_worker", str(ws.root), name, run_ids[name]],
                              input=json.dumps(config_to_dict(configs[name])), text=True, cwd=ROOT,
                              env=child_env())
        return proc.returncode, time.time() - t0

    failed = False
    with ThreadPoolExecutor(max_workers=min(jobs, len(configs))) as pool:
        futures = {pool.submit(train, name): name for name in configs}
        for fut in as_completed(futures):
            name = futures[fut]
            code, seconds = fut.result()
            if code == -1:
                continue  # not started: an earlier stage failed
            if code != 0:
                state = RunDir(ws.runs / run_ids[name]).read_status().get("state")  # none if it never started
                print(f"demo: {name} run {run_ids[name]} {'is ' + state if state else 'failed'} (exit {code}); "
                      "not training the remaining stages")
                failed = True
                stop.set()
                continue
            done[name] = run_ids[name]
            print(f"demo: {name:<10} -> run {run_ids[name]} ({seconds:.0f} s)")
    return failed


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
