"""Readers' answers: one JSON line per answer in ``responses.jsonl``, appended and fsynced.

Why an append-only log: every click is on disk before the page moves on (a closed browser or a
crash loses nothing), several readers can rate at the same time, and nothing is ever rewritten.
A reader who answers an item again does not erase the earlier line; the analysis keeps the latest
answer per (rater, item). Rater ids are pseudonyms (letters, digits, ``-``, ``_``): the study
needs no names or other identifiers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.errors import ConfigError
from synth_core.readerstudy.study import SOURCES, Study, as_workspace, open_study
from synth_core.workspace import Workspace

log = logging.getLogger(__name__)

ANSWERS = SOURCES  # "real" | "synthetic"
CONFIDENCE = (1, 5)
RESPONSE_COLUMNS = ("rater", "item", "answer", "confidence", "time")
_RATER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LOCK = threading.Lock()  # Streamlit sessions are threads of one process


def validate_rater(rater: str) -> str:
    """Return ``rater`` stripped if it is a valid pseudonymous id, else raise :class:`ConfigError`."""
    if not isinstance(rater, str) or not rater.strip():
        raise ConfigError("rater id must not be empty (any pseudonym: letters, digits, - or _)")
    rater = rater.strip()
    if not _RATER_RE.match(rater):
        raise ConfigError(f"rater id {rater!r} is not allowed: use letters, digits, '-' or '_' only "
                          "(at most 64 characters; no names or other identifiers are needed)")
    return rater


def _validate_answer(answer: str) -> str:
    a = answer.strip().lower() if isinstance(answer, str) else answer
    if a not in ANSWERS:
        raise ConfigError(f"answer must be 'real' or 'synthetic', not {answer!r}")
    return a


def _validate_confidence(confidence: int) -> int:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, np.integer)):
        raise ConfigError(f"confidence must be a whole number from 1 to 5, not {confidence!r}")
    if not (CONFIDENCE[0] <= confidence <= CONFIDENCE[1]):
        raise ConfigError(f"confidence must be from 1 (guessing) to 5 (certain), not {confidence}")
    return int(confidence)


def _append_line(path: Path, line: str) -> None:
    """Append one line durably. A torn last line (crash mid-write) is closed first so the new
    line stays parseable; the reader skips the torn one."""
    data = line.encode("utf-8")
    with _LOCK, open(path, "ab") as fh:
        if fh.tell() > 0:
            with open(path, "rb") as rd:
                rd.seek(-1, os.SEEK_END)
                if rd.read(1) != b"\n":
                    data = b"\n" + data
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def record_answer(ws: Workspace | str | Path, study: str, rater: str, item: str | int, answer: str,
                  confidence: int) -> dict[str, Any]:
    """Append one answer (``"real"``/``"synthetic"``, confidence 1..5) by ``rater`` on ``item``
    of ``study``; returns the stored record. Raises :class:`ConfigError` on a bad value."""
    opened = open_study(ws, study)
    record = {
        "rater": validate_rater(rater),
        "item": opened.normalise_item(item),
        "answer": _validate_answer(answer),
        "confidence": _validate_confidence(confidence),
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }
    _append_line(opened.responses_path, json.dumps(record) + "\n")
    return record


def _valid(rec: Any, items: set[str]) -> bool:
    return (isinstance(rec, dict) and isinstance(rec.get("rater"), str) and bool(_RATER_RE.match(rec["rater"]))
            and rec.get("item") in items and rec.get("answer") in ANSWERS
            and isinstance(rec.get("confidence"), int) and not isinstance(rec.get("confidence"), bool)
            and CONFIDENCE[0] <= rec["confidence"] <= CONFIDENCE[1])


def read_responses(study: Study) -> pd.DataFrame:
    """Every valid answer line in file order (columns ``rater, item, answer, confidence, time``).
    Unparseable or invalid lines (a torn write, a hand edit) are skipped with a warning."""
    rows: list[dict[str, Any]] = []
    path = study.responses_path
    if path.is_file():
        items = set(study.items)
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not _valid(rec, items):
                log.warning("%s:%d: skipping an unreadable answer line", path, n)
                continue
            rows.append({k: rec.get(k) for k in RESPONSE_COLUMNS})
    return pd.DataFrame(rows, columns=list(RESPONSE_COLUMNS)).astype({"confidence": "int64"})


def latest_answers(study: Study) -> pd.DataFrame:
    """One row per (rater, item): the rater's latest answer (later lines replace earlier ones)."""
    return read_responses(study).drop_duplicates(["rater", "item"], keep="last").reset_index(drop=True)


def progress(ws: Workspace | str | Path, study: str, rater: str) -> tuple[int, int, str | None]:
    """``(answered, total, next_item)`` for ``rater``: distinct items answered, items in the study,
    and the first unanswered item in presentation order (``None`` when all are done)."""
    opened = open_study(ws, study)
    rater = validate_rater(rater)
    resp = read_responses(opened)
    done = set(resp.loc[resp["rater"] == rater, "item"])
    nxt = next((i for i in opened.items if i not in done), None)
    return len(done), opened.total, nxt


def raters(ws: Workspace | str | Path, study: str) -> list[str]:
    """Rater ids that have answered at least once, in order of first answer."""
    resp = read_responses(open_study(as_workspace(ws), study))
    return list(dict.fromkeys(resp["rater"]))
