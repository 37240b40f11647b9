"""The shared training loop: one place for batches, seeding, logging, samples, checkpoints,
status, resume after ``kill -9``, non-finite detection and torchrun.

Determinism: before step ``k`` (0-based) the loop seeds torch with ``(seed, k, rank)`` and hands
the stage a numpy generator seeded the same way; batches are a pure function of ``(seed, k,
rank)`` (``training.data``). A run resumed from the checkpoint at step ``k`` therefore continues
exactly as the uninterrupted run would have (on the same device and thread count).
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from synth_core.datalink import check_link, run_content
from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, InputError
from synth_core.render import png_bytes
from synth_core.workspace import Workspace
from synth_core import distributed
from synth_core.runs.checkpoint import load_checkpoint, load_weights, restore_rng, rng_state, save_checkpoint
from synth_core.runs.config import config_to_dict
from training.data import SliceBatches
from synth_core.runs.checkpoint import EMA_SUFFIX
from synth_core.runs.folder import RunDir, now_iso
from training.stages.base import Stage

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0


class NonFiniteLoss(RuntimeError):
    pass


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def init_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0xC0FFEE]).generate_state(1)[0])


def autocast_for(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def check_finite(losses: dict[str, float], step: int) -> None:
    """Raise :class:`NonFiniteLoss` naming the first loss of step ``step`` (0-based) that is NaN or ±inf."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        raise NonFiniteLoss(f"loss {bad[0]} became {losses[bad[0]]} at step {step + 1}")


def metrics_row(stage: Stage, step: int, losses: dict[str, float], batch_size: int, seconds: float,
                world: int) -> dict[str, Any]:
    """The ``metrics.jsonl`` row after ``step`` steps (1-based): the phase of that step, the named
    losses, every optimizer's learning rate, time per step and images per second over all ranks."""
    return {"step": step, "phase": stage.phase(step - 1), **{k: float(v) for k, v in losses.items()},
            **stage.learning_rates(), "sec_per_step": seconds, "images_per_sec": batch_size * world / seconds,
            "time": time.time()}


