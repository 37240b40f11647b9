"""What a set's review says: how many were reviewed, kept, rejected and why, and whether the
automatic per-sample figures would have found the rejected ones (which filter would have caught them).

Works on a catalog with the review columns (:attr:`SyntheticSet.catalog`), so the Quality page and
scripts need nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: catalog columns that are automatic per-sample figures worth comparing with a person's decisions
FIGURE_PREFIXES = ("dice_", "reg_err_", "realness", "structure_ds_score")
FIGURE_NAMES = ("nn_dist", "contour_outside", "lesion_area")
KEEP_SHARE = 0.9  # a suggested filter keeps this share of the kept samples


@dataclass(frozen=True)
class ReviewCounts:
    total: int
    reviewed: int
    kept: int
    rejected: int
    reasons: dict[str, int]  # reason -> rejected samples, most frequent first

    @property
    def unreviewed(self) -> int:
        return self.total - self.reviewed


def review_counts(catalog: pd.DataFrame) -> ReviewCounts:
    """Counts of the review columns of ``catalog``."""
    status = catalog["review"].astype(str)
    rejected = catalog.loc[status == "rejected", "review_reason"].astype(str)
    reasons = {str(k): int(v) for k, v in rejected.value_counts().items()}
    return ReviewCounts(total=len(catalog), reviewed=int((status != "").sum()), kept=int((status == "kept").sum()),
                        rejected=int((status == "rejected").sum()), reasons=reasons)


def figure_columns(catalog: pd.DataFrame) -> list[str]:
    """The numeric automatic figures of ``catalog`` (lesion Dice, registration error, realness, ...)."""
    return [c for c in catalog.columns
            if (c.startswith(FIGURE_PREFIXES) or c in FIGURE_NAMES) and pd.api.types.is_numeric_dtype(catalog[c])
            and not pd.api.types.is_bool_dtype(catalog[c])]


def _auc(rejected: np.ndarray, kept: np.ndarray) -> float:
    """P(a rejected sample's value < a kept sample's value), ties counted half (Mann-Whitney)."""
    both = np.concatenate([rejected, kept])
    ranks = pd.Series(both).rank(method="average").to_numpy()
    u = ranks[: len(rejected)].sum() - len(rejected) * (len(rejected) + 1) / 2  # rejected ranked above kept
    return float(1.0 - u / (len(rejected) * len(kept)))


def rejection_signals(catalog: pd.DataFrame) -> pd.DataFrame:
    """Per automatic figure: how well it separates rejected from kept samples, and the filter that
    would have caught them.

    Columns: ``figure``, ``n_kept``, ``n_rejected`` (with a finite value), ``median_kept``,
    ``median_rejected``, ``auc`` (0.5 = the figure says nothing about a person's rejections, 1.0 =
    every rejected sample is on one side of every kept one; direction-free: max(p, 1 - p) where p
    = P(rejected < kept)), ``rejected_are`` (``lower`` / ``higher``), ``filter`` (the condition
    keeping :data:`KEEP_SHARE` of the kept samples) and ``caught`` (share of rejected samples that
    filter leaves out). Sorted by ``auc``, strongest first; empty without both kept and rejected
    samples.
    """
    status = catalog["review"].astype(str)
    cols = ["figure", "n_kept", "n_rejected", "median_kept", "median_rejected", "auc", "rejected_are", "filter",
            "caught"]
    rows = []
    for col in figure_columns(catalog):
        vals = catalog[col].to_numpy(dtype=float)
        ok = np.isfinite(vals)
        kept, rej = vals[ok & (status == "kept").to_numpy()], vals[ok & (status == "rejected").to_numpy()]
        if not len(kept) or not len(rej):
            continue
        p = _auc(rej, kept)
        lower = p >= 0.5
        if lower:  # rejected samples have lower values: keep col >= the kept samples' 10th percentile
            cut = float(np.quantile(kept, 1 - KEEP_SHARE))
            cond, caught = f"{col} >= {cut:.4g}", float((rej < float(f"{cut:.4g}")).mean())
        else:
            cut = float(np.quantile(kept, KEEP_SHARE))
            cond, caught = f"{col} <= {cut:.4g}", float((rej > float(f"{cut:.4g}")).mean())
        rows.append({"figure": col, "n_kept": len(kept), "n_rejected": len(rej), "median_kept": float(np.median(kept)),
                     "median_rejected": float(np.median(rej)), "auc": max(p, 1 - p),
                     "rejected_are": "lower" if lower else "higher", "filter": cond, "caught": caught})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("auc", ascending=False, kind="stable").reset_index(drop=True)
