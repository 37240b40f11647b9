"""The review as catalog columns: ``review``, ``review_reason``, ``review_tags``.

:attr:`SyntheticSet.catalog <synth_core.synthesis.setstore.SyntheticSet.catalog>` adds them to
every set (a set nobody reviewed has ``""`` everywhere), so a filter can always say
``review != 'rejected'`` or ``review == 'kept'``, and the Export page sees them like any other column;
the export manifest takes ``review`` and ``review_reason`` (a reviewer's free-text tags stay in the
workspace).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synth_core.review.entry import ReviewState
from synth_core.review.log import ReviewLog

REVIEW_COLUMNS: tuple[str, ...] = ("review", "review_reason", "review_tags")
TAG_SEPARATOR = ","

#: explanation of each column (as ``synth_core.synthesis.figures.COLUMN_HELP``)
COLUMN_HELP = {
    "review": "a person's latest decision on the Review page or with `python -m synth_core review`: 'kept', "
              "'rejected' or '' (not reviewed). Rejected samples are never exported",
    "review_reason": "why the sample was rejected (artefact, anatomy, lesion, label, copy, modalities, other); '' otherwise",
    "review_tags": "the sample's free tags, comma-separated and sorted ('' when none)",
}


def review_frame(sample_ids: pd.Series, states: dict[str, ReviewState]) -> pd.DataFrame:
    """The review columns for ``sample_ids`` (in their order) from ``states``."""
    none = ReviewState()
    got = [states.get(str(s), none) for s in sample_ids]
    return pd.DataFrame({
        "review": [g.status for g in got],
        "review_reason": [g.reason for g in got],
        "review_tags": [TAG_SEPARATOR.join(g.tags) for g in got],
    }, index=sample_ids.index, dtype=object)


def join_reviews(catalog: pd.DataFrame, set_path: str | Path) -> pd.DataFrame:
    """``catalog`` with the review columns of the set at ``set_path`` (replacing any of that name).
    Lines naming samples the catalog does not hold are ignored."""
    states = ReviewLog(set_path).state()
    out = catalog.drop(columns=[c for c in REVIEW_COLUMNS if c in catalog.columns])
    return pd.concat([out, review_frame(out["sample_id"], states)], axis=1)
