"""Process identity: a pid together with the process's start time, so a reused pid is not mistaken
for the process that wrote a temporary file or a run's ``status.json``.

The start time is field 22 of ``/proc/<pid>/stat`` (clock ticks since boot). Where ``/proc`` is
missing (not Linux) the start time is unknown (0) and a process counts as alive while its pid
exists, which errs on the side of keeping files and not signalling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; ``None`` when no such process exists;
    0 when it exists but the start time cannot be read (no ``/proc``)."""
    try:
        raw = Path(f"/proc/{int(pid)}/stat").read_text()
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else _exists_without_proc(pid)
    except (OSError, ValueError):
        return None
    # the command name (field 2) is in parentheses and may itself contain spaces or ')'
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[19])  # field 22 overall: fields[0] is field 3 (state)


def _exists_without_proc(pid: int) -> int | None:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0
    return 0


@dataclass(frozen=True)
class ProcessId:
    """A process as ``pid`` plus ``start`` time; equal only to the very same process."""

    pid: int
    start: int

    @classmethod
    def current(cls) -> "ProcessId":
        pid = os.getpid()
        return cls(pid, start_time(pid) or 0)

    def alive(self) -> bool:
        """True while this very process runs (same pid and same start time)."""
        now = start_time(self.pid)
        if now is None:
            return False
        return now == self.start or 0 in (now, self.start)

    def start_now(self) -> int | None:
        """The start time of whatever process has this pid now (None: none)."""
        return start_time(self.pid)

    def token(self) -> str:
        """``p<pid>s<start>``: how temporary names record their maker."""
        return f"p{self.pid}s{self.start}"


def command_line(pid: int) -> list[str]:
    """The arguments of ``pid`` (empty when unreadable or gone)."""
    try:
        raw = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
