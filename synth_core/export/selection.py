"""Which synthetic samples an export takes, and why each other sample was left out.

Four steps, in this order, each recorded per sample so the manifest can say why a sample is
absent:

0. the review: a sample a person rejected (catalog column ``review``, :mod:`synth_core.review`)
   is "rejected in review (<reason>)", whatever the filter says;
1. the catalog filter (``SyntheticSet.select``): samples failing it are "filtered out";
2. the memorisation screen: a sample whose nearest real training slice is closer than
   ``min_nn_dist`` (catalog column ``nn_dist``) is "blocked: memorisation (...)", because a
   near-copy of a training image adds no variety and may leak the patient it copies;
3. the synthetic ratio: ``round(ratio x real training cases)`` samples are drawn from the
   eligible ones in a seeded shuffle; the rest are "not drawn". When fewer are eligible than
   wanted, all eligible ones are taken and a note says so (not an error: the user asked for a
   proportion, and the catalog decides how many are good enough).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from synth_core.errors import ConfigError
from synth_core.synthesis.query import apply_filter
from synth_core.synthesis.setstore import SyntheticSet

FILTERED_OUT = "filtered out"
REJECTED = "rejected in review"


@dataclass(frozen=True)
class Selection:
    """``chosen``: sample indices to export (ascending); ``excluded``: index -> decision text."""

    chosen: tuple[int, ...]
    excluded: dict[int, str] = field(default_factory=dict)
    n_filtered_out: int = 0
    n_blocked: int = 0
    n_not_drawn: int = 0
    n_rejected: int = 0
    n_wanted: int | None = None
    notes: tuple[str, ...] = ()


def blocked_decision(nn_dist: float, min_nn_dist: float) -> str:
    """``"blocked: memorisation (nn_dist 0.031 < 0.05)"``."""
    shown = "unknown" if not math.isfinite(nn_dist) else f"{nn_dist:.3g}"
    return f"blocked: memorisation (nn_dist {shown} < {min_nn_dist:g})"


def select_synthetic(syn: SyntheticSet, *, filter: str | None, min_nn_dist: float | None,
                     synthetic_ratio: float | None, n_real_train: int, seed: int,
                     catalog: pd.DataFrame | None = None) -> Selection:
    """Apply filter, memorisation screen and ratio to the set's catalog (module docstring).

    Raises ``ConfigError`` when a non-empty filter selects no sample at all (almost always a
    mistake in the filter), or when a screen is asked for but the catalog has no ``nn_dist``.
    An invalid filter or an unknown column is reported by :mod:`synth_core.synthesis.query`.
    ``catalog``: the set's catalog as the caller read it (one snapshot while reviews may be
    appended); default ``syn.catalog``.
    """
    cat = syn.catalog if catalog is None else catalog
    idx_all = cat["index"].to_numpy(dtype=np.int64)
    passing = cat[apply_filter(cat, filter)]
    if len(passing) == 0 and filter is not None and filter.strip():
        raise ConfigError(f"filter {filter.strip()!r} selects none of the {len(cat)} samples of set {syn.name!r}")
    excluded: dict[int, str] = {}
    if "review" in cat.columns:  # a person's rejection sticks, whatever the filter says
        rej = cat[cat["review"].astype(str) == "rejected"]
        for i, why in zip(rej["index"].astype(np.int64).tolist(), rej["review_reason"].astype(str)):
            excluded[i] = f"{REJECTED} ({why})" if why else REJECTED
    n_rejected = len(excluded)
    pass_idx = set(passing["index"].astype(np.int64).tolist()) - set(excluded)
    for i in idx_all.tolist():
        if i not in pass_idx and i not in excluded:
            excluded[i] = FILTERED_OUT
    n_filtered_out = len(excluded) - n_rejected

    eligible = sorted(pass_idx)
    n_blocked = 0
    if min_nn_dist is not None:
        if "nn_dist" not in cat.columns:
            raise ConfigError(f"set {syn.name!r} has no nn_dist column; cannot screen for memorisation")
        nn = dict(zip(passing["index"].astype(np.int64).tolist(), passing["nn_dist"].astype(float).tolist()))
        keep = []
        for i in eligible:
            d = nn[i]
            if not math.isfinite(d) or d < min_nn_dist:  # unknown distance: block, to be safe
                excluded[i] = blocked_decision(d, min_nn_dist)
                n_blocked += 1
            else:
                keep.append(i)
        eligible = keep

    notes: list[str] = []
    n_wanted = None
    n_not_drawn = 0
    chosen = eligible
    if synthetic_ratio is not None:
        n_wanted = int(round(synthetic_ratio * n_real_train))
        if len(eligible) < n_wanted:
            notes.append(f"synthetic ratio {synthetic_ratio:g} wants {n_wanted} synthetic cases for "
                         f"{n_real_train} real training cases, but only {len(eligible)} samples of set "
                         f"{syn.name!r} pass the filter and screen; exported {len(eligible)}")
        else:
            order = np.random.default_rng(seed).permutation(len(eligible))
            take = set(order[:n_wanted].tolist())
            chosen = [i for k, i in enumerate(eligible) if k in take]
            for k, i in enumerate(eligible):
                if k not in take:
                    excluded[i] = (f"not drawn: synthetic ratio {synthetic_ratio:g} takes {n_wanted} of "
                                   f"{len(eligible)} eligible samples (seed {seed})")
                    n_not_drawn += 1
    if not chosen and len(idx_all) and n_wanted != 0:
        notes.append(f"no synthetic sample of set {syn.name!r} was exported")
    return Selection(chosen=tuple(chosen), excluded=excluded, n_filtered_out=n_filtered_out, n_blocked=n_blocked,
                     n_not_drawn=n_not_drawn, n_rejected=n_rejected, n_wanted=n_wanted, notes=tuple(notes))