class Trainer:
    """Runs a :class:`Stage` to completion inside a run folder."""

    def __init__(self, stage_cls: type[Stage], cfg: Any, ws: Workspace, *, run_id: str | None = None,
                 resume: str | None = None, progress: bool = True, stop_after: int | None = None):
        self.stage_cls, self.cfg, self.ws = stage_cls, cfg, ws
        self.run_id, self.resume, self.progress = run_id, resume, progress
        self.stop_after = stop_after  # for tests and benchmarks: stop (as if killed) after N steps
        self._stop_requested = False

    # ---- public --------------------------------------------------------------------------
    def run(self) -> RunDir | None:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        info = distributed.setup(cfg.device)
        finished = False
        try:
            result = self._run(info)
            finished = True
            return result
        finally:
            distributed.cleanup(info, finished=finished)

    # ---- internals -----------------------------------------------------------------------
    def _run(self, info: distributed.DistInfo) -> RunDir | None:
        cfg, ws = self.cfg, self.ws
        ds = Dataset(ws.existing("datasets", cfg.dataset))
        self.stage_cls.check_dataset(cfg, ds)
        torch.manual_seed(init_seed(cfg.seed))  # same initial weights on every rank
        stage = self.stage_cls(cfg, ds, info, ws)
        stage.start_ema()
        run, start = self._open_run(stage, ds, info)
        total = stage.total_steps()
        if info.is_main:
            self._write_start(run, stage, ds, info, start, total)
        batches = SliceBatches(ds, split="train", batch_size=1, seed=cfg.seed, rank=info.rank, world=info.world)
        self._install_signal_handlers()
        bar = self._progress_bar(info, start, total)
        last_beat, best = 0.0, self._best_score(run)
        step = start
        try:
            while step < total:
                if self.stop_after is not None and step - start >= self.stop_after:
                    return run
                if distributed.broadcast_flag(self._stop_requested, info):
                    self._stop(stage, run, step, info)
                    return run
                losses, bs, dt = self._train_step(stage, batches, step, info)
                step += 1
                if info.is_main:
                    run.metrics.append(metrics_row(stage, step, losses, bs, dt, info.world))
                    self._show_progress(bar, stage, losses)
                    if time.time() - last_beat > HEARTBEAT_SECONDS:
                        run.write_status("running", step=step, total_steps=total)
                        last_beat = time.time()
                if info.is_main and cfg.sample_every and step % cfg.sample_every == 0:
                    self._sample(stage, run, step)
                checkpoint, validate = self._due(step)
                if (checkpoint or validate) and step < total:
                    best = self._checkpoint_and_validate(stage, run, step, info, best, checkpoint=checkpoint,
                                                         validate=validate)
            self._finish(stage, run, step, info, best, total)
            return run
        except NonFiniteLoss as err:
            if info.is_main:
                run.write_status("failed", step=step, message=f"{err}; the last good checkpoint is kept")
            raise ConfigError(f"run {run.run_id}: {err}; the last good checkpoint is kept") from None
        except KeyboardInterrupt:
            if info.is_main:
                run.write_status("stopped", step=step, message="interrupted; resume with --resume")
            raise
        except BaseException as err:
            if info.is_main:
                run.write_status("failed", step=step, message=f"{type(err).__name__}: {err}")
            raise
        finally:
            if bar is not None:
                bar.close()
            run.metrics.close()
            run.release()

    def _open_run(self, stage: Stage, ds: Dataset, info: distributed.DistInfo) -> tuple[RunDir, int]:
        """The run folder and the step to start from. Rank 0 holds the run (``--resume``: the existing
        one, restored from its last checkpoint and released again if that fails; else a new folder);
        under torchrun the other ranks learn its id from rank 0."""
        start = 0
        run: RunDir | None = None
        if self.resume:
            run = RunDir.open(self.ws, self.resume)
            if info.is_main:  # a second --resume of a run still training is refused here
                run.hold()
            try:
                start = self._restore(stage, run, ds)
            except BaseException:
                run.release()
                raise
        elif info.is_main:
            run = RunDir.create(self.ws, stage.name, self.run_id, hold=True)  # held until this run ends
        if info.distributed:
            # every rank needs the run id chosen by rank 0 (only rank 0 writes into it)
            obj = [run.run_id if run else None]
            torch.distributed.broadcast_object_list(obj, src=0)
            run = run or RunDir(self.ws.runs / obj[0])
        assert run is not None
        return run, start

    def _write_start(self, run: RunDir, stage: Stage, ds: Dataset, info: distributed.DistInfo, start: int,
                     total: int) -> None:
        """``config.json`` (its ``created`` kept on resume) and the ``running`` status at ``start``."""
        run.write_config({
            "stage": stage.name, "config": config_to_dict(self.cfg), "dataset": ds.name,
            "fingerprint": ds.fingerprint, "content_sha256": ds.content_sha256, "world_size": info.world, "device": str(info.device),
            "loss_names": list(stage.loss_names), "total_steps": total,
            "created": run.read_config().get("created", now_iso()) if run.has_config() else now_iso(),
        })
        run.write_status("running", stage=stage.name, step=start, total_steps=total, message="",
                         started=now_iso(), dataset=ds.name)

    def _train_step(self, stage: Stage, batches: SliceBatches, step: int,
                    info: distributed.DistInfo) -> tuple[dict[str, float], int, float]:
        """Step ``step`` (0-based): seed from (seed, step, rank), draw the batch, set the learning rates,
        train, update the averages. Returns ``(losses, batch size, seconds)``; a non-finite loss raises
        :class:`NonFiniteLoss`."""
        cfg = self.cfg
        bs = stage.batch_size(step)
        batches.batch_size = bs
        torch.manual_seed(step_seed(cfg.seed, step, info.rank))
        rng = np.random.default_rng(step_seed(cfg.seed, step, info.rank))
        t0 = time.perf_counter()
        batch = batches.batch(step, info.device)
        stage.apply_lr_factor(stage.schedule_factor(step))
        with autocast_for(info.device, cfg.amp):
            losses = stage.train_step(step, batch, rng)
        if stage.ema is not None:
            stage.ema.update(stage.modules())
        if info.device.type == "cuda":
            torch.cuda.synchronize(info.device)
        dt = time.perf_counter() - t0
        check_finite(losses, step)
        return losses, bs, dt

    @staticmethod
    def _show_progress(bar, stage: Stage, losses: dict[str, float]) -> None:
        if bar is None:
            return
        names = stage.progress_names or tuple(losses)
        bar.set_postfix({k: f"{losses[k]:.3g}" for k in names if k in losses}, refresh=False)
        bar.update(1)

    def _stop(self, stage: Stage, run: RunDir, step: int, info: distributed.DistInfo) -> None:
        """Stop requested (SIGTERM on any rank): the 'last' checkpoint at ``step``, status ``stopped``."""
        self._checkpoint(stage, run, step, info, "last")
        if info.is_main:
            run.write_status("stopped", step=step, message="stopped by request; resume with --resume")

    def _finish(self, stage: Stage, run: RunDir, step: int, info: distributed.DistInfo, best: float,
                total: int) -> None:
        """After the last step: checkpoint and validate, a last sample grid, status ``finished``."""
        self._checkpoint_and_validate(stage, run, step, info, best)
        if info.is_main:
            self._sample(stage, run, step)
            run.write_status("finished", step=step, total_steps=total, message="finished", finished=now_iso())

    def _progress_bar(self, info, start: int, total: int):
        if not (self.progress and info.is_main):
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=start, desc=self.stage_cls.name, unit="step", file=sys.stderr,
                    dynamic_ncols=True, mininterval=0.5)

    def _install_signal_handlers(self) -> None:
        def request_stop(signum, frame):  # noqa: ARG001
            self._stop_requested = True

        try:
            signal.signal(signal.SIGTERM, request_stop)
        except ValueError:  # not in the main thread (e.g. called from a test thread)
            pass

    def _sample(self, stage: Stage, run: RunDir, step: int) -> None:
        for m in stage.modules().values():
            m.eval()
        try:
            run.write_sample(step, png_bytes(stage.sample_grid()))
        finally:
            for m in stage.modules().values():
                m.train()

    def _checkpoint(self, stage: Stage, run: RunDir, step: int, info, which: str) -> None:
        if not info.is_main:
            return
        save_checkpoint(
            run.checkpoint_path(which), stage=stage.name, step=step,
            models={**stage.modules(), **(stage.ema.state_modules() if stage.ema else {})},
            optimizers=stage.optimizers(), config=config_to_dict(self.cfg), fingerprint=stage.ds.fingerprint,
            rng=rng_state(), meta={**stage.checkpoint_meta(), "extra": stage.extra_state(), "run_id": run.run_id,
                  "dataset_content": stage.ds.content_record()},
        )

    def _best_score(self, run: RunDir | None) -> float:
        if run is None:
            return -math.inf
        return float(run.read_status().get("best_score", -math.inf))

    def _due(self, step: int) -> tuple[bool, bool]:
        """``(checkpoint, validate)`` after ``step``: the 'last' checkpoint every ``checkpoint_every``
        steps; validation (and the 'best' checkpoint) every ``val_every`` steps, or at every
        checkpoint when ``val_every`` is 0."""
        cfg = self.cfg
        checkpoint = bool(cfg.checkpoint_every) and step % cfg.checkpoint_every == 0
        validate = (step % cfg.val_every == 0) if cfg.val_every else checkpoint
        return checkpoint, validate

    def _checkpoint_and_validate(self, stage: Stage, run: RunDir, step: int, info, best: float, *,
                                 checkpoint: bool = True, validate: bool = True) -> float:
        val: dict[str, Any] = {}
        if validate and info.is_main:
            for m in stage.modules().values():
                m.eval()
            try:
                val = stage.validate()
            finally:
                for m in stage.modules().values():
                    m.train()
        if checkpoint:
            self._checkpoint(stage, run, step, info, "last")
        if info.is_main:
            score = val.get("score")
            fields: dict[str, Any] = {"step": step, **({"last_checkpoint_step": step} if checkpoint else {})}
            if val:
                run.append_validation(step, val)
            if score is not None and score > best:
                best = float(score)
                self._checkpoint(stage, run, step, info, "best")
                fields.update(best_score=best, best_step=step)
            run.write_status("running", **fields)
        distributed.barrier(info)
        return best

    def _restore(self, stage: Stage, run: RunDir, ds: Dataset) -> int:
        meta = run.read_config()
        if meta.get("stage") != stage.name:
            raise ConfigError(f"run {run.run_id} is a {meta.get('stage')!r} run, not {stage.name!r}")
        path = run.checkpoint_path("last")
        if not path.exists():
            raise InputError(path, "no checkpoint to resume from yet (the run stopped before its first checkpoint); start a new run")
        ck = load_checkpoint(path)
        # one line if the dataset is another one (or other data under its cases); a warning if it was
        # rebuilt on another machine (last bits differ)
        check_link(ds, fingerprint=ck["fingerprint"], content=run_content(ck.get("meta", {})), what=f"run {run.run_id!r}",
                   dataset=str(meta.get("dataset", "")))
        if ck.get("meta", {}).get("slim"):
            raise ConfigError(f"run {run.run_id} is a slim demo copy without optimizer state: use it for synthesis, "
                              "or train a new run to continue training")
        for name, module in stage.modules().items():
            load_weights(module, ck, name, path)
        if stage.ema is not None:
            for name, module in stage.ema.state_modules().items():
                # a run that started without averaging starts its average from the current weights
                load_weights(module, ck, name if name in ck["models"] else name[: -len(EMA_SUFFIX)], path)
            stage.ema.updates = int(ck["step"])
        for name, opt in stage.optimizers().items():
            opt.load_state_dict(ck["optimizers"][name])
        stage.load_extra_state(ck["meta"].get("extra", {}))
        restore_rng(ck["rng"])
        step = int(ck["step"])
        if step > stage.total_steps():
            raise ConfigError(f"run {run.run_id} is at step {step}, past the {stage.total_steps()} steps asked for; "
                              "--resume can only train on to a later step")
        kept = run.metrics.truncate_after(step)
        log.info("resuming %s at step %d (%d metric rows kept)", run.run_id, step, kept)
        return step
