"""Run folders: ``workspace/runs/<run-id>/`` — config, metrics log, status, samples, checkpoints.

The one place that knows the folder's file names::

    config.json         what the run is (stage, settings, dataset, loss names, total steps)
    status.json         state, step, heartbeat, pid; replaced atomically
    metrics.jsonl       one JSON line per training step
    validation.jsonl    one JSON line per validation (at checkpoints)
    train.log           stdout and stderr of a run started from the dashboard
    samples/step-NNNNNNN.png
    checkpoints/last.pt, checkpoints/best.pt

Everything here is readable while training writes it: the metrics log is JSON Lines appended and
flushed row by row (a reader skips an incomplete last line), the status file is replaced
atomically with a heartbeat, checkpoints and sample grids appear under their final names only
when complete.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from synth_core.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from synth_core.errors import ConfigError, ExistsError, NotFoundError
from synth_core.locks import is_locked, try_item_lock
from synth_core.procs import ProcessId, command_line
from synth_core.workspace import Workspace, validate_name

STATES = ("running", "finished", "failed", "stopped")
CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
VALIDATION = "validation.jsonl"
LOG = "train.log"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
#: checkpoint kinds: the latest one, and the one with the best validation score so far
CHECKPOINT_KINDS = ("last", "best")


def checkpoint_file(which: str) -> str:
    """``last.pt`` / ``best.pt``."""
    if which not in CHECKPOINT_KINDS:
        raise ConfigError(f'checkpoint must be "last" or "best", not "{which}"')
    return f"{which}.pt"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(stage: str) -> str:
    return f"{stage}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


class MetricsLog:
    """Append-only JSON Lines log, one object per training step."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = None

    def append(self, row: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def truncate_after(self, step: int) -> int:
        """Drop rows with ``step > step`` (after a crash the log can run past the last checkpoint);
        rewrites the file atomically. Returns the number of rows kept."""
        self.close()
        rows = [r for r in read_metrics_rows(self.path) if int(r.get("step", 0)) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
        return len(rows)


def read_metrics_rows(path: Path) -> list[dict[str, Any]]:
    """All complete rows of a JSON Lines log (an incomplete last line, being written, is skipped)."""
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


class RunDir:
    """One training run's folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.metrics = MetricsLog(self.path / METRICS)
        self._lock: Any = None

    # ---- creation / lookup -------------------------------------------------------------
    @classmethod
    def create(cls, ws: Workspace, stage: str, run_id: str | None = None, *, hold: bool = False) -> "RunDir":
        """A new run folder. Check and creation happen under the run's lock, so of two processes
        creating the same run one gets ``ExistsError`` (or ``BusyError``); with ``hold`` the lock
        stays held (the trainer holds it for the run's whole life; :meth:`release`)."""
        run_id = validate_name(run_id, "run name") if run_id else new_run_id(stage)
        path = ws.runs / run_id
        lock = try_item_lock(path, what=f"run {run_id!r}")
        try:
            # a folder holding only the launcher's train.log is a run about to start, not a clash
            if path.exists() and any(p.name != LOG for p in path.iterdir()):
                raise ExistsError(f"run {run_id!r} already exists in {ws.runs}; use --resume {run_id} to continue it")
            for sub in (SAMPLES, CHECKPOINTS):
                (path / sub).mkdir(parents=True, exist_ok=True)
        except BaseException:
            lock.release()
            raise
        run = cls(path)
        if hold:
            run._lock = lock
        else:
            lock.release()
        return run

    def hold(self) -> "RunDir":
        """Take this run's lock for good (until :meth:`release`); ``BusyError`` at once when another
        process holds it, e.g. a second ``--resume`` of a run that is still training."""
        if self._lock is None:
            self._lock = try_item_lock(self.path, what=f"run {self.run_id!r}")
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def in_use(self) -> bool:
        """True while some process (the trainer) holds this run's lock."""
        return self._lock is None and is_locked(self.path)

    @classmethod
    def open(cls, ws: Workspace, run_id: str) -> "RunDir":
        path = ws.existing("runs", run_id)
        if not (path / CONFIG).is_file():
            raise NotFoundError(f"{path}: not a training run (no config.json)")
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    # ---- files ---------------------------------------------------------------------------
    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def log_path(self) -> Path:
        """``train.log``: output of a run started from the dashboard (``training.launch``)."""
        return self.path / LOG

    def checkpoint_path(self, which: str = "last") -> Path:
        return self.checkpoints_dir / checkpoint_file(which)

    def has_config(self) -> bool:
        return (self.path / CONFIG).is_file()

    def write_config(self, meta: dict[str, Any]) -> None:
        atomic_write_json(self.path / CONFIG, meta)

    def read_config(self) -> dict[str, Any]:
        return json.loads((self.path / CONFIG).read_text())

    def write_status(self, state: str, **fields: Any) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        status = self.read_status()
        status.update(fields)
        me = ProcessId.current()
        status.update({"state": state, "heartbeat": now_iso(), "pid": me.pid, "pid_start": me.start})
        atomic_write_json(self.path / STATUS, status)

    def read_status(self) -> dict[str, Any]:
        """``status.json``, or ``{}`` while there is none (or it cannot be read)."""
        p = self.path / STATUS
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return {}

    def write_sample(self, step: int, png: bytes) -> Path:
        path = self.samples_dir / f"step-{step:07d}.png"
        atomic_write_bytes(path, png)
        return path

    def sample_files(self) -> list[Path]:
        return sorted(self.samples_dir.glob("step-*.png"))

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics_rows(self.metrics.path)

    def append_validation(self, step: int, scores: dict[str, Any]) -> None:
        """One line ``{"step": step, **scores}`` in ``validation.jsonl``."""
        with open(self.path / VALIDATION, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, **scores}) + "\n")
            fh.flush()

    def read_validation(self) -> list[dict[str, Any]]:
        return read_metrics_rows(self.path / VALIDATION)

    def record_files(self) -> list[Path]:
        """The run's record files that exist (config, status, metrics, validation): what a copy of
        the run carries besides samples and checkpoints."""
        return [self.path / n for n in (CONFIG, STATUS, METRICS, VALIDATION) if (self.path / n).exists()]


def training_process(status: dict[str, Any]) -> int | None:
    """The pid in a run's ``status.json`` if that very process still runs and is a trainer: the same
    start time as recorded (a reused pid has another) and ``training`` in its command line. None
    otherwise, so nobody signals an unrelated process after a crash."""
    pid, start = status.get("pid"), status.get("pid_start")
    if not isinstance(pid, int) or not isinstance(start, int):
        return None  # written before pid_start was recorded: cannot be verified
    if not ProcessId(pid, start).alive() or start == 0:
        return None
    args = command_line(pid)
    if args and not any("training" in a for a in args):
        return None
    return pid


#: Run ids ``<experiment>JUDGE_MARK<stage>`` are an experiment's independent judges (training.experiments):
#: they score generators and are never picked as the newest helper a generator trains against.
JUDGE_MARK = "-judge-"


def is_judge_run(run_id: str) -> bool:
    return JUDGE_MARK in run_id
