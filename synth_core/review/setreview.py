"""Reviewing one synthetic set: decisions checked against the set's sample ids, and the table of
decisions. The command line (``python -m synth_core review``) and the Review page both go through
:class:`SetReview`, so they share one implementation and one set of errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from synth_core.errors import ConfigError
from synth_core.review.entry import ReviewEntry
from synth_core.review.log import ReviewLog
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace

DECISION_COLUMNS = ("sample_id", "review", "review_reason", "review_tags", "note", "time")


class SetReview:
    """The review of ``sset`` (its log is ``SET/review.jsonl``)."""

    def __init__(self, sset: SyntheticSet):
        self.set = sset
        self.log = ReviewLog(sset.path)
        self._ids = frozenset(sset.stored_catalog["sample_id"].astype(str))

    @classmethod
    def open(cls, ws: Workspace, set_name: str) -> "SetReview":
        """The review of set ``set_name``; :class:`NotFoundError` naming the sets there are if none."""
        return cls(SyntheticSet(ws.existing("synthetic", set_name)))

    def check_ids(self, sample_ids: Iterable[str]) -> list[str]:
        """``sample_ids`` (unique, in order) if the set holds every one, else a :class:`ConfigError`
        naming the unknown ones."""
        ids = [str(s).strip() for s in dict.fromkeys(sample_ids)]
        if not ids:
            raise ConfigError("name at least one sample id")
        unknown = [s for s in ids if s not in self._ids]
        if unknown:
            first, last = min(self._ids), max(self._ids)
            shown = ", ".join(repr(s) for s in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise ConfigError(f"set {self.set.name!r} has no sample {shown} (its ids run {first} .. {last})")
        return ids

    def keep(self, sample_ids: Sequence[str], note: str = "") -> list[ReviewEntry]:
        return self.log.decide(self.check_ids(sample_ids), "keep", note=note)

    def reject(self, sample_ids: Sequence[str], reason: str, note: str = "") -> list[ReviewEntry]:
        return self.log.decide(self.check_ids(sample_ids), "reject", reason=reason, note=note)

    def clear(self, sample_ids: Sequence[str]) -> list[ReviewEntry]:
        """Back to unreviewed (the earlier decisions stay in the log's history)."""
        return self.log.decide(self.check_ids(sample_ids), "clear")

    def tag(self, sample_ids: Sequence[str], tags: Iterable[str]) -> list[ReviewEntry]:
        return self.log.retag(self.check_ids(sample_ids), add=tags)

    def untag(self, sample_ids: Sequence[str], tags: Iterable[str]) -> list[ReviewEntry]:
        return self.log.retag(self.check_ids(sample_ids), remove=tags)

    def decisions(self) -> pd.DataFrame:
        """One row per sample with a decision or tags, in sample order (columns :data:`DECISION_COLUMNS`)."""
        states = {s: v for s, v in self.log.state().items() if s in self._ids and (v.status or v.tags)}
        rows = [{"sample_id": s, "review": v.status, "review_reason": v.reason, "review_tags": ",".join(v.tags),
                 "note": v.note, "time": v.time} for s, v in sorted(states.items())]
        return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))

    def history(self) -> pd.DataFrame:
        """Every line of the log, oldest first (``time, sample_id, decision, reason, note, tags``)."""
        rows = [{**e.to_json(), "tags": ",".join(e.tags)} for e in self.log.read()]
        return pd.DataFrame(rows, columns=["time", "sample_id", "decision", "reason", "note", "tags"])
