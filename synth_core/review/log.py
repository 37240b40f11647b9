"""The review log of a synthetic set: ``SET/review.jsonl``, one JSON line per decision, append-only.

Why a log beside the set and not a column written into it: the set's arrays and catalog are never
rewritten (a review cannot damage a set), every click is on disk before the page moves on, and the
history stays (what was decided before, and when). The latest line per sample is its review
(:func:`synth_core.review.entry.latest`); the catalog shows it as columns
(:mod:`synth_core.review.columns`).

Safe under two browser tabs, the command line and the page at once: writers take the set's lock
``workspace/synthetic/.SET.lock`` (:func:`synth_core.locks.item_lock`, a :class:`filelock.FileLock`:
an ``flock`` that the operating system releases when a process dies, even by ``kill -9``). Every
writer of the set folder takes it (e.g. appending samples on the Latent space page, which copies the
log into the rewritten set), so an append never falls between that copy and the swap; and it lives
beside the set, so replacing the folder never removes a held lock. Lines are appended
whole in one write, then flushed and ``fsync``ed. Readers take no lock. A ``kill -9`` in the
middle of a write can leave a torn last line (no newline at its end): readers ignore an incomplete
trailing line, and the next writer first ends it with a newline so the lines after it stay whole
(the torn text is then skipped as unreadable, with a warning).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from synth_core.errors import ConfigError, NotFoundError, SynthCoreError
from synth_core.locks import item_lock, lock_path
from synth_core.review.entry import ReviewEntry, ReviewState, latest, normalise_tags, now, validate_decision, \
    validate_note, validate_reason

log = logging.getLogger(__name__)

LOG_FILE = "review.jsonl"
LOCK_TIMEOUT_S = 120.0  # other writers of the set (appending samples on the Latent page) hold it for seconds


class ReviewLog:
    """The review log of the set folder ``set_path`` (the file need not exist yet)."""

    def __init__(self, set_path: str | Path):
        self.set_path = Path(set_path)
        self.path = self.set_path / LOG_FILE
        self.lock_path = lock_path(self.set_path)  # the set's lock (module docstring)

    # ---- reading ------------------------------------------------------------------------------------
    def read(self) -> list[ReviewEntry]:
        """Every whole, valid line in file order. An incomplete last line (no newline: a write cut
        short) is ignored silently; an unreadable complete line is skipped with a warning."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        lines.pop()  # the text after the last newline: "" when the file ends cleanly, else a torn line
        out: list[ReviewEntry] = []
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                out.append(ReviewEntry.from_json(json.loads(raw.decode("utf-8"))))
            except (ValueError, TypeError, SynthCoreError):
                log.warning("%s:%d: skipping an unreadable review line", self.path, n)
        return out

    def state(self) -> dict[str, ReviewState]:
        """Sample id -> its review now (samples never reviewed are absent)."""
        return latest(self.read())

    def stamp(self) -> tuple[int, int]:
        """``(size, mtime_ns)`` of the log, ``(0, 0)`` when there is none: a cache key that changes
        with every append."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (info.st_size, info.st_mtime_ns)

    # ---- writing ------------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        with item_lock(self.set_path, timeout=LOCK_TIMEOUT_S, what=f"set {self.set_path.name!r}"):
            yield

    def _append_locked(self, entries: Sequence[ReviewEntry]) -> None:
        if not entries:
            return
        if not (self.set_path / "set.json").is_file():  # never make a log where there is no set
            raise NotFoundError(f"{self.set_path}: not a synthetic set (no set.json); nothing was recorded")
        data = "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in entries).encode("utf-8")
        with open(self.path, "ab") as fh:
            if fh.tell() > 0:
                with open(self.path, "rb") as rd:
                    rd.seek(-1, os.SEEK_END)
                    if rd.read(1) != b"\n":  # a torn last line: end it, so the new lines stay whole
                        data = b"\n" + data
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, entries: Iterable[ReviewEntry]) -> list[ReviewEntry]:
        """Append ``entries`` as they are (one write, one fsync, under the lock)."""
        entries = list(entries)
        with self._locked():
            self._append_locked(entries)
        return entries

    def decide(self, sample_ids: Sequence[str], decision: str, reason: str = "", note: str = "") -> list[ReviewEntry]:
        """Record ``decision`` (keep / reject / clear) for each sample; each line carries the
        sample's current tags. All lines share one time and go to disk in one write."""
        if validate_decision(decision) == "tag":
            raise ConfigError("use retag() to change tags")
        reason, note = validate_reason(decision, reason), validate_note(note)
        t = now()
        with self._locked():
            current = self.state()
            entries = [ReviewEntry(s, decision, reason, note, current.get(s, ReviewState()).tags, t)
                       for s in dict.fromkeys(sample_ids)]
            self._append_locked(entries)
        return entries

    def retag(self, sample_ids: Sequence[str], add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[ReviewEntry]:
        """Add and remove tags of each sample (decided under the lock from the current tags, so two
        tabs tagging at once both count); samples whose tags do not change get no line."""
        add, remove = normalise_tags(add), normalise_tags(remove)
        t = now()
        with self._locked():
            current = self.state()
            entries = []
            for s in dict.fromkeys(sample_ids):
                old = current.get(s, ReviewState()).tags
                new = tuple(sorted((set(old) | set(add)) - set(remove)))
                if new != old:
                    entries.append(ReviewEntry(s, "tag", tags=new, time=t))
            self._append_locked(entries)
        return entries

