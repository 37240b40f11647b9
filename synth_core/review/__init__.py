"""Review a synthetic set by hand: keep or reject samples, tag them, and have it stick.

Decisions go to an append-only log beside the set (``SET/review.jsonl``, :mod:`.log`), never into
its arrays; the latest decision per sample becomes the catalog columns ``review``,
``review_reason`` and ``review_tags`` (:mod:`.columns`), which filters, the Export page and
``export`` use (rejected samples are never exported). Submodules: entry (one line and its rules),
log (the file, its lock, the torn-line-tolerant reader), columns (the catalog columns), setreview
(decisions checked against a set's sample ids: what the command line and the Review page call),
analysis (counts, and whether the automatic figures would have caught the rejections), command
(``python -m synth_core review``). No Streamlit and no torch here.

``setreview`` is not imported here: it needs :mod:`synth_core.synthesis.setstore`, which itself
imports :mod:`.columns`.
"""

from synth_core.review.columns import COLUMN_HELP, REVIEW_COLUMNS, join_reviews
from synth_core.review.entry import DECISIONS, REASONS, STATUS, ReviewEntry, ReviewState, latest
from synth_core.review.log import LOG_FILE, ReviewLog

__all__ = ["COLUMN_HELP", "DECISIONS", "LOG_FILE", "REASONS", "REVIEW_COLUMNS", "STATUS", "ReviewEntry", "ReviewLog",
           "ReviewState", "join_reviews", "latest"]
