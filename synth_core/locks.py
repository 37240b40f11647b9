"""Locks between processes (and threads) that write the same workspace item.

A lock on ``workspace/<kind>/NAME`` is the file ``workspace/<kind>/.NAME.lock`` (``filelock``:
``flock`` on POSIX, released by the kernel when its holder dies, even by ``kill -9``). It lives
beside the item, not inside it, so replacing or deleting the item never removes a held lock, and
the leading dot keeps it out of workspace listings. Locks are re-entrant within one thread and
exclusive between threads (two dashboard sessions) and processes.

- :func:`item_lock` waits (``timeout`` seconds, then :class:`BusyError`): read-modify-write of a
  set, an evaluation table or an experiment's results, which take seconds.
- :func:`try_item_lock` does not wait: a training run is held for its whole life, so a second
  ``--resume`` of the same run is refused at once instead of waiting hours.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from synth_core.errors import SynthCoreError

#: default wait for a short read-modify-write held by someone else
DEFAULT_TIMEOUT = 600.0


class BusyError(SynthCoreError):
    """Another process (or dashboard session) is writing the same item."""


def lock_path(item: str | Path) -> Path:
    """``parent/.NAME.lock`` for the workspace item ``parent/NAME``."""
    item = Path(item)
    return item.parent / f".{item.name}.lock"


def make_lock(item: str | Path) -> FileLock:
    """The (unacquired) lock of ``item``; its folder is created if needed."""
    path = lock_path(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), is_singleton=True)


@contextlib.contextmanager
def item_lock(item: str | Path, *, timeout: float = DEFAULT_TIMEOUT, what: str | None = None) -> Iterator[None]:
    """Hold the lock of ``item`` for the block, waiting up to ``timeout`` seconds for it."""
    lock = make_lock(item)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise BusyError(f"{what or Path(item).name}: still being written by another process or session after "
                        f"{timeout:g} s; try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()


def try_item_lock(item: str | Path, *, what: str | None = None) -> FileLock:
    """Acquire the lock of ``item`` now or raise :class:`BusyError`; the caller releases it."""
    lock = make_lock(item)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise BusyError(f"{what or Path(item).name}: in use by another process (is it still running?); "
                        "wait for it to finish or stop it first") from None
    return lock


def is_locked(item: str | Path) -> bool:
    """True when another process or thread holds the lock of ``item`` right now."""
    lock = make_lock(item)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
