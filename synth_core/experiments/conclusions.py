"""What an experiment can and cannot conclude, in plain words generated from its numbers (no torch).

The Quality page shows these sentences under the usability and ablation tables. Each one is
computed from the paired tests (the seeds paired in them, rows left untested)
(:func:`~synth_core.experiments.results.paired_usability`,
:func:`~synth_core.experiments.ablation.paired_ablation`); none is a fixed verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from synth_core.experiments.ablation import REFERENCE_ROW, scored_column
from synth_core.experiments.results import GENERATOR_LABELS, REAL_ONLY, WILCOXON_MIN


def needed_multiple(n: int) -> float:
    """How many sds of the per-seed differences the mean difference must exceed to count with ``n``
    seeds: ``t(0.975, n-1) / sqrt(n)`` (the paired t-test's 95 % interval excludes 0). NaN below 2."""
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) / math.sqrt(n) if n >= 2 else math.nan


NO_PAIRS = ("No compared row has 2 or more seeds paired with its reference (one seed per row, or seeds that do not "
            "match): no difference in this table can be told from chance. Train every row with several seeds "
            "(`--seeds 3`) to test them.")


def seed_words(tests: pd.DataFrame, untested: int = 0) -> list[str]:
    """Sentences on what the seeds allow, from the paired tests the other sentences talk about
    (``tests``: lines of a paired table, :data:`~synth_core.experiments.results.PAIRED_COLUMNS`):
    the seeds actually paired in them (``n_pairs``), not the rows' seed counts, which include the
    reference's and seeds without a partner. ``untested``: compared rows with fewer than 2 seeds
    paired with their reference."""
    counts = [int(n) for n in tests["n_pairs"]] if len(tests) else []
    if not counts:
        return [NO_PAIRS] if untested else []
    lo, hi = min(counts), max(counts)
    span = f"{lo}" if lo == hi else f"{lo}-{hi}"
    out = [f"{span} seeds paired per test: only differences larger than the spread between seeds are evidence. With "
           f"{lo} seeds a paired difference counts only when its mean exceeds {needed_multiple(lo):.2f} times the sd "
           "of the per-seed differences (its 95 % interval then excludes 0); smaller real effects go unseen."]
    without = int(pd.to_numeric(tests["p_wilcoxon"], errors="coerce").isna().sum())
    if without:
        out.append(f"The Wilcoxon signed-rank test needs at least {WILCOXON_MIN} paired seeds whose difference is not zero, so {without} of the "
                   f"{len(counts)} test(s) have only the paired t-test, which assumes roughly normal per-seed "
                   "differences.")
    if untested:
        out.append(f"{untested} compared row(s) have fewer than 2 seeds paired with their reference and are not "
                   "tested: their differences cannot be told from chance.")
    return out


