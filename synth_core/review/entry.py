"""One line of a review log (:class:`ReviewEntry`) and what a sample's review is (:class:`ReviewState`).

A line is ``{time, sample_id, decision, reason, note, tags}``:

``decision``  ``keep`` | ``reject`` | ``clear`` (back to unreviewed) | ``tag`` (a line that only
              changes the tags and leaves the decision as it was)
``reason``    for ``reject`` one of :data:`REASONS` (a short list, so rejections can be counted by
              cause); ``""`` for every other decision
``note``      free text (at most :data:`MAX_NOTE` characters, one line)
``tags``      the sample's whole tag list *after* this line (sorted, unique), so the latest line of
              a sample says its tags and nothing has to be replayed to know them

Validation lives here so the command line, the page and the reader of the log apply the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from synth_core.errors import ConfigError

DECISIONS: tuple[str, ...] = ("keep", "reject", "clear", "tag")
#: catalog value of each decision that sets the review (``clear`` -> unreviewed)
STATUS = {"keep": "kept", "reject": "rejected", "clear": ""}

#: why a sample is rejected: id -> what it means (ids are what the log and the command line use)
REASONS: dict[str, str] = {
    "artefact": "an artefact: stripes, checkerboard, blotches, noise that real scans do not have",
    "anatomy": "implausible anatomy: a broken outline, missing or doubled structures",
    "lesion": "the lesion is not visible where its label says, or looks wrong",
    "label": "the label does not fit the image (outside the organ, wrong extent)",
    "copy": "too close to a real training slice (a near copy)",
    "modalities": "the modalities disagree (not registered, contrasts in the wrong order)",
    "other": "another reason (say which in the note)",
}

MAX_NOTE = 500
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,39}$")
_SAMPLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def now() -> str:
    """The current time as stored in the log: ISO 8601 in UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def validate_decision(decision: str) -> str:
    if decision not in DECISIONS:
        raise ConfigError(f"unknown review decision {decision!r}; expected one of {', '.join(DECISIONS)}")
    return decision


def validate_reason(decision: str, reason: str | None) -> str:
    """The reason a ``decision`` may carry: one of :data:`REASONS` for ``reject``, ``""`` otherwise."""
    reason = (reason or "").strip()
    if decision == "reject":
        if not reason:
            raise ConfigError(f"a rejection needs a reason: one of {', '.join(REASONS)}")
        if reason not in REASONS:
            raise ConfigError(f"unknown reason {reason!r}; expected one of {', '.join(REASONS)}")
    elif reason:
        raise ConfigError(f"a reason goes with a rejection only, not with {decision!r}")
    return reason


def validate_note(note: str | None) -> str:
    note = (note or "").strip()
    if "\n" in note or "\r" in note:
        raise ConfigError("a review note is one line (no line breaks)")
    if len(note) > MAX_NOTE:
        raise ConfigError(f"a review note has at most {MAX_NOTE} characters, not {len(note)}")
    return note


def validate_tag(tag: str) -> str:
    """``tag`` stripped if allowed (letters, digits, space, ``_ . : -``; at most 40 characters)."""
    text = tag.strip() if isinstance(tag, str) else tag
    if not isinstance(text, str) or not _TAG_RE.match(text):
        raise ConfigError(f"tag {tag!r} is not allowed: use letters, digits, spaces, '_', '.', ':' or '-' "
                          "(starting with a letter or digit, at most 40 characters)")
    return text


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({validate_tag(t) for t in tags}))


def validate_sample_id(sample_id: str) -> str:
    if not isinstance(sample_id, str) or not _SAMPLE_RE.match(sample_id):
        raise ConfigError(f"sample id {sample_id!r} is not allowed (ids look like syn-000012)")
    return sample_id


@dataclass(frozen=True)
class ReviewEntry:
    """One decision about one sample, as one JSON line (see the module docstring)."""

    sample_id: str
    decision: str
    reason: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()
    time: str = field(default_factory=now)

    def __post_init__(self) -> None:
        validate_sample_id(self.sample_id)
        validate_decision(self.decision)
        object.__setattr__(self, "reason", validate_reason(self.decision, self.reason))
        object.__setattr__(self, "note", validate_note(self.note))
        object.__setattr__(self, "tags", normalise_tags(self.tags))
        if not isinstance(self.time, str) or not self.time:
            raise ConfigError(f"review time must be an ISO 8601 text, not {self.time!r}")

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "sample_id": self.sample_id, "decision": self.decision, "reason": self.reason,
                "note": self.note, "tags": list(self.tags)}

    @classmethod
    def from_json(cls, rec: Mapping[str, Any]) -> "ReviewEntry":
        """An entry from a parsed line; :class:`ConfigError` (or ``TypeError``) if it is not one."""
        if not isinstance(rec, Mapping):
            raise ConfigError("a review line is a JSON object")
        tags = rec.get("tags", [])
        if not isinstance(tags, list):
            raise ConfigError("tags must be a list")
        return cls(sample_id=rec.get("sample_id"), decision=rec.get("decision"), reason=rec.get("reason", ""),
                   note=rec.get("note", ""), tags=tuple(tags), time=rec.get("time"))


@dataclass(frozen=True)
class ReviewState:
    """A sample's review after every line so far: ``status`` ``kept`` | ``rejected`` | ``""``, the
    reason, note and time of the decision that set it, and the latest tags."""

    status: str = ""
    reason: str = ""
    note: str = ""
    time: str = ""
    tags: tuple[str, ...] = ()

    def after(self, entry: ReviewEntry) -> "ReviewState":
        """The state once ``entry`` is applied: a decision line replaces the decision, every line
        replaces the tags."""
        if entry.decision == "tag":
            return ReviewState(self.status, self.reason, self.note, self.time, entry.tags)
        return ReviewState(STATUS[entry.decision], entry.reason, entry.note, entry.time, entry.tags)


def latest(entries: Iterable[ReviewEntry]) -> dict[str, ReviewState]:
    """Sample id -> state after every entry, in order (later lines win)."""
    out: dict[str, ReviewState] = {}
    for e in entries:
        out[e.sample_id] = out.get(e.sample_id, ReviewState()).after(e)
    return out