def _lines(paired: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The lines of ``paired`` on ``metrics``."""
    return paired[paired["metric"].isin(list(metrics))] if not paired.empty else paired


def difference_words(paired: pd.DataFrame, metric: str, direction: str, label: Callable[[Any], str],
                     against: str, digits: int = 3) -> list[str]:
    """Sentences on ``metric`` (``direction`` "higher" or "lower" is better) from a paired table
    (columns ``metric`` and :data:`~synth_core.experiments.results.PAIRED_COLUMNS`); ``label(line)``
    names a compared row, ``against`` the reference in words."""
    sub = paired[paired["metric"] == metric] if not paired.empty else paired
    if sub.empty:
        return [f"No row has 2 or more seeds paired with {against}, so nothing can be concluded about {metric} yet."]
    out = []
    for _, t in sub[sub["exceeds_spread"].astype(bool)].iterrows():
        up = float(t["mean_diff"]) > 0
        good = up == (direction == "higher")
        out.append(f"{label(t)}: {metric} {'higher' if up else 'lower'} than {against} by "
                   f"{abs(float(t['mean_diff'])):.{digits}f} (95 % interval {float(t['ci_low']):+.{digits}f} to "
                   f"{float(t['ci_high']):+.{digits}f}, paired t-test p = {float(t['p_ttest']):.2g}, "
                   f"{int(t['n_pairs'])} seeds): {'better' if good else 'worse'}, beyond the spread.")
    rest = int((~sub["exceeds_spread"].astype(bool)).sum())
    if rest:
        out.append(f"{'The other' if out else 'All'} {rest} comparison(s) of {metric} with {against} stay within "
                   "the spread: the experiment cannot tell whether they differ (which is not evidence that they "
                   "are equal).")
    return out


def chance_words(paired: pd.DataFrame) -> list[str]:
    """How many marked differences chance alone would give."""
    k = len(paired)
    if k < 2:
        return []
    marked = int(paired["exceeds_spread"].astype(bool).sum())
    return [f"{k} comparisons were tested at the 5 % level and {marked} exceed the spread; with no real effect at "
            f"all about {0.05 * k:.1f} would by chance, so a single marked difference among many is weak evidence."]


def usability_label(line: Any) -> str:
    """A usability configuration in words: ``"10% real + synthetic x1 (synthetic-first, generator: this
    fraction only)"``; the generator (:data:`~synth_core.experiments.results.GENERATOR_LABELS`) is named
    whenever the row has one, since a no-leak row and its oracle twin differ only there."""
    real = f"{float(line['real_fraction']) * 100:g}% real"
    if line["mode"] == "real-only":
        return real + (" with augmentation" if bool(line["augmentation"]) else "")
    gen = str(line.get("generator", "") or "") if hasattr(line, "get") else ""
    named = f", generator: {GENERATOR_LABELS.get(gen, gen)}" if gen else ""
    return f"{real} + synthetic x{float(line['synthetic_multiplier']):g} ({line['mode']}{named})"


def usability_conclusions(summary: pd.DataFrame, paired: pd.DataFrame, metric: str = "dice") -> list[str]:
    """The usability table's sentences: the seeds paired on ``metric``, then ``metric`` against
    real-only, then chance."""
    if summary is None or summary.empty:
        return []
    tests = _lines(paired, [metric])
    compared = int((~((summary["mode"] == REAL_ONLY) & ~summary["augmentation"].astype(bool))).sum())
    return (seed_words(tests, max(compared - len(tests), 0))
            + difference_words(paired, metric, "lower" if metric in ("mse", "hd95") else "higher", usability_label,
                               "real-only at the same real fraction")
            + chance_words(paired))


def ablation_conclusions(aggregate: pd.DataFrame, paired: pd.DataFrame, directions: dict[str, str],
                         metrics: Sequence[str] = ("lesion_dice", "registration_error"),
                         scored_by: str = "judge") -> list[str]:
    """The ablation table's sentences: the seeds paired on ``metrics`` (each read from its ``_helper``
    twin when only the helpers scored the experiment, :func:`~synth_core.experiments.ablation.scored_column`),
    each of them against row F (``directions``: measure -> "higher" | "lower"), chance, and who
    scored lesion Dice and registration (``scored_by`` "judge" or "helper")."""
    if aggregate is None or aggregate.empty:
        return []
    named = [scored_column(aggregate, m) for m in metrics]  # a helper-only experiment: its _helper columns
    shown = [m for m in named if m in aggregate and aggregate[m].notna().any()]
    tests = _lines(paired, shown)
    compared = [r for r in aggregate["row"] if r != REFERENCE_ROW]
    out = seed_words(tests, len(set(compared) - set(tests["row"] if len(tests) else [])))
    for m in shown:
        out += difference_words(paired, m, directions.get(m, "higher"),
                                lambda t: f"row {t['row']} without {t['switched_off']}", "the full model F")
    out += chance_words(paired)
    if scored_by == "helper":
        out.append("Rows scored by 'helper' were scored only by the training-time helpers (circular; their scores "
                   "are in the _helper columns): rows that trained against those networks are partly measured by the "
                   "loss they optimised.")
    return out
